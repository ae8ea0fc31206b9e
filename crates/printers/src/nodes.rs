//! Node rows: STATUS from the Ready condition and schedulability, ROLES from
//! `node-role.kubernetes.io/*` labels, VERSION and the wide address and system-info columns.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::fields::{age, list_at, map_at, name, str_at};

/// Label prefix naming a node role (`node-role.kubernetes.io/control-plane`).
const ROLE_PREFIX: &str = "node-role.kubernetes.io/";
/// Older single-role label (`kubernetes.io/role=master`).
const ROLE_LABEL: &str = "kubernetes.io/role";

/// NAME, STATUS, ROLES, AGE, VERSION, INTERNAL-IP, EXTERNAL-IP, OS-IMAGE, KERNEL-VERSION,
/// CONTAINER-RUNTIME.
pub(crate) fn node(node: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let unknown_if_empty = |ptr: &str| -> Value {
        match str_at(node, ptr) {
            "" => "<unknown>".into(),
            s => s.into(),
        }
    };
    vec![
        name(node).into(),
        status(node).into(),
        roles(node).into(),
        age(node, now).into(),
        str_at(node, "/status/nodeInfo/kubeletVersion").into(),
        address(node, "InternalIP").into(),
        address(node, "ExternalIP").into(),
        unknown_if_empty("/status/nodeInfo/osImage"),
        unknown_if_empty("/status/nodeInfo/kernelVersion"),
        unknown_if_empty("/status/nodeInfo/containerRuntimeVersion"),
    ]
}

/// `Ready`, `NotReady` or `Unknown` (no Ready condition), then `,SchedulingDisabled` when cordoned.
fn status(node: &Value) -> String {
    // The last Ready condition wins, as when Kubernetes indexes conditions by type.
    let ready = list_at(node, "/status/conditions")
        .iter()
        .rev()
        .find(|c| str_at(c, "/type") == "Ready");
    let mut status = match ready {
        Some(c) if str_at(c, "/status") == "True" => "Ready".to_owned(),
        Some(_) => "NotReady".to_owned(),
        None => "Unknown".to_owned(),
    };
    if node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    status
}

/// The roles named by labels, sorted and comma-joined, or `<none>`.
fn roles(node: &Value) -> String {
    let mut roles = BTreeSet::new();
    for (key, value) in map_at(node, "/metadata/labels").into_iter().flatten() {
        if let Some(role) = key.strip_prefix(ROLE_PREFIX) {
            if !role.is_empty() {
                roles.insert(role);
            }
        } else if key == ROLE_LABEL {
            if let Some(role) = value.as_str().filter(|v| !v.is_empty()) {
                roles.insert(role);
            }
        }
    }
    if roles.is_empty() {
        return "<none>".to_owned();
    }
    roles.into_iter().collect::<Vec<_>>().join(",")
}

/// The first address of the given type, or `<none>`.
fn address<'a>(node: &'a Value, ty: &str) -> &'a str {
    list_at(node, "/status/addresses")
        .iter()
        .find(|a| str_at(a, "/type") == ty)
        .map_or("<none>", |a| str_at(a, "/address"))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::cells;

    fn row(obj: Value) -> Vec<Value> {
        cells("nodes", &obj, "2025-06-01T12:00:00Z".parse().unwrap())
    }

    #[test]
    fn ready_control_plane_node() {
        let node = json!({
            "metadata": {"name": "portico", "creationTimestamp": "2025-05-31T09:00:00Z",
                         "labels": {"kubernetes.io/hostname": "portico",
                                    "node-role.kubernetes.io/control-plane": "",
                                    "node-role.kubernetes.io/worker": ""}},
            "status": {
                "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
                "addresses": [{"type": "Hostname", "address": "portico"}, {"type": "InternalIP", "address": "127.0.0.1"}],
                "nodeInfo": {"kubeletVersion": "v1.32.4", "osImage": "Debian GNU/Linux 12 (bookworm)",
                             "kernelVersion": "6.1.0-18-amd64", "containerRuntimeVersion": "portico://0.1.0"}
            }
        });
        assert_eq!(
            row(node),
            vec![
                json!("portico"),
                json!("Ready"),
                json!("control-plane,worker"),
                json!("27h"),
                json!("v1.32.4"),
                json!("127.0.0.1"),
                json!("<none>"),
                json!("Debian GNU/Linux 12 (bookworm)"),
                json!("6.1.0-18-amd64"),
                json!("portico://0.1.0"),
            ]
        );
    }

    #[test]
    fn status_variants() {
        let with = |conditions: Value, unschedulable: bool| {
            row(
                json!({"metadata": {"name": "n"}, "spec": {"unschedulable": unschedulable},
                       "status": {"conditions": conditions}}),
            )[1]
            .clone()
        };
        assert_eq!(
            with(json!([{"type": "Ready", "status": "False"}]), false),
            json!("NotReady")
        );
        assert_eq!(
            with(json!([{"type": "Ready", "status": "Unknown"}]), false),
            json!("NotReady")
        );
        assert_eq!(with(json!([]), false), json!("Unknown"));
        assert_eq!(
            with(json!([{"type": "Ready", "status": "True"}]), true),
            json!("Ready,SchedulingDisabled")
        );
        assert_eq!(with(json!([]), true), json!("Unknown,SchedulingDisabled"));
    }

    #[test]
    fn roles_and_placeholders() {
        let node = json!({"metadata": {"name": "n", "labels": {"kubernetes.io/role": "master",
                                                               "node-role.kubernetes.io/": "x"}},
                          "status": {"addresses": [{"type": "ExternalIP", "address": "198.51.100.4"}]}});
        let r = row(node);
        assert_eq!(r[2], json!("master"));
        assert_eq!(r[4], json!(""));
        assert_eq!(
            r[5..],
            [
                json!("<none>"),
                json!("198.51.100.4"),
                json!("<unknown>"),
                json!("<unknown>"),
                json!("<unknown>")
            ]
        );
        let plain = json!({"metadata": {"name": "n", "labels": {"kubernetes.io/role": ""}}});
        assert_eq!(row(plain)[2], json!("<none>"));
    }
}
