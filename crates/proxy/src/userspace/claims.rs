//! Which service port serves each address, kept up to date one service port at a time.
//!
//! Every service port claims addresses (listeners, health check ports). When two claim the
//! same one, the first in key order keeps it, whatever order the claims came in, so an
//! incremental update ends where building everything from scratch would.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use crate::model::ServiceKey;

/// Claims on addresses `A`, each with a value `V` (e.g. whether the traffic is external).
#[derive(Debug)]
pub(crate) struct Claims<A, V> {
    by_key: HashMap<ServiceKey, Vec<(A, V)>>,
    by_addr: HashMap<A, BTreeMap<ServiceKey, V>>,
}

impl<A, V> Default for Claims<A, V> {
    fn default() -> Self {
        Claims {
            by_key: HashMap::new(),
            by_addr: HashMap::new(),
        }
    }
}

impl<A: Copy + Eq + Hash, V: Copy> Claims<A, V> {
    /// Replaces what `key` claims with `claims` (a later claim on an address `key` already
    /// claimed is ignored). Returns every address `key` claimed before or claims now: the
    /// ones whose owner may have changed.
    pub fn set(&mut self, key: &ServiceKey, claims: Vec<(A, V)>) -> Vec<A> {
        let mut touched: Vec<A> = Vec::new();
        if let Some(old) = self.by_key.remove(key) {
            for (addr, _) in old {
                if let Some(m) = self.by_addr.get_mut(&addr) {
                    m.remove(key);
                    if m.is_empty() {
                        self.by_addr.remove(&addr);
                    }
                }
                touched.push(addr);
            }
        }
        let mut kept: Vec<(A, V)> = Vec::with_capacity(claims.len());
        for (addr, value) in claims {
            if kept.iter().any(|(a, _)| *a == addr) {
                continue;
            }
            self.by_addr
                .entry(addr)
                .or_default()
                .insert(key.clone(), value);
            kept.push((addr, value));
            if !touched.contains(&addr) {
                touched.push(addr);
            }
        }
        if !kept.is_empty() {
            self.by_key.insert(key.clone(), kept);
        }
        touched
    }

    /// Who serves `addr`: the first claimant in key order, with its value.
    pub fn owner(&self, addr: &A) -> Option<(&ServiceKey, V)> {
        self.by_addr
            .get(addr)
            .and_then(|m| m.iter().next())
            .map(|(k, v)| (k, *v))
    }

    /// Everyone claiming `addr`, in key order.
    pub fn claimants(&self, addr: &A) -> impl Iterator<Item = (&ServiceKey, V)> + '_ {
        self.by_addr
            .get(addr)
            .into_iter()
            .flat_map(|m| m.iter().map(|(k, v)| (k, *v)))
    }

    /// The addresses `key` claims.
    pub fn of(&self, key: &ServiceKey) -> impl Iterator<Item = A> + '_ {
        self.by_key
            .get(key)
            .into_iter()
            .flat_map(|v| v.iter().map(|(a, _)| *a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Protocol;

    fn key(name: &str) -> ServiceKey {
        ServiceKey {
            namespace: "default".into(),
            name: name.into(),
            port_name: String::new(),
            protocol: Protocol::Tcp,
        }
    }

    #[test]
    fn the_first_key_owns_an_address_whatever_the_order() {
        let mut c: Claims<u16, bool> = Claims::default();
        assert_eq!(
            c.set(&key("b"), vec![(80, false), (443, true)]),
            vec![80, 443]
        );
        assert_eq!(c.owner(&80), Some((&key("b"), false)));
        c.set(&key("a"), vec![(80, true), (80, false)]);
        assert_eq!(c.owner(&80), Some((&key("a"), true)));
        assert_eq!(c.claimants(&80).count(), 2);
        // Letting go hands the address back; the touched list names it.
        assert_eq!(c.set(&key("a"), vec![]), vec![80]);
        assert_eq!(c.owner(&80), Some((&key("b"), false)));
        assert_eq!(c.set(&key("b"), vec![(443, true)]), vec![80, 443]);
        assert_eq!(c.owner(&80), None);
        assert_eq!(c.of(&key("b")).collect::<Vec<_>>(), vec![443]);
    }
}
