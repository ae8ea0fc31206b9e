//! The host side of `portico up`, and `portico down`.

use std::io::{BufRead, BufReader};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{UpArgs, PORTS_FD};

fn pid_file(home: &Path) -> std::path::PathBuf {
    home.join("portico.pid")
}

/// Whether `pid` runs (a zombie, exited but not yet reaped by its parent, does not).
fn alive(pid: i32) -> bool {
    if pid <= 0 || kill(Pid::from_raw(pid), None).is_err() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn running_pid(home: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(pid_file(home)).ok()?;
    let pid: i32 = text.trim().parse().ok()?;
    alive(pid).then_some(pid)
}

/// `portico up`: runs the cluster in the foreground until Ctrl-C, SIGTERM or `portico down`.
pub fn up(args: &UpArgs) -> Result<()> {
    let home = args.home();
    std::fs::create_dir_all(&home).with_context(|| format!("creating {}", home.display()))?;
    if let Some(pid) = running_pid(&home) {
        bail!(
            "a cluster is already running with home {} (pid {pid}); stop it with `portico down --home {}`",
            home.display(),
            home.display()
        );
    }
    if !matches!(args.proxy_mode.as_str(), "userspace" | "nftables") {
        bail!(
            "unknown --proxy-mode {:?}: want userspace or nftables",
            args.proxy_mode
        );
    }
    if args.nodes == 0 || args.nodes > 200 {
        bail!("--nodes must be between 1 and 200");
    }
    if let Err(e) = portico_sandbox::userns::check_available() {
        bail!("{e}");
    }
    let log_path = home.join("portico.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("opening {}", log_path.display()))?;
    let (ours, theirs) =
        std::os::unix::net::UnixStream::pair().context("creating the host-port channel")?;
    let exe = std::env::current_exe().context("finding the portico executable")?;
    let mut cmd = Command::new(&exe);
    cmd.arg("__sandbox")
        .args(args.to_args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log));
    portico_sandbox::userns::sandbox_command(&mut cmd);
    portico_sandbox::userns::inherit_fd(&mut cmd, OwnedFd::from(theirs), PORTS_FD);
    let started = Instant::now();
    let mut child = cmd.spawn().context("starting the sandbox")?;
    drop(cmd);
    std::fs::write(pid_file(&home), std::process::id().to_string())
        .with_context(|| format!("writing {}", pid_file(&home).display()))?;
    let stdout = child.stdout.take().context("the sandbox's output")?;
    let keeper = child.id();

    // Host ports are served on their own thread, so the main thread keeps the keeper's
    // parent-death link (it fires when the spawning thread exits).
    let listen = args.listen_address;
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            let Ok(()) = ours.set_nonblocking(true) else {
                return;
            };
            let Ok(sock) = tokio::net::UnixStream::from_std(ours) else {
                return;
            };
            let loopback = portico_sandbox::ports::allow_loopback_and(vec![listen]);
            // Also an unbound-port UDP socket on any address: the DNS forwarder's way out.
            let policy = move |proto, addr: std::net::SocketAddr| {
                if proto == portico_sandbox::ports::Proto::Udp
                    && addr.port() == 0
                    && addr.ip().is_unspecified()
                {
                    return Ok(());
                }
                loopback(proto, addr)
            };
            if let Err(e) = portico_sandbox::ports::PortBroker::serve(sock, policy).await {
                tracing::warn!(error = %e, "host-port channel closed");
            }
        });
    });

    // Ctrl-C, SIGTERM and `portico down` all ask the keeper to stop; it passes it on.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for s in [signal_hook_like::SIGINT, signal_hook_like::SIGTERM] {
        signal_hook_like::flag(s, stop.clone());
    }

    let progress = indicatif::ProgressBar::new_spinner();
    progress.enable_steady_tick(Duration::from_millis(80));
    progress.set_message("creating the sandbox");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let kubeconfig = home.join("kubeconfig");
    let mut ready = false;
    let mut failure: Option<String> = None;
    let mut asked_to_stop = false;
    let mut stop_asked_at = None;
    let status = loop {
        if stop.load(std::sync::atomic::Ordering::SeqCst) && !asked_to_stop {
            asked_to_stop = true;
            stop_asked_at = Some(Instant::now());
            progress.set_message("stopping");
            let _ = kill(Pid::from_raw(keeper as i32), Signal::SIGTERM);
        }
        if let Some(at) = stop_asked_at {
            if at.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
            }
        }
        match lines_rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                if let Some(step) = line.strip_prefix("step ") {
                    progress.set_message(step.to_string());
                    if !progress.is_hidden() {
                        continue;
                    }
                    eprintln!("{step}");
                } else if line == "ready" && !ready {
                    ready = true;
                    progress.finish_and_clear();
                    println!(
                        "Portico is ready in {:.1}s: {} node{}, API server at https://{}:{}. Use it with:\n  export KUBECONFIG={}",
                        started.elapsed().as_secs_f64(),
                        args.nodes,
                        if args.nodes == 1 { "" } else { "s" },
                        args.listen_address,
                        args.api_port,
                        kubeconfig.display()
                    );
                } else if let Some(e) = line.strip_prefix("error ") {
                    failure = Some(e.to_string());
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                // The sandbox closed its output: it is ending.
                if let Ok(s) = child.wait() {
                    break s;
                }
            }
        }
        if let Ok(Some(s)) = child.try_wait() {
            break s;
        }
    };
    progress.finish_and_clear();
    let _ = std::fs::remove_file(pid_file(&home));
    if !ready {
        let why = failure.unwrap_or_else(|| last_lines(&log_path, 8));
        bail!(
            "the cluster did not start: {why}\n(full log: {})",
            log_path.display()
        );
    }
    if asked_to_stop {
        println!("Portico stopped.");
        return Ok(());
    }
    match failure {
        Some(e) => bail!("the cluster stopped: {e}"),
        None if status.success() => Ok(()),
        None => bail!(
            "the cluster stopped unexpectedly ({status}); see {}",
            log_path.display()
        ),
    }
}

fn last_lines(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `portico down`: stops the cluster running with `home` and waits until it is gone.
pub fn down(home: Option<&Path>) -> Result<()> {
    let args = UpArgs {
        nodes: 1,
        home: home.map(Path::to_path_buf),
        listen_address: std::net::Ipv4Addr::LOCALHOST.into(),
        api_port: 0,
        lb_pool: String::new(),
        proxy_mode: String::new(),
        http_port: 0,
        https_port: 0,
        upstream_dns: None,
    };
    let home = args.home();
    let Some(pid) = running_pid(&home) else {
        println!("No cluster is running with home {}.", home.display());
        return Ok(());
    };
    kill(Pid::from_raw(pid), Signal::SIGTERM).context("signalling the cluster")?;
    let deadline = Instant::now() + Duration::from_secs(90);
    // `portico up` removes its pid file as its last step.
    while alive(pid) && pid_file(&home).exists() {
        if Instant::now() > deadline {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            bail!("the cluster did not stop within 90 s; killed it");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("Portico stopped.");
    Ok(())
}

/// Signal flags without a runtime: a handler that sets an atomic.
mod signal_hook_like {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, OnceLock};

    pub use nix::sys::signal::Signal::{SIGINT, SIGTERM};

    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

    extern "C" fn set(_: nix::libc::c_int) {
        if let Some(f) = FLAG.get() {
            f.store(true, Ordering::SeqCst);
        }
    }

    /// Sets `flag` when `signal` arrives.
    #[allow(unsafe_code)]
    pub fn flag(signal: nix::sys::signal::Signal, flag: Arc<AtomicBool>) {
        use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet};
        let _ = FLAG.set(flag);
        let action = SigAction::new(
            SigHandler::Handler(set),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        // SAFETY: the handler only stores into an atomic that is set before it is installed.
        let _ = unsafe { sigaction(signal, &action) };
    }
}
