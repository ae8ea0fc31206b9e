//! Where a built-in program runs: bind address, host name, environment, files, log sink and
//! signals. Production uses the host's; tests use loopback, ephemeral ports and captured logs.

use crate::Error;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{watch, Notify};

/// A transport a program listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TCP (HTTP included).
    Tcp,
    /// UDP.
    Udp,
}

/// A signal delivered to a running program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM.
    Terminate,
    /// SIGINT.
    Interrupt,
}

impl Signal {
    /// The name `strsignal` gives it (`Terminated`, `Interrupt`).
    pub fn description(self) -> &'static str {
        match self {
            Signal::Terminate => "Terminated",
            Signal::Interrupt => "Interrupt",
        }
    }
}

/// State shared by all clones of a context.
struct Shared {
    capture: bool,
    logs: Mutex<Vec<String>>,
    bound: Mutex<HashMap<(Protocol, u16), SocketAddr>>,
    bound_changed: Notify,
    signal: watch::Sender<Option<Signal>>,
}

/// The surroundings of a built-in program run by [`crate::run_program`].
#[derive(Clone)]
pub struct RunContext {
    bind_ip: IpAddr,
    ephemeral_ports: bool,
    hostname: Option<String>,
    env: Option<Vec<(String, String)>>,
    fs_root: PathBuf,
    data_dir: PathBuf,
    shared: Arc<Shared>,
}

impl RunContext {
    fn new(bind_ip: IpAddr, ephemeral_ports: bool, capture: bool) -> RunContext {
        RunContext {
            bind_ip,
            ephemeral_ports,
            hostname: None,
            env: None,
            fs_root: PathBuf::from("/"),
            data_dir: PathBuf::from("/var/data"),
            shared: Arc::new(Shared {
                capture,
                logs: Mutex::new(Vec::new()),
                bound: Mutex::new(HashMap::new()),
                bound_changed: Notify::new(),
                signal: watch::channel(None).0,
            }),
        }
    }

    /// Inside a pod: binds 0.0.0.0 on the image's real ports, the host name is the pod's,
    /// the environment is the process's, logs go to stdout and errors to stderr.
    pub fn host() -> RunContext {
        RunContext::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), false, false)
    }

    /// For tests: binds 127.0.0.1 with an ephemeral port wherever the program asks for a
    /// port (see [`RunContext::bound`]) and keeps log lines for [`RunContext::logs`].
    pub fn loopback() -> RunContext {
        RunContext::new(IpAddr::V4(Ipv4Addr::LOCALHOST), true, true)
    }

    /// Uses `name` instead of the machine's host name.
    pub fn with_hostname(mut self, name: &str) -> RunContext {
        self.hostname = Some(name.to_string());
        self
    }

    /// Uses these variables instead of the process environment.
    pub fn with_env(mut self, env: Vec<(String, String)>) -> RunContext {
        self.env = Some(env);
        self
    }

    /// Serves files below `root` where the image serves `/` (agnhost `test-webserver`).
    pub fn with_fs_root(mut self, root: &Path) -> RunContext {
        self.fs_root = root.to_path_buf();
        self
    }

    /// Keeps data in `dir` where the image uses `/var/data` (`luksa/kubia-pet`).
    pub fn with_data_dir(mut self, dir: &Path) -> RunContext {
        self.data_dir = dir.to_path_buf();
        self
    }

    /// Delivers `signal` to the program.
    pub fn signal(&self, signal: Signal) {
        self.shared.signal.send_replace(Some(signal));
    }

    /// Waits until the program listens for `protocol` on the port it asked for (`port`, e.g.
    /// 8080) and returns the address it really got.
    pub async fn bound(&self, protocol: Protocol, port: u16) -> SocketAddr {
        loop {
            let changed = self.shared.bound_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(addr) = self.lock_bound().get(&(protocol, port)) {
                return *addr;
            }
            changed.await;
        }
    }

    /// The log lines written so far (only kept by [`RunContext::loopback`] contexts).
    pub fn logs(&self) -> Vec<String> {
        self.shared
            .logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn lock_bound(&self) -> std::sync::MutexGuard<'_, HashMap<(Protocol, u16), SocketAddr>> {
        self.shared
            .bound
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, protocol: Protocol, port: u16, addr: SocketAddr) {
        self.lock_bound().insert((protocol, port), addr);
        self.shared.bound_changed.notify_waiters();
    }

    /// Resolves when a signal has been delivered, with that signal.
    pub(crate) async fn signalled(&self) -> Signal {
        let mut rx = self.shared.signal.subscribe();
        loop {
            if let Some(signal) = *rx.borrow_and_update() {
                return signal;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// The host name: the pod's name inside a pod.
    pub(crate) fn hostname(&self) -> String {
        if let Some(name) = &self.hostname {
            return name.clone();
        }
        nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "localhost".to_string())
    }

    /// The environment variables the program sees.
    pub(crate) fn env_vars(&self) -> Vec<(String, String)> {
        match &self.env {
            Some(env) => env.clone(),
            None => std::env::vars().collect(),
        }
    }

    /// One environment variable.
    pub(crate) fn env_var(&self, key: &str) -> Option<String> {
        self.env_vars()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// The directory standing for the image's `/`.
    pub(crate) fn fs_root(&self) -> &Path {
        &self.fs_root
    }

    /// The directory standing for `/var/data`.
    pub(crate) fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Writes one line to the program's standard output.
    pub(crate) fn log(&self, line: &str) {
        if self.shared.capture {
            self.shared
                .logs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(line.to_string());
        } else {
            println!("{line}");
        }
    }

    /// Writes one line to the program's standard error.
    pub(crate) fn log_error(&self, line: &str) {
        if self.shared.capture {
            self.log(line);
        } else {
            eprintln!("{line}");
        }
    }

    /// The address to bind for `port` on `ip` (default: the context's address).
    fn address(&self, ip: Option<IpAddr>, port: u16) -> SocketAddr {
        if self.ephemeral_ports {
            SocketAddr::new(self.bind_ip, 0)
        } else {
            SocketAddr::new(ip.unwrap_or(self.bind_ip), port)
        }
    }

    /// Listens for TCP on `port`.
    pub(crate) async fn bind_tcp(&self, port: u16) -> Result<TcpListener, Error> {
        let addr = self.address(None, port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind {
                addr: addr.to_string(),
                protocol: "tcp",
                source,
            })?;
        let local = listener.local_addr().unwrap_or(addr);
        self.record(Protocol::Tcp, port, local);
        Ok(listener)
    }

    /// Binds UDP `port` on `ip` (default: the context's address).
    pub(crate) async fn bind_udp(&self, ip: Option<IpAddr>, port: u16) -> Result<UdpSocket, Error> {
        let addr = self.address(ip, port);
        let socket = UdpSocket::bind(addr).await.map_err(|source| Error::Bind {
            addr: addr.to_string(),
            protocol: "udp",
            source,
        })?;
        let local = socket.local_addr().unwrap_or(addr);
        self.record(Protocol::Udp, port, local);
        Ok(socket)
    }
}
