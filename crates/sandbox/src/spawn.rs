//! Starting pod processes: the pod's long-lived sandbox process, which owns the pod's
//! namespaces, and its containers, which join them.
//!
//! A pod is a network, UTS, IPC and mount namespace held by one process started with
//! [`new_pod_sandbox_command`] (e.g. `portico __pod-sandbox ...`, which sets its hostname,
//! calls [`crate::podfs::setup_pod_mounts`] and sleeps until killed). Each container is then
//! started with [`enter_in_child`] using the namespaces of that process
//! ([`PodNamespaces::open`]).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use nix::sched::CloneFlags;

use crate::netns::NetNs;
use crate::Error;

/// The namespaces of a pod, held open by descriptors taken from its sandbox process.
#[derive(Debug)]
pub struct PodNamespaces {
    net: OwnedFd,
    uts: OwnedFd,
    ipc: OwnedFd,
    mnt: OwnedFd,
}

impl PodNamespaces {
    /// Opens `/proc/<pid>/ns/{net,uts,ipc,mnt}` of the pod's sandbox process.
    pub fn open(pid: u32) -> Result<PodNamespaces, Error> {
        let open = |kind: &str| -> Result<OwnedFd, Error> {
            let path = format!("/proc/{pid}/ns/{kind}");
            let file = std::fs::File::open(&path).map_err(|e| Error::file("opening", path, e))?;
            Ok(OwnedFd::from(file))
        };
        Ok(PodNamespaces {
            net: open("net")?,
            uts: open("uts")?,
            ipc: open("ipc")?,
            mnt: open("mnt")?,
        })
    }

    /// The pod's network namespace (a new descriptor), e.g. for
    /// [`crate::netlink::Netlink::add_veth`]. `label` names it in error messages.
    pub fn netns(&self, label: impl Into<String>) -> Result<NetNs, Error> {
        let fd = self
            .net
            .try_clone()
            .map_err(|e| Error::io("duplicating a netns descriptor", e))?;
        Ok(NetNs::from_fd(fd, label))
    }
}

/// Arranges for the child of `cmd` to start inside the pod's namespaces.
///
/// Between `fork` and `exec` the child joins the network, UTS, IPC and then the mount
/// namespace (last: joining a mount namespace also resets the root and working directory,
/// which needs `CAP_SYS_ADMIN` and `CAP_SYS_CHROOT` in the namespace's owning user namespace:
/// the sandbox's, where the node agent is root). Then, if `workdir` is given, it changes
/// there (a path inside the pod); else it stays at `/`. With `setsid`, the child leads a new
/// session and process group, so the node can signal the whole container at once with
/// `kill(-pgid)`.
///
/// The namespaces stay open in `cmd` until it is dropped. Fails only if `workdir` contains a
/// NUL byte.
#[allow(unsafe_code)]
pub fn enter_in_child(
    cmd: &mut Command,
    ns: &PodNamespaces,
    setsid: bool,
    workdir: Option<&Path>,
) -> Result<(), Error> {
    let dup = |fd: &OwnedFd| {
        fd.try_clone()
            .map_err(|e| Error::io("duplicating a namespace descriptor", e))
    };
    let (net, uts, ipc, mnt) = (dup(&ns.net)?, dup(&ns.uts)?, dup(&ns.ipc)?, dup(&ns.mnt)?);
    let workdir = match workdir {
        Some(dir) => Some(CString::new(dir.as_os_str().as_bytes()).map_err(|_| {
            Error::Invalid(format!(
                "working directory {} contains a NUL byte",
                dir.display()
            ))
        })?),
        None => None,
    };
    // SAFETY: the closure runs in the forked child before exec. It only makes system calls
    // (setns, chdir, setsid) on descriptors and a CString prepared before the fork: no
    // allocation, no locks.
    unsafe {
        cmd.pre_exec(move || {
            nix::sched::setns(net.as_fd(), CloneFlags::CLONE_NEWNET)?;
            nix::sched::setns(uts.as_fd(), CloneFlags::CLONE_NEWUTS)?;
            nix::sched::setns(ipc.as_fd(), CloneFlags::CLONE_NEWIPC)?;
            nix::sched::setns(mnt.as_fd(), CloneFlags::CLONE_NEWNS)?;
            match &workdir {
                Some(dir) => nix::unistd::chdir(dir.as_c_str())?,
                None => nix::unistd::chdir(c"/")?,
            }
            if setsid {
                nix::unistd::setsid()?;
            }
            Ok(())
        });
    }
    Ok(())
}

/// Arranges for the child of `cmd` to become a pod's sandbox process: new network, UTS,
/// mount and IPC namespaces, and `SIGKILL` when the spawning thread dies (so pods die with
/// the node agent; spawn from a long-lived thread, e.g. a tokio worker, not a
/// `spawn_blocking` one, which exits when idle).
///
/// The new network namespace has only a down `lo`; the node wires it with
/// [`crate::netlink::Netlink::add_veth`] using [`PodNamespaces::netns`]. The child process
/// should set its hostname ([`crate::userns::set_hostname`]), call
/// [`crate::podfs::setup_pod_mounts`], report readiness and sleep until killed.
pub fn new_pod_sandbox_command(cmd: &mut Command) -> &mut Command {
    unshare_in_child(
        cmd,
        CloneFlags::CLONE_NEWNET
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWIPC,
    )
}

/// Like [`new_pod_sandbox_command`] for a pod with `hostNetwork: true`: new UTS, mount and
/// IPC namespaces, but the network namespace of the spawning process (the node's), so the
/// pod's processes see the node's interfaces and addresses and bind its ports. The pod
/// still gets a hostname and a file tree of its own.
pub fn new_host_network_pod_sandbox_command(cmd: &mut Command) -> &mut Command {
    unshare_in_child(
        cmd,
        CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWIPC,
    )
}

/// Makes the child of `cmd` unshare `flags` and die with the spawning thread.
#[allow(unsafe_code)]
fn unshare_in_child(cmd: &mut Command, flags: CloneFlags) -> &mut Command {
    let parent = nix::unistd::getpid();
    // SAFETY: runs in the forked child before exec; only unshare, prctl and getppid.
    unsafe {
        cmd.pre_exec(move || {
            nix::sched::unshare(flags)?;
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
            if nix::unistd::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    const TEST: &str = "spawn::tests::host_network_pods_share_the_node_network_only";

    fn ns_of(pid: &str, kind: &str) -> std::path::PathBuf {
        std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap()
    }

    #[test]
    fn host_network_pods_share_the_node_network_only() {
        if !testing::in_sandbox(TEST) {
            return;
        }
        let me = std::process::id().to_string();
        let start = |host_network: bool| {
            let mut cmd = Command::new("sleep");
            cmd.arg("30");
            if host_network {
                new_host_network_pod_sandbox_command(&mut cmd);
            } else {
                new_pod_sandbox_command(&mut cmd);
            }
            cmd.spawn().unwrap()
        };
        let mut host = start(true);
        let mut own = start(false);
        let (h, o) = (host.id().to_string(), own.id().to_string());
        assert_eq!(ns_of(&h, "net"), ns_of(&me, "net"), "host network pod");
        assert_ne!(ns_of(&h, "uts"), ns_of(&me, "uts"), "its own hostname");
        assert_ne!(ns_of(&h, "mnt"), ns_of(&me, "mnt"), "its own file tree");
        assert_ne!(ns_of(&o, "net"), ns_of(&me, "net"), "an ordinary pod");
        let _ = host.kill();
        let _ = own.kill();
        let _ = host.wait();
        let _ = own.wait();
    }
}
