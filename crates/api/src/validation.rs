//! Validation of objects, with Kubernetes' field paths and messages.
//!
//! [`validate`] runs what `pkg/apis/*/validation` runs for a kind on create (`old` is `None`)
//! or update (`old` is the stored object). Objects are expected to be defaulted first
//! ([`crate::defaults::apply_defaults`]), as the API server does: many "Required value"
//! causes exist only to catch objects that skipped defaulting.
//!
//! Each [`Cause`] carries the cause type, the field path and the message exactly as
//! Kubernetes builds them; [`invalid_message`] joins them into the `Status` message.

mod access;
mod apps;
mod container;
mod endpoints;
pub mod field;
mod meta;
mod misc;
pub mod names;
mod networking;
mod pod;
mod pod_spec;
mod resources;
mod service;

pub use field::{BadValue, Path};

use crate::registry::ResourceInfo;

/// One reason an object is invalid, as in a `Status`'s `details.causes[]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// The cause type, e.g. `FieldValueRequired`, `FieldValueInvalid`, `FieldValueNotSupported`,
    /// `FieldValueDuplicate`, `FieldValueForbidden`, `FieldValueTooLong`.
    pub reason: String,
    /// The human message as Kubernetes prints it, e.g. `Required value`.
    pub message: String,
    /// The field path, e.g. `spec.ports[0].port`.
    pub field: String,
}

/// Validates `obj` as a `res` on create (`old` is `None`) or update (`old` is the stored
/// version). Returns no causes when the object is valid.
///
/// `obj` and `old` are in the stored version's shape; when `res` is an older served version
/// ([`crate::registry::LEGACY`]) the causes name the fields as that version spells them.
pub fn validate(
    res: &ResourceInfo,
    obj: &serde_json::Value,
    old: Option<&serde_json::Value>,
) -> Vec<Cause> {
    let causes = match res.gvk.kind {
        "Service" => service::validate(obj, old),
        "Pod" => pod::validate(obj, old),
        "Deployment" => apps::deployment(obj, old),
        "ReplicaSet" => apps::replica_set(obj, old),
        "StatefulSet" => apps::stateful_set(obj, old),
        "ReplicationController" => apps::replication_controller(obj, old),
        "Endpoints" => endpoints::endpoints(obj, old),
        "EndpointSlice" => endpoints::endpoint_slice(obj, old),
        "Ingress" if crate::registry::is_legacy(res) => {
            networking::ingress(obj, old, networking::Version::Beta)
        }
        "Ingress" => networking::ingress(obj, old, networking::Version::V1),
        "IngressClass" => networking::ingress_class(obj, old),
        "Secret" => misc::secret(obj, old),
        "ConfigMap" => misc::config_map(obj, old),
        "Namespace" => misc::namespace(obj, old),
        "Node" => misc::node(obj, old),
        "Lease" => misc::lease(obj, old),
        "Event" => misc::event(obj, old),
        _ => misc::generic(obj, old, res.namespaced),
    };
    if !causes.is_empty() {
        tracing::debug!(
            kind = res.gvk.kind,
            count = causes.len(),
            "object is invalid"
        );
    }
    causes
}

/// The kind as `Status` messages name it: `Service` for the core group, `Deployment.apps`
/// (kind and group) otherwise.
pub fn qualified_kind(res: &ResourceInfo) -> String {
    if res.gvk.group.is_empty() {
        res.gvk.kind.to_string()
    } else {
        format!("{}.{}", res.gvk.kind, res.gvk.group)
    }
}

/// The message Kubernetes puts in the Status for a list of causes: `<Kind> "<name>" is
/// invalid: ` followed by the causes as `<field>: <message>`, joined with `, ` and
/// bracketed when there are several distinct ones. `kind` is printed as given: pass
/// [`qualified_kind`] to match Kubernetes (`Deployment.apps`).
pub fn invalid_message(kind: &str, name: &str, causes: &[Cause]) -> String {
    let head = format!("{kind} {} is invalid", field::go_quote(name));
    let mut seen: Vec<String> = Vec::new();
    for c in causes {
        let line = format!("{}: {}", c.field, c.message);
        if !seen.contains(&line) {
            seen.push(line);
        }
    }
    match seen.len() {
        0 => head,
        1 => format!("{head}: {}", seen[0]),
        _ => format!("{head}: [{}]", seen.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cause(field: &str, message: &str) -> Cause {
        Cause {
            reason: "FieldValueRequired".into(),
            message: message.into(),
            field: field.into(),
        }
    }

    #[test]
    fn message_for_one_and_many_causes() {
        let one = [cause("spec.ports", "Required value")];
        assert_eq!(
            invalid_message("Service", "web", &one),
            "Service \"web\" is invalid: spec.ports: Required value"
        );
        let two = [
            cause("spec.ports", "Required value"),
            cause("spec.type", "Required value"),
            cause("spec.ports", "Required value"),
        ];
        assert_eq!(
            invalid_message("Service", "web", &two),
            "Service \"web\" is invalid: [spec.ports: Required value, spec.type: Required value]"
        );
        assert_eq!(
            invalid_message("Service", "web", &[]),
            "Service \"web\" is invalid"
        );
    }

    #[test]
    fn qualified_kinds() {
        let d = crate::registry::by_kind("apps/v1", "Deployment").map(qualified_kind);
        assert_eq!(d.as_deref(), Some("Deployment.apps"));
        let s = crate::registry::by_kind("v1", "Service").map(qualified_kind);
        assert_eq!(s.as_deref(), Some("Service"));
    }
}

#[cfg(test)]
#[path = "validation/tests_core.rs"]
mod tests_core;

#[cfg(test)]
#[path = "validation/tests_more.rs"]
mod tests_more;

#[cfg(test)]
#[path = "validation/tests_legacy.rs"]
mod tests_legacy;
