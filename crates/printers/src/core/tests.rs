use serde_json::{json, Value};

use crate::cells;

fn now() -> jiff::Timestamp {
    "2025-06-01T12:00:00Z".parse().unwrap()
}

fn row(plural: &str, obj: Value) -> Vec<Value> {
    cells(plural, &obj, now())
}

#[test]
fn namespace_shows_phase_and_age() {
    let ns = json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "shop", "creationTimestamp": "2025-06-01T11:57:00Z"},
        "status": {"phase": "Terminating"}
    });
    assert_eq!(
        row("namespaces", ns),
        vec![json!("shop"), json!("Terminating"), json!("3m")]
    );
    let fresh = json!({"metadata": {"name": "new", "creationTimestamp": "2025-06-01T11:59:50Z"}});
    assert_eq!(
        row("namespaces", fresh),
        vec![json!("new"), json!("Active"), json!("10s")]
    );
}

#[test]
fn secret_counts_keys_as_a_number() {
    let secret = json!({
        "metadata": {"name": "db", "creationTimestamp": "2025-05-30T10:00:00Z"},
        "type": "kubernetes.io/basic-auth",
        "data": {"username": "YWRtaW4=", "password": "cw=="}
    });
    assert_eq!(
        row("secrets", secret),
        vec![
            json!("db"),
            json!("kubernetes.io/basic-auth"),
            json!(2),
            json!("2d2h")
        ]
    );
    let plain = json!({
        "metadata": {"name": "p", "creationTimestamp": "2025-06-01T11:00:00Z"},
        "data": {"a": "eA=="}, "stringData": {"a": "y", "b": "z"}
    });
    assert_eq!(
        row("secrets", plain),
        vec![json!("p"), json!("Opaque"), json!(2), json!("60m")]
    );
}

#[test]
fn config_map_counts_data_and_binary_data() {
    let cm = json!({
        "metadata": {"name": "settings", "creationTimestamp": "2025-06-01T11:59:00Z"},
        "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}
    });
    assert_eq!(
        row("configmaps", cm),
        vec![json!("settings"), json!(3), json!("60s")]
    );
    let empty = json!({"metadata": {"name": "kube-root-ca.crt"}});
    assert_eq!(
        row("configmaps", empty),
        vec![json!("kube-root-ca.crt"), json!(0), json!("<unknown>")]
    );
}

#[test]
fn service_account_counts_secrets() {
    let sa = json!({
        "metadata": {"name": "default", "creationTimestamp": "2025-05-01T12:00:00Z"},
        "secrets": [{"name": "default-token"}]
    });
    assert_eq!(
        row("serviceaccounts", sa),
        vec![json!("default"), json!(1), json!("31d")]
    );
}

#[test]
fn lease_shows_holder() {
    let lease = json!({
        "metadata": {"name": "kube-controller-manager", "creationTimestamp": "2025-06-01T04:00:00Z"},
        "spec": {"holderIdentity": "portico_1234", "leaseDurationSeconds": 15}
    });
    assert_eq!(
        row("leases", lease),
        vec![
            json!("kube-controller-manager"),
            json!("portico_1234"),
            json!("8h")
        ]
    );
    let unheld =
        json!({"metadata": {"name": "l", "creationTimestamp": "2025-06-01T11:00:00Z"}, "spec": {}});
    assert_eq!(row("leases", unheld)[1], json!(""));
}

#[test]
fn core_event_prints_every_column() {
    let ev = json!({
        "metadata": {"name": "web-7d4b9.17f3a", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "web-7d4b9", "fieldPath": "spec.containers{web}"},
        "reason": "Pulled", "type": "Normal",
        "message": "  Successfully pulled image \"nginx\"\n",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2025-06-01T11:50:00Z",
        "lastTimestamp": "2025-06-01T11:58:00Z",
        "count": 4
    });
    assert_eq!(
        row("events", ev),
        vec![
            json!("2m"),
            json!("Normal"),
            json!("Pulled"),
            json!("pod/web-7d4b9"),
            json!("spec.containers{web}"),
            json!("kubelet, node-1"),
            json!("Successfully pulled image \"nginx\""),
            json!("10m"),
            json!(4),
            json!("web-7d4b9.17f3a"),
        ]
    );
}

#[test]
fn new_style_event_uses_event_time_series_and_reporting_fields() {
    let ev = json!({
        "metadata": {"name": "e1"},
        "involvedObject": {"kind": "Node"},
        "reason": "RegisteredNode", "type": "Normal", "message": "registered",
        "eventTime": "2025-06-01T10:59:59.5Z",
        "reportingComponent": "node-controller",
        "series": {"count": 7, "lastObservedTime": "2025-06-01T11:59:29.999999Z"}
    });
    let cells = row("events", ev);
    assert_eq!(cells[0], json!("30s"));
    assert_eq!(cells[3], json!("node"));
    assert_eq!(cells[5], json!("node-controller"));
    assert_eq!(cells[7], json!("60m"));
    assert_eq!(cells[8], json!(7));

    let singleton = json!({"metadata": {"name": "e2"}, "eventTime": "2025-06-01T11:59:00Z",
        "reportingComponent": "c", "reportingInstance": "i"});
    let cells = row("events", singleton);
    assert_eq!(cells[0], json!("60s"), "last seen falls back to first seen");
    assert_eq!(cells[5], json!("c, i"));
    assert_eq!(cells[8], json!(1), "a singleton counts once");
}

#[test]
fn event_without_any_time_is_unknown() {
    let cells = row("events", json!({"metadata": {"name": "e"}}));
    assert_eq!(cells[0], json!("<unknown>"));
    assert_eq!(cells[7], json!("<unknown>"));
}
