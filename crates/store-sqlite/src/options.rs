//! How to open a [`SqliteStore`](crate::SqliteStore).

use std::path::{Path, PathBuf};

/// When SQLite makes a commit durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=NORMAL` in WAL mode (the default): a commit is in the write-ahead log
    /// (the operating system's page cache) before the write is acknowledged, so it survives
    /// the process being killed (`kill -9`, a panic, an abort). The log is synced to disk at
    /// checkpoints only, so the last writes may be lost if the machine itself loses power or
    /// the kernel crashes; the database stays consistent either way.
    #[default]
    Normal,
    /// `synchronous=FULL`: the write-ahead log is synced to disk at every commit (every group
    /// of writes), so acknowledged writes also survive power loss, at the price of one
    /// `fsync` per group commit.
    Full,
}

impl Durability {
    /// The value of SQLite's `synchronous` pragma for this level.
    pub(crate) fn pragma(self) -> &'static str {
        match self {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        }
    }
}

/// Settings for [`SqliteStore::open_with`](crate::SqliteStore::open_with).
#[derive(Debug, Clone)]
pub struct Options {
    /// The database file (created if missing, with its directory).
    pub path: PathBuf,
    /// When commits are durable (default [`Durability::Normal`]).
    pub durability: Durability,
    /// At most this many queued writes are committed in one transaction (default 256).
    pub max_batch: usize,
    /// Events buffered for live watchers before a slow watcher falls back to re-reading the
    /// log (default 1024).
    pub watch_buffer: usize,
    /// Read connections kept open between reads (default 4); more are opened when needed.
    pub idle_readers: usize,
}

impl Options {
    /// Default settings for the database at `path`.
    pub fn new(path: impl AsRef<Path>) -> Options {
        Options {
            path: path.as_ref().to_path_buf(),
            durability: Durability::default(),
            max_batch: 256,
            watch_buffer: 1024,
            idle_readers: 4,
        }
    }

    /// These settings with `durability`.
    pub fn durability(mut self, durability: Durability) -> Options {
        self.durability = durability;
        self
    }

    /// These settings with a watch buffer of `events` (at least 1).
    pub fn watch_buffer(mut self, events: usize) -> Options {
        self.watch_buffer = events.max(1);
        self
    }

    /// These settings with group commits of at most `writes` (at least 1).
    pub fn max_batch(mut self, writes: usize) -> Options {
        self.max_batch = writes.max(1);
        self
    }
}
