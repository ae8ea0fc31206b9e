//! The storage trait behind Portico's API server.
//!
//! A store is a revisioned key-value map in the shape of etcd's v3 API, which is what the
//! Kubernetes API server needs: every write gets a new, strictly increasing revision; an
//! object's `resourceVersion` is the revision of its last write (`mod_revision`); lists are
//! consistent at one revision; watches replay every change after a given revision; and old
//! history can be compacted, after which watching from before the compaction point fails with
//! [`StoreError::Compacted`] (the API server answers 410 Gone).
//!
//! Keys are strings like `/registry/services/default/web`; values are opaque bytes (the API
//! server stores JSON). Backends live in their own crates (`portico-store-sqlite`,
//! `portico-store-etcd`) and all run the suite in [`testing`] (feature `test-util`).

use std::fmt;

use async_trait::async_trait;
use futures::stream::BoxStream;

#[cfg(feature = "test-util")]
pub mod testing;

/// A store revision. Revisions start at 1 and only grow; 0 means "no revision".
pub type Revision = i64;

/// One key with its value and revisions.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value as written.
    pub value: Vec<u8>,
    /// Revision at which the key was created (its current incarnation).
    pub create_revision: Revision,
    /// Revision of the last write to the key. For a deleted key returned by
    /// [`Store::delete`] or in a delete [`Event`], the revision of the deletion.
    pub mod_revision: Revision,
}

impl fmt::Debug for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyValue")
            .field("key", &self.key)
            .field("value", &String::from_utf8_lossy(&self.value))
            .field("create_revision", &self.create_revision)
            .field("mod_revision", &self.mod_revision)
            .finish()
    }
}

/// The result of a [`Store::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListResult {
    /// The keys under the prefix, sorted by key, as of `revision`.
    pub items: Vec<KeyValue>,
    /// The revision the list is consistent at (the store's current revision when the list
    /// was taken at "latest").
    pub revision: Revision,
    /// Whether more keys follow (only when a `limit` cut the list short).
    pub more: bool,
}

/// What happened to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Created (`prev` is `None`) or updated (`prev` is the value before).
    Put,
    /// Deleted: `kv` holds the last value, with `mod_revision` set to the deletion revision.
    Delete,
}

/// One change seen by a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Put or delete.
    pub kind: EventKind,
    /// The key after the change (for a delete: the last value at the deletion revision).
    pub kv: KeyValue,
    /// The value before the change, when there was one.
    pub prev: Option<KeyValue>,
}

/// A stream of watch events, in revision order, never ending on its own unless the store
/// closes (then it yields an error and ends).
pub type WatchStream = BoxStream<'static, Result<Event, StoreError>>;

/// Everything that can go wrong in a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `create` of a key that exists.
    #[error("key {key} already exists")]
    AlreadyExists {
        /// The key.
        key: String,
    },
    /// `update` or `delete` of a key that does not exist.
    #[error("key {key} not found")]
    NotFound {
        /// The key.
        key: String,
    },
    /// `update` or `delete` with an expected revision that is not the key's current one.
    #[error("key {key} was modified: expected revision {expected}, found {found}")]
    Conflict {
        /// The key.
        key: String,
        /// The revision the caller expected.
        expected: Revision,
        /// The key's current revision.
        found: Revision,
    },
    /// A list or watch at a revision that has been compacted away.
    #[error("revision {requested} has been compacted (oldest available is {compacted})")]
    Compacted {
        /// The revision asked for.
        requested: Revision,
        /// The compaction point.
        compacted: Revision,
    },
    /// A list at a revision that does not exist yet.
    #[error("revision {requested} is in the future (current is {current})")]
    FutureRevision {
        /// The revision asked for.
        requested: Revision,
        /// The current revision.
        current: Revision,
    },
    /// The backend failed (I/O, database or network error).
    #[error("store backend failed: {0}")]
    Backend(String),
}

/// A revisioned key-value store with watches (see the crate docs).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The value of `key` now, if it exists.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError>;

    /// The keys starting with `prefix`, sorted by key.
    ///
    /// * `revision`: list as of this revision; 0 means latest. Compacted revisions give
    ///   [`StoreError::Compacted`], future ones [`StoreError::FutureRevision`].
    /// * `start_after`: only keys strictly greater than this one (paging).
    /// * `limit`: at most this many items (0 means no limit); `more` tells if some were left.
    async fn list(
        &self,
        prefix: &str,
        revision: Revision,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListResult, StoreError>;

    /// Creates `key`; fails with [`StoreError::AlreadyExists`] if it exists.
    /// Returns the new key-value (its revisions set). Durable once this returns.
    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue, StoreError>;

    /// Replaces the value of `key` if its current `mod_revision` is `expected`
    /// (compare-and-swap). Fails with [`StoreError::NotFound`] or [`StoreError::Conflict`].
    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: Revision,
    ) -> Result<KeyValue, StoreError>;

    /// Deletes `key`, if `expected` is `None` or equals its current `mod_revision`.
    /// Returns the last value with `mod_revision` set to the deletion revision.
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue, StoreError>;

    /// Every change to keys under `prefix` with a revision greater than `after`, then live
    /// changes as they happen. `after` older than the compaction point gives
    /// [`StoreError::Compacted`] (either at once or as the stream's first item).
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError>;

    /// Forgets history at or before `revision` (the latest value of every live key stays).
    async fn compact(&self, revision: Revision) -> Result<(), StoreError>;

    /// The current revision: the revision of the last write (0 for an empty store).
    async fn current_revision(&self) -> Result<Revision, StoreError>;
}
