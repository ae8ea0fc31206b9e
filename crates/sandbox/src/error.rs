//! The crate's one error type.
//!
//! Every variant names the operation that failed and what it was applied to, so that a
//! message such as `adding address 10.244.1.5/24 to eth0 in pod netns: File exists` can be
//! shown to a user as it is.

use std::path::PathBuf;

/// Errors from namespace, mount, netlink and port-passing operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel refuses to create user namespaces for this user. The text is one line: why,
    /// and what to do about it.
    #[error("{0}")]
    UserNamespacesUnavailable(String),

    /// A system call failed; `what` says what was being done (e.g. `mounting proc on /proc`).
    #[error("{what}: {}", errno_text(*.errno))]
    Sys {
        /// What was being done, in words.
        what: String,
        /// The error number the kernel returned.
        errno: nix::errno::Errno,
    },

    /// An I/O operation on a file failed.
    #[error("{what} {}: {}", path.display(), io_text(.source))]
    File {
        /// What was being done (e.g. `writing`).
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// Any other I/O error; `what` says what was being done.
    #[error("{what}: {}", io_text(.source))]
    Io {
        /// What was being done, in words.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A netlink request failed; `what` names the operation, the link and the namespace.
    #[error("{what}: {reason}")]
    Netlink {
        /// What was being done (e.g. `adding address 10.244.1.5/24 to eth0 in pod netns`).
        what: String,
        /// Why it failed (the kernel's error text when there is one).
        reason: String,
        /// The kernel's error number, when the kernel refused the request.
        errno: Option<nix::errno::Errno>,
    },

    /// A request for a host port was refused or failed on the host side; the text comes from
    /// the host (e.g. `binding tcp 127.0.0.1:80: Permission denied`).
    #[error("{0}")]
    PortRefused(String),

    /// The port-passing channel broke or carried something unexpected.
    #[error("port channel: {0}")]
    PortChannel(String),

    /// A caller asked for something this crate refuses to do (e.g. writing a pod file outside
    /// the pod's private directories, which would change the host).
    #[error("{0}")]
    Invalid(String),
}

/// The kernel's text for an errno, without the `(os error N)` suffix.
pub(crate) fn errno_text(errno: nix::errno::Errno) -> &'static str {
    errno.desc()
}

/// An io::Error's text without the `(os error N)` suffix when it is an OS error.
pub(crate) fn io_text(err: &std::io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_string(),
        None => err.to_string(),
    }
}

impl Error {
    /// An [`Error::Sys`] from an errno and a description of the operation.
    pub(crate) fn sys(what: impl Into<String>, errno: nix::errno::Errno) -> Self {
        Error::Sys {
            what: what.into(),
            errno,
        }
    }

    /// An [`Error::File`].
    pub(crate) fn file(
        what: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::File {
            what,
            path: path.into(),
            source,
        }
    }

    /// An [`Error::Io`].
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    /// The errno behind this error, when there is one (e.g. to tell `EEXIST` apart).
    pub fn errno(&self) -> Option<nix::errno::Errno> {
        match self {
            Error::Sys { errno, .. } => Some(*errno),
            Error::Netlink { errno, .. } => *errno,
            Error::File { source, .. } | Error::Io { source, .. } => {
                source.raw_os_error().map(nix::errno::Errno::from_raw)
            }
            _ => None,
        }
    }
}
