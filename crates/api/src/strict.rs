//! Strict decoding for `fieldValidation=Strict|Warn`.
//!
//! [`strict_problems`] reports, in document order, the problems the API server's strict JSON
//! decoder reports for a request body: `unknown field "spec.foo"` for fields the kind's schema
//! does not have (found by decoding into the `k8s-openapi` type through `serde_ignored`) and
//! `duplicate field "spec.replicas"` for keys given twice in one object ([`dup`]). Paths use
//! Kubernetes' form: `spec.ports[0].foo`. With `Strict` the API server answers 400 with
//! `strict decoding error: ` and these joined by `, `; with `Warn` each becomes a warning.

mod dup;
mod legacy;

use serde::de::DeserializeOwned;

use crate::registry::ResourceInfo;

fn render(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path as P;
    match path {
        P::Root => String::new(),
        P::Seq { parent, index } => format!("{}[{index}]", render(parent)),
        P::Map { parent, key } => {
            let p = render(parent);
            if p.is_empty() {
                key.clone()
            } else {
                format!("{p}.{key}")
            }
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            render(parent)
        }
    }
}

fn unknown_fields<T: DeserializeOwned>(body: &[u8]) -> Vec<String> {
    let mut unknown = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    let result: Result<T, _> =
        serde_ignored::deserialize(&mut de, |path| unknown.push(render(&path)));
    if let Err(e) = result {
        tracing::debug!(error = %e, "body does not decode as its kind; reporting the unknown fields seen so far");
    }
    unknown
}

fn unknown_for_kind(res: &ResourceInfo, body: &[u8]) -> Vec<String> {
    use k8s_openapi::api::{apps, coordination, core, discovery, networking};
    if crate::registry::is_legacy(res) && res.gvk.kind == "Ingress" {
        return unknown_fields::<legacy::Ingress>(body);
    }
    match (res.gvk.group, res.gvk.kind) {
        ("", "Namespace") => unknown_fields::<core::v1::Namespace>(body),
        ("", "Node") => unknown_fields::<core::v1::Node>(body),
        ("", "Pod") => unknown_fields::<core::v1::Pod>(body),
        ("", "Service") => unknown_fields::<core::v1::Service>(body),
        ("", "Endpoints") => unknown_fields::<core::v1::Endpoints>(body),
        ("", "Secret") => unknown_fields::<core::v1::Secret>(body),
        ("", "ConfigMap") => unknown_fields::<core::v1::ConfigMap>(body),
        ("", "Event") => unknown_fields::<core::v1::Event>(body),
        ("", "ServiceAccount") => unknown_fields::<core::v1::ServiceAccount>(body),
        ("", "ReplicationController") => unknown_fields::<core::v1::ReplicationController>(body),
        ("apps", "Deployment") => unknown_fields::<apps::v1::Deployment>(body),
        ("apps", "ReplicaSet") => unknown_fields::<apps::v1::ReplicaSet>(body),
        ("apps", "StatefulSet") => unknown_fields::<apps::v1::StatefulSet>(body),
        ("discovery.k8s.io", "EndpointSlice") => {
            unknown_fields::<discovery::v1::EndpointSlice>(body)
        }
        ("networking.k8s.io", "Ingress") => unknown_fields::<networking::v1::Ingress>(body),
        ("networking.k8s.io", "IngressClass") => {
            unknown_fields::<networking::v1::IngressClass>(body)
        }
        ("coordination.k8s.io", "Lease") => unknown_fields::<coordination::v1::Lease>(body),
        _ => Vec::new(),
    }
}

/// The strict-decoding problems of a JSON request body for a `res`, in document order:
/// `unknown field "<path>"` and `duplicate field "<path>"`. Empty when the body is clean.
pub fn strict_problems(res: &ResourceInfo, body: &[u8]) -> Vec<String> {
    let scan = dup::scan(body);
    let mut problems: Vec<(usize, String)> = scan
        .duplicates
        .iter()
        .map(|(pos, path)| (*pos, format!("duplicate field \"{path}\"")))
        .collect();
    for path in unknown_for_kind(res, body) {
        let pos = scan.first_seen(&path).unwrap_or(usize::MAX);
        problems.push((pos, format!("unknown field \"{path}\"")));
    }
    problems.sort_by_key(|(pos, _)| *pos);
    problems.into_iter().map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::by_kind;

    fn problems(api_version: &str, kind: &str, body: &str) -> Vec<String> {
        let res = by_kind(api_version, kind).copied();
        res.map(|r| strict_problems(&r, body.as_bytes()))
            .unwrap_or_default()
    }

    #[test]
    fn clean_body_has_no_problems() {
        let body = r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","labels":{"a":"b"}},
            "spec":{"selector":{"app":"web"},"ports":[{"port":80,"targetPort":8080}]}}"#;
        assert!(problems("v1", "Service", body).is_empty());
    }

    #[test]
    fn unknown_fields_have_kubernetes_paths() {
        let body = r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},"foo":1,
            "spec":{"bar":true,"ports":[{"port":80,"nodeport":3}]}}"#;
        assert_eq!(
            problems("v1", "Service", body),
            vec![
                "unknown field \"foo\"".to_string(),
                "unknown field \"spec.bar\"".to_string(),
                "unknown field \"spec.ports[0].nodeport\"".to_string(),
            ]
        );
    }

    #[test]
    fn old_ingress_versions_have_their_own_schema() {
        let body = r#"{"apiVersion":"extensions/v1beta1","kind":"Ingress","metadata":{"name":"kubia"},
            "spec":{"rules":[{"host":"kubia.example.com","http":null,"paths":[{"path":"/"}]}],
            "backend":{"serviceName":"a","servicePort":80},"defaultBackend":{}}}"#;
        assert_eq!(
            problems("extensions/v1beta1", "Ingress", body),
            vec![
                "unknown field \"spec.rules[0].paths\"".to_string(),
                "unknown field \"spec.defaultBackend\"".to_string(),
            ]
        );
        let v1 = body.replace("extensions/v1beta1", "networking.k8s.io/v1");
        assert_eq!(
            problems("networking.k8s.io/v1", "Ingress", &v1),
            vec![
                "unknown field \"spec.rules[0].paths\"".to_string(),
                "unknown field \"spec.backend\"".to_string(),
            ]
        );
    }

    #[test]
    fn duplicates_and_unknowns_in_document_order() {
        let body = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
            "spec":{"replicas":1,"replicas":2,"selector":{"matchLabels":{"app":"web"}},
            "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"nginx","imagePullPolicyy":"Always"}]}}},
            "spec":{}}"#;
        assert_eq!(
            problems("apps/v1", "Deployment", body),
            vec![
                "duplicate field \"spec.replicas\"".to_string(),
                "unknown field \"spec.template.spec.containers[0].imagePullPolicyy\"".to_string(),
                "duplicate field \"spec\"".to_string(),
            ]
        );
    }
}
