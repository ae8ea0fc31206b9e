//! A work queue of object keys, in the manner of client-go's rate-limited queue.
//!
//! A key is queued at most once; a key being worked on is never handed to a second worker,
//! and if it is added meanwhile it is queued again when the first worker is done. Failed keys
//! come back after an exponential back-off; `add_after` schedules a later visit.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// `namespace/name` of an object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// A key from its parts.
    pub fn new(namespace: &str, name: &str) -> ObjectKey {
        ObjectKey {
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<ObjectKey>,
    dirty: HashSet<ObjectKey>,
    processing: HashSet<ObjectKey>,
    failures: HashMap<ObjectKey, u32>,
}

/// The queue of one controller.
#[derive(Default)]
pub struct WorkQueue {
    inner: Mutex<Inner>,
    notify: Notify,
}

impl WorkQueue {
    /// An empty queue.
    pub fn new() -> Arc<WorkQueue> {
        Arc::new(WorkQueue::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Queues `key` unless it is already waiting.
    pub fn add(&self, key: ObjectKey) {
        let mut inner = self.lock();
        if !inner.dirty.insert(key.clone()) {
            return;
        }
        if !inner.processing.contains(&key) {
            inner.queue.push_back(key);
            drop(inner);
            self.notify.notify_one();
        }
    }

    /// Queues `key` after `delay`.
    pub fn add_after(self: &Arc<Self>, key: ObjectKey, delay: Duration) {
        if delay.is_zero() {
            self.add(key);
            return;
        }
        let queue = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            queue.add(key);
        });
    }

    /// Queues `key` again after a back-off that doubles with each consecutive failure
    /// (10 ms up to 30 s).
    pub fn retry(self: &Arc<Self>, key: ObjectKey) {
        let n = {
            let mut inner = self.lock();
            let n = inner.failures.entry(key.clone()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        };
        self.add_after(key, backoff(n));
    }

    /// Forgets the failures of `key`.
    pub fn forget(&self, key: &ObjectKey) {
        self.lock().failures.remove(key);
    }

    /// Waits for the next key; `None` once `shutdown` fires.
    pub async fn next(&self, shutdown: &CancellationToken) -> Option<ObjectKey> {
        loop {
            let notified = self.notify.notified();
            {
                let mut inner = self.lock();
                if let Some(key) = inner.queue.pop_front() {
                    inner.dirty.remove(&key);
                    inner.processing.insert(key.clone());
                    let more = !inner.queue.is_empty();
                    drop(inner);
                    if more {
                        self.notify.notify_one();
                    }
                    return Some(key);
                }
            }
            tokio::select! {
                _ = notified => {}
                _ = shutdown.cancelled() => return None,
            }
        }
    }

    /// Marks `key` as finished; if it was added meanwhile, it is queued again.
    pub fn done(&self, key: &ObjectKey) {
        let mut inner = self.lock();
        inner.processing.remove(key);
        if inner.dirty.contains(key) {
            inner.queue.push_back(key.clone());
            drop(inner);
            self.notify.notify_one();
        }
    }

    /// How many keys wait (for tests and metrics).
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// Whether no key waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The back-off after `failures` consecutive failures.
pub fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(12);
    Duration::from_millis(10u64 << exp).min(Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_is_queued_once_and_requeued_when_added_while_processing() {
        let q = WorkQueue::new();
        let stop = CancellationToken::new();
        let k = ObjectKey::new("default", "a");
        q.add(k.clone());
        q.add(k.clone());
        assert_eq!(q.len(), 1);
        let got = q.next(&stop).await.unwrap();
        assert_eq!(got, k);
        // Added while processing: not handed out until done.
        q.add(k.clone());
        assert_eq!(q.len(), 0);
        q.done(&k);
        assert_eq!(q.len(), 1);
        assert_eq!(q.next(&stop).await.unwrap(), k);
        q.done(&k);
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn next_returns_none_on_shutdown() {
        let q = WorkQueue::new();
        let stop = CancellationToken::new();
        stop.cancel();
        assert!(q.next(&stop).await.is_none());
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(10));
        assert_eq!(backoff(2), Duration::from_millis(20));
        assert_eq!(backoff(100), Duration::from_secs(30));
    }
}
