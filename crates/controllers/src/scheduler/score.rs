//! Where pods are, and which of the feasible nodes a pod goes to.
//!
//! [`Placements`] counts, per node, the pods placed there (bound, or assumed while their
//! binding is in flight) in total and per owner. [`pick`] spreads the pods of one owner (the
//! controller in their ownerReferences, e.g. a ReplicaSet) across nodes: the node with the
//! fewest pods of that owner wins, then the node with the fewest pods overall, and remaining
//! ties are broken at random, in the spirit of kube-scheduler's default topology spreading
//! by hostname.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::Pod;
use rand::seq::IndexedRandom;

use super::filter::ports::HostPort;

/// A pod's identity: namespace and name.
pub type PodKey = (String, String);

/// Where one pod is placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The node.
    pub node: String,
    /// The uid of the pod's controller owner, if any.
    pub owner: Option<String>,
    /// The host ports the pod holds on the node.
    pub host_ports: Vec<HostPort>,
}

/// The pods placed on each node, counted in total and per owner.
#[derive(Debug, Default)]
pub struct Placements {
    by_pod: HashMap<PodKey, Placement>,
    node_total: HashMap<String, usize>,
    owner_node: HashMap<(String, String), usize>,
    node_ports: HashMap<String, HashMap<HostPort, usize>>,
}

impl Placements {
    /// Records (or moves) `key` to `placement`.
    pub fn place(&mut self, key: PodKey, placement: Placement) {
        if self.by_pod.get(&key) == Some(&placement) {
            return;
        }
        self.remove(&key);
        *self.node_total.entry(placement.node.clone()).or_default() += 1;
        if let Some(owner) = &placement.owner {
            *self
                .owner_node
                .entry((owner.clone(), placement.node.clone()))
                .or_default() += 1;
        }
        if !placement.host_ports.is_empty() {
            let held = self.node_ports.entry(placement.node.clone()).or_default();
            for p in &placement.host_ports {
                *held.entry(p.clone()).or_default() += 1;
            }
        }
        self.by_pod.insert(key, placement);
    }

    /// Forgets `key`; returns where it was.
    pub fn remove(&mut self, key: &PodKey) -> Option<Placement> {
        let old = self.by_pod.remove(key)?;
        decrement(&mut self.node_total, &old.node);
        if let Some(owner) = &old.owner {
            decrement(&mut self.owner_node, &(owner.clone(), old.node.clone()));
        }
        if let Some(held) = self.node_ports.get_mut(&old.node) {
            for p in &old.host_ports {
                decrement(held, p);
            }
            if held.is_empty() {
                self.node_ports.remove(&old.node);
            }
        }
        Some(old)
    }

    /// Where `key` is placed.
    pub fn get(&self, key: &PodKey) -> Option<&Placement> {
        self.by_pod.get(key)
    }

    /// The pod keys placed, for resynchronisation after a relist.
    pub fn keys(&self) -> Vec<PodKey> {
        self.by_pod.keys().cloned().collect()
    }

    /// Pods placed on `node`.
    pub fn total_on(&self, node: &str) -> usize {
        self.node_total.get(node).copied().unwrap_or(0)
    }

    /// The host ports held by pods placed on `node`.
    pub fn host_ports_on(&self, node: &str) -> impl Iterator<Item = &HostPort> {
        self.node_ports.get(node).into_iter().flat_map(|m| m.keys())
    }

    /// Pods of `owner` placed on `node`.
    pub fn owned_on(&self, owner: &str, node: &str) -> usize {
        self.owner_node
            .get(&(owner.to_string(), node.to_string()))
            .copied()
            .unwrap_or(0)
    }
}

fn decrement<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(key);
        }
    }
}

/// The uid of the pod's controller owner (the ownerReference with `controller: true`).
pub fn owner_of(pod: &Pod) -> Option<String> {
    pod.metadata
        .owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))
        .map(|r| r.uid.clone())
}

/// Chooses among `feasible` nodes for a pod of `owner`: fewest pods of the owner, then fewest
/// pods overall, then at random.
pub fn pick<'a>(
    feasible: &[&'a str],
    owner: Option<&str>,
    placements: &Placements,
    rng: &mut impl rand::Rng,
) -> Option<&'a str> {
    let score = |node: &str| {
        (
            owner.map_or(0, |o| placements.owned_on(o, node)),
            placements.total_on(node),
        )
    };
    let best = feasible.iter().map(|n| score(n)).min()?;
    let tied: Vec<&'a str> = feasible
        .iter()
        .copied()
        .filter(|n| score(n) == best)
        .collect();
    tied.choose(rng).copied()
}

#[cfg(test)]
mod tests;
