//! Tests of the scheduling queue and decisions, driven by watch events.

use super::*;
use serde_json::json;

fn node(name: &str, ready: bool) -> Node {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
    }))
    .unwrap()
}

fn pod(name: &str, extra: serde_json::Value) -> Pod {
    let mut spec = json!({"containers": [{"name": "c", "image": "x"}]});
    if let Some(m) = extra.as_object() {
        for (k, v) in m {
            spec[k] = v.clone();
        }
    }
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"),
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "rs-uid", "controller": true}]},
        "spec": spec
    }))
    .unwrap()
}

fn key(name: &str) -> PodKey {
    ("default".into(), name.into())
}

fn synced(nodes: Vec<Node>, pods: Vec<Pod>) -> State {
    let mut s = State::default();
    s.on_node_event(watcher::Event::Init);
    for n in nodes {
        s.on_node_event(watcher::Event::InitApply(n));
    }
    s.on_node_event(watcher::Event::InitDone);
    s.on_pod_event(watcher::Event::Init);
    for p in pods {
        s.on_pod_event(watcher::Event::InitApply(p));
    }
    s.on_pod_event(watcher::Event::InitDone);
    s
}

fn bind_target(d: Option<Decision>) -> String {
    match d {
        Some(Decision::Bind { node, .. }) => node,
        other => panic!("expected a binding, got {other:?}"),
    }
}

#[test]
fn waits_for_both_lists_before_deciding() {
    let mut s = State::default();
    s.on_pod_event(watcher::Event::Apply(pod("a", json!({}))));
    assert!(!s.has_work());
    s.on_pod_event(watcher::Event::InitDone);
    assert!(!s.has_work(), "nodes not listed yet");
    s.on_node_event(watcher::Event::InitDone);
    assert!(s.has_work());
}

#[test]
fn assumed_pods_count_for_spreading() {
    let mut s = synced(
        vec![node("n1", true), node("n2", true), node("n3", true)],
        (0..3).map(|i| pod(&format!("p{i}"), json!({}))).collect(),
    );
    let mut rng = rand::rng();
    let mut nodes: Vec<String> = (0..3)
        .map(|_| bind_target(s.next_decision(&mut rng)))
        .collect();
    nodes.sort();
    assert_eq!(nodes, ["n1", "n2", "n3"]);
    assert!(s.next_decision(&mut rng).is_none());
}

#[test]
fn bound_and_foreign_pods_are_left_alone() {
    let bound = pod("bound", json!({"nodeName": "n1"}));
    let other = pod("other", json!({"schedulerName": "my-scheduler"}));
    let gated = pod("gated", json!({"schedulingGates": [{"name": "wait"}]}));
    let s = synced(vec![node("n1", true)], vec![bound, other, gated]);
    assert!(!s.has_work());
    assert_eq!(s.placement(&key("bound")).unwrap().node, "n1");
}

#[test]
fn unschedulable_pod_waits_for_a_node_change() {
    let mut s = synced(vec![node("n1", false)], vec![pod("a", json!({}))]);
    let mut rng = rand::rng();
    match s.next_decision(&mut rng) {
        Some(Decision::Unschedulable { message, .. }) => assert_eq!(
            message,
            "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }. \
             preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
        ),
        other => panic!("{other:?}"),
    }
    // Our own status patch comes back through the watch: no retry for an unchanged spec.
    s.on_pod_event(watcher::Event::Apply(pod("a", json!({}))));
    assert!(!s.has_work());
    // A heartbeat-like update that changes nothing relevant: still no retry.
    s.on_node_event(watcher::Event::Apply(node("n1", false)));
    assert!(!s.has_work());
    // The node turns Ready: the pod is tried again and bound.
    s.on_node_event(watcher::Event::Apply(node("n1", true)));
    assert!(s.has_work());
    assert_eq!(bind_target(s.next_decision(&mut rng)), "n1");
}

#[test]
fn no_nodes_message() {
    let mut s = synced(vec![], vec![pod("a", json!({}))]);
    match s.next_decision(&mut rand::rng()) {
        Some(Decision::Unschedulable { message, .. }) => {
            assert_eq!(message, "no nodes available to schedule pods")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn failed_binding_is_retried_and_unassumed() {
    let mut s = synced(vec![node("n1", true)], vec![pod("a", json!({}))]);
    let mut rng = rand::rng();
    assert_eq!(bind_target(s.next_decision(&mut rng)), "n1");
    assert!(s.placement(&key("a")).is_some());
    assert_eq!(s.bind_failed(&key("a")), Some(Duration::from_secs(1)));
    assert!(s.placement(&key("a")).is_none());
    s.retry(key("a"));
    assert_eq!(bind_target(s.next_decision(&mut rng)), "n1");
    assert_eq!(s.bind_failed(&key("a")), Some(Duration::from_secs(2)));
}

#[test]
fn stale_event_after_binding_does_not_requeue() {
    let mut s = synced(vec![node("n1", true)], vec![pod("a", json!({}))]);
    let mut rng = rand::rng();
    bind_target(s.next_decision(&mut rng));
    s.bound(&key("a"));
    s.on_pod_event(watcher::Event::Apply(pod("a", json!({}))));
    assert!(!s.has_work());
    s.on_pod_event(watcher::Event::Apply(pod("a", json!({"nodeName": "n1"}))));
    assert_eq!(s.placement(&key("a")).unwrap().node, "n1");
    s.on_pod_event(watcher::Event::Delete(pod("a", json!({"nodeName": "n1"}))));
    assert!(s.placement(&key("a")).is_none());
}

#[test]
fn relist_forgets_vanished_pods() {
    let mut s = synced(
        vec![node("n1", true)],
        vec![pod("a", json!({"nodeName": "n1"}))],
    );
    s.on_pod_event(watcher::Event::Init);
    s.on_pod_event(watcher::Event::InitDone);
    assert!(s.placement(&key("a")).is_none());
}

#[test]
fn a_taken_host_port_keeps_the_next_pod_off_that_node() {
    let ports = |ip: &str, proto: &str| {
        json!({"containers": [{"name": "c", "image": "x", "ports": [
            {"containerPort": 8080, "hostPort": 54323, "hostIP": ip, "protocol": proto}
        ]}]})
    };
    let holder = pod(
        "holder",
        json!({"nodeName": "n1", "containers": ports("", "TCP")["containers"]}),
    );
    let mut s = synced(
        vec![node("n1", true), node("n2", true)],
        vec![
            holder,
            pod("same", ports("172.18.0.2", "TCP")),
            pod("udp", ports("172.18.0.2", "UDP")),
        ],
    );
    let mut rng = rand::rng();
    let mut placed = std::collections::BTreeMap::new();
    while let Some(d) = s.next_decision(&mut rng) {
        if let Decision::Bind { pod, node } = d {
            placed.insert(pod.metadata.name.clone().unwrap_or_default(), node);
        }
    }
    assert_eq!(
        placed["same"], "n2",
        "54323/TCP on every address of n1 is taken"
    );
    assert_eq!(placed.len(), 2);

    // With n2's port taken too (by the assumed "same"), another such pod fits nowhere.
    s.on_pod_event(watcher::Event::Apply(pod("third", ports("", "TCP"))));
    match s.next_decision(&mut rng) {
        Some(Decision::Unschedulable { message, .. }) => assert!(
            message.contains("2 node(s) didn't have free ports for the requested pod ports"),
            "{message}"
        ),
        other => panic!("expected unschedulable, got {other:?}"),
    }
}
