//! The bridge between client-side apply (the `kubectl.kubernetes.io/last-applied-configuration`
//! annotation) and server-side apply, for the `kubectl` field manager only:
//!
//! - conflicts on fields that the annotation sets, with the value the object still has, are
//!   forced, so `kubectl apply --server-side` takes over from `kubectl apply` without conflicts;
//! - after a successful apply, the annotation is rewritten to the applied configuration, so that
//!   going back to client-side apply still works.

use serde_json::Value;

use crate::managed::without_managed_fields;
use crate::path::canonical_json;
use crate::schema::Schema;
use crate::set::FieldSet;
use crate::typed::{compare, to_field_set};

/// The annotation client-side apply keeps.
pub const ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The field manager for which the annotation is honoured and kept up to date.
pub const KUBECTL: &str = "kubectl";

/// The annotation of an object, when present and not empty.
pub fn annotation(object: &Value) -> Option<&str> {
    object
        .get("metadata")?
        .get("annotations")?
        .get(ANNOTATION)?
        .as_str()
        .filter(|s| !s.is_empty())
}

/// The fields client-side apply set and that still hold the value it set: conflicts on these
/// are allowed. `None` when the annotation is absent, unreadable or of another API version.
pub fn allowed_conflicts(schema: &Schema, live: &Value) -> Option<FieldSet> {
    let last: Value = serde_json::from_str(annotation(live)?).ok()?;
    if last.get("apiVersion") != live.get("apiVersion") {
        return None;
    }
    let set = to_field_set(schema, &last).ok()?;
    let differences = compare(schema, &last, &without_managed_fields(live)).ok()?;
    Some(
        set.difference(&differences.modified)
            .difference(&differences.added)
            .difference(&differences.removed),
    )
}

/// The annotation value for an applied configuration: the configuration without the
/// annotation itself, encoded as Go's `encoding/json` would (sorted keys, HTML characters
/// escaped) with a trailing newline.
pub fn annotation_for(config: &Value) -> String {
    let mut copy = config.clone();
    if let Some(annotations) = copy
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Value::as_object_mut)
    {
        annotations.remove(ANNOTATION);
    }
    let mut out = canonical_json(&copy)
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    out.push('\n');
    out
}

/// Sets the annotation on `object` if it already carries one.
pub fn refresh(object: &mut Value, config: &Value) {
    if annotation(object).is_none() {
        return;
    }
    let value = Value::String(annotation_for(config));
    if let Some(annotations) = object
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Value::as_object_mut)
    {
        annotations.insert(ANNOTATION.to_string(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn annotation_is_sorted_compact_json_with_a_newline() {
        let config = json!({"kind": "Service", "apiVersion": "v1",
            "metadata": {"name": "web", "annotations": {ANNOTATION: "old", "note": "a<b"}}});
        assert_eq!(
            annotation_for(&config),
            "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"annotations\":{\"note\":\"a\\u003cb\"},\"name\":\"web\"}}\n"
        );
    }

    #[test]
    fn only_fields_still_matching_the_annotation_are_allowed() {
        let schema = Schema::for_kind("v1", "Service");
        let last = r#"{"apiVersion":"v1","kind":"Service","metadata":{"annotations":{},"name":"web"},"spec":{"ports":[{"port":80,"targetPort":8080}],"type":"ClusterIP"}}"#;
        let live = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "annotations": {ANNOTATION: last}},
            "spec": {"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}]}});
        let allowed = allowed_conflicts(&schema, &live).unwrap();
        let printed: Vec<String> = allowed.paths().iter().map(ToString::to_string).collect();
        assert!(printed.contains(&".spec.ports[port=80,protocol=\"TCP\"].targetPort".to_string()));
        assert!(!printed.contains(&".spec.type".to_string()), "{printed:?}");
        let no_annotation =
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}});
        assert_eq!(allowed_conflicts(&schema, &no_annotation), None);
    }
}
