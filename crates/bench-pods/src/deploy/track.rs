//! What the pod watch saw of each pod, stamped with the client's clock on arrival, and the
//! latencies derived from it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use portico_bench::stats::Summary;

/// The moments one pod was seen at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    /// First watch event (normally ADDED).
    pub added: Option<Instant>,
    /// Its `metadata.creationTimestamp` (1 s resolution).
    pub created: Option<Timestamp>,
    /// First event showing every container running.
    pub running: Option<Instant>,
    /// First event showing the Ready condition True.
    pub ready: Option<Instant>,
    /// The Ready condition's `lastTransitionTime` at that event (1 s resolution).
    pub ready_transition: Option<Timestamp>,
    /// The node it runs on.
    pub node: Option<String>,
    /// The DELETED event.
    pub deleted: Option<Instant>,
}

/// Every pod of one run, by name.
#[derive(Debug, Clone)]
pub struct Tracker {
    /// A client instant and the wall clock at that instant, to compare client instants with
    /// the server's timestamps (same machine, same clock).
    anchor: (Instant, SystemTime),
    /// The pods.
    pub pods: BTreeMap<String, Seen>,
}

/// Latencies of one run, each over the pods that reached the end point.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Latencies {
    /// Watch ADDED → watch shows Ready=True, client clock.
    pub client: Summary,
    /// `creationTimestamp` → watch shows all containers running (the Kubernetes pod
    /// startup SLI; the start has 1 s resolution).
    pub sli: Summary,
    /// `creationTimestamp` → Ready `lastTransitionTime` (both 1 s resolution).
    pub server: Summary,
}

/// Whether the pod's Ready condition is True, and its last transition time.
fn ready(pod: &Pod) -> (bool, Option<Timestamp>) {
    let cond = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
    match cond {
        Some(c) if c.status == "True" => (true, c.last_transition_time.as_ref().map(|t| t.0)),
        _ => (false, None),
    }
}

/// Whether every container of the pod's spec is reported running.
fn all_running(pod: &Pod) -> bool {
    let want = pod.spec.as_ref().map_or(0, |s| s.containers.len());
    let running = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map_or(0, |cs| {
            cs.iter()
                .filter(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
                .count()
        });
    want > 0 && running >= want
}

/// Milliseconds since the Unix epoch of a wall-clock time.
fn epoch_ms(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i128,
        Err(e) => -(e.duration().as_millis() as i128),
    }
}

/// `to - from` in milliseconds, negative results as zero.
fn between_ms(from_ms: i128, to_ms: i128) -> Duration {
    Duration::from_millis(u64::try_from((to_ms - from_ms).max(0)).unwrap_or(u64::MAX))
}

impl Tracker {
    /// An empty tracker anchored now.
    pub fn new() -> Tracker {
        Tracker {
            anchor: (Instant::now(), SystemTime::now()),
            pods: BTreeMap::new(),
        }
    }

    /// Wall-clock milliseconds since the epoch of a client instant.
    fn wall_ms(&self, at: Instant) -> i128 {
        let (i0, s0) = self.anchor;
        let base = epoch_ms(s0);
        if at >= i0 {
            base + at.duration_since(i0).as_millis() as i128
        } else {
            base - i0.duration_since(at).as_millis() as i128
        }
    }

    /// Records one watch event about `pod` that arrived `at`.
    pub fn observe(&mut self, pod: &Pod, at: Instant, deleted: bool) {
        let Some(name) = pod.metadata.name.clone() else {
            return;
        };
        let seen = self.pods.entry(name).or_default();
        seen.added.get_or_insert(at);
        if seen.created.is_none() {
            seen.created = pod.metadata.creation_timestamp.as_ref().map(|t| t.0);
        }
        if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) {
            seen.node = Some(node);
        }
        if seen.running.is_none() && all_running(pod) {
            seen.running = Some(at);
        }
        let (is_ready, transition) = ready(pod);
        if seen.ready.is_none() && is_ready {
            seen.ready = Some(at);
            seen.ready_transition = transition;
        }
        if deleted {
            seen.deleted.get_or_insert(at);
        }
    }

    /// Pods seen so far.
    pub fn seen(&self) -> usize {
        self.pods.len()
    }

    /// Pods seen Ready so far.
    pub fn ready(&self) -> usize {
        self.pods.values().filter(|p| p.ready.is_some()).count()
    }

    /// Pods seen and not yet deleted.
    pub fn live(&self) -> usize {
        self.pods.values().filter(|p| p.deleted.is_none()).count()
    }

    /// The latest first-sighting and the latest Ready, if any.
    pub fn last_added_and_ready(&self) -> (Option<Instant>, Option<Instant>) {
        (
            self.pods.values().filter_map(|p| p.added).max(),
            self.pods.values().filter_map(|p| p.ready).max(),
        )
    }

    /// Pods per node.
    pub fn per_node(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for p in self.pods.values() {
            let node = p.node.clone().unwrap_or_else(|| "(unscheduled)".into());
            *out.entry(node).or_insert(0) += 1;
        }
        out
    }

    /// The three latency definitions over the pods that reached each end point.
    pub fn latencies(&self) -> Latencies {
        let mut client = Vec::new();
        let mut sli = Vec::new();
        let mut server = Vec::new();
        for p in self.pods.values() {
            if let (Some(a), Some(r)) = (p.added, p.ready) {
                client.push(r.saturating_duration_since(a));
            }
            if let (Some(c), Some(run)) = (p.created, p.running) {
                sli.push(between_ms(c.as_millisecond() as i128, self.wall_ms(run)));
            }
            if let (Some(c), Some(t)) = (p.created, p.ready_transition) {
                server.push(between_ms(
                    c.as_millisecond() as i128,
                    t.as_millisecond() as i128,
                ));
            }
        }
        Latencies {
            client: Summary::of(client),
            sli: Summary::of(sli),
            server: Summary::of(server),
        }
    }
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, created: &str, running: bool, ready: Option<&str>) -> Pod {
        let mut status = serde_json::json!({"phase": "Pending"});
        if running {
            status["containerStatuses"] = serde_json::json!([{
                "name": "main", "image": "registry.k8s.io/pause", "imageID": "", "ready": ready.is_some(),
                "restartCount": 0, "state": {"running": {"startedAt": created}}
            }]);
        }
        if let Some(t) = ready {
            status["conditions"] = serde_json::json!([
                {"type": "Ready", "status": "True", "lastTransitionTime": t}
            ]);
        }
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "creationTimestamp": created},
            "spec": {"nodeName": "portico-node", "containers": [{"name": "main", "image": "registry.k8s.io/pause"}]},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn client_latency_runs_from_first_sighting_to_first_ready_event() {
        let mut t = Tracker::new();
        let t0 = Instant::now();
        let now = Timestamp::now().to_string();
        t.observe(&pod("a", &now, false, None), t0, false);
        t.observe(
            &pod("a", &now, true, None),
            t0 + Duration::from_millis(100),
            false,
        );
        t.observe(
            &pod("a", &now, true, Some(&now)),
            t0 + Duration::from_millis(250),
            false,
        );
        // A later Ready event does not move the first one.
        t.observe(
            &pod("a", &now, true, Some(&now)),
            t0 + Duration::from_millis(900),
            false,
        );
        assert_eq!((t.seen(), t.ready(), t.live()), (1, 1, 1));
        let l = t.latencies();
        assert_eq!(l.client.count, 1);
        assert_eq!(l.client.max, Duration::from_millis(250));
        assert_eq!(l.server.max, Duration::ZERO);
        assert_eq!(t.per_node()["portico-node"], 1);
        t.observe(
            &pod("a", &now, true, Some(&now)),
            t0 + Duration::from_secs(1),
            true,
        );
        assert_eq!(t.live(), 0);
    }

    #[test]
    fn server_side_latencies_use_the_timestamps() {
        let mut t = Tracker::new();
        let at = Instant::now();
        // Created 3 s before the client saw it running; Ready 2 s after creation.
        let created = Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_secs(3);
        let ready_at = created + k8s_openapi::jiff::SignedDuration::from_secs(2);
        t.observe(
            &pod("b", &created.to_string(), true, Some(&ready_at.to_string())),
            at,
            false,
        );
        let l = t.latencies();
        assert_eq!(l.server.max, Duration::from_secs(2));
        let sli = l.sli.max.as_millis();
        assert!((2900..=3100).contains(&sli), "{sli}");
        assert_eq!(l.client.max, Duration::ZERO);
    }

    #[test]
    fn pods_not_ready_count_only_where_they_got_to() {
        let mut t = Tracker::new();
        let now = Timestamp::now().to_string();
        t.observe(&pod("c", &now, false, None), Instant::now(), false);
        assert_eq!((t.seen(), t.ready()), (1, 0));
        let l = t.latencies();
        assert_eq!((l.client.count, l.sli.count, l.server.count), (0, 0, 0));
        let (added, ready) = t.last_added_and_ready();
        assert!(added.is_some() && ready.is_none());
    }
}
