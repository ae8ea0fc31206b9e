//! Network namespaces as file descriptors, usable from a multi-threaded (tokio) process.
//!
//! A thread can switch its own network namespace with `setns`; a socket keeps the namespace
//! of the thread that created it. So [`NetNs::run_in`] runs a closure on a fresh, temporary
//! thread that has joined the namespace: sockets (including netlink sockets, see
//! [`crate::netlink::Netlink::in_netns`]) made there work in that namespace for their whole
//! life, from any thread. The caller's threads never change namespace.

use std::fmt;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::sched::CloneFlags;

use crate::Error;

/// A network namespace, held open by a file descriptor: it lives as long as this value or
/// any process or socket in it.
pub struct NetNs {
    fd: OwnedFd,
    label: String,
}

impl fmt::Debug for NetNs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetNs").field("label", &self.label).finish()
    }
}

impl NetNs {
    /// Creates a new, empty network namespace (only a down `lo`). Needs `CAP_SYS_ADMIN` in the
    /// caller's user namespace, i.e. run it inside the sandbox.
    pub fn new() -> Result<NetNs, Error> {
        let fd = std::thread::scope(|s| {
            s.spawn(|| -> Result<OwnedFd, Error> {
                nix::sched::unshare(CloneFlags::CLONE_NEWNET)
                    .map_err(|e| Error::sys("creating a network namespace", e))?;
                let file = File::open("/proc/thread-self/ns/net")
                    .map_err(|e| Error::file("opening", "/proc/thread-self/ns/net", e))?;
                Ok(OwnedFd::from(file))
            })
            .join()
            .map_err(|_| Error::Invalid("the netns thread panicked".into()))?
        })?;
        Ok(NetNs {
            fd,
            label: "new netns".into(),
        })
    }

    /// The calling thread's network namespace.
    pub fn current() -> Result<NetNs, Error> {
        Self::open("/proc/thread-self/ns/net", "current netns")
    }

    /// The network namespace of process `pid` (e.g. a pod's sandbox process).
    pub fn from_pid(pid: u32) -> Result<NetNs, Error> {
        Self::open(format!("/proc/{pid}/ns/net"), format!("netns of pid {pid}"))
    }

    /// Opens a namespace file such as `/proc/<pid>/ns/net` or a bind mount of one.
    pub fn open(path: impl AsRef<Path>, label: impl Into<String>) -> Result<NetNs, Error> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| Error::file("opening", path, e))?;
        Ok(NetNs {
            fd: OwnedFd::from(file),
            label: label.into(),
        })
    }

    /// Wraps a descriptor that refers to a network namespace.
    pub fn from_fd(fd: OwnedFd, label: impl Into<String>) -> NetNs {
        NetNs {
            fd,
            label: label.into(),
        }
    }

    /// Gives the namespace the name used in error messages (e.g. `pod netns` gives `adding
    /// address 10.244.1.5/24 to eth0 in pod netns: File exists`).
    pub fn named(mut self, label: impl Into<String>) -> NetNs {
        self.label = label.into();
        self
    }

    /// The name used in error messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// A second descriptor for the same namespace.
    pub fn try_clone(&self) -> Result<NetNs, Error> {
        let fd = self
            .fd
            .try_clone()
            .map_err(|e| Error::io(format!("duplicating the fd of {}", self.label), e))?;
        Ok(NetNs {
            fd,
            label: self.label.clone(),
        })
    }

    /// Runs `f` on a temporary thread that has joined this namespace, and returns its result.
    /// Sockets created in `f` stay in this namespace wherever they are used afterwards.
    /// Blocks the calling thread until `f` returns; from async code, keep `f` short (socket
    /// creation, a sysctl) or wrap the call in `spawn_blocking`.
    pub fn run_in<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, Error> {
        std::thread::scope(|s| {
            s.spawn(|| -> Result<T, Error> {
                // Joining the namespace the thread is already in would still need privileges;
                // skip it, so that `NetNs::current()` works for ordinary users too.
                if !self.is_current_thread_ns() {
                    nix::sched::setns(self.fd.as_fd(), CloneFlags::CLONE_NEWNET)
                        .map_err(|e| Error::sys(format!("entering {}", self.label), e))?;
                }
                Ok(f())
            })
            .join()
            .map_err(|_| Error::Invalid(format!("a thread in {} panicked", self.label)))?
        })
    }

    /// Whether the calling thread is in this namespace (same inode on the nsfs).
    fn is_current_thread_ns(&self) -> bool {
        let Ok(mine) = nix::sys::stat::fstat(self.fd.as_fd()) else {
            return false;
        };
        match nix::sys::stat::stat("/proc/thread-self/ns/net") {
            Ok(cur) => cur.st_ino == mine.st_ino && cur.st_dev == mine.st_dev,
            Err(_) => false,
        }
    }

    /// Writes a network sysctl in this namespace, e.g. `sysctl("net.ipv4.ip_forward", "1")`
    /// or `sysctl("net.ipv4.conf.all.route_localnet", "1")`. Keys are dotted as for
    /// `sysctl(8)`; only `net.*` keys are per network namespace.
    pub fn sysctl(&self, key: &str, value: &str) -> Result<(), Error> {
        let path = sysctl_path(key)?;
        self.run_in(|| std::fs::write(&path, value))?
            .map_err(|e| Error::Io {
                what: format!("setting {key}={value} in {}", self.label),
                source: e,
            })
    }

    /// Reads a network sysctl in this namespace (trimmed).
    pub fn read_sysctl(&self, key: &str) -> Result<String, Error> {
        let path = sysctl_path(key)?;
        let text = self
            .run_in(|| std::fs::read_to_string(&path))?
            .map_err(|e| Error::Io {
                what: format!("reading {key} in {}", self.label),
                source: e,
            })?;
        Ok(text.trim().to_string())
    }
}

impl AsFd for NetNs {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// `/proc/sys/...` for a dotted `net.*` key; refuses anything that could escape `/proc/sys/net`.
fn sysctl_path(key: &str) -> Result<String, Error> {
    let ok = key.starts_with("net.")
        && key
            .split('.')
            .all(|part| !part.is_empty() && part != ".." && !part.contains('/'));
    if !ok {
        return Err(Error::Invalid(format!(
            "{key:?} is not a network sysctl (net.*)"
        )));
    }
    Ok(format!("/proc/sys/{}", key.replace('.', "/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_keys_map_to_proc_paths() {
        assert_eq!(
            sysctl_path("net.ipv4.ip_forward").unwrap(),
            "/proc/sys/net/ipv4/ip_forward"
        );
        assert_eq!(
            sysctl_path("net.ipv4.conf.all.route_localnet").unwrap(),
            "/proc/sys/net/ipv4/conf/all/route_localnet"
        );
        for bad in ["kernel.hostname", "net..x", "net.ipv4/../../x", "net"] {
            let err = sysctl_path(bad).unwrap_err().to_string();
            assert!(err.contains("not a network sysctl"), "{bad}: {err}");
        }
    }

    #[test]
    fn current_netns_runs_closures() {
        let ns = NetNs::current().unwrap();
        assert_eq!(ns.run_in(|| 6 * 7).unwrap(), 42);
        assert_eq!(ns.label(), "current netns");
    }
}
