//! What a controller did but has not seen in its cache yet (client-go's "expectations").
//!
//! After creating pods a controller must not count them missing because the watch has not
//! delivered them yet, and after deleting pods it must not count them present. Pods are
//! tracked by identity: created names and deleted UIDs, each forgotten once the watch shows
//! it or after a timeout, so a lost event cannot wedge the controller.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::queue::ObjectKey;

/// How long an unobserved create or delete is trusted.
pub const TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Default)]
struct Pending {
    creates: HashMap<String, Instant>,
    deletes: HashMap<String, Instant>,
}

/// The expectations of one controller, per owner.
#[derive(Default)]
pub struct Expectations {
    inner: Mutex<HashMap<ObjectKey, Pending>>,
}

impl Expectations {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<ObjectKey, Pending>) -> T) -> T {
        match self.inner.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// `owner` created the pod `name`.
    pub fn created(&self, owner: &ObjectKey, name: &str) {
        self.with(|m| {
            m.entry(owner.clone())
                .or_default()
                .creates
                .insert(name.to_string(), Instant::now());
        })
    }

    /// `owner` is deleting the pod with `uid`.
    pub fn deleting(&self, owner: &ObjectKey, uid: &str) {
        self.with(|m| {
            m.entry(owner.clone())
                .or_default()
                .deletes
                .insert(uid.to_string(), Instant::now());
        })
    }

    /// The watch showed the pod `name` (with `uid`), alive unless `gone`.
    pub fn observed(&self, owner: &ObjectKey, name: &str, uid: &str, gone: bool) {
        self.with(|m| {
            if let Some(p) = m.get_mut(owner) {
                p.creates.remove(name);
                if gone {
                    p.deletes.remove(uid);
                }
                if p.creates.is_empty() && p.deletes.is_empty() {
                    m.remove(owner);
                }
            }
        })
    }

    /// Forgets everything about `owner` (it was deleted).
    pub fn forget(&self, owner: &ObjectKey) {
        self.with(|m| {
            m.remove(owner);
        })
    }

    /// Reconciles the expectations of `owner` with the cache: `present` are the names and
    /// UIDs of its live pods the cache holds. Returns (created pods the cache lacks, UIDs
    /// being deleted that the cache still shows), dropping entries that timed out or that
    /// the cache already reflects.
    pub fn outstanding(
        &self,
        owner: &ObjectKey,
        present: &[(String, String)],
    ) -> (usize, Vec<String>) {
        let now = Instant::now();
        self.with(|m| {
            let Some(p) = m.get_mut(owner) else {
                return (0, Vec::new());
            };
            p.creates.retain(|name, at| {
                now.duration_since(*at) < TIMEOUT && !present.iter().any(|(n, _)| n == name)
            });
            p.deletes.retain(|uid, at| {
                now.duration_since(*at) < TIMEOUT && present.iter().any(|(_, u)| u == uid)
            });
            let result = (p.creates.len(), p.deletes.keys().cloned().collect());
            if p.creates.is_empty() && p.deletes.is_empty() {
                m.remove(owner);
            }
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creations_count_until_seen_and_deletions_until_gone() {
        let e = Expectations::default();
        let rs = ObjectKey::new("default", "web");
        e.created(&rs, "web-abcde");
        e.created(&rs, "web-fghjk");
        // The cache shows neither yet: both still expected.
        assert_eq!(e.outstanding(&rs, &[]).0, 2);
        // The cache shows one.
        let present = vec![("web-abcde".to_string(), "u1".to_string())];
        assert_eq!(e.outstanding(&rs, &present).0, 1);
        // The watch reports the other.
        e.observed(&rs, "web-fghjk", "u2", false);
        assert_eq!(e.outstanding(&rs, &present).0, 0);
        // Deleting u1: it stays counted as deleting while the cache shows it.
        e.deleting(&rs, "u1");
        assert_eq!(e.outstanding(&rs, &present).1, vec!["u1".to_string()]);
        assert!(e.outstanding(&rs, &[]).1.is_empty());
    }
}
