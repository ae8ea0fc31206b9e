//! Starting a real `portico up` (the rootless sandbox with nodes and pods) on its own home
//! directory and loopback address, and driving it with kubectl.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::harness::Cluster;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A cluster run by `portico up`; derefs to a kubectl-driving [`Cluster`] handle.
pub struct Up {
    kube: Cluster,
    child: Option<Child>,
    home: PathBuf,
    /// The host address the API server is forwarded from.
    pub listen: String,
    /// The host port of the API server.
    pub api_port: u16,
    /// What `portico up` printed.
    pub output: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Deref for Up {
    type Target = Cluster;
    fn deref(&self) -> &Cluster {
        &self.kube
    }
}

/// A loopback address of its own for each cluster of this test process (127.0.N.1 style).
fn next_listen() -> String {
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let pid = std::process::id();
    format!(
        "127.{}.{}.{}",
        10 + (pid % 200),
        (n / 200) + 1,
        (n % 200) + 2
    )
}

/// A LoadBalancer pool of its own for the cluster on `listen`,
/// so clusters side by side never bind the same address on the host.
fn lb_pool(listen: &str) -> String {
    let parts: Vec<u32> = listen.split('.').filter_map(|p| p.parse().ok()).collect();
    let n = (parts[2] - 1) * 200 + (parts[3] - 2);
    format!("127.{}.{}.0/24", 110 + std::process::id() % 100, n % 250)
}

fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Up {
    /// Starts `portico up --nodes N` as the current user.
    pub fn start(nodes: u32) -> Up {
        Up::start_as(nodes, None)
    }

    /// Starts `portico up` as user `uid` (e.g. 65534, nobody) when given.
    pub fn start_as(nodes: u32, uid: Option<u32>) -> Up {
        Up::start_with(nodes, uid, &[])
    }

    /// Starts `portico up` with extra arguments (e.g. `--proxy-mode nftables`).
    pub fn start_with(nodes: u32, uid: Option<u32>, extra: &[&str]) -> Up {
        let dir = tempfile::tempdir().expect("temp dir");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).expect("home");
        if uid.is_some() {
            use std::os::unix::fs::PermissionsExt;
            for p in [dir.path(), home.as_path()] {
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).expect("chmod");
            }
        }
        let listen = next_listen();
        let api_port = free_port(&listen);
        let mut binary = PathBuf::from(env!("CARGO_BIN_EXE_portico"));
        if uid.is_some() {
            // The build directory may not be reachable for another user (e.g. under /root):
            // run a copy from the test's own directory.
            use std::os::unix::fs::PermissionsExt;
            let copy = dir.path().join("portico");
            std::fs::copy(&binary, &copy).expect("copy the portico binary");
            std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).expect("chmod");
            binary = copy;
        }
        let mut cmd = Command::new(&binary);
        cmd.arg("up")
            .arg("--nodes")
            .arg(nodes.to_string())
            .arg("--home")
            .arg(&home)
            .arg("--listen-address")
            .arg(&listen)
            .arg("--api-port")
            .arg(api_port.to_string())
            .arg("--lb-pool")
            .arg(lb_pool(&listen))
            .args(extra)
            .env("PORTICO_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(uid) = uid {
            use std::os::unix::process::CommandExt;
            cmd.uid(uid).gid(uid).env("HOME", &home);
        }
        let mut child = cmd.spawn().expect("start portico up");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        for (stream, tx) in [
            (
                Box::new(stdout) as Box<dyn std::io::Read + Send>,
                tx.clone(),
            ),
            (Box::new(stderr), tx),
        ] {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Ok(mut o) = output.lock() {
                        o.push(line.clone());
                    }
                    let _ = tx.send(line);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.starts_with("Portico is ready") => break,
                Ok(_) => {}
                Err(_) => {
                    let _ = child.kill();
                    let log = std::fs::read_to_string(home.join("portico.log")).unwrap_or_default();
                    panic!(
                        "portico up did not get ready; output:\n{}\nlog:\n{log}",
                        output.lock().map(|o| o.join("\n")).unwrap_or_default()
                    );
                }
            }
        }
        let kube = Cluster::attach(dir, home.join("kubeconfig"));
        Up {
            kube,
            child: Some(child),
            home,
            listen,
            api_port,
            output,
        }
    }

    /// The cluster's home directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The pid of `portico up`.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// Stops the cluster with SIGTERM and waits; returns what `portico up` exited with.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(Some(s)) = child.try_wait() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("portico up did not stop within 90 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills `portico up` with SIGKILL.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Pids of live processes whose command line mentions this cluster's home.
    pub fn processes(&self) -> Vec<u32> {
        processes_mentioning(&self.home.display().to_string())
    }

    /// Starts the pod `client` (`kubectl run client --image=tutum/dnsutils --command --
    /// sleep infinity`, as the notes do) and waits until it is Ready: the in-cluster client
    /// the tests exec dig, curl and getent in.
    pub fn client_pod(&self) {
        self.ok(&[
            "run",
            "client",
            "--image=tutum/dnsutils",
            "--command",
            "--",
            "sleep",
            "infinity",
        ]);
        self.ready_pods("run=client", 1);
    }

    /// The name of a Ready pod with this label, and its IP and node.
    pub fn ready_pods(&self, selector: &str, n: usize) -> Vec<(String, String, String)> {
        self.eventually(120, || {
            let v = self.get_json(&["pods", "-l", selector]);
            let items = v["items"].as_array()?;
            let ready: Vec<(String, String, String)> = items
                .iter()
                .filter(|p| {
                    p["metadata"]["deletionTimestamp"].is_null()
                        && p["status"]["conditions"].as_array().is_some_and(|cs| {
                            cs.iter()
                                .any(|c| c["type"] == "Ready" && c["status"] == "True")
                        })
                })
                .map(|p| {
                    (
                        p["metadata"]["name"].as_str().unwrap_or("").to_string(),
                        p["status"]["podIP"].as_str().unwrap_or("").to_string(),
                        p["spec"]["nodeName"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect();
            (ready.len() >= n).then_some(ready)
        })
    }
}

/// Pids of live processes whose command line contains `needle`.
pub fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(true);
        if !zombie && cmd.contains(needle) {
            out.push(pid);
        }
    }
    out
}

impl Drop for Up {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
