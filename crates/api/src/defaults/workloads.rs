//! Workload defaults: Deployment, ReplicaSet, StatefulSet (apps/v1 `SetDefaults_*`) and
//! ReplicationController (core/v1).

use serde_json::{json, Value};

use super::{obj_mut, pod, set_default};

fn template(spec: &mut serde_json::Map<String, Value>) {
    if let Some(t) = spec.get_mut("template") {
        pod::template(t);
    }
}

/// Deployment: replicas 1, RollingUpdate 25%/25%, revisionHistoryLimit 10,
/// progressDeadlineSeconds 600.
pub fn deployment(obj: &mut Value) {
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    let spec = obj_mut(root, "spec");
    set_default(spec, "replicas", json!(1));
    let strategy = obj_mut(spec, "strategy");
    set_default(strategy, "type", json!("RollingUpdate"));
    if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
        let ru = obj_mut(strategy, "rollingUpdate");
        set_default(ru, "maxUnavailable", json!("25%"));
        set_default(ru, "maxSurge", json!("25%"));
    }
    set_default(spec, "revisionHistoryLimit", json!(10));
    set_default(spec, "progressDeadlineSeconds", json!(600));
    template(spec);
}

/// ReplicaSet: replicas 1.
pub fn replica_set(obj: &mut Value) {
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    let spec = obj_mut(root, "spec");
    set_default(spec, "replicas", json!(1));
    template(spec);
}

/// StatefulSet: OrderedReady, RollingUpdate with partition 0, replicas 1,
/// revisionHistoryLimit 10, PVC retention Retain/Retain.
pub fn stateful_set(obj: &mut Value) {
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    let spec = obj_mut(root, "spec");
    set_default(spec, "podManagementPolicy", json!("OrderedReady"));
    let us = obj_mut(spec, "updateStrategy");
    set_default(us, "type", json!("RollingUpdate"));
    if us.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
        let ru = obj_mut(us, "rollingUpdate");
        set_default(ru, "partition", json!(0));
    }
    set_default(spec, "replicas", json!(1));
    set_default(spec, "revisionHistoryLimit", json!(10));
    let policy = obj_mut(spec, "persistentVolumeClaimRetentionPolicy");
    set_default(policy, "whenDeleted", json!("Retain"));
    set_default(policy, "whenScaled", json!("Retain"));
    template(spec);
}

/// ReplicationController: selector and labels from the template's labels, replicas 1.
pub fn replication_controller(obj: &mut Value) {
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    let template_labels = root
        .get("spec")
        .and_then(|s| s.pointer("/template/metadata/labels"))
        .filter(|l| l.as_object().is_some_and(|m| !m.is_empty()))
        .cloned();
    if let Some(labels) = template_labels {
        let spec = obj_mut(root, "spec");
        let empty_selector = spec
            .get("selector")
            .and_then(Value::as_object)
            .is_none_or(|m| m.is_empty());
        if empty_selector {
            spec.insert("selector".into(), labels.clone());
        }
        let meta = obj_mut(root, "metadata");
        let empty_labels = meta
            .get("labels")
            .and_then(Value::as_object)
            .is_none_or(|m| m.is_empty());
        if empty_labels {
            meta.insert("labels".into(), labels);
        }
    }
    let spec = obj_mut(root, "spec");
    set_default(spec, "replicas", json!(1));
    template(spec);
}
