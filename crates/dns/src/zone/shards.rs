//! A hash map split into copy-on-write shards: a snapshot is a clone of the
//! shard pointers, and a change copies only the one shard it touches, so a
//! zone of 10,000 Services can be republished after one Service changed in
//! microseconds while queries keep reading the previous snapshot.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use foldhash::fast::{FixedState, RandomState};

/// How many shards a map has (a power of two).
const SHARDS: usize = 512;

/// A map of `K` to `V` in [`SHARDS`] shards shared between snapshots.
#[derive(Debug, Clone)]
pub(crate) struct Shards<K, V> {
    shards: Vec<Arc<HashMap<K, V, RandomState>>>,
    len: usize,
}

impl<K: Hash + Eq + Clone, V: Clone> Default for Shards<K, V> {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Arc::default()).collect(),
            len: 0,
        }
    }
}

/// The shard of a key: the top bits of a fixed hash (the maps inside use
/// their own seeded hash).
fn shard_of<Q: Hash + ?Sized>(key: &Q) -> usize {
    let hash = FixedState::with_seed(0x5eed_d15c).hash_one(key);
    // SHARDS is a power of two: the top bits index it.
    (hash >> (64 - SHARDS.trailing_zeros())) as usize
}

impl<K: Hash + Eq + Clone, V: Clone> Shards<K, V> {
    /// The value of `key`.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shards.get(shard_of(key))?.get(key)
    }

    /// Sets `key` to `value`, copying its shard if a snapshot shares it.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        let shard = shard_of(&key);
        let old = Arc::make_mut(&mut self.shards[shard]).insert(key, value);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Removes `key`, copying its shard if a snapshot shares it (and only then).
    pub(crate) fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let shard = shard_of(key);
        if !self.shards[shard].contains_key(key) {
            return None;
        }
        let old = Arc::make_mut(&mut self.shards[shard]).remove(key);
        if old.is_some() {
            self.len -= 1;
        }
        old
    }

    /// How many keys the map holds.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Every value, in no particular order.
    #[cfg(test)]
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.shards.iter().flat_map(|shard| shard.values())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_do_not_see_later_changes() {
        let mut map: Shards<String, u32> = Shards::default();
        for i in 0..2000 {
            map.insert(format!("k{i}"), i);
        }
        let snapshot = map.clone();
        map.insert("k1".to_string(), 100);
        map.remove("k2");
        map.insert("new".to_string(), 7);
        assert_eq!(snapshot.get("k1"), Some(&1));
        assert_eq!(snapshot.get("k2"), Some(&2));
        assert_eq!(snapshot.get("new"), None);
        assert_eq!(snapshot.len(), 2000);
        assert_eq!(map.get("k1"), Some(&100));
        assert_eq!(map.get("k2"), None);
        assert_eq!(map.get("new"), Some(&7));
        assert_eq!(map.len(), 2000);
        assert_eq!(map.remove("absent"), None);
        assert_eq!(map.values().count(), 2000);
    }

    #[test]
    fn a_change_copies_one_shard_only() {
        let mut map: Shards<u32, u32> = Shards::default();
        for i in 0..10_000 {
            map.insert(i, i);
        }
        let snapshot = map.clone();
        map.insert(5, 6);
        let shared = map
            .shards
            .iter()
            .zip(&snapshot.shards)
            .filter(|(a, b)| Arc::ptr_eq(a, b))
            .count();
        assert_eq!(shared, SHARDS - 1);
    }
}
