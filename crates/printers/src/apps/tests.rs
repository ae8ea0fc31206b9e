use serde_json::{json, Value};

use crate::cells;

fn now() -> jiff::Timestamp {
    "2025-06-01T12:00:00Z".parse().unwrap()
}

fn template() -> Value {
    json!({"metadata": {"labels": {"app": "web"}},
           "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}, {"name": "log", "image": "busybox:1.36"}]}})
}

#[test]
fn deployment_row() {
    let obj = json!({
        "metadata": {"name": "web", "creationTimestamp": "2025-06-01T09:30:00Z"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template()},
        "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
    });
    assert_eq!(
        cells("deployments", &obj, now()),
        vec![
            json!("web"),
            json!("2/3"),
            json!(3),
            json!(2),
            json!("150m"),
            json!("web,log"),
            json!("nginx:1.27,busybox:1.36"),
            json!("app=web"),
        ]
    );
}

#[test]
fn fresh_deployment_defaults_and_selector_edge_cases() {
    let obj = json!({"metadata": {"name": "new"}, "spec": {"template": template()}});
    let row = cells("deployments", &obj, now());
    assert_eq!(
        row[1..5],
        [json!("0/1"), json!(0), json!(0), json!("<unknown>")]
    );
    assert_eq!(
        row[7],
        json!(""),
        "a missing selector prints empty, not <none>"
    );
    let bad = json!({"metadata": {"name": "x"}, "spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "Bogus"}]}}});
    assert_eq!(cells("deployments", &bad, now())[7], json!("<invalid>"));
    let scaled_down = json!({"metadata": {"name": "x"}, "spec": {"replicas": 0}});
    assert_eq!(cells("deployments", &scaled_down, now())[1], json!("0/0"));
}

#[test]
fn replica_set_row() {
    let obj = json!({
        "metadata": {"name": "web-7d4b9", "creationTimestamp": "2025-05-29T12:00:00Z"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", "pod-template-hash": "7d4b9"}},
                 "template": template()},
        "status": {"replicas": 3, "readyReplicas": 1}
    });
    assert_eq!(
        cells("replicasets", &obj, now()),
        vec![
            json!("web-7d4b9"),
            json!(3),
            json!(3),
            json!(1),
            json!("3d"),
            json!("web,log"),
            json!("nginx:1.27,busybox:1.36"),
            json!("app=web,pod-template-hash=7d4b9"),
        ]
    );
    let bare = json!({"metadata": {"name": "r"}, "spec": {"selector": {}}});
    assert_eq!(cells("replicasets", &bare, now())[7], json!("<none>"));
}

#[test]
fn replication_controller_row() {
    let obj = json!({
        "metadata": {"name": "legacy", "creationTimestamp": "2025-06-01T11:52:30Z"},
        "spec": {"replicas": 2, "selector": {"app": "legacy"}, "template": template()},
        "status": {"replicas": 2, "readyReplicas": 2}
    });
    assert_eq!(
        cells("replicationcontrollers", &obj, now()),
        vec![
            json!("legacy"),
            json!(2),
            json!(2),
            json!(2),
            json!("7m30s"),
            json!("web,log"),
            json!("nginx:1.27,busybox:1.36"),
            json!("app=legacy"),
        ]
    );
    let no_template = json!({"metadata": {"name": "rc"}, "spec": {"replicas": 0}});
    let row = cells("replicationcontrollers", &no_template, now());
    assert_eq!(row[5..], [json!(""), json!(""), json!("<none>")]);
}

#[test]
fn stateful_set_row() {
    let obj = json!({
        "metadata": {"name": "db", "creationTimestamp": "2024-03-01T12:00:00Z"},
        "spec": {"replicas": 3, "serviceName": "db", "template": template()},
        "status": {"replicas": 3, "readyReplicas": 3}
    });
    assert_eq!(
        cells("statefulsets", &obj, now()),
        vec![
            json!("db"),
            json!("3/3"),
            json!("457d"),
            json!("web,log"),
            json!("nginx:1.27,busybox:1.36")
        ]
    );
}
