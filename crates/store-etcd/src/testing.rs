//! A throwaway etcd for tests and benchmarks (feature `test-util`).
//!
//! [`EtcdProcess::start`] runs the `etcd` binary (from `$ETCD_BIN`, `/usr/bin/etcd`,
//! `/usr/local/bin/etcd` or `$PATH`) on 127.0.0.1 with free ports and a temporary data
//! directory, waits until it answers, and kills it when dropped (also when a test panics).
//! If no etcd binary is found, it fails with [`Error::EtcdMissing`], so tests that need
//! etcd fail loudly instead of skipping.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Error;

/// How long etcd may take to answer after starting.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// How many times to start etcd when the ports picked were taken meanwhile.
const ATTEMPTS: usize = 3;

/// A running etcd, killed on drop.
#[derive(Debug)]
pub struct EtcdProcess {
    child: Child,
    endpoint: String,
    dir: tempfile::TempDir,
}

impl EtcdProcess {
    /// Starts an etcd on free local ports and waits until it answers.
    pub async fn start() -> Result<EtcdProcess, Error> {
        let binary = etcd_binary()?;
        let mut last_error = None;
        for _ in 0..ATTEMPTS {
            match EtcdProcess::start_once(&binary).await {
                Ok(etcd) => return Ok(etcd),
                Err(err) => {
                    tracing::warn!(error = %err, "test etcd did not start; retrying");
                    last_error = Some(err);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| Error::EtcdFailed {
            reason: "not started".to_string(),
            log: String::new(),
        }))
    }

    /// The client URL, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The client URL as a list, as [`EtcdStore::connect`](crate::EtcdStore::connect) wants it.
    pub fn endpoints(&self) -> Vec<String> {
        vec![self.endpoint.clone()]
    }

    /// The etcd process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The end of etcd's log (for diagnostics).
    pub fn log_tail(&self) -> String {
        log_tail(&self.dir.path().join("etcd.log"))
    }

    async fn start_once(binary: &Path) -> Result<EtcdProcess, Error> {
        let dir = tempfile::Builder::new().prefix("portico-etcd-").tempdir()?;
        let client_port = free_port()?;
        let peer_port = free_port()?;
        let client = format!("http://127.0.0.1:{client_port}");
        let peer = format!("http://127.0.0.1:{peer_port}");
        let log_path = dir.path().join("etcd.log");
        let log = std::fs::File::create(&log_path)?;
        let child = Command::new(binary)
            .arg("--name=portico-test")
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=portico-test={peer}"))
            .arg("--initial-cluster-state=new")
            .arg("--initial-cluster-token=portico-test")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|err| Error::EtcdFailed {
                reason: format!("cannot run {}: {err}", binary.display()),
                log: String::new(),
            })?;
        let mut etcd = EtcdProcess {
            child,
            endpoint: client,
            dir,
        };
        etcd.wait_ready().await?;
        tracing::debug!(endpoint = %etcd.endpoint, pid = etcd.pid(), "test etcd is up");
        Ok(etcd)
    }

    async fn wait_ready(&mut self) -> Result<(), Error> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(Error::EtcdFailed {
                    reason: format!("etcd exited at startup: {status}"),
                    log: self.log_tail(),
                });
            }
            let options = etcd_client::ConnectOptions::new()
                .with_connect_timeout(Duration::from_millis(500))
                .with_timeout(Duration::from_secs(2));
            if let Ok(mut client) =
                etcd_client::Client::connect([self.endpoint.as_str()], Some(options)).await
            {
                if client.get("/", None).await.is_ok() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(Error::EtcdFailed {
                    reason: format!("etcd did not answer within {STARTUP_TIMEOUT:?}"),
                    log: self.log_tail(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for EtcdProcess {
    fn drop(&mut self) {
        if let Err(err) = self.child.kill() {
            tracing::warn!(error = %err, "cannot kill test etcd");
        }
        let _ = self.child.wait();
    }
}

/// Where the etcd binary is.
fn etcd_binary() -> Result<PathBuf, Error> {
    let mut candidates = Vec::new();
    if let Some(bin) = std::env::var_os("ETCD_BIN") {
        candidates.push(PathBuf::from(bin));
    }
    candidates.push(PathBuf::from("/usr/bin/etcd"));
    candidates.push(PathBuf::from("/usr/local/bin/etcd"));
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join("etcd")));
    }
    if let Some(found) = candidates.iter().find(|c| c.is_file()) {
        return Ok(found.clone());
    }
    Err(Error::EtcdMissing {
        searched: candidates
            .iter()
            .map(|c| c.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// A port nobody listens on right now.
fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
