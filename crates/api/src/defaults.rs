//! Defaulting: what the Kubernetes API server fills in on create and update.
//!
//! [`apply_defaults`] applies, for each kind, the `SetDefaults_*` functions of
//! `pkg/apis/*/v1/defaults.go`, the parts of the registry strategies' `PrepareForCreate`
//! that fill fields (ClusterIPs normalization, Namespace finalizers, Pod status), and the
//! fields admission plugins add to Pods (service account, priority, default tolerations).
//! It is idempotent and only fills what is missing. ClusterIPs and NodePorts themselves
//! are allocated by the API server afterwards.

mod pod;
mod service;
mod workloads;

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::registry::ResourceInfo;

pub use pod::{image_pull_policy, qos_class};
pub use service::carry_over_allocated;

/// Sets `key` when it is absent or `null`.
fn set_default(m: &mut Map<String, Value>, key: &str, value: Value) {
    match m.get(key) {
        None | Some(Value::Null) => {
            m.insert(key.to_string(), value);
        }
        Some(_) => {}
    }
}

/// The object at `key`, created empty when absent (or not an object).
fn obj_mut<'a>(m: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    ensure_object(m.entry(key.to_string()).or_insert_with(|| json!({})))
}

/// Turns `v` into an object if it is not one, and returns it.
fn ensure_object(v: &mut Value) -> &mut Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => {
            *v = Value::Object(Map::new());
            ensure_object(v)
        }
    }
}

/// Fills in the defaults Kubernetes gives an object of kind `res` (in place).
pub fn apply_defaults(res: &ResourceInfo, obj: &mut Value) {
    if !obj.is_object() {
        return;
    }
    if !res.namespaced {
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("namespace");
        }
    }
    match res.gvk.kind {
        "Service" => service::service(obj),
        "Pod" => pod::pod(obj),
        "Deployment" => workloads::deployment(obj),
        "ReplicaSet" => workloads::replica_set(obj),
        "StatefulSet" => workloads::stateful_set(obj),
        "ReplicationController" => workloads::replication_controller(obj),
        "Secret" => secret(obj),
        "Endpoints" => endpoints(obj),
        "EndpointSlice" => endpoint_slice(obj),
        "Namespace" => namespace(obj),
        "Node" => node(obj),
        "IngressClass" => ingress_class(obj),
        _ => {}
    }
}

/// Secret: type Opaque; `stringData` is merged into `data` (base64) and dropped.
fn secret(obj: &mut Value) {
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    set_default(root, "type", json!("Opaque"));
    if let Some(Value::Object(string_data)) = root.remove("stringData") {
        let data = obj_mut(root, "data");
        for (k, v) in string_data {
            let text = v.as_str().unwrap_or_default();
            let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
            data.insert(k, Value::String(encoded));
        }
    }
}

fn endpoints(obj: &mut Value) {
    let Some(subsets) = obj.get_mut("subsets").and_then(Value::as_array_mut) else {
        return;
    };
    for ss in subsets {
        if let Some(ports) = ss.get_mut("ports").and_then(Value::as_array_mut) {
            for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                set_default(p, "protocol", json!("TCP"));
            }
        }
    }
}

fn endpoint_slice(obj: &mut Value) {
    let Some(ports) = obj.get_mut("ports").and_then(Value::as_array_mut) else {
        return;
    };
    for p in ports.iter_mut().filter_map(Value::as_object_mut) {
        set_default(p, "name", json!(""));
        set_default(p, "protocol", json!("TCP"));
    }
}

/// Namespace: the `kubernetes` finalizer, phase Active and the
/// `kubernetes.io/metadata.name` label.
fn namespace(obj: &mut Value) {
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    let name = root
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if !name.is_empty() {
        let labels = obj_mut(obj_mut(root, "metadata"), "labels");
        labels.insert("kubernetes.io/metadata.name".into(), Value::String(name));
    }
    let spec = obj_mut(root, "spec");
    set_default(spec, "finalizers", json!(["kubernetes"]));
    let status = obj_mut(root, "status");
    set_default(status, "phase", json!("Active"));
}

/// Node: allocatable defaults to capacity.
fn node(obj: &mut Value) {
    let Some(status) = obj.get_mut("status").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(capacity) = status.get("capacity").cloned() {
        set_default(status, "allocatable", capacity);
    }
}

fn ingress_class(obj: &mut Value) {
    if let Some(params) = obj
        .pointer_mut("/spec/parameters")
        .and_then(Value::as_object_mut)
    {
        set_default(params, "scope", json!("Cluster"));
    }
}

#[cfg(test)]
#[path = "defaults/tests.rs"]
mod tests;
