//! The error type of this crate (opening a store; store operations use [`StoreError`]).

use std::path::PathBuf;

use portico_store::StoreError;

/// Why a [`SqliteStore`](crate::SqliteStore) could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database file could not be opened or set up.
    #[error("cannot open SQLite store {path}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The directory for the database could not be created.
    #[error("cannot create directory for SQLite store {path}: {source}")]
    Directory {
        /// The database file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The database does not use write-ahead logging although it was asked to.
    #[error("SQLite store {path} cannot use WAL mode (journal mode is {mode})")]
    NotWal {
        /// The database file.
        path: PathBuf,
        /// The journal mode SQLite reported.
        mode: String,
    },
    /// The writer thread could not be started.
    #[error("cannot start the SQLite store's writer thread: {0}")]
    Thread(std::io::Error),
}

/// A SQLite failure during a store operation.
pub(crate) fn backend(err: rusqlite::Error) -> StoreError {
    StoreError::Backend(format!("sqlite: {err}"))
}

/// The store was closed (its writer thread is gone).
pub(crate) fn closed() -> StoreError {
    StoreError::Backend("sqlite store is closed".to_string())
}
