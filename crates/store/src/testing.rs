//! The conformance suite every [`Store`] backend runs (feature `test-util`).
//!
//! Each check is a `pub async fn(&dyn Store)` that panics when the store misbehaves. A check
//! expects a store of its own (created by a factory) and only uses keys under `/registry/`;
//! it never assumes the store's revision starts at 0, so a backend may hand out a fresh
//! namespace of a shared server (etcd) instead of a fresh server.
//!
//! Two ways to run them:
//!
//! * [`run_all`] runs every check in [`CHECKS`] order, one fresh [`Fixture`] each, inside one
//!   async test (handy when the backend needs one expensive server for all checks);
//! * [`conformance_tests!`](crate::conformance_tests) expands to one `#[tokio::test]` per check.
//!
//! Checks that compact come last in [`CHECKS`]: on a shared server compaction is global, and
//! the earlier checks replay history from revision 0.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::StreamExt;

use crate::{Event, EventKind, KeyValue, Revision, Store, StoreError, WatchStream};

mod basic;
mod compaction;
mod list;
mod watch;

pub use basic::*;
pub use compaction::*;
pub use list::*;
pub use watch::*;

/// How long a check waits for an event it expects before failing.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a check listens for events it does not expect (duplicates, other prefixes).
pub const QUIET_PERIOD: Duration = Duration::from_millis(300);

/// A store under test, plus whatever must live as long as it (a temporary directory, a
/// server process). The store is dropped before the guard.
pub struct Fixture {
    store: Arc<dyn Store>,
    _guard: Box<dyn Any + Send + Sync>,
}

impl Fixture {
    /// A fixture with nothing to keep alive beside the store.
    pub fn new(store: Arc<dyn Store>) -> Fixture {
        Fixture::with_guard(store, ())
    }

    /// A fixture that keeps `guard` alive until after the store is dropped.
    pub fn with_guard(store: Arc<dyn Store>, guard: impl Any + Send + Sync) -> Fixture {
        Fixture {
            store,
            _guard: Box::new(guard),
        }
    }

    /// The store under test.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }
}

impl fmt::Debug for Fixture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fixture").finish_non_exhaustive()
    }
}

/// One conformance check.
pub type Check = for<'a> fn(&'a dyn Store) -> BoxFuture<'a, ()>;

/// Calls `$callback!($($args)* ; check_a, check_b, ...)` with the name of every check, in
/// run order. Internal: keeps [`CHECKS`] and [`conformance_tests!`](crate::conformance_tests)
/// in step.
#[doc(hidden)]
#[macro_export]
macro_rules! __with_store_checks {
    ($callback:ident ! ( $($args:tt)* )) => {
        $crate::$callback!(
            $($args)* ;
            create_and_get,
            update_compare_and_swap,
            missing_keys,
            delete_semantics,
            revisions_increase,
            recreate_after_delete,
            list_sorted_with_prefix,
            list_at_revision,
            list_paging,
            watch_from_current,
            watch_replays_history,
            watch_from_zero,
            watch_event_contents,
            watch_prefix_filter,
            concurrent_watchers,
            slow_watcher,
            compaction,
            compaction_keeps_revision
        );
    };
}

/// Builds [`CHECKS`]. Internal.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_checks_const {
    ( ; $($name:ident),* ) => {
        /// Every check with its name, in the order [`run_all`] runs them.
        pub const CHECKS: &[(&str, Check)] = &[
            $( (stringify!($name), |store| Box::pin($name(store))) ),*
        ];
    };
}

__with_store_checks!(__store_checks_const!());

/// One `#[tokio::test]` per check. Internal: use [`conformance_tests!`](crate::conformance_tests).
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_tests {
    ($factory:expr ; $($name:ident),*) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let fixture: $crate::testing::Fixture = ($factory)().await;
                $crate::testing::$name(fixture.store()).await;
            }
        )*
    };
}

/// Expands to one `#[tokio::test]` per conformance check. `$factory` is a function (or
/// closure) taking no argument and returning a future of [`Fixture`], called once per test.
/// The calling crate needs `tokio` (with `macros` and `rt-multi-thread`) as a dependency.
///
/// ```ignore
/// async fn fixture() -> portico_store::testing::Fixture { /* open a fresh store */ }
/// portico_store::conformance_tests!(fixture);
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::__with_store_checks!(__store_conformance_tests!($factory));
    };
}

/// Runs every check in [`CHECKS`] order, each on a fresh fixture from `factory`, logging the
/// name of each check to stderr so a failure says which check failed.
pub async fn run_all<F, Fut>(mut factory: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Fixture>,
{
    for (name, check) in CHECKS {
        eprintln!("conformance check: {name}");
        let fixture = factory().await;
        check(fixture.store()).await;
        eprintln!("conformance check: {name}: ok");
    }
}

/// The next event of `stream`; panics on an error, the end of the stream or a timeout.
pub async fn next_event(stream: &mut WatchStream) -> Event {
    match tokio::time::timeout(EVENT_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(err))) => panic!("watch failed: {err}"),
        Ok(None) => panic!("watch ended unexpectedly"),
        Err(_) => panic!("no watch event within {EVENT_TIMEOUT:?}"),
    }
}

/// The next `n` events of `stream` (see [`next_event`]).
pub async fn next_events(stream: &mut WatchStream, n: usize) -> Vec<Event> {
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        events.push(next_event(stream).await);
    }
    events
}

/// Panics if `stream` yields anything within [`QUIET_PERIOD`].
pub async fn assert_quiet(stream: &mut WatchStream) {
    if let Ok(item) = tokio::time::timeout(QUIET_PERIOD, stream.next()).await {
        panic!("expected no more watch events, got {item:?}");
    }
}

/// Opens a watch and returns its stream; panics if the store refuses it.
pub async fn open_watch(store: &dyn Store, prefix: &str, after: Revision) -> WatchStream {
    match store.watch(prefix, after).await {
        Ok(stream) => stream,
        Err(err) => panic!("watch({prefix:?}, {after}) failed: {err}"),
    }
}

/// The event a watch must report for a create or update that produced `kv`.
pub fn put_event(kv: &KeyValue, prev: Option<&KeyValue>) -> Event {
    Event {
        kind: EventKind::Put,
        kv: kv.clone(),
        prev: prev.cloned(),
    }
}

/// The event a watch must report for a delete that returned `deleted`, of a key whose last
/// value was `last`.
pub fn delete_event(deleted: &KeyValue, last: &KeyValue) -> Event {
    Event {
        kind: EventKind::Delete,
        kv: deleted.clone(),
        prev: Some(last.clone()),
    }
}

/// The keys and values of a list, for compact assertions.
pub fn keys_and_values(items: &[KeyValue]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|kv| {
            (
                kv.key.clone(),
                String::from_utf8_lossy(&kv.value).into_owned(),
            )
        })
        .collect()
}

/// Asserts `result` is a [`StoreError::Compacted`] for `requested`.
pub fn assert_compacted<T: fmt::Debug>(result: Result<T, StoreError>, requested: Revision) {
    match result {
        Err(StoreError::Compacted {
            requested: r,
            compacted,
        }) => {
            assert_eq!(r, requested, "Compacted error names the requested revision");
            assert!(
                compacted > requested,
                "compaction point {compacted} must be after the requested revision {requested}"
            );
        }
        other => panic!("expected Compacted for revision {requested}, got {other:?}"),
    }
}

/// Creates `key` with a string value; panics on failure.
pub async fn must_create(store: &dyn Store, key: &str, value: &str) -> KeyValue {
    match store.create(key, value.as_bytes().to_vec()).await {
        Ok(kv) => kv,
        Err(err) => panic!("create({key:?}) failed: {err}"),
    }
}

/// Updates `kv` to a string value; panics on failure.
pub async fn must_update(store: &dyn Store, kv: &KeyValue, value: &str) -> KeyValue {
    match store
        .update(&kv.key, value.as_bytes().to_vec(), kv.mod_revision)
        .await
    {
        Ok(kv) => kv,
        Err(err) => panic!("update({:?}) failed: {err}", kv.key),
    }
}

/// Deletes `kv` (expecting its revision); panics on failure.
pub async fn must_delete(store: &dyn Store, kv: &KeyValue) -> KeyValue {
    match store.delete(&kv.key, Some(kv.mod_revision)).await {
        Ok(kv) => kv,
        Err(err) => panic!("delete({:?}) failed: {err}", kv.key),
    }
}

/// The store's current revision; panics on failure.
pub async fn current(store: &dyn Store) -> Revision {
    match store.current_revision().await {
        Ok(rev) => rev,
        Err(err) => panic!("current_revision failed: {err}"),
    }
}
