//! Reads: a small pool of read connections used on tokio's blocking threads, each read in
//! its own transaction (a consistent snapshot of the log).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use portico_store::{Event, EventKind, KeyValue, ListResult, Revision, StoreError};
use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::error::backend;
use crate::schema;

/// Read connections to one database.
pub(crate) struct Reader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    max_idle: usize,
}

impl Reader {
    pub(crate) fn new(path: PathBuf, max_idle: usize) -> Reader {
        Reader {
            path,
            idle: Mutex::new(Vec::new()),
            max_idle,
        }
    }

    /// Runs `f` in a read transaction on a blocking thread.
    pub(crate) async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let reader = Arc::clone(self);
        tokio::task::spawn_blocking(move || reader.read_blocking(f))
            .await
            .map_err(|err| StoreError::Backend(format!("sqlite read task failed: {err}")))?
    }

    fn read_blocking<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut conn = match pooled {
            Some(conn) => conn,
            None => schema::open_reader(&self.path).map_err(backend)?,
        };
        let result = {
            let tx = conn.transaction().map_err(backend)?;
            let result = f(&tx);
            // Read-only: ending the transaction cannot lose anything.
            tx.finish().map_err(backend).and(result)
        };
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < self.max_idle {
                idle.push(conn);
            }
        }
        result
    }
}

/// The first key after every key that starts with `prefix` (`None`: no such key, the range
/// is unbounded).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

fn key_string(bytes: Vec<u8>) -> Result<String, rusqlite::Error> {
    String::from_utf8(bytes).map_err(|err| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(err))
    })
}

/// The value of `key` now.
pub(crate) fn get(tx: &Transaction<'_>, key: &str) -> Result<Option<KeyValue>, StoreError> {
    let row = tx
        .prepare_cached(
            "SELECT deleted, value, create_rev, rev FROM log
             WHERE key = ?1 ORDER BY rev DESC LIMIT 1",
        )
        .and_then(|mut stmt| {
            stmt.query_row([key.as_bytes()], |row| {
                Ok((
                    row.get::<_, i64>(0)? != 0,
                    row.get::<_, Vec<u8>>(1)?,
                    row.get::<_, Revision>(2)?,
                    row.get::<_, Revision>(3)?,
                ))
            })
            .optional()
        })
        .map_err(backend)?;
    Ok(match row {
        Some((false, value, create_revision, mod_revision)) => Some(KeyValue {
            key: key.to_string(),
            value,
            create_revision,
            mod_revision,
        }),
        _ => None,
    })
}

/// The live keys under `prefix` as of `revision` (0: now), sorted, paged.
pub(crate) fn list(
    tx: &Transaction<'_>,
    prefix: &str,
    revision: Revision,
    start_after: Option<&str>,
    limit: usize,
) -> Result<ListResult, StoreError> {
    let (current, compacted) = schema::revisions(tx).map_err(backend)?;
    let at = if revision <= 0 { current } else { revision };
    if at > current {
        return Err(StoreError::FutureRevision {
            requested: revision,
            current,
        });
    }
    if at < compacted {
        return Err(StoreError::Compacted {
            requested: revision,
            compacted,
        });
    }

    let mut conditions = vec!["key >= ?1", "rev <= ?2"];
    let mut args: Vec<Value> = vec![Value::Blob(prefix.as_bytes().to_vec()), Value::Integer(at)];
    if let Some(end) = prefix_end(prefix.as_bytes()) {
        args.push(Value::Blob(end));
        conditions.push("key < ?3");
    }
    if let Some(after) = start_after {
        args.push(Value::Blob(after.as_bytes().to_vec()));
        conditions.push(if args.len() == 4 {
            "key > ?4"
        } else {
            "key > ?3"
        });
    }
    let fetch = if limit == 0 { -1 } else { limit as i64 + 1 };
    let sql = format!(
        "SELECT l.key, l.value, l.create_rev, l.rev FROM log AS l
         JOIN (SELECT MAX(rev) AS rev FROM log WHERE {} GROUP BY key) AS newest
           ON l.rev = newest.rev
         WHERE l.deleted = 0 ORDER BY l.key LIMIT {fetch}",
        conditions.join(" AND ")
    );
    let mut items = tx
        .prepare_cached(&sql)
        .and_then(|mut stmt| {
            stmt.query_map(rusqlite::params_from_iter(args), |row| {
                Ok(KeyValue {
                    key: key_string(row.get(0)?)?,
                    value: row.get(1)?,
                    create_revision: row.get(2)?,
                    mod_revision: row.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(backend)?;
    let more = limit > 0 && items.len() > limit;
    items.truncate(if limit == 0 { items.len() } else { limit });
    Ok(ListResult {
        items,
        revision: at,
        more,
    })
}

/// A page of history for a watch.
pub(crate) struct HistoryPage {
    /// Events under the prefix with a revision greater than the one asked for, in order.
    pub(crate) events: Vec<Event>,
    /// The revision the reader is caught up to: the last event's when the page is full, the
    /// snapshot's current revision when the history is exhausted.
    pub(crate) caught_up_to: Revision,
    /// Whether the history is exhausted (the snapshot's current revision is reached).
    pub(crate) done: bool,
}

/// Up to `page` events under `prefix` after revision `after`.
pub(crate) fn history(
    tx: &Transaction<'_>,
    prefix: &str,
    after: Revision,
    page: usize,
) -> Result<HistoryPage, StoreError> {
    let (current, compacted) = schema::revisions(tx).map_err(backend)?;
    if after < compacted {
        return Err(StoreError::Compacted {
            requested: after,
            compacted,
        });
    }
    let end = prefix_end(prefix.as_bytes());
    let events = tx
        .prepare_cached(
            "SELECT l.rev, l.key, l.value, l.create_rev, l.deleted,
                    p.rev, p.value, p.create_rev
             FROM log AS l
             LEFT JOIN log AS p ON p.rev = l.prev_rev AND l.created = 0
             WHERE l.rev > ?1 AND l.key >= ?2 AND (?3 IS NULL OR l.key < ?3)
             ORDER BY l.rev LIMIT ?4",
        )
        .and_then(|mut stmt| {
            stmt.query_map(params![after, prefix.as_bytes(), end, page as i64], |row| {
                let key = key_string(row.get(1)?)?;
                let prev = match row.get::<_, Option<Revision>>(5)? {
                    Some(rev) => Some(KeyValue {
                        key: key.clone(),
                        value: row.get(6)?,
                        create_revision: row.get(7)?,
                        mod_revision: rev,
                    }),
                    None => None,
                };
                let deleted = row.get::<_, i64>(4)? != 0;
                Ok(Event {
                    kind: if deleted {
                        EventKind::Delete
                    } else {
                        EventKind::Put
                    },
                    kv: KeyValue {
                        key,
                        value: row.get(2)?,
                        create_revision: row.get(3)?,
                        mod_revision: row.get(0)?,
                    },
                    prev,
                })
            })?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(backend)?;
    let done = events.len() < page;
    let caught_up_to = match (done, events.last()) {
        (false, Some(last)) => last.kv.mod_revision,
        _ => current.max(after),
    };
    Ok(HistoryPage {
        events,
        caught_up_to,
        done,
    })
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_is_the_next_key_after_the_prefix_range() {
        assert_eq!(prefix_end(b"/a/"), Some(b"/a0".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }
}
