//! The error type of this crate (connecting, and the test helpers; store operations use
//! [`StoreError`]).

use portico_store::{Revision, StoreError};

/// Why an [`EtcdStore`](crate::EtcdStore) (or a test etcd) could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No endpoint was given.
    #[error("no etcd endpoint given")]
    NoEndpoints,
    /// etcd did not answer.
    #[error("cannot reach etcd at {endpoints}: {source}")]
    Connect {
        /// The endpoints tried, comma-separated.
        endpoints: String,
        /// The client's error.
        source: etcd_client::Error,
    },
    /// The etcd binary for tests was not found.
    #[error(
        "etcd binary not found (looked for {searched}); install etcd (Debian: \
         `apt-get install etcd-server`) or set ETCD_BIN"
    )]
    EtcdMissing {
        /// Where it was looked for.
        searched: String,
    },
    /// The test etcd could not be started or did not come up.
    #[error("test etcd failed: {reason}\n--- etcd log ---\n{log}")]
    EtcdFailed {
        /// What went wrong.
        reason: String,
        /// The end of etcd's own log.
        log: String,
    },
    /// An I/O error while setting up a test etcd.
    #[error("test etcd setup failed: {0}")]
    Io(#[from] std::io::Error),
}

/// What etcd says when a revision has been compacted away.
const COMPACTED: &str = "required revision has been compacted";
/// What etcd says when a revision is in the future.
const FUTURE: &str = "required revision is a future revision";

/// How an etcd failure of a call at `revision` maps onto the store's errors.
pub(crate) enum Failure {
    /// The revision was compacted.
    Compacted,
    /// The revision is in the future.
    Future,
    /// Anything else.
    Other(StoreError),
}

/// Classifies an etcd client error.
pub(crate) fn classify(err: etcd_client::Error) -> Failure {
    if let etcd_client::Error::GRpcStatus(status) = &err {
        if status.message().contains(COMPACTED) {
            return Failure::Compacted;
        }
        if status.message().contains(FUTURE) {
            return Failure::Future;
        }
    }
    Failure::Other(backend(err))
}

/// An etcd failure as a store error.
pub(crate) fn backend(err: etcd_client::Error) -> StoreError {
    StoreError::Backend(format!("etcd: {err}"))
}

/// The compacted error for `requested`, given the newest compaction point known.
pub(crate) fn compacted(requested: Revision, known: Revision) -> StoreError {
    StoreError::Compacted {
        requested,
        compacted: known.max(requested + 1),
    }
}
