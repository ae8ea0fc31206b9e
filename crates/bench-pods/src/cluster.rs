//! Starting and stopping Portico: `portico up` (a whole cluster in its sandbox) and
//! `portico server` (API server and controllers only), each timed from the spawn to the
//! ready line it prints on stdout.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::Error;

/// What to start.
#[derive(Debug, Clone)]
pub enum Launch {
    /// `portico up --nodes N --home DIR --listen-address ADDR --api-port PORT`.
    Up {
        /// Nodes of the cluster.
        nodes: u32,
        /// Its home directory.
        home: PathBuf,
        /// Host address of the API server.
        address: String,
        /// Host port of the API server.
        port: u16,
    },
    /// `portico server --data-dir DIR --listen 127.0.0.1:0`.
    Server {
        /// Its data directory.
        dir: PathBuf,
    },
}

impl Launch {
    /// The directory the process keeps its state, kubeconfig and log in.
    pub fn dir(&self) -> &Path {
        match self {
            Launch::Up { home, .. } => home,
            Launch::Server { dir } => dir,
        }
    }

    /// The command line after the binary.
    pub fn args(&self) -> Vec<String> {
        match self {
            Launch::Up {
                nodes,
                home,
                address,
                port,
            } => vec![
                "up".into(),
                "--nodes".into(),
                nodes.to_string(),
                "--home".into(),
                home.display().to_string(),
                "--listen-address".into(),
                address.clone(),
                "--api-port".into(),
                port.to_string(),
            ],
            Launch::Server { dir } => vec![
                "server".into(),
                "--data-dir".into(),
                dir.display().to_string(),
                "--listen".into(),
                "127.0.0.1:0".into(),
            ],
        }
    }

    /// A short name for messages, e.g. `portico up --nodes 2`.
    pub fn describe(&self) -> String {
        match self {
            Launch::Up { nodes, .. } => format!("portico up --nodes {nodes}"),
            Launch::Server { .. } => "portico server".into(),
        }
    }
}

/// Whether a stdout line is the ready line of `portico up` or `portico server`.
pub fn is_ready_line(line: &str) -> bool {
    line.starts_with("Portico is ready in") || line.starts_with("Portico API server is ready at")
}

/// A running Portico process.
#[derive(Debug)]
pub struct Running {
    child: Child,
    /// Its pid (the root of the cluster's process tree).
    pub pid: u32,
    /// From the spawn to the ready line.
    pub ready_after: Duration,
    /// Its kubeconfig.
    pub kubeconfig: PathBuf,
    /// What was started.
    pub launch: Launch,
}

/// Starts `launch` with `portico`, waits at most `timeout` for its ready line. The log
/// (stderr) goes to `DIR.log` beside its directory. The process is killed if the
/// returned value is dropped without [`Running::stop`].
pub async fn start(portico: &Path, launch: Launch, timeout: Duration) -> Result<Running, Error> {
    let dir = launch.dir().to_path_buf();
    let log_path = dir.with_extension("log");
    let log = std::fs::File::create(&log_path)
        .map_err(Error::io(format!("creating {}", log_path.display())))?;
    let command = launch.describe();
    let mut cmd = Command::new(portico);
    cmd.args(launch.args())
        .env(
            "PORTICO_LOG",
            std::env::var("PORTICO_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(Error::io(format!("starting {command}")))?;
    let not_ready = |why: String| Error::NotReady {
        command: command.clone(),
        why,
        log: log_path.display().to_string(),
    };
    let pid = child
        .id()
        .ok_or_else(|| not_ready("exited at once".into()))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| not_ready("no stdout".into()))?;
    let mut lines = BufReader::new(stdout).lines();
    let ready_after = loop {
        let left = timeout.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, lines.next_line()).await {
            Err(_) => return Err(not_ready(format!("no ready line within {timeout:?}"))),
            Ok(Err(e)) => return Err(not_ready(format!("reading its output: {e}"))),
            Ok(Ok(None)) => return Err(not_ready("it exited".into())),
            Ok(Ok(Some(line))) if is_ready_line(&line) => break started.elapsed(),
            Ok(Ok(Some(_))) => {}
        }
    };
    // Keep reading what else it prints, so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Running {
        child,
        pid,
        ready_after,
        kubeconfig: dir.join("kubeconfig"),
        launch,
    })
}

impl Running {
    /// Stops it with SIGTERM (as `portico down` does) and waits for it to exit, killing it
    /// after `grace`. Returns how long it took to exit.
    pub async fn stop(mut self, grace: Duration) -> Result<Duration, Error> {
        let asked = Instant::now();
        let pid = i32::try_from(self.pid).map_err(|_| Error::Usage("pid out of range".into()))?;
        if kill(Pid::from_raw(pid), Signal::SIGTERM).is_err() {
            // Already gone.
            let _ = self.child.wait().await;
            return Ok(asked.elapsed());
        }
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => {
                status.map_err(Error::io(format!("waiting for {}", self.launch.describe())))?;
            }
            Err(_) => {
                let _ = self.child.kill().await;
            }
        }
        Ok(asked.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ready_lines_are_recognised_and_progress_is_not() {
        assert!(is_ready_line(
            "Portico is ready in 0.2s: 1 node, API server at https://127.0.0.9:17443. Use it with:"
        ));
        assert!(is_ready_line(
            "Portico API server is ready at https://127.0.0.1:44265. Use it with: export KUBECONFIG=/d/kubeconfig"
        ));
        assert!(!is_ready_line("  export KUBECONFIG=/tmp/x/kubeconfig"));
        assert!(!is_ready_line("waiting for the nodes to be Ready"));
    }

    #[test]
    fn up_is_started_with_its_home_address_and_port() {
        let up = Launch::Up {
            nodes: 2,
            home: "/tmp/h".into(),
            address: "127.77.0.5".into(),
            port: 17443,
        };
        assert_eq!(
            up.args().join(" "),
            "up --nodes 2 --home /tmp/h --listen-address 127.77.0.5 --api-port 17443"
        );
        assert_eq!(up.describe(), "portico up --nodes 2");
        let server = Launch::Server {
            dir: "/tmp/s".into(),
        };
        assert_eq!(
            server.args().join(" "),
            "server --data-dir /tmp/s --listen 127.0.0.1:0"
        );
    }
}
