//! The database layout and connection setup.
//!
//! One append-only table, `log`, holds every write in the style of k3s' kine: each row is
//! one revision (`rev`, the SQLite rowid) of one key. A row is a create (`created = 1`), an
//! update, or a deletion tombstone (`deleted = 1`, `value` = the last value). `create_rev`
//! is the revision that created the key's current incarnation, `prev_rev` the previous row
//! of the same key (0 for none), which gives watch events their previous value.
//!
//! Compaction removes the rows that were superseded at or before the compaction revision,
//! and tombstones at or before it; `meta.compact_rev` records the compaction point. The
//! current revision is `max(max(log.rev), compact_rev)`, so it never goes backwards when
//! compaction removes the newest rows (a trailing tombstone).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::options::Durability;
use crate::Error;

/// The schema, created if missing.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS log (
    rev        INTEGER PRIMARY KEY,
    key        BLOB    NOT NULL,
    created    INTEGER NOT NULL,
    deleted    INTEGER NOT NULL,
    create_rev INTEGER NOT NULL,
    prev_rev   INTEGER NOT NULL,
    value      BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS log_key_rev ON log (key, rev);
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (name, value) VALUES ('compact_rev', 0);
INSERT OR IGNORE INTO meta (name, value) VALUES ('schema_version', 1);
";

/// How long a connection waits for a lock held by another connection.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens the writer's connection: WAL mode, the durability asked for, the schema in place.
pub(crate) fn open_writer(path: &Path, durability: Durability) -> Result<Connection, Error> {
    let open_err = |source| Error::Open {
        path: path.to_path_buf(),
        source,
    };
    let conn = Connection::open(path).map_err(open_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(open_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::NotWal {
            path: path.to_path_buf(),
            mode,
        });
    }
    conn.pragma_update(None, "synchronous", durability.pragma())
        .map_err(open_err)?;
    conn.execute_batch(SCHEMA).map_err(open_err)?;
    Ok(conn)
}

/// Opens a read-only connection to an existing store.
pub(crate) fn open_reader(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "query_only", "ON")?;
    Ok(conn)
}

/// The compaction point and the current revision, as seen by `conn`'s transaction.
pub(crate) fn revisions(conn: &Connection) -> Result<(i64, i64), rusqlite::Error> {
    let compacted: i64 = conn
        .query_row(
            "SELECT value FROM meta WHERE name = 'compact_rev'",
            [],
            |row| row.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let newest: i64 = conn.query_row("SELECT COALESCE(MAX(rev), 0) FROM log", [], |row| {
        row.get(0)
    })?;
    Ok((newest.max(compacted), compacted))
}
