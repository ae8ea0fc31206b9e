//! In-memory copies of watched objects, indexed by namespace and kept current by a watch
//! (an informer). Every change is handed to a callback after the cache holds it, so a
//! handler that queues work sees the cache at least as new as the event.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

/// One change seen by the watch.
pub enum Change<K> {
    /// Added or modified; `old` is the previous copy if the cache had one.
    Applied {
        /// The copy before the change.
        old: Option<Arc<K>>,
        /// The copy after the change.
        new: Arc<K>,
    },
    /// Removed (the last copy known).
    Deleted(Arc<K>),
}

type Objects<K> = HashMap<String, BTreeMap<String, Arc<K>>>;

/// The cache of one kind.
pub struct Cache<K> {
    objects: RwLock<Objects<K>>,
    ready: tokio::sync::watch::Sender<bool>,
}

impl<K> Cache<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    /// An empty cache, not ready until its watch has listed everything once.
    pub fn new() -> Arc<Cache<K>> {
        Arc::new(Cache {
            objects: RwLock::new(HashMap::new()),
            ready: tokio::sync::watch::Sender::new(false),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Objects<K>> {
        match self.objects.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Objects<K>> {
        match self.objects.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The object `namespace/name`.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        self.read()
            .get(namespace)
            .and_then(|m| m.get(name))
            .cloned()
    }

    /// Every object of `namespace`, by name.
    pub fn list(&self, namespace: &str) -> Vec<Arc<K>> {
        self.read()
            .get(namespace)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Every object.
    pub fn all(&self) -> Vec<Arc<K>> {
        self.read()
            .values()
            .flat_map(|m| m.values().cloned())
            .collect()
    }

    /// Waits until the first complete list arrived.
    pub async fn ready(&self) {
        let mut rx = self.ready.subscribe();
        let _ = rx.wait_for(|r| *r).await;
    }

    fn key(obj: &K) -> (String, String) {
        (obj.namespace().unwrap_or_default(), obj.name_any())
    }

    /// Applies one watch event, returning the changes it makes.
    pub fn apply(&self, event: Event<K>, buffer: &mut Vec<K>) -> Vec<Change<K>> {
        match event {
            Event::Init => {
                buffer.clear();
                Vec::new()
            }
            Event::InitApply(obj) => {
                buffer.push(obj);
                Vec::new()
            }
            Event::InitDone => {
                let mut fresh: Objects<K> = HashMap::new();
                for obj in buffer.drain(..) {
                    let (ns, name) = Self::key(&obj);
                    fresh.entry(ns).or_default().insert(name, Arc::new(obj));
                }
                let mut changes = Vec::new();
                let mut objects = self.write();
                for (ns, names) in objects.iter() {
                    for (name, old) in names {
                        if fresh.get(ns).is_none_or(|m| !m.contains_key(name)) {
                            changes.push(Change::Deleted(old.clone()));
                        }
                    }
                }
                for (ns, names) in &fresh {
                    for (name, new) in names {
                        let old = objects.get(ns).and_then(|m| m.get(name)).cloned();
                        let same = old.as_ref().is_some_and(|o| {
                            o.meta().resource_version == new.meta().resource_version
                        });
                        if !same {
                            changes.push(Change::Applied {
                                old,
                                new: new.clone(),
                            });
                        }
                    }
                }
                *objects = fresh;
                drop(objects);
                self.ready.send_replace(true);
                changes
            }
            Event::Apply(obj) => {
                let (ns, name) = Self::key(&obj);
                let new = Arc::new(obj);
                let old = self
                    .write()
                    .entry(ns)
                    .or_default()
                    .insert(name, new.clone());
                vec![Change::Applied { old, new }]
            }
            Event::Delete(obj) => {
                let (ns, name) = Self::key(&obj);
                let mut objects = self.write();
                let old = objects.get_mut(&ns).and_then(|m| m.remove(&name));
                if objects.get(&ns).is_some_and(|m| m.is_empty()) {
                    objects.remove(&ns);
                }
                drop(objects);
                vec![Change::Deleted(old.unwrap_or_else(|| Arc::new(obj)))]
            }
        }
    }
}

/// Keeps `cache` current from a watch of `api` until `shutdown`, calling `on_change` for
/// every change once the cache holds it.
pub fn spawn_watch<K, F>(
    cache: Arc<Cache<K>>,
    api: Api<K>,
    shutdown: CancellationToken,
    on_change: F,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    F: Fn(Change<K>) + Send + 'static,
{
    tokio::spawn(async move {
        let stream = watcher(api, watcher::Config::default()).default_backoff();
        futures::pin_mut!(stream);
        let mut buffer = Vec::new();
        loop {
            let item = tokio::select! {
                _ = shutdown.cancelled() => break,
                item = stream.next() => item,
            };
            match item {
                Some(Ok(event)) => {
                    for change in cache.apply(event, &mut buffer) {
                        on_change(change);
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(kind = std::any::type_name::<K>(), error = %e, "watch failed; retrying")
                }
                None => break,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pod(ns: &str, name: &str, rv: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                resource_version: Some(rv.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn relist_reports_objects_that_vanished_and_changed() {
        let cache: Arc<Cache<Pod>> = Cache::new();
        let mut buf = Vec::new();
        cache.apply(Event::Init, &mut buf);
        cache.apply(Event::InitApply(pod("a", "p1", "1")), &mut buf);
        cache.apply(Event::InitApply(pod("a", "p2", "1")), &mut buf);
        assert_eq!(cache.apply(Event::InitDone, &mut buf).len(), 2);
        assert_eq!(cache.list("a").len(), 2);
        cache.apply(Event::Init, &mut buf);
        cache.apply(Event::InitApply(pod("a", "p1", "1")), &mut buf);
        cache.apply(Event::InitApply(pod("b", "p3", "2")), &mut buf);
        let changes = cache.apply(Event::InitDone, &mut buf);
        let deleted: Vec<String> = changes
            .iter()
            .filter_map(|c| match c {
                Change::Deleted(p) => p.metadata.name.clone(),
                _ => None,
            })
            .collect();
        assert_eq!(deleted, vec!["p2".to_string()]);
        assert_eq!(changes.len(), 2, "p1 unchanged, p3 new, p2 gone");
        assert!(cache.get("a", "p2").is_none());
        assert!(cache.get("b", "p3").is_some());
    }

    #[test]
    fn apply_and_delete_keep_namespaces_apart() {
        let cache: Arc<Cache<Pod>> = Cache::new();
        let mut buf = Vec::new();
        cache.apply(Event::Apply(pod("a", "p", "1")), &mut buf);
        cache.apply(Event::Apply(pod("b", "p", "1")), &mut buf);
        match &cache.apply(Event::Apply(pod("a", "p", "2")), &mut buf)[0] {
            Change::Applied { old, .. } => assert!(old.is_some()),
            Change::Deleted(_) => panic!("expected an update"),
        }
        cache.apply(Event::Delete(pod("a", "p", "3")), &mut buf);
        assert!(cache.list("a").is_empty());
        assert_eq!(cache.all().len(), 1);
    }
}
