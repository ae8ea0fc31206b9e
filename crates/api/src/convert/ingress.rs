//! Ingress between `extensions/v1beta1` / `networking.k8s.io/v1beta1` (same shape) and
//! `networking.k8s.io/v1`, as Kubernetes 1.21 converted it:
//!
//! * `spec.backend` ↔ `spec.defaultBackend`;
//! * a backend's `serviceName` + `servicePort` (number or name) ↔ `service.name` +
//!   `service.port.number|name`; `resource` backends are the same in both;
//! * a path without `pathType` is defaulted to `ImplementationSpecific` in the old version
//!   (v1 requires it);
//! * `ingressClassName`, `tls`, hosts and status have the same shape in both.
//!
//! Kubernetes kept no annotations for these conversions, and neither does this. Fields of the
//! other version's shape that a body carries (`defaultBackend` in an old body, `serviceName`
//! in a v1 one) are dropped, as decoding into the typed struct dropped them.

use serde_json::{json, Map, Value};

/// Old backend → v1 backend, in place.
fn backend_to_v1(b: &mut Value) {
    let Some(m) = b.as_object_mut() else {
        return;
    };
    m.remove("service");
    let name = m.remove("serviceName");
    let port = m.remove("servicePort");
    let name = name.as_ref().and_then(Value::as_str).unwrap_or_default();
    // An IntOrString: a JSON string is a name (even an empty or numeric one), a number a
    // number; absent is the integer 0.
    let (port_name, port_number, is_string) = match &port {
        Some(Value::String(s)) => (s.clone(), 0, true),
        Some(Value::Number(n)) => (String::new(), n.as_i64().unwrap_or(0), false),
        _ => (String::new(), 0, false),
    };
    if name.is_empty() && port_number == 0 && port_name.is_empty() && !is_string {
        return;
    }
    let mut port = Map::new();
    if !port_name.is_empty() {
        port.insert("name".into(), json!(port_name));
    }
    if port_number != 0 {
        port.insert("number".into(), json!(port_number));
    }
    m.insert("service".into(), json!({"name": name, "port": port}));
}

/// v1 backend → old backend, in place.
fn backend_from_v1(b: &mut Value) {
    let Some(m) = b.as_object_mut() else {
        return;
    };
    m.remove("serviceName");
    m.remove("servicePort");
    let port = match m.remove("service") {
        Some(Value::Object(svc)) => {
            let name = svc.get("name").and_then(Value::as_str).unwrap_or_default();
            if !name.is_empty() {
                m.insert("serviceName".into(), json!(name));
            }
            let port = svc.get("port");
            let port_name = port
                .and_then(|p| p.get("name"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            if port_name.is_empty() {
                json!(port
                    .and_then(|p| p.get("number"))
                    .and_then(Value::as_i64)
                    .unwrap_or(0))
            } else {
                json!(port_name)
            }
        }
        _ => json!(0),
    };
    // `servicePort` is a struct in Go, which `omitempty` never leaves out.
    m.insert("servicePort".into(), port);
}

/// Calls `f` on every backend under the rules' paths.
fn each_path(spec: &mut Value, mut f: impl FnMut(&mut Map<String, Value>)) {
    let Some(rules) = spec.get_mut("rules").and_then(Value::as_array_mut) else {
        return;
    };
    for rule in rules {
        let Some(paths) = rule
            .pointer_mut("/http/paths")
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for p in paths.iter_mut().filter_map(Value::as_object_mut) {
            f(p);
        }
    }
}

/// An old-version Ingress → v1, in place (defaults of the old version included).
pub(super) fn to_v1(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    if let Some(m) = spec.as_object_mut() {
        m.remove("defaultBackend");
        if let Some(mut b) = m.remove("backend") {
            if !b.is_null() {
                backend_to_v1(&mut b);
                m.insert("defaultBackend".into(), b);
            }
        }
    }
    each_path(spec, |p| {
        if matches!(p.get("pathType"), None | Some(Value::Null)) {
            p.insert("pathType".into(), json!("ImplementationSpecific"));
        }
        if let Some(b) = p.get_mut("backend") {
            backend_to_v1(b);
        }
    });
}

/// A v1 Ingress → the old version's shape, in place.
pub(super) fn from_v1(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    if let Some(m) = spec.as_object_mut() {
        m.remove("backend");
        if let Some(mut b) = m.remove("defaultBackend") {
            if !b.is_null() {
                backend_from_v1(&mut b);
                m.insert("backend".into(), b);
            }
        }
    }
    each_path(spec, |p| {
        if let Some(b) = p.get_mut("backend") {
            backend_from_v1(b);
        }
    });
}
