//! The sandbox itself: a user namespace where Portico is root, with its own network, mount,
//! UTS, IPC and PID namespaces.
//!
//! # The process chain
//!
//! ```text
//! host: `portico up` (ordinary user, host namespaces; serves host ports, see crate::ports)
//!   └─ keeper      exec'd through [`sandbox_command`]: new user, net, mount, UTS, IPC
//!      │           namespaces; still in the host's PID namespace, but its children are not
//!      └─ PID 1    started by the keeper with [`spawn_pid1`]: first process of the new PID
//!                  namespace; calls [`init_mounts`] and runs everything else
//! ```
//!
//! The keeper cannot create threads: once a process has called `unshare(CLONE_NEWPID)`, the
//! kernel refuses `clone(CLONE_THREAD)` with `EINVAL`. Keep it a plain `fn main()` that calls
//! [`run_keeper`]; start the async runtime in PID 1.
//!
//! Teardown needs no cleanup code. `SIGKILL` on `portico up` makes the kernel send the keeper
//! `SIGKILL` (its parent-death signal); the keeper's death sends `SIGKILL` to PID 1 (its
//! parent-death signal); when PID 1 of a PID namespace dies the kernel kills every other
//! process in it. The namespaces vanish with their last process. Parent-death signals fire
//! when the *thread* that spawned the child exits, so spawn the keeper and PID 1 from a thread
//! that lives as long as the process (e.g. the main thread), never from a short-lived one such
//! as a `tokio::task::spawn_blocking` thread.
//!
//! # Identity
//!
//! The sandbox maps exactly one user and one group: root (0) inside is the caller's effective
//! uid and gid outside, whether that is an ordinary user or real root. This is the only map an
//! unprivileged process can write for itself, so root and ordinary users get the same
//! sandbox. Files owned by other users show as `nobody` (65534) inside. `setgroups` is
//! denied, as the kernel requires for an unprivileged gid map.

mod check;
mod init;

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

use nix::sched::CloneFlags;
use nix::sys::signal::Signal;

pub use check::check_available;
pub use init::{init_mounts, reap_until_exit, set_hostname, InitMounts};

/// Whether a sandbox gets a PID namespace of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PidNamespace {
    /// A new PID namespace: the exec'd process stays outside it, its first child becomes PID 1
    /// (see [`spawn_pid1`]). This is what `portico up` uses.
    New,
    /// Stay in the caller's PID namespace (useful for tests and one-shot helpers that fork
    /// several children: once PID 1 of a new PID namespace exits, nothing can fork into it).
    Inherit,
}

/// Buffers for the child's uid/gid maps, built before `fork` so the child only makes system
/// calls.
struct IdMaps {
    setgroups: CString,
    uid_map: CString,
    gid_map: CString,
    uid_line: Vec<u8>,
    gid_line: Vec<u8>,
}

impl IdMaps {
    /// Maps root inside to the caller's effective uid/gid outside.
    fn for_current_user() -> IdMaps {
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        IdMaps {
            setgroups: c"/proc/self/setgroups".to_owned(),
            uid_map: c"/proc/self/uid_map".to_owned(),
            gid_map: c"/proc/self/gid_map".to_owned(),
            uid_line: format!("0 {uid} 1\n").into_bytes(),
            gid_line: format!("0 {gid} 1\n").into_bytes(),
        }
    }

    /// Writes the maps for the calling process. Only system calls on pre-built buffers, so it
    /// is safe to call between `fork` and `exec`.
    fn write(&self) -> io::Result<()> {
        write_file(&self.setgroups, b"deny")?;
        write_file(&self.uid_map, &self.uid_line)?;
        write_file(&self.gid_map, &self.gid_line)
    }
}

/// Opens `path` for writing and writes `data` in one `write`, with system calls only (no
/// allocation), for use between `fork` and `exec`.
fn write_file(path: &CString, data: &[u8]) -> io::Result<()> {
    use nix::fcntl::OFlag;
    let fd = nix::fcntl::open(
        path.as_c_str(),
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    let written = nix::unistd::write(&fd, data)?;
    if written != data.len() {
        return Err(io::Error::from_raw_os_error(libc::EIO));
    }
    Ok(())
}

/// Arranges for `cmd` to start inside a new sandbox: new user, mount, network, UTS, IPC and
/// PID namespaces, mapped as described in the module docs, with `SIGKILL` as its
/// parent-death signal.
///
/// The exec'd program is the *keeper*: it is root in its namespaces but stays in the caller's
/// PID namespace; it should start the real work with [`spawn_pid1`]. Call
/// [`check_available`] first: a refusal here only surfaces as the bare errno of
/// `Command::spawn`.
pub fn sandbox_command(cmd: &mut Command) -> &mut Command {
    sandbox_command_with(cmd, PidNamespace::New)
}

/// Like [`sandbox_command`], choosing whether the sandbox gets its own PID namespace.
#[allow(unsafe_code)]
pub fn sandbox_command_with(cmd: &mut Command, pid: PidNamespace) -> &mut Command {
    let mut flags = CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWNET
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC;
    if pid == PidNamespace::New {
        flags |= CloneFlags::CLONE_NEWPID;
    }
    let maps = IdMaps::for_current_user();
    let parent = nix::unistd::getpid();
    // SAFETY: the closure runs in the forked child before exec. It only makes system calls
    // (unshare, open, write, close, prctl, getppid) on buffers built above, before the fork:
    // no allocation, no locks, so it is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            nix::sched::unshare(flags)?;
            maps.write()?;
            die_with_parent(parent)
        })
    }
}

/// Sets `SIGKILL` as the calling process's parent-death signal and fails if the parent
/// (`expected`, recorded before `fork`) already died. Async-signal-safe.
fn die_with_parent(expected: nix::unistd::Pid) -> io::Result<()> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
    let now = nix::unistd::getppid();
    // In a new PID namespace the parent is invisible and getppid() returns 0.
    if now.as_raw() != 0 && now != expected {
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    Ok(())
}

/// Spawns `cmd` with `SIGKILL` as its parent-death signal.
///
/// Called by the keeper (after [`sandbox_command`] with [`PidNamespace::New`]), the child is
/// PID 1 of the new PID namespace: when it exits, the kernel kills every process left in the
/// namespace, and no new process can be created in it. PID 1 should call [`init_mounts`]
/// first, and must reap orphans (see [`reap_until_exit`]).
pub fn spawn_pid1(cmd: &mut Command) -> io::Result<Child> {
    kill_with_parent(cmd).spawn()
}

/// The whole job of a keeper: starts PID 1 with [`spawn_pid1`] and waits for it.
///
/// After `unshare(CLONE_NEWPID)` the kernel refuses to create threads in the keeper
/// (`EINVAL`), so the keeper must stay a plain single-threaded process: no async runtime, no
/// threads; do its setup (e.g. [`set_hostname`]) and then call this from `main`.
pub fn run_keeper(pid1: &mut Command) -> io::Result<std::process::ExitStatus> {
    spawn_pid1(pid1)?.wait()
}

/// Arranges for the child of `cmd` to get `SIGKILL` when the spawning thread dies.
#[allow(unsafe_code)]
pub fn kill_with_parent(cmd: &mut Command) -> &mut Command {
    let parent = nix::unistd::getpid();
    // SAFETY: runs in the forked child before exec and only calls prctl and getppid.
    unsafe { cmd.pre_exec(move || die_with_parent(parent)) }
}

/// Makes `fd` appear as descriptor `child_fd` in the child of `cmd` (e.g. the port-passing
/// socket for [`crate::ports::PortClient::from_fd`]); the parent's copy is closed when `cmd`
/// is dropped.
///
/// `child_fd` must be 3 or more, and distinct from the source descriptors of other
/// `inherit_fd` calls on the same command.
#[allow(unsafe_code)]
pub fn inherit_fd(cmd: &mut Command, fd: OwnedFd, child_fd: RawFd) -> &mut Command {
    // SAFETY: runs in the forked child before exec and only calls dup2/fcntl on descriptors
    // that are open in the child (`fd` is kept alive by the closure, which the Command owns).
    unsafe {
        cmd.pre_exec(move || {
            let src = fd.as_raw_fd();
            if src == child_fd {
                let flags = libc::fcntl(src, libc::F_GETFD);
                if flags < 0 || libc::fcntl(src, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(io::Error::last_os_error());
                }
            } else if libc::dup2(src, child_fd) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests;
