//! Portico's rootless sandbox.
//!
//! `portico up` re-executes itself in new user, network, mount, UTS, IPC and PID namespaces
//! where it is root and owns the whole network; the host network is never touched. This
//! crate holds the pieces:
//!
//! * [`userns`]: checking that user namespaces are available, starting the sandbox and its
//!   PID 1, and PID 1's first mounts. The module docs describe the process chain and how it
//!   dies as a whole.
//! * [`netns`]: network namespaces as descriptors, used from a multi-threaded process.
//! * [`netlink`]: bridges, veth pairs, addresses and routes (rtnetlink, async).
//! * [`spawn`]: a pod's sandbox process and containers that join its namespaces.
//! * [`podfs`]: a pod's private filesystem view (overlays, tmpfs, binds, `/etc` files).
//! * [`ports`]: host listeners bound outside the sandbox and handed in over a Unix socket
//!   (`SCM_RIGHTS`), since a socket keeps the network namespace it was created in.
//!
//! `unshare(CLONE_NEWUSER)` fails in a multi-threaded process, so everything that creates the
//! sandbox itself happens in a forked child (`Command::pre_exec`); the async runtime may run
//! before and after.

pub mod error;
pub mod netlink;
pub mod netns;
pub mod podfs;
pub mod ports;
pub mod spawn;
pub mod userns;

#[cfg(test)]
mod testing;

pub use error::Error;
