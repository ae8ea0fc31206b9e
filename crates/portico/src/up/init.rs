//! The two small links of the chain inside the sandbox: the keeper (`__sandbox`, outside the
//! new PID namespace) and PID 1 (`__init`). Both only start the next link, pass SIGTERM and
//! SIGINT on to it, and exit with its status.

use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicI32, Ordering};

use super::UpArgs;

/// The pid that SIGTERM and SIGINT are passed on to.
static FORWARD_TO: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(signal: nix::libc::c_int) {
    let pid = FORWARD_TO.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY-free: kill(2) is async-signal-safe; nix's wrapper only converts types.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::try_from(signal).ok(),
        );
    }
}

#[allow(unsafe_code)]
fn forward_signals_to(pid: u32) {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    FORWARD_TO.store(pid as i32, Ordering::SeqCst);
    let action = SigAction::new(
        SigHandler::Handler(forward),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        // SAFETY: the handler only reads an atomic and calls kill(2), both async-signal-safe.
        let _ = unsafe { sigaction(s, &action) };
    }
}

fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    use std::os::unix::process::ExitStatusExt;
    match status.code() {
        Some(c) => ExitCode::from(c.clamp(0, 255) as u8),
        None => ExitCode::from(128 + status.signal().unwrap_or(0).clamp(0, 127) as u8),
    }
}

fn self_exe() -> std::path::PathBuf {
    std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into())
}

/// `portico __sandbox`: starts PID 1 of the sandbox's PID namespace and waits for it.
pub fn keeper(args: &UpArgs) -> ExitCode {
    let mut cmd = Command::new(self_exe());
    cmd.arg("__init").args(args.to_args());
    let mut child = match portico_sandbox::userns::spawn_pid1(&mut cmd) {
        Ok(c) => c,
        Err(e) => {
            println!("error starting the sandbox's first process: {e}");
            return ExitCode::FAILURE;
        }
    };
    forward_signals_to(child.id());
    loop {
        match child.wait() {
            Ok(status) => return exit_code(status),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return ExitCode::FAILURE,
        }
    }
}

/// `portico __init`: PID 1. Mounts `/proc` and the run directory, starts the cluster and
/// reaps every orphan until the cluster exits.
pub fn init(args: &UpArgs) -> ExitCode {
    let home = args.home();
    let spec = portico_sandbox::userns::InitMounts {
        proc: true,
        run_dir: Some(home.join("run")),
        hostname: Some("portico".into()),
    };
    if let Err(e) = portico_sandbox::userns::init_mounts(&spec) {
        println!("error preparing the sandbox's mounts: {e}");
        return ExitCode::FAILURE;
    }
    let mut cmd = Command::new(self_exe());
    cmd.arg("__cluster").args(args.to_args());
    let child = match portico_sandbox::userns::kill_with_parent(&mut cmd).spawn() {
        Ok(c) => c,
        Err(e) => {
            println!("error starting the cluster: {e}");
            return ExitCode::FAILURE;
        }
    };
    forward_signals_to(child.id());
    match portico_sandbox::userns::reap_until_exit(child) {
        Ok(status) => exit_code(status),
        Err(e) => {
            eprintln!("portico init: {e}");
            ExitCode::FAILURE
        }
    }
}
