//! The scheduler's view of the cluster and its queue, fed by the pod and node watches.
//!
//! No I/O here: [`State`] takes watch events and binding outcomes and hands out
//! [`Decision`]s, one pod at a time, as kube-scheduler's scheduling cycle does. A pod whose
//! binding is in flight is *assumed* on its node, so the next decision already counts it.
//! Pods that fit nowhere wait (unschedulable) until a node appears or changes in a way that
//! matters (labels, taints, cordon, readiness), until the pod itself changes, or for five
//! minutes, as kube-scheduler's unschedulable queue does.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::watcher;

use super::filter::{self, Unfit};
use super::score::{self, Placement, Placements, PodKey};

/// The scheduler name this scheduler answers to (an empty `schedulerName` means it too).
pub const SCHEDULER_NAME: &str = "default-scheduler";

/// What to do about one pod.
#[derive(Debug)]
pub enum Decision {
    /// Bind the pod to the node (the pod is assumed there meanwhile).
    Bind {
        /// The pod.
        pod: Box<Pod>,
        /// The chosen node.
        node: String,
    },
    /// No node fits: report it.
    Unschedulable {
        /// The pod.
        pod: Box<Pod>,
        /// Kubernetes' FitError message.
        message: String,
    },
}

#[derive(Debug)]
struct Pending {
    pod: Pod,
    /// The pod's spec as JSON: a change of it makes an unschedulable pod worth another try.
    mark: String,
    unschedulable_since: Option<Instant>,
    bind_failures: u32,
}

/// Nodes, placed pods, pending pods and the scheduling queue.
#[derive(Debug, Default)]
pub struct State {
    nodes: BTreeMap<String, Node>,
    node_marks: HashMap<String, String>,
    pending: HashMap<PodKey, Pending>,
    queue: VecDeque<PodKey>,
    queued: HashSet<PodKey>,
    assumed: HashSet<PodKey>,
    placements: Placements,
    relist_pods: Option<HashSet<PodKey>>,
    relist_nodes: Option<HashSet<String>>,
    pods_synced: bool,
    nodes_synced: bool,
}

fn key_of(pod: &Pod) -> PodKey {
    (
        pod.metadata.namespace.clone().unwrap_or_default(),
        pod.metadata.name.clone().unwrap_or_default(),
    )
}

fn responsible(pod: &Pod) -> bool {
    let name = pod.spec.as_ref().and_then(|s| s.scheduler_name.as_deref());
    matches!(name, None | Some("") | Some(SCHEDULER_NAME))
}

fn terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

fn gated(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.scheduling_gates.as_ref())
        .is_some_and(|g| !g.is_empty())
}

/// What about a node matters to scheduling: labels, taints, cordon and readiness.
fn node_mark(node: &Node) -> String {
    let spec = node.spec.as_ref();
    serde_json::json!([
        node.metadata.labels,
        spec.and_then(|s| s.taints.clone()),
        spec.and_then(|s| s.unschedulable),
        filter::effective_taints(node).len(),
        filter::is_ready(node),
    ])
    .to_string()
}

impl State {
    /// Whether a decision can be taken now: both watches listed once and a pod is queued.
    pub fn has_work(&self) -> bool {
        self.pods_synced && self.nodes_synced && !self.queue.is_empty()
    }

    /// Where a pod is placed (bound or assumed), for tests and diagnostics.
    pub fn placement(&self, key: &PodKey) -> Option<&Placement> {
        self.placements.get(key)
    }

    fn enqueue(&mut self, key: PodKey) {
        if self.queued.insert(key.clone()) {
            self.queue.push_back(key);
        }
    }

    /// Applies a pod watch event.
    pub fn on_pod_event(&mut self, event: watcher::Event<Pod>) {
        match event {
            watcher::Event::Apply(pod) => self.pod_applied(pod),
            watcher::Event::Delete(pod) => self.pod_deleted(&key_of(&pod)),
            watcher::Event::Init => self.relist_pods = Some(HashSet::new()),
            watcher::Event::InitApply(pod) => {
                if let Some(seen) = self.relist_pods.as_mut() {
                    seen.insert(key_of(&pod));
                }
                self.pod_applied(pod);
            }
            watcher::Event::InitDone => {
                if let Some(seen) = self.relist_pods.take() {
                    let mut gone: Vec<PodKey> = self.placements.keys();
                    gone.extend(self.pending.keys().cloned());
                    gone.extend(self.assumed.iter().cloned());
                    for key in gone {
                        if !seen.contains(&key) {
                            self.pod_deleted(&key);
                        }
                    }
                }
                self.pods_synced = true;
            }
        }
    }

    fn pod_applied(&mut self, pod: Pod) {
        let key = key_of(&pod);
        if terminal(&pod) {
            self.pod_deleted(&key);
            return;
        }
        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
        if let Some(node) = node.filter(|n| !n.is_empty()) {
            let owner = score::owner_of(&pod);
            let host_ports = filter::ports::host_ports(&pod);
            self.placements.place(
                key.clone(),
                Placement {
                    node,
                    owner,
                    host_ports,
                },
            );
            self.pending.remove(&key);
            self.assumed.remove(&key);
            return;
        }
        if self.assumed.contains(&key) {
            // Our binding is in flight or done; this event predates it.
            return;
        }
        if !responsible(&pod) || pod.metadata.deletion_timestamp.is_some() || gated(&pod) {
            self.pending.remove(&key);
            return;
        }
        let mark = serde_json::to_string(&pod.spec).unwrap_or_default();
        match self.pending.get_mut(&key) {
            Some(p) if p.mark == mark => p.pod = pod,
            Some(p) => {
                p.pod = pod;
                p.mark = mark;
                p.unschedulable_since = None;
                self.enqueue(key);
            }
            None => {
                self.pending.insert(
                    key.clone(),
                    Pending {
                        pod,
                        mark,
                        unschedulable_since: None,
                        bind_failures: 0,
                    },
                );
                self.enqueue(key);
            }
        }
    }

    fn pod_deleted(&mut self, key: &PodKey) {
        self.placements.remove(key);
        self.pending.remove(key);
        self.assumed.remove(key);
    }

    /// Applies a node watch event.
    pub fn on_node_event(&mut self, event: watcher::Event<Node>) {
        match event {
            watcher::Event::Apply(node) => self.node_applied(node),
            watcher::Event::Delete(node) => {
                let name = node.metadata.name.unwrap_or_default();
                self.nodes.remove(&name);
                self.node_marks.remove(&name);
            }
            watcher::Event::Init => self.relist_nodes = Some(HashSet::new()),
            watcher::Event::InitApply(node) => {
                if let Some(seen) = self.relist_nodes.as_mut() {
                    seen.insert(node.metadata.name.clone().unwrap_or_default());
                }
                self.node_applied(node);
            }
            watcher::Event::InitDone => {
                if let Some(seen) = self.relist_nodes.take() {
                    self.nodes.retain(|n, _| seen.contains(n));
                    self.node_marks.retain(|n, _| seen.contains(n));
                }
                self.nodes_synced = true;
                self.requeue_unschedulable(None);
            }
        }
    }

    fn node_applied(&mut self, node: Node) {
        let name = node.metadata.name.clone().unwrap_or_default();
        let mark = node_mark(&node);
        let changed = self.node_marks.get(&name) != Some(&mark);
        self.node_marks.insert(name.clone(), mark);
        self.nodes.insert(name, node);
        if changed {
            self.requeue_unschedulable(None);
        }
    }

    /// Queues the unschedulable pods again (those waiting longer than `older_than`, or all).
    pub fn requeue_unschedulable(&mut self, older_than: Option<Duration>) {
        let now = Instant::now();
        let mut again = Vec::new();
        for (key, p) in self.pending.iter_mut() {
            let Some(since) = p.unschedulable_since else {
                continue;
            };
            if older_than.is_none_or(|d| now.duration_since(since) >= d) {
                p.unschedulable_since = None;
                again.push(key.clone());
            }
        }
        // Oldest pods first, as kube-scheduler's queue orders equal priorities by arrival.
        again.sort_by(|a, b| {
            let ts = |k: &PodKey| {
                self.pending
                    .get(k)
                    .and_then(|p| p.pod.metadata.creation_timestamp.clone())
            };
            ts(a).cmp(&ts(b)).then_with(|| a.cmp(b))
        });
        for key in again {
            self.enqueue(key);
        }
    }

    /// Takes the next queued pod and decides about it.
    pub fn next_decision(&mut self, rng: &mut impl rand::Rng) -> Option<Decision> {
        while let Some(key) = self.queue.pop_front() {
            self.queued.remove(&key);
            if self.assumed.contains(&key) {
                continue;
            }
            let Some(pending) = self.pending.get_mut(&key) else {
                continue;
            };
            let pod = pending.pod.clone();
            let mut feasible = Vec::new();
            let mut reasons: Vec<Unfit> = Vec::new();
            let wanted = filter::ports::host_ports(&pod);
            for (name, node) in &self.nodes {
                match filter::check(&pod, node) {
                    Ok(())
                        if !wanted.is_empty()
                            && filter::ports::conflict(
                                &wanted,
                                self.placements.host_ports_on(name),
                            ) =>
                    {
                        reasons.push(Unfit::HostPorts)
                    }
                    Ok(()) => feasible.push(name.as_str()),
                    Err(reason) => reasons.push(reason),
                }
            }
            let owner = score::owner_of(&pod);
            if let Some(node) = score::pick(&feasible, owner.as_deref(), &self.placements, rng) {
                let node = node.to_string();
                self.assumed.insert(key.clone());
                self.placements.place(
                    key,
                    Placement {
                        node: node.clone(),
                        owner,
                        host_ports: wanted,
                    },
                );
                return Some(Decision::Bind {
                    pod: Box::new(pod),
                    node,
                });
            }
            pending.unschedulable_since = Some(Instant::now());
            let never = pod
                .spec
                .as_ref()
                .and_then(|s| s.preemption_policy.as_deref())
                == Some("Never");
            let message = filter::fit_error_message(self.nodes.len(), &reasons, never);
            return Some(Decision::Unschedulable {
                pod: Box::new(pod),
                message,
            });
        }
        None
    }

    /// The binding of `key` succeeded: it stays assumed until the watch shows its node.
    pub fn bound(&mut self, key: &PodKey) {
        self.pending.remove(key);
    }

    /// The binding of `key` failed: forget the assumption; returns how long to wait before
    /// trying the pod again (doubling from one second up to a minute), or `None` if the pod is
    /// no longer waiting.
    pub fn bind_failed(&mut self, key: &PodKey) -> Option<Duration> {
        self.assumed.remove(key);
        let pending = self.pending.get_mut(key)?;
        self.placements.remove(key);
        pending.bind_failures = pending.bind_failures.saturating_add(1);
        let secs = 1u64 << pending.bind_failures.min(6).saturating_sub(1);
        Some(Duration::from_secs(secs.min(60)))
    }

    /// Queues `key` again after a failed binding, if it still waits.
    pub fn retry(&mut self, key: PodKey) {
        if self.pending.contains_key(&key) && !self.assumed.contains(&key) {
            self.enqueue(key);
        }
    }
}

#[cfg(test)]
mod tests;
