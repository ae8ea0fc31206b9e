//! The physical limit on SQLite: inserting the same JSON bytes straight into a revision-log
//! table (the layout Portico's store uses) in WAL mode with the same `synchronous` setting,
//! from one thread, with rusqlite.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};

use crate::Error;
use portico_bench::stats::Summary;

const SCHEMA: &str = "
CREATE TABLE log (
    rev        INTEGER PRIMARY KEY,
    key        BLOB    NOT NULL,
    created    INTEGER NOT NULL,
    deleted    INTEGER NOT NULL,
    create_rev INTEGER NOT NULL,
    prev_rev   INTEGER NOT NULL,
    value      BLOB    NOT NULL
);
CREATE INDEX log_key_rev ON log (key, rev);
";

const INSERT: &str = "INSERT INTO log (key, created, deleted, create_rev, prev_rev, value) \
                      VALUES (?1, 1, 0, 0, 0, ?2)";

/// The result of one raw insert run.
#[derive(Debug, Clone, Copy)]
pub struct Inserts {
    /// Latency per transaction (one insert, or one batch).
    pub latency: Summary,
    /// Wall time for all rows.
    pub elapsed: Duration,
}

/// Opens a fresh database `file` in `dir` with WAL and `synchronous`.
fn open(dir: &Path, file: &str, synchronous: &str) -> Result<Connection, Error> {
    let path = dir.join(file);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let conn = Connection::open(&path)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Other(format!(
            "{}: journal_mode is {mode}, not WAL",
            path.display()
        )));
    }
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// Inserts every payload in its own transaction (autocommit).
pub fn one_per_transaction(
    dir: &Path,
    synchronous: &str,
    rows: &[(String, Vec<u8>)],
) -> Result<Inserts, Error> {
    let conn = open(dir, "raw-1tx.db", synchronous)?;
    let mut stmt = conn.prepare(INSERT)?;
    let mut latencies = Vec::with_capacity(rows.len());
    let start = Instant::now();
    for (name, value) in rows {
        let t = Instant::now();
        stmt.execute(params![key(name), value])?;
        latencies.push(t.elapsed());
    }
    Ok(Inserts {
        latency: Summary::of(latencies),
        elapsed: start.elapsed(),
    })
}

/// Inserts the payloads in transactions of `batch` rows.
pub fn batched(
    dir: &Path,
    synchronous: &str,
    rows: &[(String, Vec<u8>)],
    batch: usize,
) -> Result<(Inserts, Connection), Error> {
    let mut conn = open(dir, "raw-batched.db", synchronous)?;
    let mut latencies = Vec::new();
    let start = Instant::now();
    for chunk in rows.chunks(batch.max(1)) {
        let t = Instant::now();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(INSERT)?;
            for (name, value) in chunk {
                stmt.execute(params![key(name), value])?;
            }
        }
        tx.commit()?;
        latencies.push(t.elapsed());
    }
    let result = Inserts {
        latency: Summary::of(latencies),
        elapsed: start.elapsed(),
    };
    Ok((result, conn))
}

/// Reads every value back in key order in one transaction: (rows, bytes, time).
pub fn select_all(conn: &Connection) -> Result<(usize, usize, Duration), Error> {
    let t = Instant::now();
    let mut stmt =
        conn.prepare("SELECT value FROM log WHERE key >= ?1 AND key < ?2 ORDER BY key")?;
    let mut rows = stmt.query(params![key(""), format!("{}\u{10ffff}", key(""))])?;
    let (mut count, mut bytes) = (0, 0);
    while let Some(row) = rows.next()? {
        let v: Vec<u8> = row.get(0)?;
        count += 1;
        bytes += v.len();
    }
    Ok((count, bytes, t.elapsed()))
}

fn key(name: &str) -> String {
    format!("/registry/services/specs/default/{name}")
}
