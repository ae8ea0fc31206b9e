//! Processes of a pod: the long-lived sandbox process that holds the pod's namespaces, and
//! container (and `kubectl exec`) processes started inside them.
//!
//! The sandbox process (`portico __pod-sandbox SPEC`, see [`pod_sandbox_main`]) is what the
//! pause container is in a real kubelet: it unshares network (unless the pod uses the host's
//! network), UTS, mount and IPC namespaces,
//! sets the hostname to the pod's, lays the pod's private writable layer and files
//! (`/etc/resolv.conf`, `/etc/hosts`, volumes, the service-account directory) over the host
//! tree, says `ready`, and sleeps until it is killed. Containers are ordinary processes that
//! enter those namespaces before `exec`, each in its own session so the whole process group
//! can be signalled.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use portico_sandbox::spawn::PodNamespaces;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncBufReadExt;

use crate::{Config, Error};

/// What the pod sandbox process sets up, written as JSON next to the pod's state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// The pod's hostname.
    pub hostname: String,
    /// Directory for the pod's private writable layers (on the sandbox tmpfs).
    pub layer_dir: PathBuf,
    /// Files written into the pod's tree: path inside the pod, content.
    pub files: Vec<(PathBuf, String)>,
    /// Bind mounts: directory on the node, path inside the pod, read-only.
    pub binds: Vec<(PathBuf, PathBuf, bool)>,
    /// The pod runs in the node's network namespace (`hostNetwork: true`).
    #[serde(default)]
    pub host_network: bool,
}

/// The entry point of `portico __pod-sandbox SPEC`: runs inside the new namespaces.
pub fn pod_sandbox_main(spec_path: &Path) -> ExitCode {
    let spec: SandboxSpec = match std::fs::read(spec_path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("pod sandbox: reading {}: {e}", spec_path.display());
            return ExitCode::from(2);
        }
    };
    if let Err(e) = nix::unistd::sethostname(&spec.hostname) {
        eprintln!("pod sandbox: setting hostname {:?}: {e}", spec.hostname);
        return ExitCode::from(2);
    }
    let mut mounts = portico_sandbox::podfs::PodMounts::new(spec.layer_dir.clone());
    mounts.files = spec
        .files
        .iter()
        .map(|(p, c)| (p.clone(), c.clone().into_bytes()))
        .collect();
    mounts.binds = spec.binds.clone();
    if let Err(e) = portico_sandbox::podfs::setup_pod_mounts(&mounts) {
        eprintln!("pod sandbox: {e}");
        return ExitCode::from(2);
    }
    println!("ready");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    loop {
        nix::unistd::pause();
    }
}

/// A running pod sandbox.
pub struct Sandbox {
    /// The sandbox process.
    pub child: tokio::process::Child,
    /// Its pid (in the node's PID namespace).
    pub pid: u32,
    /// Handles on its namespaces, for entering them.
    pub namespaces: PodNamespaces,
}

impl Sandbox {
    /// Starts the sandbox process and waits until its mounts are in place.
    pub async fn start(
        config: &Config,
        pod_dir: &Path,
        spec: &SandboxSpec,
    ) -> Result<Sandbox, Error> {
        let spec_path = pod_dir.join("sandbox.json");
        std::fs::write(&spec_path, serde_json::to_vec(spec)?)
            .map_err(|e| Error::io(format!("writing {}", spec_path.display()), e))?;
        let mut cmd = std::process::Command::new(&config.self_exe);
        cmd.arg("__pod-sandbox")
            .arg(&spec_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if spec.host_network {
            portico_sandbox::spawn::new_host_network_pod_sandbox_command(&mut cmd);
        } else {
            portico_sandbox::spawn::new_pod_sandbox_command(&mut cmd);
        }
        let mut child = tokio::process::Command::from(cmd)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Error::io("starting the pod sandbox", e))?;
        let pid = child
            .id()
            .ok_or_else(|| Error::Other("pod sandbox exited at once".into()))?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let ready = async {
            let mut lines = tokio::io::BufReader::new(stdout?).lines();
            lines.next_line().await.ok().flatten()
        };
        let line = tokio::time::timeout(Duration::from_secs(20), ready)
            .await
            .ok()
            .flatten();
        if line.as_deref() != Some("ready") {
            let _ = child.start_kill();
            let mut why = String::new();
            if let Some(mut e) = stderr {
                use tokio::io::AsyncReadExt;
                let _ =
                    tokio::time::timeout(Duration::from_secs(2), e.read_to_string(&mut why)).await;
            }
            return Err(Error::Other(format!(
                "pod sandbox failed to start: {}",
                why.trim()
            )));
        }
        let namespaces = PodNamespaces::open(pid)?;
        Ok(Sandbox {
            child,
            pid,
            namespaces,
        })
    }

    /// Kills the sandbox process (its namespaces go when nothing else uses them).
    pub async fn stop(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// The portico executable, held open so built-in images run it even when a pod mounts
/// something over the directory it lives in: (path, inheritable descriptor).
static SELF_EXE: std::sync::OnceLock<(PathBuf, OwnedFd)> = std::sync::OnceLock::new();

/// Opens the portico executable for [`spawn_in_pod`]; call once at start.
pub fn hold_self_exe(path: &Path) -> Result<(), Error> {
    let file = std::fs::File::open(path)
        .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    let fd = OwnedFd::from(file);
    nix::fcntl::fcntl(
        &fd,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )
    .map_err(|e| Error::io("keeping the portico executable open", e.into()))?;
    let _ = SELF_EXE.set((path.to_path_buf(), fd));
    Ok(())
}

/// The program to exec for `program`: the held descriptor for the portico executable.
fn program_path(program: &str) -> PathBuf {
    match SELF_EXE.get() {
        Some((path, fd)) if Path::new(program) == path => {
            PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        }
        _ => PathBuf::from(program),
    }
}

/// How a process's standard streams are connected.
pub enum Stdio3 {
    /// stdin from a pipe if `stdin`, stdout and stderr to pipes.
    Pipes {
        /// Give the process a stdin pipe.
        stdin: bool,
    },
    /// One pseudo-terminal for all three.
    Tty,
}

/// A process started inside a pod.
pub struct Process {
    /// The process.
    pub child: tokio::process::Child,
    /// Its pid (also its process group).
    pub pid: u32,
    /// The pseudo-terminal's master side, with [`Stdio3::Tty`].
    pub pty: Option<OwnedFd>,
}

/// Starts `argv` inside the pod's namespaces.
pub fn spawn_in_pod(
    ns: &PodNamespaces,
    argv: &[String],
    env: &[(String, String)],
    working_dir: Option<&str>,
    stdio: Stdio3,
) -> Result<Process, Error> {
    let Some((program, args)) = argv.split_first() else {
        return Err(Error::Other("no command to run".into()));
    };
    let mut cmd = std::process::Command::new(program_path(program));
    {
        use std::os::unix::process::CommandExt;
        cmd.arg0(program);
    }
    cmd.args(args).env_clear();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut pty_master = None;
    match stdio {
        Stdio3::Pipes { stdin } => {
            cmd.stdin(if stdin { Stdio::piped() } else { Stdio::null() })
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
        }
        Stdio3::Tty => {
            let pty = nix::pty::openpty(None, None)
                .map_err(|e| Error::io("allocating a terminal", e.into()))?;
            let slave = pty.slave;
            let dup = |fd: &OwnedFd| {
                fd.try_clone()
                    .map_err(|e| Error::io("duplicating the terminal", e))
            };
            cmd.stdin(Stdio::from(dup(&slave)?))
                .stdout(Stdio::from(dup(&slave)?))
                .stderr(Stdio::from(slave));
            pty_master = Some(pty.master);
        }
    }
    portico_sandbox::spawn::enter_in_child(&mut cmd, ns, true, working_dir.map(Path::new))?;
    if pty_master.is_some() {
        controlling_terminal(&mut cmd);
    }
    let child = tokio::process::Command::from(cmd)
        .kill_on_drop(false)
        .spawn()
        .map_err(|e| Error::io(format!("starting {program:?}"), e))?;
    let pid = child.id().unwrap_or(0);
    Ok(Process {
        child,
        pid,
        pty: pty_master,
    })
}

/// Makes the child's stdin (a terminal) its controlling terminal, after `setsid`.
#[allow(unsafe_code)]
fn controlling_terminal(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure only makes one ioctl system call; no allocation, no locks.
    unsafe {
        cmd.pre_exec(|| {
            if nix::libc::ioctl(0, nix::libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Sets a terminal's size.
#[allow(unsafe_code)]
pub fn resize(pty: &OwnedFd, width: u16, height: u16) {
    let ws = nix::libc::winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize struct that lives for the call.
    unsafe {
        nix::libc::ioctl(pty.as_raw_fd(), nix::libc::TIOCSWINSZ, &ws);
    }
}

/// Sends `signal` to the process group of `pid`.
pub fn signal_group(pid: u32, signal: nix::sys::signal::Signal) {
    if pid == 0 {
        return;
    }
    let pid = nix::unistd::Pid::from_raw(pid as i32);
    let _ = nix::sys::signal::killpg(pid, signal);
}

/// Runs a command inside the pod and returns its exit code and combined output, killing it
/// after `timeout` (exec probes).
pub async fn run_to_end(
    ns: &PodNamespaces,
    argv: &[String],
    env: &[(String, String)],
    timeout: Duration,
) -> std::io::Result<(i32, Vec<u8>)> {
    let mut p = spawn_in_pod(ns, argv, env, None, Stdio3::Pipes { stdin: false })
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let pid = p.pid;
    let mut out = Vec::new();
    let mut stdout = p.child.stdout.take();
    let mut stderr = p.child.stderr.take();
    let work = async {
        use tokio::io::AsyncReadExt;
        let mut a = Vec::new();
        let mut b = Vec::new();
        let (ra, rb) = tokio::join!(
            async {
                if let Some(s) = stdout.as_mut() {
                    let _ = s.read_to_end(&mut a).await;
                }
            },
            async {
                if let Some(s) = stderr.as_mut() {
                    let _ = s.read_to_end(&mut b).await;
                }
            }
        );
        let _ = (ra, rb);
        let status = p.child.wait().await;
        (status, a, b)
    };
    match tokio::time::timeout(timeout, work).await {
        Ok((status, a, b)) => {
            out.extend_from_slice(&a);
            out.extend_from_slice(&b);
            let code = status.map(|s| {
                use std::os::unix::process::ExitStatusExt;
                s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
            })?;
            Ok((code, out))
        }
        Err(_) => {
            signal_group(pid, nix::sys::signal::Signal::SIGKILL);
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("command timed out after {}s", timeout.as_secs()),
            ))
        }
    }
}
