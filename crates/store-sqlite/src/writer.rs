//! The writer thread: the only place that writes to the database.
//!
//! Requests arrive on a channel; the thread takes every request queued at that moment (up
//! to `max_batch`) and applies them in one transaction (group commit), each with its own
//! revision. Only after the commit succeeds are the callers answered and the events
//! published to live watchers, so an acknowledged write is durable and a watcher never sees
//! a write that could still be rolled back. If the commit fails, every request of the
//! group gets the error and no revision is used up.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;

use portico_store::{Event, EventKind, KeyValue, Revision, StoreError};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use tokio::sync::{broadcast, oneshot};

use crate::Shared;

/// A write for the writer thread.
pub(crate) enum Op {
    Create {
        key: String,
        value: Vec<u8>,
    },
    Update {
        key: String,
        value: Vec<u8>,
        expected: Revision,
    },
    Delete {
        key: String,
        expected: Option<Revision>,
    },
    Compact {
        revision: Revision,
    },
}

/// A write and where to send its answer: the key-value it produced (or `None` for a
/// compaction).
pub(crate) struct Request {
    pub(crate) op: Op,
    pub(crate) reply: oneshot::Sender<Result<Option<KeyValue>, StoreError>>,
}

/// The writer's state, owned by its thread.
pub(crate) struct Writer {
    conn: Connection,
    shared: Arc<Shared>,
    events: broadcast::Sender<Arc<Event>>,
    max_batch: usize,
    current: Revision,
    compacted: Revision,
}

/// What applying one op inside a transaction gave.
struct Applied {
    result: Result<Option<KeyValue>, StoreError>,
    event: Option<Event>,
}

/// The newest row of a key.
struct Latest {
    rev: Revision,
    create_rev: Revision,
    deleted: bool,
    value: Vec<u8>,
}

impl Writer {
    pub(crate) fn new(
        conn: Connection,
        shared: Arc<Shared>,
        events: broadcast::Sender<Arc<Event>>,
        max_batch: usize,
        current: Revision,
        compacted: Revision,
    ) -> Writer {
        Writer {
            conn,
            shared,
            events,
            max_batch,
            current,
            compacted,
        }
    }

    /// Serves requests until every sender is gone.
    pub(crate) fn run(mut self, requests: mpsc::Receiver<Request>) {
        while let Ok(first) = requests.recv() {
            let mut batch = vec![first];
            while batch.len() < self.max_batch {
                match requests.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            self.commit_batch(batch);
        }
        tracing::debug!(revision = self.current, "sqlite store writer stopped");
    }

    fn commit_batch(&mut self, batch: Vec<Request>) {
        let size = batch.len();
        match self.apply_batch(&batch) {
            Ok((applied, current, compacted)) => {
                self.current = current;
                self.compacted = compacted;
                self.shared.current.store(current, Ordering::SeqCst);
                for (request, applied) in batch.into_iter().zip(applied) {
                    if let Some(event) = applied.event {
                        // No receiver is fine: nobody watches.
                        let _ = self.events.send(Arc::new(event));
                    }
                    let _ = request.reply.send(applied.result);
                }
                tracing::trace!(size, revision = current, "committed write group");
            }
            Err(err) => {
                tracing::error!(size, error = %err, "sqlite store commit failed");
                let err = format!("sqlite commit failed: {err}");
                for request in batch {
                    let _ = request.reply.send(Err(StoreError::Backend(err.clone())));
                }
            }
        }
    }

    /// Applies a group in one transaction; returns each op's outcome and the new current
    /// and compaction revisions. Any SQLite error aborts the whole group.
    fn apply_batch(
        &mut self,
        batch: &[Request],
    ) -> Result<(Vec<Applied>, Revision, Revision), rusqlite::Error> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut current = self.current;
        let mut compacted = self.compacted;
        let mut applied = Vec::with_capacity(batch.len());
        for request in batch {
            applied.push(apply(&tx, &request.op, &mut current, &mut compacted)?);
        }
        tx.commit()?;
        Ok((applied, current, compacted))
    }
}

fn latest(tx: &Transaction<'_>, key: &str) -> Result<Option<Latest>, rusqlite::Error> {
    tx.prepare_cached(
        "SELECT rev, create_rev, deleted, value FROM log WHERE key = ?1 ORDER BY rev DESC LIMIT 1",
    )?
    .query_row([key.as_bytes()], |row| {
        Ok(Latest {
            rev: row.get(0)?,
            create_rev: row.get(1)?,
            deleted: row.get::<_, i64>(2)? != 0,
            value: row.get(3)?,
        })
    })
    .optional()
}

/// One row to append to the log.
struct Row<'a> {
    rev: Revision,
    key: &'a str,
    created: bool,
    deleted: bool,
    create_rev: Revision,
    prev_rev: Revision,
    value: &'a [u8],
}

fn insert(tx: &Transaction<'_>, row: &Row<'_>) -> Result<(), rusqlite::Error> {
    tx.prepare_cached(
        "INSERT INTO log (rev, key, created, deleted, create_rev, prev_rev, value)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        row.rev,
        row.key.as_bytes(),
        row.created as i64,
        row.deleted as i64,
        row.create_rev,
        row.prev_rev,
        row.value
    ])?;
    Ok(())
}

fn kv(key: &str, value: Vec<u8>, create_revision: Revision, mod_revision: Revision) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value,
        create_revision,
        mod_revision,
    }
}

fn refused(err: StoreError) -> Applied {
    Applied {
        result: Err(err),
        event: None,
    }
}

fn live(latest: Option<Latest>, key: &str) -> Result<Latest, StoreError> {
    match latest {
        Some(l) if !l.deleted => Ok(l),
        _ => Err(StoreError::NotFound {
            key: key.to_string(),
        }),
    }
}

fn apply(
    tx: &Transaction<'_>,
    op: &Op,
    current: &mut Revision,
    compacted: &mut Revision,
) -> Result<Applied, rusqlite::Error> {
    match op {
        Op::Create { key, value } => {
            let prev = latest(tx, key)?;
            if matches!(&prev, Some(l) if !l.deleted) {
                return Ok(refused(StoreError::AlreadyExists { key: key.clone() }));
            }
            let rev = *current + 1;
            insert(
                tx,
                &Row {
                    rev,
                    key,
                    created: true,
                    deleted: false,
                    create_rev: rev,
                    prev_rev: prev.map_or(0, |l| l.rev),
                    value,
                },
            )?;
            *current = rev;
            let new = kv(key, value.clone(), rev, rev);
            Ok(Applied {
                result: Ok(Some(new.clone())),
                event: Some(Event {
                    kind: EventKind::Put,
                    kv: new,
                    prev: None,
                }),
            })
        }
        Op::Update {
            key,
            value,
            expected,
        } => {
            let old = match live(latest(tx, key)?, key) {
                Ok(old) => old,
                Err(err) => return Ok(refused(err)),
            };
            if old.rev != *expected {
                return Ok(refused(StoreError::Conflict {
                    key: key.clone(),
                    expected: *expected,
                    found: old.rev,
                }));
            }
            let rev = *current + 1;
            insert(
                tx,
                &Row {
                    rev,
                    key,
                    created: false,
                    deleted: false,
                    create_rev: old.create_rev,
                    prev_rev: old.rev,
                    value,
                },
            )?;
            *current = rev;
            let new = kv(key, value.clone(), old.create_rev, rev);
            Ok(Applied {
                result: Ok(Some(new.clone())),
                event: Some(Event {
                    kind: EventKind::Put,
                    kv: new,
                    prev: Some(kv(key, old.value, old.create_rev, old.rev)),
                }),
            })
        }
        Op::Delete { key, expected } => {
            let old = match live(latest(tx, key)?, key) {
                Ok(old) => old,
                Err(err) => return Ok(refused(err)),
            };
            if let Some(expected) = expected.filter(|e| *e != old.rev) {
                return Ok(refused(StoreError::Conflict {
                    key: key.clone(),
                    expected,
                    found: old.rev,
                }));
            }
            let rev = *current + 1;
            insert(
                tx,
                &Row {
                    rev,
                    key,
                    created: false,
                    deleted: true,
                    create_rev: old.create_rev,
                    prev_rev: old.rev,
                    value: &old.value,
                },
            )?;
            *current = rev;
            let gone = kv(key, old.value.clone(), old.create_rev, rev);
            Ok(Applied {
                result: Ok(Some(gone.clone())),
                event: Some(Event {
                    kind: EventKind::Delete,
                    kv: gone,
                    prev: Some(kv(key, old.value, old.create_rev, old.rev)),
                }),
            })
        }
        Op::Compact { revision } => {
            if *revision > *current {
                return Ok(refused(StoreError::FutureRevision {
                    requested: *revision,
                    current: *current,
                }));
            }
            if *revision > *compacted {
                compact(tx, *revision)?;
                *compacted = *revision;
            }
            Ok(Applied {
                result: Ok(None),
                event: None,
            })
        }
    }
}

/// Deletes the rows superseded at or before `revision` and the tombstones at or before it,
/// and records the compaction point.
fn compact(tx: &Transaction<'_>, revision: Revision) -> Result<(), rusqlite::Error> {
    let removed = tx.execute(
        "DELETE FROM log WHERE rev <= ?1 AND (
             deleted = 1 OR EXISTS (
                 SELECT 1 FROM log AS newer
                 WHERE newer.key = log.key AND newer.rev > log.rev AND newer.rev <= ?1))",
        [revision],
    )?;
    tx.execute(
        "UPDATE meta SET value = ?1 WHERE name = 'compact_rev'",
        [revision],
    )?;
    tracing::debug!(revision, removed, "compacted sqlite store");
    Ok(())
}
