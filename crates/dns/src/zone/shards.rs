//! A hash map split into copy-on-write shards: a snapshot is a clone of the
//! shard pointers, and a change copies only the one shard it touches, so a
//! zone of 10,000 Services can be republished after one Service changed in
//! microseconds while queries keep reading the previous snapshot.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
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

/// Address → Service entries, as sorted vectors in copy-on-write shards:
/// 32 bytes per address instead of a hash map slot and an allocation, and
/// a change copies one shard of a few hundred entries.
#[derive(Debug, Clone)]
pub(crate) struct Reverse<V> {
    shards: Vec<Arc<Vec<(IpAddr, V)>>>,
}

impl<V: Clone> Default for Reverse<V> {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Arc::default()).collect(),
        }
    }
}

impl<V: Clone> Reverse<V> {
    /// The values of `ip`.
    pub(crate) fn get(&self, ip: IpAddr) -> impl Iterator<Item = &V> {
        let shard = self.shards.get(shard_of(&ip)).map_or(&[][..], |s| &s[..]);
        let from = shard.partition_point(|(a, _)| *a < ip);
        shard[from..]
            .iter()
            .take_while(move |(a, _)| *a == ip)
            .map(|(_, v)| v)
    }

    /// Removes the values of `ip` that `stale` picks, then adds `new`.
    pub(crate) fn replace(&mut self, ip: IpAddr, stale: impl Fn(&V) -> bool, new: Option<V>) {
        let index = shard_of(&ip);
        let shard = &self.shards[index];
        let from = shard.partition_point(|(a, _)| *a < ip);
        let found = shard[from..]
            .iter()
            .take_while(|(a, _)| *a == ip)
            .any(|(_, v)| stale(v));
        if !found && new.is_none() {
            return;
        }
        let shard = Arc::make_mut(&mut self.shards[index]);
        let mut at = from;
        while at < shard.len() && shard[at].0 == ip {
            if stale(&shard[at].1) {
                shard.remove(at);
            } else {
                at += 1;
            }
        }
        if let Some(value) = new {
            shard.insert(at, (ip, value));
        }
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
    fn reverse_entries_per_address() {
        let mut map: Reverse<u32> = Reverse::default();
        let ip = |i: u32| IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
        for i in 0..5000 {
            map.replace(ip(i), |_| false, Some(i));
        }
        map.replace(ip(7), |_| false, Some(70));
        let snapshot = map.clone();
        map.replace(ip(7), |v| *v == 7, None);
        map.replace(ip(8), |v| *v == 8, Some(80));
        assert_eq!(snapshot.get(ip(7)).copied().collect::<Vec<_>>(), [7, 70]);
        assert_eq!(map.get(ip(7)).copied().collect::<Vec<_>>(), [70]);
        assert_eq!(map.get(ip(8)).copied().collect::<Vec<_>>(), [80]);
        assert_eq!(map.get(ip(9)).copied().collect::<Vec<_>>(), [9]);
        assert_eq!(map.get(ip(6000)).count(), 0);
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
