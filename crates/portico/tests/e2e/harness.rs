//! Starting a real `portico server` on a free loopback port and driving it with kubectl.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The kubectl under test (CI checks it exists).
pub const KUBECTL: &str = "/usr/bin/kubectl";

/// A running API server with its own data directory.
pub struct Cluster {
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// `host:port` it listens on.
    pub address: String,
    /// The admin kubeconfig.
    pub kubeconfig: PathBuf,
    extra_args: Vec<String>,
}

/// The output of a command, with helpers for assertions.
pub struct Run {
    /// Exit status success.
    pub ok: bool,
    /// Exit code.
    pub code: i32,
    /// Stdout.
    pub stdout: String,
    /// Stderr.
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            ok: o.status.success(),
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Cluster {
    /// Starts a server on the embedded SQLite store.
    pub fn start() -> Cluster {
        Cluster::start_with(&[])
    }

    /// Starts a server with extra `portico server` arguments (e.g. `--etcd URL`).
    pub fn start_with(extra: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut c = Cluster {
            kubeconfig: dir.path().join("data/kubeconfig"),
            dir,
            child: None,
            address: String::new(),
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
        };
        c.boot("127.0.0.1:0");
        c
    }

    /// A handle on a cluster someone else runs (e.g. `portico up`), owning `dir`.
    pub fn attach(dir: tempfile::TempDir, kubeconfig: PathBuf) -> Cluster {
        Cluster {
            dir,
            child: None,
            address: String::new(),
            kubeconfig,
            extra_args: Vec::new(),
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn boot(&mut self, listen: &str) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_portico"))
            .arg("server")
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--listen")
            .arg(listen)
            .args(&self.extra_args)
            .env("PORTICO_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start portico server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("portico server did not report ready");
        let addr = line
            .split("https://")
            .nth(1)
            .and_then(|s| {
                s.split('.')
                    .collect::<Vec<_>>()
                    .get(..4)
                    .map(|p| p.join("."))
            })
            .expect("address in ready line");
        // "127.0.0.1:PORT" followed by ". Use it..." – rebuild without the trailing text.
        self.address = addr.trim_end_matches('.').to_string();
        self.child = Some(child);
    }

    /// Kills the server with SIGKILL (no chance to clean up).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same data directory and address.
    pub fn restart(&mut self) {
        self.kill9();
        let addr = self.address.clone();
        // The port may linger briefly; retry the bind for a few seconds.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let probe = std::net::TcpListener::bind(&addr);
            if probe.is_ok() || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.boot(&addr);
    }

    fn kubectl_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(KUBECTL);
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.dir.path())
            .env_remove("KUBECTL_EXTERNAL_DIFF");
        cmd
    }

    /// Runs kubectl.
    pub fn kubectl(&self, args: &[&str]) -> Run {
        self.kubectl_cmd(args).output().expect("run kubectl").into()
    }

    /// Runs kubectl with `input` on stdin.
    pub fn kubectl_stdin(&self, args: &[&str], input: &str) -> Run {
        let mut child = self
            .kubectl_cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("kubectl output").into()
    }

    /// Runs kubectl with extra environment variables.
    pub fn kubectl_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.kubectl_cmd(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run kubectl").into()
    }

    /// Runs kubectl and returns stdout, failing the test with stderr if it fails.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.kubectl(args);
        assert!(
            r.ok,
            "kubectl {args:?} failed ({}):\n{}{}",
            r.code, r.stdout, r.stderr
        );
        r.stdout
    }

    /// Applies a manifest given as text.
    #[track_caller]
    pub fn apply(&self, manifest: &str) -> String {
        let r = self.kubectl_stdin(&["apply", "-f", "-"], manifest);
        assert!(
            r.ok,
            "kubectl apply failed:\n{}{}\n--- manifest:\n{manifest}",
            r.stdout, r.stderr
        );
        r.stdout
    }

    /// Gets an object as JSON.
    #[track_caller]
    pub fn get_json(&self, args: &[&str]) -> serde_json::Value {
        let mut a: Vec<&str> = vec!["get"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["-o", "json"]);
        serde_json::from_str(&self.ok(&a)).expect("kubectl -o json output")
    }

    /// Retries `f` until it returns Some, for up to `secs` seconds.
    #[track_caller]
    pub fn eventually<T>(&self, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "condition not met within {secs}s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The admin bearer token (for raw HTTP clients).
    pub fn token(&self) -> String {
        std::fs::read_to_string(self.data_dir().join("pki/token"))
            .expect("token")
            .trim()
            .to_string()
    }

    /// The CA certificate file.
    pub fn ca_file(&self) -> PathBuf {
        self.data_dir().join("pki/ca.crt")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Splits `kubectl get` output into rows of whitespace-separated cells.
pub fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}

/// The header line of `kubectl get` output, as column names.
pub fn header(table: &str) -> Vec<String> {
    rows(table).into_iter().next().unwrap_or_default()
}

/// Reads a fixture file under crates/portico/tests/fixtures.
pub fn fixture(path: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
