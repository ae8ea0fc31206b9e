//! Field selectors and the selectable fields of each resource.
//!
//! The syntax is Kubernetes' `fields.ParseSelector`: terms joined by `,`, each
//! `field=value`, `field==value` or `field!=value`, where `\` escapes `\`, `,` and `=` in
//! values. Which fields a resource supports, and how their values are read, follow the
//! field label conversion functions and `ToSelectableFields` of the Kubernetes registry.

use serde_json::Value;

use super::label::quote;
use super::SelectorError;
use crate::registry::RESOURCES;

/// The comparison of a field requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOperator {
    /// `=` or `==`
    Equals,
    /// `!=`
    NotEquals,
}

/// One `field op value` term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    /// The field path, e.g. `spec.nodeName` (taken literally, no unescaping).
    pub field: String,
    /// The comparison.
    pub operator: FieldOperator,
    /// The value, unescaped.
    pub value: String,
}

/// A parsed field selector: all terms must hold. The empty selector selects everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parses a `fieldSelector` query string.
    pub fn parse(s: &str) -> Result<FieldSelector, SelectorError> {
        let mut terms = split_terms(s);
        terms.sort();
        let mut requirements = Vec::new();
        for term in terms.into_iter().filter(|t| !t.is_empty()) {
            let Some((field, operator, raw)) = split_term(term) else {
                return Err(SelectorError::Field(format!(
                    "invalid selector: '{s}'; can't understand '{term}'"
                )));
            };
            requirements.push(FieldRequirement {
                field: field.to_string(),
                operator,
                value: unescape(raw)?,
            });
        }
        Ok(FieldSelector { requirements })
    }

    /// Whether an object is selected; `fields` gives a field's value, `None` counting as the
    /// empty string (as Kubernetes' `fields.Set` does).
    pub fn matches(&self, fields: &dyn Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|r| {
            let have = fields(&r.field).unwrap_or_default();
            match r.operator {
                FieldOperator::Equals => have == r.value,
                FieldOperator::NotEquals => have != r.value,
            }
        })
    }

    /// [`FieldSelector::matches`] on an object of resource `plural`, reading values with
    /// [`field_value`].
    pub fn matches_object(&self, plural: &str, obj: &Value) -> bool {
        self.matches(&|f| field_value(plural, obj, f))
    }

    /// The terms, sorted as Kubernetes sorts them.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// Whether this selector matches everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The value an `=`/`==` term requires for `field`, if any (e.g. `metadata.name` for a
    /// watch on a single object).
    pub fn required_value(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.operator == FieldOperator::Equals)
            .map(|r| r.value.as_str())
    }

    /// Rejects fields the resource cannot select on, with Kubernetes' message (e.g.
    /// `field label not supported: spec.foo`).
    pub fn check_supported(&self, plural: &str) -> Result<(), SelectorError> {
        for r in &self.requirements {
            if !supported_field(plural, &r.field) {
                return Err(SelectorError::UnsupportedField(unsupported_message(
                    plural, &r.field,
                )));
            }
        }
        Ok(())
    }
}

/// Splits on `,` not preceded by `\` (the backslash stays in the term).
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// Splits a term at the first operator (`!=`, then `==`, then `=` at each position).
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, operator) in [
            ("!=", FieldOperator::NotEquals),
            ("==", FieldOperator::Equals),
            ("=", FieldOperator::Equals),
        ] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((&term[..i], operator, value));
            }
        }
    }
    None
}

/// Undoes `\\`, `\,` and `\=`; other escapes and bare `,`/`=` are errors.
fn unescape(s: &str) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(SelectorError::Field(format!(
                    "invalid field selector: invalid escape sequence: \\{c}"
                )));
            }
            out.push(c);
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => {
                return Err(SelectorError::Field(format!(
                    "invalid field selector: unescaped character in value: {}",
                    u32::from(c)
                )))
            }
            _ => out.push(c),
        }
    }
    if in_slash {
        return Err(SelectorError::Field(
            "invalid field selector: invalid escape sequence: \\".to_string(),
        ));
    }
    Ok(out)
}

/// The fields a resource (by plural name) lets clients select on, besides metadata.
fn specific_fields(plural: &str) -> Option<&'static [&'static str]> {
    Some(match plural {
        "pods" => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
            "spec.host",
        ],
        "events" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        "secrets" => &["type"],
        "namespaces" => &["status.phase"],
        "nodes" => &["spec.unschedulable"],
        "replicationcontrollers" | "replicasets" => &["status.replicas"],
        "services" => &["spec.clusterIP", "spec.type"],
        "statefulsets" => &["status.successful"],
        _ => return None,
    })
}

/// Whether clients may select `plural` objects on `field`.
pub fn supported_field(plural: &str, field: &str) -> bool {
    match field {
        "metadata.name" => true,
        // Cluster-scoped nodes and namespaces have their own conversion without it.
        "metadata.namespace" => !matches!(plural, "nodes" | "namespaces"),
        _ => specific_fields(plural).is_some_and(|f| f.contains(&field)),
    }
}

/// Kubernetes' message for an unsupported field.
fn unsupported_message(plural: &str, field: &str) -> String {
    match plural {
        "statefulsets" => format!("field label not supported for appsv1.StatefulSet: {field}"),
        _ if specific_fields(plural).is_some() => format!("field label not supported: {field}"),
        _ => format!(
            "{} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
            quote(field)
        ),
    }
}

/// The value of a selectable field of `obj` (a `plural` object), as the Kubernetes registry
/// computes it: missing strings are `""`, booleans `true`/`false`, counts decimal. `None`
/// when the field is not selectable for the resource.
pub fn field_value(plural: &str, obj: &Value, field: &str) -> Option<String> {
    if !supported_field(plural, field) {
        return None;
    }
    let s = |ptr: &str| {
        obj.pointer(ptr)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let b = |ptr: &str| {
        obj.pointer(ptr)
            .and_then(Value::as_bool)
            .unwrap_or(false)
            .to_string()
    };
    Some(match (plural, field) {
        (_, "metadata.name") => s("/metadata/name"),
        (_, "metadata.namespace") => {
            let namespaced = RESOURCES.iter().any(|r| r.plural == plural && r.namespaced);
            if namespaced {
                s("/metadata/namespace")
            } else {
                String::new()
            }
        }
        ("pods", "spec.host") => s("/spec/nodeName"),
        ("pods", "spec.hostNetwork") | ("nodes", "spec.unschedulable") => {
            b(&format!("/{}", field.replace('.', "/")))
        }
        ("pods", "status.podIP") => obj
            .pointer("/status/podIPs/0/ip")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| s("/status/podIP")),
        // Accepted by the conversion but not part of the selectable set: always empty.
        ("pods", "status.podIPs") | ("statefulsets", "status.successful") => String::new(),
        ("events", "source") => {
            let component = s("/source/component");
            if component.is_empty() {
                s("/reportingComponent")
            } else {
                component
            }
        }
        (_, "status.replicas") => obj
            .pointer("/status/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            .to_string(),
        _ => s(&format!("/{}", field.replace('.', "/"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({
            "metadata": {"name": "web-1", "namespace": "default"},
            "spec": {"nodeName": "node-a", "restartPolicy": "Always", "hostNetwork": true},
            "status": {"phase": "Running", "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}]}
        })
    }

    #[test]
    fn parse_and_match() {
        let cases = [
            ("", true),
            ("metadata.name=web-1", true),
            ("metadata.name==web-1", true),
            ("metadata.name!=web-1", false),
            ("spec.nodeName=node-a,status.phase=Running", true),
            ("spec.nodeName=node-a,status.phase!=Running", false),
            ("spec.nodeName=", false),
            ("status.nominatedNodeName=", true),
            ("spec.hostNetwork=true", true),
            ("status.podIP=10.0.0.5", true),
            ("spec.host=node-a", true),
            ("metadata.namespace=default", true),
        ];
        for (sel, want) in cases {
            let s = FieldSelector::parse(sel).unwrap_or_else(|e| panic!("{sel}: {e}"));
            assert_eq!(s.matches_object("pods", &pod()), want, "{sel}");
            assert!(s.check_supported("pods").is_ok(), "{sel}");
        }
    }

    #[test]
    fn escapes() {
        let s = FieldSelector::parse(r"metadata.name=a\,b\=c\\d,type!=x").unwrap();
        assert_eq!(s.requirements().len(), 2);
        assert_eq!(s.required_value("metadata.name"), Some(r"a,b=c\d"));
        assert_eq!(s.requirements()[1].operator, FieldOperator::NotEquals);
    }

    #[test]
    fn errors_match_kubernetes() {
        let cases = [
            ("foo", "invalid selector: 'foo'; can't understand 'foo'"),
            ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
            (
                "a=b=c",
                "invalid field selector: unescaped character in value: 61",
            ),
            (
                r"a=b\x",
                r"invalid field selector: invalid escape sequence: \x",
            ),
            (
                r"a=b\",
                r"invalid field selector: invalid escape sequence: \",
            ),
        ];
        for (sel, msg) in cases {
            assert_eq!(
                FieldSelector::parse(sel).unwrap_err().to_string(),
                msg,
                "{sel}"
            );
        }
    }

    #[test]
    fn supported_fields_per_resource() {
        let check = |plural: &str, sel: &str| {
            FieldSelector::parse(sel)
                .unwrap()
                .check_supported(plural)
                .map_err(|e| e.to_string())
        };
        assert!(check("pods", "spec.nodeName=a").is_ok());
        assert_eq!(
            check("pods", "spec.foo=a").unwrap_err(),
            "field label not supported: spec.foo"
        );
        assert_eq!(
            check("configmaps", "data.x=a").unwrap_err(),
            "\"data.x\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
        );
        assert!(check("configmaps", "metadata.namespace=a").is_ok());
        assert_eq!(
            check("nodes", "metadata.namespace=a").unwrap_err(),
            "field label not supported: metadata.namespace"
        );
        assert!(check("events", "involvedObject.name=web,type=Warning").is_ok());
        assert!(check("secrets", "type=kubernetes.io/tls").is_ok());
        assert!(check("services", "spec.clusterIP=None").is_ok());
        assert!(supported_field("replicasets", "status.replicas"));
        assert!(!supported_field("deployments", "status.replicas"));
    }

    #[test]
    fn values_from_objects() {
        let node = json!({"metadata": {"name": "n"}, "spec": {}});
        assert_eq!(
            field_value("nodes", &node, "spec.unschedulable").as_deref(),
            Some("false")
        );
        assert_eq!(field_value("nodes", &node, "metadata.namespace"), None);
        let rc = json!({"status": {"replicas": 3}});
        assert_eq!(
            field_value("replicationcontrollers", &rc, "status.replicas").as_deref(),
            Some("3")
        );
        let ev = json!({"involvedObject": {"kind": "Pod", "uid": "u"}, "reportingComponent": "kubelet",
                        "type": "Normal", "reason": "Started"});
        assert_eq!(
            field_value("events", &ev, "source").as_deref(),
            Some("kubelet")
        );
        assert_eq!(
            field_value("events", &ev, "involvedObject.kind").as_deref(),
            Some("Pod")
        );
        let ns = json!({"metadata": {"name": "kube-system"}, "status": {"phase": "Active"}});
        assert_eq!(
            field_value("namespaces", &ns, "status.phase").as_deref(),
            Some("Active")
        );
        let secret = json!({"metadata": {"name": "s", "namespace": "d"}, "type": "Opaque"});
        assert_eq!(
            field_value("secrets", &secret, "type").as_deref(),
            Some("Opaque")
        );
        assert_eq!(field_value("secrets", &secret, "data"), None);
    }
}
