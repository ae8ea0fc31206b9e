//! Checking, before anything else, that the kernel lets this user build a sandbox, and saying
//! in one line why not.

use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::ForkResult;

use super::IdMaps;
use crate::Error;

/// The steps the probe child takes; its exit report names the one that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Step {
    Unshare = 1,
    Maps = 2,
    Capabilities = 3,
}

/// Checks that this process can create the sandbox: a user namespace with its uid/gid maps,
/// and network and mount namespaces inside it (the step that AppArmor's restriction on
/// Ubuntu 24.04 breaks).
///
/// The probe runs in a throwaway forked child, so the caller's namespaces are unchanged and
/// the caller may be multi-threaded. On failure the error's text is one line saying why and
/// what to do, e.g. `cannot create a user namespace: disabled by
/// kernel.unprivileged_userns_clone=0; enable with: sudo sysctl -w
/// kernel.unprivileged_userns_clone=1`.
#[allow(unsafe_code)]
pub fn check_available() -> Result<(), Error> {
    let maps = IdMaps::for_current_user();
    let (read_end, write_end) =
        nix::unistd::pipe().map_err(|e| Error::sys("creating a pipe", e))?;
    // SAFETY: between fork and _exit the child only makes system calls (unshare, open, write,
    // close, _exit) on buffers built before the fork: no allocation, no locks.
    let fork = unsafe { nix::unistd::fork() };
    match fork.map_err(|e| Error::sys("forking a probe process", e))? {
        ForkResult::Child => {
            drop(read_end);
            let report = probe(&maps);
            let code = match report {
                Ok(()) => 0,
                Err((step, errno)) => {
                    let mut buf = [0u8; 5];
                    buf[0] = step as u8;
                    buf[1..].copy_from_slice(&(errno as i32).to_ne_bytes());
                    let _ = nix::unistd::write(write_end.as_fd(), &buf);
                    1
                }
            };
            // SAFETY: _exit is async-signal-safe and skips the parent's atexit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(write_end);
            let mut buf = [0u8; 5];
            let n = read_full(&read_end, &mut buf);
            let status = loop {
                match waitpid(child, None) {
                    Err(Errno::EINTR) => continue,
                    other => break other,
                }
            };
            match status {
                Ok(WaitStatus::Exited(_, 0)) => Ok(()),
                _ if n == buf.len() => {
                    let step = match buf[0] {
                        1 => Step::Unshare,
                        2 => Step::Maps,
                        _ => Step::Capabilities,
                    };
                    let errno = Errno::from_raw(i32::from_ne_bytes([buf[1], buf[2], buf[3], buf[4]]));
                    Err(Error::UserNamespacesUnavailable(explain(step, errno, &Sysctls::read())))
                }
                other => Err(Error::UserNamespacesUnavailable(format!(
                    "cannot create a user namespace: the probe process ended unexpectedly ({other:?})"
                ))),
            }
        }
    }
}

/// The probe, run in the forked child.
fn probe(maps: &IdMaps) -> Result<(), (Step, Errno)> {
    nix::sched::unshare(CloneFlags::CLONE_NEWUSER).map_err(|e| (Step::Unshare, e))?;
    maps.write().map_err(|e| {
        (
            Step::Maps,
            Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        )
    })?;
    nix::sched::unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS)
        .map_err(|e| (Step::Capabilities, e))
}

/// Reads until `buf` is full or end of file; returns how many bytes were read.
fn read_full(fd: &std::os::fd::OwnedFd, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match nix::unistd::read(fd, &mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    n
}

/// The kernel settings that govern user namespaces; `None` where the file does not exist.
#[derive(Debug, Default)]
struct Sysctls {
    /// Debian/Ubuntu's `kernel.unprivileged_userns_clone`.
    unprivileged_userns_clone: Option<u64>,
    /// `user.max_user_namespaces`.
    max_user_namespaces: Option<u64>,
    /// Ubuntu's `kernel.apparmor_restrict_unprivileged_userns`.
    apparmor_restrict: Option<u64>,
}

impl Sysctls {
    fn read() -> Sysctls {
        let get = |path: &str| {
            std::fs::read_to_string(path)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
        };
        Sysctls {
            unprivileged_userns_clone: get("/proc/sys/kernel/unprivileged_userns_clone"),
            max_user_namespaces: get("/proc/sys/user/max_user_namespaces"),
            apparmor_restrict: get("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"),
        }
    }
}

/// One line: why the sandbox cannot be built, and what to do.
fn explain(step: Step, errno: Errno, sysctls: &Sysctls) -> String {
    let head = "cannot create a user namespace";
    if sysctls.max_user_namespaces == Some(0) {
        return format!(
            "{head}: disabled by user.max_user_namespaces=0; enable with: sudo sysctl -w user.max_user_namespaces=28633"
        );
    }
    if sysctls.unprivileged_userns_clone == Some(0) && !nix::unistd::geteuid().is_root() {
        return format!(
            "{head}: disabled by kernel.unprivileged_userns_clone=0; enable with: sudo sysctl -w kernel.unprivileged_userns_clone=1"
        );
    }
    if step != Step::Unshare && sysctls.apparmor_restrict == Some(1) {
        return format!(
            "{head}: AppArmor denies capabilities in unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1); allow them with: sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (or an AppArmor profile for portico with the `userns,` rule)"
        );
    }
    match (step, errno) {
        (Step::Unshare, Errno::ENOSPC) => format!(
            "{head}: the limit of user namespaces is reached (user.max_user_namespaces={}); raise it with: sudo sysctl -w user.max_user_namespaces=28633",
            sysctls.max_user_namespaces.map_or_else(|| "?".to_string(), |n| n.to_string())
        ),
        (Step::Unshare, Errno::EINVAL | Errno::ENOSYS) => format!(
            "{head}: this kernel has no user namespaces ({}); use a kernel built with CONFIG_USER_NS=y",
            errno.desc()
        ),
        (Step::Unshare, _) => format!(
            "{head}: {} (a container's seccomp profile or a hardened kernel forbids unshare); run portico directly on the host, or allow unshare(CLONE_NEWUSER)",
            errno.desc()
        ),
        (Step::Maps, _) => format!(
            "{head}: writing its uid/gid map failed ({}); check that /proc is mounted and not read-only",
            errno.desc()
        ),
        (Step::Capabilities, _) => format!(
            "{head}: it was created but grants no network or mount namespaces ({}); a security module (AppArmor, SELinux) restricts user namespaces for this program",
            errno.desc()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn available_or_explained_in_one_line() {
        match check_available() {
            Ok(()) => {}
            Err(e) => {
                let text = e.to_string();
                assert!(
                    text.starts_with("cannot create a user namespace: "),
                    "{text}"
                );
                assert!(!text.contains('\n'), "{text}");
                eprintln!("skipped: {text}");
            }
        }
    }

    #[test]
    fn explains_each_known_setting() {
        let off = Sysctls {
            max_user_namespaces: Some(0),
            ..Sysctls::default()
        };
        let text = explain(Step::Unshare, Errno::ENOSPC, &off);
        assert!(text.contains("user.max_user_namespaces=0"), "{text}");
        assert!(
            text.contains("sudo sysctl -w user.max_user_namespaces="),
            "{text}"
        );

        let apparmor = Sysctls {
            apparmor_restrict: Some(1),
            ..Sysctls::default()
        };
        let text = explain(Step::Capabilities, Errno::EPERM, &apparmor);
        assert!(
            text.contains("kernel.apparmor_restrict_unprivileged_userns=1"),
            "{text}"
        );

        let full = Sysctls {
            max_user_namespaces: Some(10),
            ..Sysctls::default()
        };
        let text = explain(Step::Unshare, Errno::ENOSPC, &full);
        assert!(text.contains("user.max_user_namespaces=10"), "{text}");

        let text = explain(Step::Unshare, Errno::EPERM, &Sysctls::default());
        assert!(text.contains("Operation not permitted"), "{text}");

        for step in [Step::Unshare, Step::Maps, Step::Capabilities] {
            for errno in [Errno::EPERM, Errno::ENOSPC, Errno::EINVAL, Errno::EACCES] {
                let text = explain(step, errno, &Sysctls::default());
                assert!(
                    text.starts_with("cannot create a user namespace: "),
                    "{text}"
                );
                assert!(!text.contains('\n'), "{text}");
            }
        }
    }

    #[test]
    fn debian_switch_is_named_for_ordinary_users() {
        let off = Sysctls {
            unprivileged_userns_clone: Some(0),
            ..Sysctls::default()
        };
        let text = explain(Step::Unshare, Errno::EPERM, &off);
        if nix::unistd::geteuid().is_root() {
            assert!(!text.contains("unprivileged_userns_clone"), "{text}");
        } else {
            assert!(
                text.contains("kernel.unprivileged_userns_clone=0"),
                "{text}"
            );
        }
    }
}
