//! The `scale` subresource: an `autoscaling/v1` Scale view of a workload's replicas.

use portico_api::registry::ResourceInfo;
use serde_json::{json, Value};

use crate::error::Error;

/// The label selector of a workload as the string Scale reports.
fn selector_string(obj: &Value) -> String {
    let sel = &obj["spec"]["selector"];
    let labels = sel
        .get("matchLabels")
        .and_then(Value::as_object)
        .or_else(|| {
            sel.as_object()
                .filter(|m| !m.contains_key("matchExpressions"))
        });
    let mut parts: Vec<String> = labels
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
        for e in exprs {
            let key = e["key"].as_str().unwrap_or("");
            let values: Vec<&str> = e["values"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            parts.push(match e["operator"].as_str().unwrap_or("") {
                "In" => format!("{key} in ({})", values.join(",")),
                "NotIn" => format!("{key} notin ({})", values.join(",")),
                "Exists" => key.to_string(),
                "DoesNotExist" => format!("!{key}"),
                _ => continue,
            });
        }
    }
    parts.sort();
    parts.join(",")
}

/// The Scale object of a workload.
pub fn scale_of(info: &ResourceInfo, obj: &Value) -> Result<Value, Error> {
    if !info.subresources.contains(&"scale") {
        return Err(Error::NoRoute);
    }
    let m = &obj["metadata"];
    Ok(json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m["name"],
            "namespace": m["namespace"],
            "uid": m["uid"],
            "resourceVersion": m["resourceVersion"],
            "creationTimestamp": m["creationTimestamp"],
        },
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {
            "replicas": obj["status"]["replicas"].as_i64().unwrap_or(0),
            "selector": selector_string(obj),
        },
    }))
}

/// The workload with the replicas of a (patched or replaced) Scale.
pub fn set_scale(obj: &Value, scale: &Value) -> Result<Value, Error> {
    let replicas = scale["spec"]["replicas"].as_i64().unwrap_or(0);
    if replicas < 0 {
        return Err(Error::Invalid {
            kind: "Scale".into(),
            group: "autoscaling".into(),
            name: obj["metadata"]["name"].as_str().unwrap_or("").into(),
            message: format!(
                "Scale.autoscaling \"{}\" is invalid: spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0",
                obj["metadata"]["name"].as_str().unwrap_or("")
            ),
            causes: vec![portico_api::Cause {
                reason: "FieldValueInvalid".into(),
                message: format!("Invalid value: {replicas}: must be greater than or equal to 0"),
                field: "spec.replicas".into(),
            }],
        });
    }
    let mut out = obj.clone();
    out["spec"]["replicas"] = json!(replicas);
    if let Some(rv) = scale["metadata"]["resourceVersion"].as_str() {
        out["metadata"]["resourceVersion"] = json!(rv);
    }
    Ok(out)
}
