//! Builders for the objects the tests feed in, as a user would write them in YAML.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use serde_json::{json, Value};

pub(super) const CLASS: &str = "portico";
pub(super) const CONTROLLER: &str = "portico.dev/ingress-controller";

fn object<T: serde::de::DeserializeOwned>(value: Value) -> Arc<T> {
    Arc::new(serde_json::from_value(value).unwrap())
}

/// An IngressClass; `default` marks it `is-default-class`.
pub(super) fn class(name: &str, controller: &str, default: bool) -> Arc<IngressClass> {
    let mut value = json!({
        "metadata": {"name": name},
        "spec": {"controller": controller},
    });
    if default {
        value["metadata"]["annotations"] =
            json!({"ingressclass.kubernetes.io/is-default-class": "true"});
    }
    object(value)
}

/// An Ingress in `default` created at second `created` of 2024-01-01, of class `portico`,
/// with `spec` merged over `{ingressClassName: portico}`.
pub(super) fn ingress(name: &str, created: u32, spec: Value) -> Arc<Ingress> {
    ingress_with(name, created, json!({}), spec)
}

/// Like [`ingress`], with annotations.
pub(super) fn ingress_with(
    name: &str,
    created: u32,
    annotations: Value,
    spec: Value,
) -> Arc<Ingress> {
    let mut full = json!({"ingressClassName": CLASS});
    if let (Some(full), Some(spec)) = (full.as_object_mut(), spec.as_object()) {
        for (key, value) in spec {
            full.insert(key.clone(), value.clone());
        }
    }
    object(json!({
        "metadata": {
            "name": name,
            "namespace": "default",
            "creationTimestamp": format!("2024-01-01T00:00:{created:02}Z"),
            "annotations": annotations,
        },
        "spec": full,
    }))
}

/// A rule's path.
pub(super) fn path(path_type: &str, path: &str, service: &str, port: Value) -> Value {
    json!({
        "path": path,
        "pathType": path_type,
        "backend": {"service": {"name": service, "port": port}},
    })
}

/// A rule: `host` ("" for none) and its paths.
pub(super) fn rule(host: &str, paths: Vec<Value>) -> Value {
    let mut rule = json!({"http": {"paths": paths}});
    if !host.is_empty() {
        rule["host"] = json!(host);
    }
    rule
}

/// A Service in `default` with ports `(name, port, targetPort)`.
pub(super) fn service(name: &str, ports: &[(&str, i32, i32)]) -> Arc<Service> {
    let ports: Vec<Value> = ports
        .iter()
        .map(|(port_name, port, target)| {
            let mut value = json!({"port": port, "targetPort": target, "protocol": "TCP"});
            if !port_name.is_empty() {
                value["name"] = json!(port_name);
            }
            value
        })
        .collect();
    object(json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"ports": ports},
    }))
}

/// An EndpointSlice of Service `service` with ports `(name, port)` and endpoints
/// `(ip, ready)` (`None` leaves `conditions.ready` unset).
pub(super) fn slice(
    name: &str,
    service: &str,
    ports: &[(&str, i32)],
    endpoints: &[(&str, Option<bool>)],
) -> Arc<EndpointSlice> {
    let ports: Vec<Value> = ports
        .iter()
        .map(|(port_name, port)| json!({"name": port_name, "port": port, "protocol": "TCP"}))
        .collect();
    let endpoints: Vec<Value> = endpoints
        .iter()
        .map(|(ip, ready)| match ready {
            Some(ready) => json!({"addresses": [ip], "conditions": {"ready": ready}}),
            None => json!({"addresses": [ip]}),
        })
        .collect();
    object(json!({
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": service},
        },
        "addressType": "IPv4",
        "ports": ports,
        "endpoints": endpoints,
    }))
}

/// A `kubernetes.io/tls` Secret in `default`.
pub(super) fn tls_secret(name: &str, cert: &str, key: &str) -> Arc<Secret> {
    use base64::Engine as _;
    let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    object(json!({
        "metadata": {"name": name, "namespace": "default"},
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": b64(cert), "tls.key": b64(key)},
    }))
}
