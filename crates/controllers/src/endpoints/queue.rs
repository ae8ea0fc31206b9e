//! A work queue of object keys with the guarantees of client-go's rate-limited work queue:
//! a key waiting in the queue is queued once however often it is added; a key being worked on
//! is never handed to a second worker, and is queued again when it was added meanwhile;
//! failed keys come back after an exponential delay (5 ms doubling, at most 1000 s).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

/// Shared handle on a queue.
#[derive(Clone, Default)]
pub struct WorkQueue {
    inner: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    notify: Notify,
}

#[derive(Default)]
struct State {
    queue: VecDeque<String>,
    dirty: HashSet<String>,
    processing: HashSet<String>,
    failures: HashMap<String, u32>,
    shut_down: bool,
}

impl WorkQueue {
    /// An empty queue.
    pub fn new() -> WorkQueue {
        WorkQueue::default()
    }

    /// Adds `key` unless it is already waiting.
    pub fn add(&self, key: &str) {
        let Ok(mut s) = self.inner.state.lock() else {
            return;
        };
        if s.shut_down || s.dirty.contains(key) {
            return;
        }
        s.dirty.insert(key.to_string());
        if !s.processing.contains(key) {
            s.queue.push_back(key.to_string());
            drop(s);
            self.inner.notify.notify_one();
        }
    }

    /// Adds `key` after `delay`.
    pub fn add_after(&self, key: &str, delay: Duration) {
        if delay.is_zero() {
            return self.add(key);
        }
        let q = self.clone();
        let key = key.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            q.add(&key);
        });
    }

    /// Adds `key` again after its failure delay, and counts the failure.
    pub fn add_rate_limited(&self, key: &str) {
        let n = {
            let Ok(mut s) = self.inner.state.lock() else {
                return;
            };
            let n = s.failures.entry(key.to_string()).or_insert(0);
            *n += 1;
            *n
        };
        self.add_after(key, backoff(n));
    }

    /// How often `key` failed in a row.
    pub fn failures(&self, key: &str) -> u32 {
        self.inner
            .state
            .lock()
            .map(|s| s.failures.get(key).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Clears the failure count of `key` (after a success, or when giving up).
    pub fn forget(&self, key: &str) {
        if let Ok(mut s) = self.inner.state.lock() {
            s.failures.remove(key);
        }
    }

    /// Waits for the next key; `None` once the queue is shut down.
    pub async fn get(&self) -> Option<String> {
        loop {
            {
                let mut s = self.inner.state.lock().ok()?;
                if let Some(key) = s.queue.pop_front() {
                    s.dirty.remove(&key);
                    s.processing.insert(key.clone());
                    return Some(key);
                }
                if s.shut_down {
                    return None;
                }
            }
            self.inner.notify.notified().await;
        }
    }

    /// Marks `key` as no longer being worked on (queuing it again if it was added meanwhile).
    pub fn done(&self, key: &str) {
        let Ok(mut s) = self.inner.state.lock() else {
            return;
        };
        s.processing.remove(key);
        if s.dirty.contains(key) {
            s.queue.push_back(key.to_string());
            drop(s);
            self.inner.notify.notify_one();
        }
    }

    /// Stops handing out keys; waiting workers get `None`.
    pub fn shut_down(&self) {
        if let Ok(mut s) = self.inner.state.lock() {
            s.shut_down = true;
        }
        self.inner.notify.notify_waiters();
        // A worker between its check and its wait gets the stored permit.
        self.inner.notify.notify_one();
    }
}

#[cfg(test)]
impl WorkQueue {
    /// Number of keys waiting.
    pub fn len(&self) -> usize {
        self.inner.state.lock().map(|s| s.queue.len()).unwrap_or(0)
    }

    /// Whether no key is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The delay before the `n`th retry: 5 ms · 2^(n-1), at most 1000 s.
pub fn backoff(n: u32) -> Duration {
    let ms = 5u64.saturating_mul(1u64 << n.saturating_sub(1).min(30));
    Duration::from_millis(ms.min(1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiting_key_is_queued_once() {
        let q = WorkQueue::new();
        q.add("a");
        q.add("b");
        q.add("a");
        assert_eq!(q.len(), 2);
        assert_eq!(q.get().await.as_deref(), Some("a"));
        assert_eq!(q.get().await.as_deref(), Some("b"));
    }

    #[tokio::test]
    async fn a_key_added_while_processed_comes_back_after_done() {
        let q = WorkQueue::new();
        q.add("a");
        let k = q.get().await.unwrap();
        q.add("a");
        assert!(q.is_empty(), "must not be handed to a second worker");
        q.done(&k);
        assert_eq!(q.get().await.as_deref(), Some("a"));
    }

    #[tokio::test]
    async fn shut_down_releases_waiting_workers() {
        let q = WorkQueue::new();
        let q2 = q.clone();
        let h = tokio::spawn(async move { q2.get().await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        q.shut_down();
        assert_eq!(h.await.unwrap(), None);
    }

    #[tokio::test]
    async fn failures_back_off_and_forget_resets() {
        let q = WorkQueue::new();
        q.add_rate_limited("a");
        q.add_rate_limited("a");
        assert_eq!(q.failures("a"), 2);
        let got = tokio::time::timeout(Duration::from_secs(1), q.get())
            .await
            .unwrap();
        assert_eq!(got.as_deref(), Some("a"));
        q.forget("a");
        assert_eq!(q.failures("a"), 0);
        assert_eq!(backoff(1), Duration::from_millis(5));
        assert_eq!(backoff(3), Duration::from_millis(20));
        assert_eq!(backoff(40), Duration::from_secs(1000));
    }
}
