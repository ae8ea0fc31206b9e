//! Mutating admission on create, after defaulting and before validation, as Kubernetes
//! runs it: the DefaultIngressClass plugin.

use portico_api::registry::{self, storage_of, ResourceInfo};
use serde_json::{json, Value};

use super::decode_stored;
use crate::error::Error;
use crate::State;

/// The annotation that marks the cluster's default IngressClass.
pub const IS_DEFAULT_CLASS: &str = "ingressclass.kubernetes.io/is-default-class";
/// The class annotation that predates `spec.ingressClassName`.
pub const CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

/// Runs the admission plugins that apply to a new object of `info` (any served version;
/// `obj` is in the stored shape).
pub async fn admit_create(
    state: &State,
    info: &ResourceInfo,
    obj: &mut Value,
) -> Result<(), Error> {
    let stored = storage_of(info);
    if stored.gvk.group == "networking.k8s.io" && stored.plural == "ingresses" {
        default_ingress_class(state, obj).await?;
    }
    Ok(())
}

/// Whether an Ingress names its class already, by field (even empty) or annotation.
fn has_class(ingress: &Value) -> bool {
    let field = ingress
        .pointer("/spec/ingressClassName")
        .is_some_and(|v| !v.is_null());
    let annotation = ingress
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .is_some_and(|a| a.contains_key(CLASS_ANNOTATION));
    field || annotation
}

/// Of the IngressClasses marked default, the one Kubernetes 1.32 picks: the newest by
/// creationTimestamp, ties broken by the smaller name.
pub fn pick_default_class(classes: &[Value]) -> Option<String> {
    let mut defaults: Vec<(&str, &str)> = classes
        .iter()
        .filter(|c| {
            c.pointer("/metadata/annotations")
                .and_then(|a| a.get(IS_DEFAULT_CLASS))
                .and_then(Value::as_str)
                == Some("true")
        })
        .map(|c| {
            (
                c["metadata"]["creationTimestamp"].as_str().unwrap_or(""),
                c["metadata"]["name"].as_str().unwrap_or(""),
            )
        })
        .collect();
    // RFC 3339 timestamps in UTC with whole seconds order as strings; parse to be safe.
    let when = |t: &str| t.parse::<jiff::Timestamp>().ok();
    defaults.sort_by(|a, b| when(b.0).cmp(&when(a.0)).then_with(|| a.1.cmp(b.1)));
    defaults.first().map(|(_, name)| name.to_string())
}

/// DefaultIngressClass: an Ingress created without a class gets the default one, if any.
async fn default_ingress_class(state: &State, ingress: &mut Value) -> Result<(), Error> {
    if has_class(ingress) {
        return Ok(());
    }
    let Some(classes) = registry::by_plural("networking.k8s.io", "v1", "ingressclasses") else {
        return Ok(());
    };
    let page = state.store.list(&classes.key_prefix(), 0, None, 0).await?;
    let mut all = Vec::with_capacity(page.items.len());
    for kv in &page.items {
        all.push(decode_stored(kv)?);
    }
    let Some(name) = pick_default_class(&all) else {
        return Ok(());
    };
    tracing::debug!(class = %name, "defaulting the class of a new Ingress");
    if let Some(root) = ingress.as_object_mut() {
        let spec = root.entry("spec").or_insert_with(|| json!({}));
        if let Some(spec) = spec.as_object_mut() {
            spec.insert("ingressClassName".into(), json!(name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str, created: &str, default: Option<&str>) -> Value {
        let mut c = json!({"metadata": {"name": name, "creationTimestamp": created}});
        if let Some(d) = default {
            c["metadata"]["annotations"] = json!({IS_DEFAULT_CLASS: d});
        }
        c
    }

    #[test]
    fn the_newest_default_class_wins() {
        let classes = [
            class("old", "2024-01-01T00:00:00Z", Some("true")),
            class("new", "2024-06-01T00:00:00Z", Some("true")),
            class(
                "newest-but-not-default",
                "2025-01-01T00:00:00Z",
                Some("false"),
            ),
            class("plain", "2025-01-01T00:00:00Z", None),
        ];
        assert_eq!(pick_default_class(&classes).as_deref(), Some("new"));
        let tie = [
            class("b", "2024-01-01T00:00:00Z", Some("true")),
            class("a", "2024-01-01T00:00:00Z", Some("true")),
        ];
        assert_eq!(pick_default_class(&tie).as_deref(), Some("a"));
        assert_eq!(pick_default_class(&classes[2..]), None);
    }

    #[test]
    fn a_class_by_field_or_annotation_is_kept() {
        assert!(has_class(&json!({"spec": {"ingressClassName": ""}})));
        assert!(has_class(
            &json!({"metadata": {"annotations": {CLASS_ANNOTATION: "nginx"}}})
        ));
        assert!(!has_class(&json!({"spec": {"ingressClassName": null}})));
        assert!(!has_class(&json!({"spec": {}})));
    }
}
