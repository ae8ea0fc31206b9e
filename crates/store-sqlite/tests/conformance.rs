//! The shared store conformance suite, run against a fresh SQLite store per check.

use std::sync::Arc;

use portico_store::testing::Fixture;
use portico_store_sqlite::{Options, SqliteStore};

/// A store in its own temporary directory, with a small watch buffer so that the suite's
/// slow watcher really lags behind and has to re-read the log.
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let options = Options::new(dir.path().join("store.db")).watch_buffer(64);
    let store = SqliteStore::open_with(options).unwrap();
    Fixture::with_guard(Arc::new(store), dir)
}

portico_store::conformance_tests!(fixture);
