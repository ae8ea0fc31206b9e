//! What PID 1 of the sandbox does first: private mounts, a `/proc` for its PID namespace, a
//! tmpfs for run-time state, its hostname; and, as an init, reaping orphans.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, ExitStatus};

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use crate::Error;

/// What [`init_mounts`] sets up.
#[derive(Clone, Debug, Default)]
pub struct InitMounts {
    /// Mount a fresh `/proc` (needed in a new PID namespace, so that `/proc` shows its
    /// processes and `/proc/<pid>/ns/*` can be opened for them).
    pub proc: bool,
    /// A directory to mount a fresh tmpfs on (created if missing), for sockets, pod layers and
    /// other run-time state. Choose a path the outer user owns, e.g. `~/.portico/run`: `/run`
    /// may not be writable. Pod overlay upper dirs must live here, because an overlayfs upper
    /// dir may not itself be on overlayfs (as the root of a container often is).
    pub run_dir: Option<PathBuf>,
    /// The sandbox's hostname (its own UTS namespace).
    pub hostname: Option<String>,
}

/// Sets up the sandbox's mounts; call it in PID 1 of the sandbox (after [`super::spawn_pid1`]),
/// or in the keeper when there is no PID namespace.
///
/// Makes `/` recursively private (nothing mounted here propagates out), then does what
/// `spec` asks.
pub fn init_mounts(spec: &InitMounts) -> Result<(), Error> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| Error::sys("making / recursively private", e))?;
    if spec.proc {
        mount(
            Some("proc"),
            "/proc",
            Some("proc"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None::<&str>,
        )
        .map_err(|e| Error::sys("mounting a fresh /proc", e))?;
    }
    if let Some(dir) = &spec.run_dir {
        std::fs::create_dir_all(dir).map_err(|e| Error::file("creating", dir, e))?;
        mount(
            Some("tmpfs"),
            dir,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("mode=0755"),
        )
        .map_err(|e| Error::sys(format!("mounting a tmpfs on {}", dir.display()), e))?;
    }
    if let Some(name) = &spec.hostname {
        set_hostname(name)?;
    }
    Ok(())
}

/// Sets the hostname of the caller's UTS namespace.
pub fn set_hostname(name: &str) -> Result<(), Error> {
    nix::unistd::sethostname(name)
        .map_err(|e| Error::sys(format!("setting the hostname to {name:?}"), e))
}

/// The init loop for PID 1: waits for any child (reaping orphans that the kernel re-parents
/// to PID 1) until `main` exits, and returns `main`'s exit status.
///
/// Use it when PID 1 is a small process that runs the real work as its child `main`: a
/// process that reaps with `waitpid(-1)` must not also wait on its children by pid (tokio's
/// `Child::wait` would then see `ECHILD`). Do not call `wait` on `main` afterwards.
pub fn reap_until_exit(main: Child) -> Result<ExitStatus, Error> {
    let main_pid = Pid::from_raw(main.id() as i32);
    loop {
        match waitpid(None::<Pid>, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == main_pid => {
                return Ok(ExitStatus::from_raw((code & 0xff) << 8));
            }
            Ok(WaitStatus::Signaled(pid, signal, core)) if pid == main_pid => {
                return Ok(ExitStatus::from_raw(
                    signal as i32 | if core { 0x80 } else { 0 },
                ));
            }
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("waiting for children", e)),
        }
    }
}
