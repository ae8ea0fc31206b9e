//! Workload controller rows: deployments, replica sets, stateful sets and replication
//! controllers, with their replica counts and the wide CONTAINERS / IMAGES / SELECTOR columns.

use serde_json::Value;

use crate::fields::{
    age, container_cells, format_label_selector, format_labels, int_at, label_selector_string,
    map_at, name, ratio,
};

/// `spec.replicas`, which the API defaults to 1.
fn desired(obj: &Value) -> i64 {
    int_at(obj, "/spec/replicas").unwrap_or(1)
}

/// A status counter, 0 when unset.
fn status_count(obj: &Value, field: &str) -> i64 {
    int_at(obj, &format!("/status/{field}")).unwrap_or(0)
}

/// The pod template's spec, if any.
fn template_spec(obj: &Value) -> Option<&Value> {
    obj.pointer("/spec/template/spec")
}

/// NAME, READY (`ready/desired`), UP-TO-DATE, AVAILABLE, AGE, CONTAINERS, IMAGES, SELECTOR.
pub(crate) fn deployment(obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let (containers, images) = container_cells(template_spec(obj));
    let selector = label_selector_string(obj.pointer("/spec/selector"))
        .unwrap_or_else(|| "<invalid>".to_owned());
    vec![
        name(obj).into(),
        ratio(status_count(obj, "readyReplicas"), desired(obj)).into(),
        status_count(obj, "updatedReplicas").into(),
        status_count(obj, "availableReplicas").into(),
        age(obj, now).into(),
        containers.into(),
        images.into(),
        selector.into(),
    ]
}

/// NAME, DESIRED, CURRENT, READY, AGE, CONTAINERS, IMAGES, SELECTOR.
pub(crate) fn replica_set(obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let (containers, images) = container_cells(template_spec(obj));
    vec![
        name(obj).into(),
        desired(obj).into(),
        status_count(obj, "replicas").into(),
        status_count(obj, "readyReplicas").into(),
        age(obj, now).into(),
        containers.into(),
        images.into(),
        format_label_selector(obj.pointer("/spec/selector")).into(),
    ]
}

/// NAME, DESIRED, CURRENT, READY, AGE, CONTAINERS, IMAGES, SELECTOR (a plain label map).
pub(crate) fn replication_controller(obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let (containers, images) = container_cells(template_spec(obj));
    vec![
        name(obj).into(),
        desired(obj).into(),
        status_count(obj, "replicas").into(),
        status_count(obj, "readyReplicas").into(),
        age(obj, now).into(),
        containers.into(),
        images.into(),
        format_labels(map_at(obj, "/spec/selector")).into(),
    ]
}

/// NAME, READY (`ready/desired`), AGE, CONTAINERS, IMAGES.
pub(crate) fn stateful_set(obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let (containers, images) = container_cells(template_spec(obj));
    vec![
        name(obj).into(),
        ratio(status_count(obj, "readyReplicas"), desired(obj)).into(),
        age(obj, now).into(),
        containers.into(),
        images.into(),
    ]
}

#[cfg(test)]
mod tests;
