//! Portico's embedded store: a revision log in one SQLite file.
//!
//! [`SqliteStore`] implements [`portico_store::Store`] on a single append-only table in
//! the style of k3s' kine (see the `schema` module for the layout). Its design:
//!
//! * **One writer thread** owns the only writing connection. Async callers send their
//!   writes over a channel and await a reply; no SQLite call runs on an async worker.
//! * **Group commit**: the writer applies every write queued at that moment in one
//!   transaction, each with its own revision, and answers only after the commit.
//! * **WAL mode** with `synchronous=NORMAL` by default: an acknowledged write survives the
//!   process being killed (`kill -9`); [`Durability::Full`] also makes it survive power
//!   loss (one `fsync` per group commit).
//! * **Reads** (get, list, watch catch-up) run on tokio's blocking threads with a small pool
//!   of read connections, each read in one transaction, so a list is a consistent snapshot.
//! * **Watches** follow a broadcast channel fed by the writer after each commit, and catch
//!   up from the log first (or again after lagging behind), without losing or repeating an
//!   event.
//! * **Compaction** deletes superseded rows and records the compaction point; the current
//!   revision survives restarts and never goes backwards.
//!
//! One process should open a given database at a time: the writer keeps the current
//! revision in memory.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use async_trait::async_trait;
use portico_store::{Event, KeyValue, ListResult, Revision, Store, StoreError, WatchStream};
use tokio::sync::{broadcast, oneshot};

mod error;
mod options;
mod read;
mod schema;
mod watch;
mod writer;

pub use error::Error;
pub use options::{Durability, Options};

use error::closed;
use read::Reader;
use writer::{Op, Request, Writer};

/// State shared by the store handle and its writer thread.
pub(crate) struct Shared {
    /// The revision of the last committed write.
    pub(crate) current: AtomicI64,
}

/// A [`Store`] in a SQLite database file (see the crate docs).
pub struct SqliteStore {
    requests: mpsc::Sender<Request>,
    events: broadcast::Sender<Arc<Event>>,
    reader: Arc<Reader>,
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
}

impl SqliteStore {
    /// Opens (or creates) the store at `path` with default [`Options`].
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<SqliteStore, Error> {
        SqliteStore::open_with(Options::new(path))
    }

    /// Opens (or creates) the store described by `options`.
    pub fn open_with(options: Options) -> Result<SqliteStore, Error> {
        let path = options.path.clone();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Directory {
                path: path.clone(),
                source,
            })?;
        }
        let conn = schema::open_writer(&path, options.durability)?;
        let (current, compacted) = schema::revisions(&conn).map_err(|source| Error::Open {
            path: path.clone(),
            source,
        })?;
        let shared = Arc::new(Shared {
            current: AtomicI64::new(current),
        });
        let (events, _) = broadcast::channel(options.watch_buffer.max(1));
        let (requests, queue) = mpsc::channel();
        let writer = Writer::new(
            conn,
            Arc::clone(&shared),
            events.clone(),
            options.max_batch.max(1),
            current,
            compacted,
        );
        let writer = std::thread::Builder::new()
            .name("sqlite-store-writer".to_string())
            .spawn(move || writer.run(queue))
            .map_err(Error::Thread)?;
        tracing::info!(path = %path.display(), revision = current, compacted, durability = ?options.durability, "opened sqlite store");
        Ok(SqliteStore {
            requests,
            events,
            reader: Arc::new(Reader::new(path, options.idle_readers)),
            shared,
            writer: Some(writer),
        })
    }

    async fn write(&self, op: Op) -> Result<Option<KeyValue>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request { op, reply })
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    async fn write_kv(&self, op: Op) -> Result<KeyValue, StoreError> {
        self.write(op).await?.ok_or_else(|| {
            StoreError::Backend("sqlite writer answered a write without a value".to_string())
        })
    }
}

impl Drop for SqliteStore {
    /// Stops the writer thread after it has committed the writes already queued.
    fn drop(&mut self) {
        let (unused, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.requests, unused));
        if let Some(writer) = self.writer.take() {
            if writer.join().is_err() {
                tracing::error!("sqlite store writer thread panicked");
            }
        }
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("revision", &self.shared.current.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        let key = key.to_string();
        self.reader.read(move |tx| read::get(tx, &key)).await
    }

    async fn list(
        &self,
        prefix: &str,
        revision: Revision,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListResult, StoreError> {
        let prefix = prefix.to_string();
        let start_after = start_after.map(str::to_string);
        self.reader
            .read(move |tx| read::list(tx, &prefix, revision, start_after.as_deref(), limit))
            .await
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue, StoreError> {
        self.write_kv(Op::Create {
            key: key.to_string(),
            value,
        })
        .await
    }

    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: Revision,
    ) -> Result<KeyValue, StoreError> {
        self.write_kv(Op::Update {
            key: key.to_string(),
            value,
            expected,
        })
        .await
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue, StoreError> {
        self.write_kv(Op::Delete {
            key: key.to_string(),
            expected,
        })
        .await
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        // Subscribe before looking at the log (see the `watch` module).
        let live = self.events.subscribe();
        let compacted = self
            .reader
            .read(|tx| schema::revisions(tx).map_err(error::backend))
            .await?
            .1;
        if after < compacted {
            return Err(StoreError::Compacted {
                requested: after,
                compacted,
            });
        }
        Ok(watch::start(
            Arc::clone(&self.reader),
            live,
            prefix.to_string(),
            after,
        ))
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.write(Op::Compact { revision }).await.map(|_| ())
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        Ok(self.shared.current.load(Ordering::SeqCst))
    }
}
