//! Tests of the node filters and the failure message.

use super::*;
use serde_json::json;

fn node(v: serde_json::Value) -> Node {
    serde_json::from_value(v).unwrap()
}

fn pod(spec: serde_json::Value) -> Pod {
    let mut spec = spec;
    spec["containers"] = json!([{"name": "c", "image": "x"}]);
    serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "default"}, "spec": spec}))
        .unwrap()
}

fn ready(name: &str, labels: serde_json::Value) -> Node {
    node(json!({
        "metadata": {"name": name, "labels": labels},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}
    }))
}

#[test]
fn ready_node_fits_plain_pod() {
    assert_eq!(check(&pod(json!({})), &ready("n1", json!({}))), Ok(()));
}

#[test]
fn not_ready_and_unknown_nodes_count_as_tainted() {
    let p = pod(json!({}));
    let n = node(
        json!({"metadata": {"name": "n"}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}}),
    );
    assert_eq!(
        check(&p, &n).unwrap_err().to_string(),
        "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"
    );
    let n = node(
        json!({"metadata": {"name": "n"}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}),
    );
    assert_eq!(
        check(&p, &n).unwrap_err().to_string(),
        "node(s) had untolerated taint {node.kubernetes.io/unreachable: }"
    );
    // No status at all: a node that never reported is not ready.
    let n = node(json!({"metadata": {"name": "n"}}));
    assert!(matches!(check(&p, &n), Err(Unfit::Taint { key, .. }) if key == TAINT_NOT_READY));
    assert!(!is_ready(&n));
    // A pod tolerating not-ready (as DaemonSet pods do) may go there.
    let tolerant = pod(
        json!({"tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}]}),
    );
    let n = node(json!({"metadata": {"name": "n"}}));
    assert_eq!(check(&tolerant, &n), Ok(()));
}

#[test]
fn cordoned_node_is_refused_first() {
    let mut n = ready("n1", json!({}));
    n.spec = Some(serde_json::from_value(json!({"unschedulable": true})).unwrap());
    assert_eq!(check(&pod(json!({})), &n), Err(Unfit::Unschedulable));
    let tolerant = pod(
        json!({"tolerations": [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]}),
    );
    assert_eq!(check(&tolerant, &n), Ok(()));
}

#[test]
fn taints_and_tolerations() {
    let mut n = ready("n1", json!({}));
    n.spec = Some(
        serde_json::from_value(json!({"taints": [
            {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
            {"key": "soft", "effect": "PreferNoSchedule"}
        ]}))
        .unwrap(),
    );
    assert_eq!(
        check(&pod(json!({})), &n).unwrap_err().to_string(),
        "node(s) had untolerated taint {dedicated: gpu}"
    );
    let equal = pod(
        json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]}),
    );
    assert_eq!(check(&equal, &n), Ok(()));
    let wrong_value = pod(json!({"tolerations": [{"key": "dedicated", "value": "cpu"}]}));
    assert!(check(&wrong_value, &n).is_err());
    let wrong_effect = pod(
        json!({"tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}]}),
    );
    assert!(check(&wrong_effect, &n).is_err());
    let everything = pod(json!({"tolerations": [{"operator": "Exists"}]}));
    assert_eq!(check(&everything, &n), Ok(()));
    // An empty key with Equal tolerates nothing.
    let empty_equal = pod(json!({"tolerations": [{"operator": "Equal"}]}));
    assert!(check(&empty_equal, &n).is_err());
}

#[test]
fn node_selector() {
    let n = ready("n1", json!({"disk": "ssd", "zone": "a"}));
    assert_eq!(
        check(&pod(json!({"nodeSelector": {"disk": "ssd"}})), &n),
        Ok(())
    );
    assert_eq!(
        check(&pod(json!({"nodeSelector": {"disk": "hdd"}})), &n),
        Err(Unfit::Affinity)
    );
    assert_eq!(
        check(&pod(json!({"nodeSelector": {"gpu": "true"}})), &n)
            .unwrap_err()
            .to_string(),
        "node(s) didn't match Pod's node affinity/selector"
    );
}

fn affinity(terms: serde_json::Value) -> Pod {
    pod(
        json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}),
    )
}

#[test]
fn required_node_affinity_operators() {
    let n = ready("n1", json!({"disk": "ssd", "cores": "8"}));
    let e = |key: &str, op: &str, values: serde_json::Value| {
        affinity(json!([{"matchExpressions": [{"key": key, "operator": op, "values": values}]}]))
    };
    assert!(check(&e("disk", "In", json!(["ssd", "nvme"])), &n).is_ok());
    assert!(check(&e("disk", "In", json!(["hdd"])), &n).is_err());
    assert!(check(&e("disk", "NotIn", json!(["hdd"])), &n).is_ok());
    assert!(check(&e("absent", "NotIn", json!(["x"])), &n).is_ok());
    assert!(check(&e("disk", "Exists", json!(null)), &n).is_ok());
    assert!(check(&e("disk", "DoesNotExist", json!(null)), &n).is_err());
    assert!(check(&e("cores", "Gt", json!(["4"])), &n).is_ok());
    assert!(check(&e("cores", "Gt", json!(["8"])), &n).is_err());
    assert!(check(&e("cores", "Lt", json!(["16"])), &n).is_ok());
    assert!(check(&e("disk", "Gt", json!(["1"])), &n).is_err());
    // Terms are ORed, expressions within a term ANDed.
    let or = affinity(json!([
        {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["hdd"]}]},
        {"matchExpressions": [{"key": "cores", "operator": "Exists"}, {"key": "disk", "operator": "In", "values": ["ssd"]}]}
    ]));
    assert!(check(&or, &n).is_ok());
    // An empty term matches nothing.
    assert!(check(&affinity(json!([{}])), &n).is_err());
    // matchFields on the node name.
    let by_name = affinity(
        json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]),
    );
    assert!(check(&by_name, &n).is_ok());
    assert!(check(&by_name, &ready("n2", json!({}))).is_err());
}

#[test]
fn failure_message_has_kubernetes_shape() {
    let msg = fit_error_message(
        3,
        &[Unfit::Affinity, Unfit::Affinity, Unfit::Affinity],
        false,
    );
    assert_eq!(
        msg,
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. \
         preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    );
    let mixed = fit_error_message(
        3,
        &[
            Unfit::Unschedulable,
            Unfit::Taint {
                key: TAINT_NOT_READY.into(),
                value: String::new(),
            },
            Unfit::Affinity,
        ],
        false,
    );
    assert_eq!(
        mixed,
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, \
         1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 1 node(s) were unschedulable. \
         preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    );
    assert_eq!(
        fit_error_message(0, &[], false),
        "no nodes available to schedule pods"
    );
    assert!(fit_error_message(1, &[Unfit::Affinity], true)
        .ends_with("preemption: not eligible due to preemptionPolicy=Never."));
}
