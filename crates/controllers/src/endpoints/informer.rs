//! Informers: local caches of one kind of object, fed by a kube-rs watcher, with secondary
//! indexes and change notifications (old and new object), as client-go's shared informers
//! give kube-controller-manager.
//!
//! A controller writes through its own changes ([`Store::wrote`], [`Store::deleted`]) so that
//! its next sync sees them before the watch event arrives; events older than what the cache
//! holds (by resourceVersion) are ignored.

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What changed in a store.
pub enum Change<K> {
    /// A new object.
    Added(Arc<K>),
    /// An object changed: (old, new).
    Updated(Arc<K>, Arc<K>),
    /// An object went away (its last known state).
    Deleted(Arc<K>),
}

/// The `namespace/name` key of an object (`name` for cluster-scoped ones).
pub fn key_of<K: Resource>(obj: &K) -> String {
    let meta = obj.meta();
    let name = meta.name.as_deref().unwrap_or("");
    match meta.namespace.as_deref() {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_string(),
    }
}

/// Splits a `namespace/name` key.
pub fn split_key(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or(("", key))
}

fn version(obj: &impl Resource) -> Option<u64> {
    obj.meta().resource_version.as_deref()?.parse().ok()
}

/// Index values of an object.
pub type IndexFn<K> = fn(&K) -> Vec<String>;

/// A cache of objects of one kind.
pub struct Store<K> {
    inner: RwLock<Inner<K>>,
    index_fn: Option<IndexFn<K>>,
    synced: watch::Sender<bool>,
}

struct Inner<K> {
    objects: HashMap<String, Arc<K>>,
    index: HashMap<String, HashSet<String>>,
    /// Objects this controller deleted → their last resourceVersion: older events are stale.
    tombstones: HashMap<String, u64>,
}

impl<K: Resource + Clone> Store<K> {
    /// An empty store, indexed by `index_fn` if given.
    pub fn new(index_fn: Option<IndexFn<K>>) -> Arc<Store<K>> {
        Arc::new(Store {
            inner: RwLock::new(Inner {
                objects: HashMap::new(),
                index: HashMap::new(),
                tombstones: HashMap::new(),
            }),
            index_fn,
            synced: watch::channel(false).0,
        })
    }

    /// The object with this key.
    pub fn get(&self, key: &str) -> Option<Arc<K>> {
        self.inner.read().ok()?.objects.get(key).cloned()
    }

    /// All objects.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.inner
            .read()
            .map(|i| i.objects.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The objects whose index values include `value`.
    pub fn by_index(&self, value: &str) -> Vec<Arc<K>> {
        let Ok(inner) = self.inner.read() else {
            return Vec::new();
        };
        inner
            .index
            .get(value)
            .map(|keys| {
                keys.iter()
                    .filter_map(|k| inner.objects.get(k).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many objects have index value `value`.
    pub fn index_len(&self, value: &str) -> usize {
        self.inner
            .read()
            .map(|i| i.index.get(value).map_or(0, HashSet::len))
            .unwrap_or(0)
    }

    /// Waits until the first full list has been loaded.
    pub async fn wait_synced(&self) {
        let mut rx = self.synced.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    fn unindex(&self, inner: &mut Inner<K>, key: &str, obj: &K) {
        if let Some(f) = self.index_fn {
            for v in f(obj) {
                if let Some(set) = inner.index.get_mut(&v) {
                    set.remove(key);
                    if set.is_empty() {
                        inner.index.remove(&v);
                    }
                }
            }
        }
    }

    fn insert(&self, inner: &mut Inner<K>, key: String, obj: Arc<K>) -> Option<Arc<K>> {
        let old = inner.objects.insert(key.clone(), obj.clone());
        if let Some(old) = &old {
            self.unindex(inner, &key, old);
        }
        if let Some(f) = self.index_fn {
            for v in f(&obj) {
                inner.index.entry(v).or_default().insert(key.clone());
            }
        }
        old
    }

    /// Applies an added or modified object; `None` when it is not news (same or older
    /// resourceVersion than the cache holds, or older than our own deletion).
    pub fn apply(&self, obj: K) -> Option<Change<K>> {
        let key = key_of(&obj);
        let mut inner = self.inner.write().ok()?;
        let new_v = version(&obj);
        if let (Some(dead), Some(v)) = (inner.tombstones.get(&key), new_v) {
            if v <= *dead {
                return None;
            }
        }
        inner.tombstones.remove(&key);
        if let Some(cur) = inner.objects.get(&key) {
            match (version(cur.as_ref()), new_v) {
                (Some(c), Some(n)) if n <= c => return None,
                _ => {}
            }
        }
        let obj = Arc::new(obj);
        Some(match self.insert(&mut inner, key, obj.clone()) {
            Some(old) => Change::Updated(old, obj),
            None => Change::Added(obj),
        })
    }

    /// Removes an object the watch reported deleted.
    pub fn remove(&self, obj: &K) -> Option<Change<K>> {
        let key = key_of(obj);
        let mut inner = self.inner.write().ok()?;
        inner.tombstones.remove(&key);
        let old = inner.objects.remove(&key)?;
        self.unindex(&mut inner, &key, &old);
        Some(Change::Deleted(old))
    }

    /// Replaces the whole content after a (re)list, returning what changed.
    pub fn replace(&self, objs: Vec<K>) -> Vec<Change<K>> {
        let Ok(mut inner) = self.inner.write() else {
            return Vec::new();
        };
        inner.tombstones.clear();
        let mut changes = Vec::new();
        let mut seen = HashSet::new();
        for obj in objs {
            let key = key_of(&obj);
            seen.insert(key.clone());
            let same = inner.objects.get(&key).is_some_and(|cur| {
                version(cur.as_ref()).is_some() && version(cur.as_ref()) == version(&obj)
            });
            if same {
                continue;
            }
            let obj = Arc::new(obj);
            changes.push(match self.insert(&mut inner, key, obj.clone()) {
                Some(old) => Change::Updated(old, obj),
                None => Change::Added(obj),
            });
        }
        let gone: Vec<String> = inner
            .objects
            .keys()
            .filter(|k| !seen.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some(old) = inner.objects.remove(&key) {
                self.unindex(&mut inner, &key, &old);
                changes.push(Change::Deleted(old));
            }
        }
        changes
    }

    /// Records an object this controller just wrote (create or update response).
    pub fn wrote(&self, obj: K) {
        let _ = self.apply(obj);
    }

    /// Records that this controller deleted the object with `key`.
    pub fn deleted(&self, key: &str) {
        let Ok(mut inner) = self.inner.write() else {
            return;
        };
        if let Some(old) = inner.objects.remove(key) {
            self.unindex(&mut inner, key, &old);
            let v = version(old.as_ref()).unwrap_or(0);
            inner.tombstones.insert(key.to_string(), v);
        }
    }
}

/// Runs a watcher feeding `store`, calling `on_change` for every change, until `shutdown`.
pub async fn run<K>(
    api: Api<K>,
    store: Arc<Store<K>>,
    on_change: impl Fn(Change<K>) + Send,
    shutdown: CancellationToken,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default,
{
    let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
    futures::pin_mut!(stream);
    let mut buffer: Vec<K> = Vec::new();
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return,
            e = stream.next() => e,
        };
        match event {
            None => return,
            Some(Err(e)) => tracing::debug!(error = %e, "watch failed; retrying"),
            Some(Ok(Event::Init)) => buffer.clear(),
            Some(Ok(Event::InitApply(obj))) => buffer.push(obj),
            Some(Ok(Event::InitDone)) => {
                for change in store.replace(std::mem::take(&mut buffer)) {
                    on_change(change);
                }
                store.synced.send_replace(true);
            }
            Some(Ok(Event::Apply(obj))) => {
                if let Some(change) = store.apply(obj) {
                    on_change(change);
                }
            }
            Some(Ok(Event::Delete(obj))) => {
                if let Some(change) = store.remove(&obj) {
                    on_change(change);
                } else {
                    tracing::trace!(name = %obj.name_any(), "delete of an unknown object");
                }
            }
        }
    }
}
