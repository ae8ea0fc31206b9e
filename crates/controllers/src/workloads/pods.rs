//! Pod facts the workload controllers share: active, ready, available; which pods to delete
//! first (Kubernetes' `ActivePodsWithRanks`); pods made from a template; owner references.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

/// Whether the pod still counts: not Succeeded, not Failed, not being deleted.
pub fn is_active(pod: &Pod) -> bool {
    let phase = phase(pod);
    phase != "Succeeded" && phase != "Failed" && pod.metadata.deletion_timestamp.is_none()
}

/// `status.phase`, empty when unset.
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// When the pod's Ready condition turned True, if it is True.
pub fn ready_since(pod: &Pod) -> Option<Option<Timestamp>> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")
        .map(|c| c.last_transition_time.as_ref().map(|t| t.0))
}

/// Whether the pod's Ready condition is True.
pub fn is_ready(pod: &Pod) -> bool {
    ready_since(pod).is_some()
}

/// Whether the pod has been Ready for at least `min_ready_seconds` at `now`.
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    match ready_since(pod) {
        None => false,
        Some(_) if min_ready_seconds <= 0 => true,
        Some(None) => false,
        Some(Some(since)) => since.as_second() + i64::from(min_ready_seconds) < now.as_second(),
    }
}

/// For a Ready pod not yet available, how long until it is.
pub fn until_available(
    pod: &Pod,
    min_ready_seconds: i32,
    now: Timestamp,
) -> Option<std::time::Duration> {
    let since = ready_since(pod)??;
    let at = since.as_second() + i64::from(min_ready_seconds) + 1;
    let left = at - now.as_second();
    (left > 0).then(|| std::time::Duration::from_secs(left as u64))
}

/// The controller reference of an object (the owner reference with `controller: true`).
pub fn controller_ref(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))
}

/// A controller reference to an owner.
pub fn owner_ref(api_version: &str, kind: &str, meta: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The labels of an object (empty when unset).
pub fn labels(meta: &ObjectMeta) -> BTreeMap<String, String> {
    meta.labels.clone().unwrap_or_default()
}

/// A pod for `template`, named by the server from `generate_name` (or exactly `name`).
pub fn pod_from_template(
    template: &PodTemplateSpec,
    namespace: &str,
    name: Option<String>,
    generate_name: Option<String>,
    owner: OwnerReference,
) -> Pod {
    let tm = template.metadata.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            name,
            generate_name,
            namespace: Some(namespace.to_string()),
            labels: tm.labels,
            annotations: tm.annotations,
            finalizers: tm.finalizers,
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

fn phase_ordinal(pod: &Pod) -> u8 {
    match phase(pod) {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    }
}

fn max_restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map(|cs| cs.iter().map(|c| c.restart_count).max().unwrap_or(0))
        .unwrap_or(0)
}

fn deletion_cost(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("controller.kubernetes.io/pod-deletion-cost"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// floor(log2(now - t)) in nanoseconds, -1 for a time not in the past.
fn log_rank(t: Timestamp, now: Timestamp) -> i64 {
    let d = now.as_nanosecond() - t.as_nanosecond();
    if d > 0 {
        (d as f64).log2() as i64
    } else {
        -1
    }
}

/// Compares two times where a missing time sorts first and a later time before an earlier
/// one, on a logarithmic scale (Kubernetes' LogarithmicScaleDown) with the UIDs breaking ties.
fn newer_first(
    a: Option<Timestamp>,
    b: Option<Timestamp>,
    ua: &str,
    ub: &str,
    now: Timestamp,
) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) if x == y => Ordering::Equal,
        (Some(x), Some(y)) => match log_rank(x, now).cmp(&log_rank(y, now)) {
            Ordering::Equal => ua.cmp(ub),
            other => other,
        },
    }
}

/// Orders pods so that the ones to delete first come first, as Kubernetes ranks them:
/// unscheduled before scheduled, Pending before Unknown before Running, not Ready before
/// Ready, lower deletion cost first, more pods of the owner on the same node first, Ready
/// for less time first, more restarts first, newer before older.
pub fn rank_for_deletion(pods: &mut [&Pod], related: &[&Pod], now: Timestamp) {
    let mut on_node: HashMap<String, usize> = HashMap::new();
    for p in related.iter().filter(|p| is_active(p)) {
        *on_node.entry(node(p).to_string()).or_default() += 1;
    }
    let rank = |p: &Pod| on_node.get(node(p)).copied().unwrap_or(0);
    pods.sort_by(|a, b| {
        let (na, nb) = (node(a), node(b));
        if na != nb && (na.is_empty() || nb.is_empty()) {
            return if na.is_empty() {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        phase_ordinal(a)
            .cmp(&phase_ordinal(b))
            .then_with(|| is_ready(a).cmp(&is_ready(b)))
            .then_with(|| deletion_cost(a).cmp(&deletion_cost(b)))
            .then_with(|| rank(b).cmp(&rank(a)))
            .then_with(|| {
                if is_ready(a) && is_ready(b) {
                    newer_first(
                        ready_since(a).flatten(),
                        ready_since(b).flatten(),
                        uid(a),
                        uid(b),
                        now,
                    )
                } else {
                    Ordering::Equal
                }
            })
            .then_with(|| max_restarts(b).cmp(&max_restarts(a)))
            .then_with(|| {
                newer_first(
                    a.metadata.creation_timestamp.as_ref().map(|t| t.0),
                    b.metadata.creation_timestamp.as_ref().map(|t| t.0),
                    uid(a),
                    uid(b),
                    now,
                )
            })
    });
}

fn node(p: &Pod) -> &str {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or("")
}

fn uid(p: &Pod) -> &str {
    p.metadata.uid.as_deref().unwrap_or("")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    pub fn pod(name: &str, node: &str, phase: &str, ready_at: Option<i64>, created: i64) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                uid: Some(format!("uid-{name}")),
                creation_timestamp: Some(Time(Timestamp::from_second(created).unwrap())),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: (!node.is_empty()).then(|| node.to_string()),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                conditions: ready_at.map(|t| {
                    vec![PodCondition {
                        type_: "Ready".into(),
                        status: "True".into(),
                        last_transition_time: Some(Time(Timestamp::from_second(t).unwrap())),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            }),
        }
    }

    fn names(pods: &[&Pod]) -> Vec<String> {
        pods.iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect()
    }

    #[test]
    fn unscheduled_then_pending_then_unready_go_first() {
        let now = Timestamp::from_second(100_000).unwrap();
        let running_ready = pod("running-ready", "n1", "Running", Some(10), 1);
        let running_unready = pod("running-unready", "n1", "Running", None, 1);
        let pending = pod("pending", "n2", "Pending", None, 1);
        let unscheduled = pod("unscheduled", "", "Pending", None, 1);
        let mut v = vec![&running_ready, &running_unready, &pending, &unscheduled];
        let related = v.clone();
        rank_for_deletion(&mut v, &related, now);
        assert_eq!(
            names(&v),
            ["unscheduled", "pending", "running-unready", "running-ready"]
        );
    }

    #[test]
    fn doubled_up_nodes_and_newer_pods_go_first() {
        let now = Timestamp::from_second(1_000_000).unwrap();
        let a = pod("alone", "n1", "Running", Some(10), 1);
        let b = pod("crowded-1", "n2", "Running", Some(10), 1);
        let c = pod("crowded-2", "n2", "Running", Some(10), 2);
        let mut v = vec![&a, &b, &c];
        let related = v.clone();
        rank_for_deletion(&mut v, &related, now);
        assert_eq!(names(&v)[2], "alone");
        // Same node, ready alike: the much newer one goes first.
        let old = pod("old", "n1", "Running", None, 1);
        let new = pod("new", "n1", "Running", None, 999_000);
        let mut v = vec![&old, &new];
        let related = v.clone();
        rank_for_deletion(&mut v, &related, now);
        assert_eq!(names(&v), ["new", "old"]);
    }

    #[test]
    fn availability_waits_for_min_ready_seconds() {
        let p = pod("p", "n", "Running", Some(100), 1);
        let at = |s| Timestamp::from_second(s).unwrap();
        assert!(is_available(&p, 0, at(100)));
        assert!(!is_available(&p, 10, at(105)));
        assert!(is_available(&p, 10, at(111)));
        assert_eq!(
            until_available(&p, 10, at(105)),
            Some(std::time::Duration::from_secs(6))
        );
        let unready = pod("u", "n", "Running", None, 1);
        assert!(!is_available(&unready, 0, at(200)));
        assert!(is_active(&unready));
    }
}
