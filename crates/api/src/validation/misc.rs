//! Validation of the smaller kinds: Secret, ConfigMap, Namespace, Node, Lease, Event and the
//! metadata-only ones (ServiceAccount).

use base64::Engine;
use serde_json::Value;

use super::access::{sub, Access};
use super::field::{BadValue, Path};
use super::meta::{self, NameRule};
use super::names;
use super::Cause;

const MAX_SECRET_SIZE: usize = 1024 * 1024;

fn update_meta(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    old.map(|o| meta::object_meta_update(obj, o))
        .unwrap_or_default()
}

fn immutable_flag(obj: &Value, old: Option<&Value>, fields: &[&str]) -> Vec<Cause> {
    let mut errs = Vec::new();
    let Some(old) = old.filter(|o| o.b("immutable")) else {
        return errs;
    };
    if !obj.b("immutable") {
        errs.push(Cause::forbidden(
            &Path::new("immutable"),
            "field is immutable when `immutable` is set",
        ));
    }
    for f in fields {
        if obj.field(f) != old.field(f) {
            errs.push(Cause::forbidden(
                &Path::new(f),
                "field is immutable when `immutable` is set",
            ));
        }
    }
    errs
}

/// A metadata-only kind (ServiceAccount and anything without its own rules).
pub fn generic(obj: &Value, old: Option<&Value>, namespaced: bool) -> Vec<Cause> {
    let mut errs = update_meta(obj, old);
    errs.extend(meta::object_meta(obj, namespaced, NameRule::Subdomain));
    errs
}

/// Secret: data keys and size, the keys each type requires, `type` immutable on update.
pub fn secret(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut errs = update_meta(obj, old);
    if let Some(old) = old {
        let ty = obj.s("type");
        if ty != old.s("type") {
            errs.push(Cause::invalid(
                &Path::new("type"),
                BadValue::str(ty),
                "field is immutable",
            ));
        }
        errs.extend(immutable_flag(obj, Some(old), &["data"]));
    }
    errs.extend(meta::object_meta(obj, true, NameRule::Subdomain));
    let dp = Path::new("data");
    let data = obj.obj("data");
    let mut total = 0;
    for (key, value) in data.into_iter().flatten() {
        for m in names::config_map_key(key) {
            errs.push(Cause::invalid(
                &dp.key(key),
                BadValue::str(key.as_str()),
                &m,
            ));
        }
        let raw = value.as_str().unwrap_or_default();
        total += base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map(|b| b.len())
            .unwrap_or(raw.len());
    }
    if total > MAX_SECRET_SIZE {
        errs.push(Cause::too_long(&dp, MAX_SECRET_SIZE));
    }
    let has = |k: &str| data.is_some_and(|d| d.contains_key(k));
    match obj.s("type") {
        "kubernetes.io/service-account-token" => {
            let annotations = sub(sub(obj, "metadata"), "annotations");
            if annotations
                .s("kubernetes.io/service-account.name")
                .is_empty()
            {
                errs.push(Cause::required(
                    &Path::new("metadata")
                        .child("annotations")
                        .key("kubernetes.io/service-account.name"),
                    "",
                ));
            }
        }
        "kubernetes.io/dockercfg" if !has(".dockercfg") => {
            errs.push(Cause::required(&dp.key(".dockercfg"), ""));
        }
        "kubernetes.io/dockerconfigjson" if !has(".dockerconfigjson") => {
            errs.push(Cause::required(&dp.key(".dockerconfigjson"), ""));
        }
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            errs.push(Cause::required(&dp.key("username"), ""));
            errs.push(Cause::required(&dp.key("password"), ""));
        }
        "kubernetes.io/ssh-auth" => {
            let empty = data
                .and_then(|d| d.get("ssh-privatekey"))
                .and_then(Value::as_str)
                .is_none_or(str::is_empty);
            if empty {
                errs.push(Cause::required(&dp.key("ssh-privatekey"), ""));
            }
        }
        "kubernetes.io/tls" => {
            if !has("tls.crt") {
                errs.push(Cause::required(&dp.key("tls.crt"), ""));
            }
            if !has("tls.key") {
                errs.push(Cause::required(&dp.key("tls.key"), ""));
            }
        }
        _ => {}
    }
    errs
}

/// ConfigMap: data and binaryData keys, no key in both, total size.
pub fn config_map(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut errs = update_meta(obj, old);
    errs.extend(immutable_flag(obj, old, &["data", "binaryData"]));
    errs.extend(meta::object_meta(obj, true, NameRule::Subdomain));
    let binary = obj.obj("binaryData");
    let mut total = 0;
    for (key, value) in obj.obj("data").into_iter().flatten() {
        let p = Path::new("data").key(key);
        for m in names::config_map_key(key) {
            errs.push(Cause::invalid(&p, BadValue::str(key.as_str()), &m));
        }
        if binary.is_some_and(|b| b.contains_key(key)) {
            errs.push(Cause::invalid(
                &p,
                BadValue::str(key.as_str()),
                "duplicate of key present in binaryData",
            ));
        }
        total += value.as_str().map_or(0, str::len);
    }
    for (key, value) in binary.into_iter().flatten() {
        for m in names::config_map_key(key) {
            errs.push(Cause::invalid(
                &Path::new("binaryData").key(key),
                BadValue::str(key.as_str()),
                &m,
            ));
        }
        let raw = value.as_str().unwrap_or_default();
        total += base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_or(raw.len(), |b| b.len());
    }
    if total > MAX_SECRET_SIZE {
        errs.push(Cause::too_long(&Path::default(), MAX_SECRET_SIZE));
    }
    errs
}

/// Namespace: an RFC 1123 label name; spec finalizers on create.
pub fn namespace(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    if let Some(old) = old {
        return meta::object_meta_update(obj, old);
    }
    let mut errs = meta::object_meta(obj, false, NameRule::Label);
    let fp = Path::new("spec").child("finalizers");
    for f in sub(obj, "spec").arr("finalizers") {
        let f = f.as_str().unwrap_or_default();
        for m in names::qualified_name(f) {
            errs.push(Cause::invalid(&fp, BadValue::str(f), &m));
        }
        errs.extend(meta::kube_finalizer_name(f, &fp));
    }
    errs
}

/// Node: taints and pod CIDRs; on update podCIDRs and providerID may only be set once.
pub fn node(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut errs = update_meta(obj, old);
    if old.is_none() {
        errs.extend(meta::object_meta(obj, false, NameRule::Subdomain));
    }
    let spec = sub(obj, "spec");
    // Kubernetes reports taints under `metadata.taints`.
    let tp = Path::new("metadata").child("taints");
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for (i, t) in spec.arr("taints").iter().enumerate() {
        let ip = tp.index(i);
        for m in names::qualified_name(t.s("key")) {
            errs.push(Cause::invalid(
                &ip.child("key"),
                BadValue::str(t.s("key")),
                &m,
            ));
        }
        let msgs = names::label_value(t.s("value"));
        if !msgs.is_empty() {
            errs.push(Cause::invalid(
                &ip.child("value"),
                BadValue::str(t.s("value")),
                &msgs.join(";"),
            ));
        }
        let effects = ["NoSchedule", "PreferNoSchedule", "NoExecute"];
        match t.s("effect") {
            "" => errs.push(Cause::required(&ip.child("effect"), "")),
            e if !effects.contains(&e) => errs.push(Cause::not_supported(
                &ip.child("effect"),
                BadValue::str(e),
                &effects,
            )),
            _ => {}
        }
        let key = (t.s("key"), t.s("effect"));
        if seen.contains(&key) {
            let shown = format!(
                "core.Taint{{Key:{}, Value:{}, Effect:{}, TimeAdded:<nil>}}",
                super::field::go_quote(key.0),
                super::field::go_quote(t.s("value")),
                super::field::go_quote(key.1)
            );
            errs.push(Cause::duplicate_with_detail(
                &ip,
                BadValue::Raw(shown),
                "taints must be unique by key and effect pair",
            ));
        } else {
            seen.push(key);
        }
    }
    if old.is_none() {
        let cp = Path::new("spec").child("podCIDRs");
        for (i, c) in spec.arr("podCIDRs").iter().enumerate() {
            let c = c.as_str().unwrap_or_default();
            if names::parse_cidr(c).is_none() {
                errs.push(Cause::invalid(
                    &cp.index(i),
                    BadValue::str(c),
                    "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                ));
            }
        }
    }
    if let Some(old) = old {
        let os = sub(old, "spec");
        if !os.arr("podCIDRs").is_empty() && os.arr("podCIDRs") != spec.arr("podCIDRs") {
            errs.push(Cause::forbidden(
                &Path::new("spec").child("podCIDRs"),
                "node updates may not change podCIDR except from \"\" to valid",
            ));
        }
        if !os.s("providerID").is_empty() && os.s("providerID") != spec.s("providerID") {
            errs.push(Cause::forbidden(
                &Path::new("spec").child("providerID"),
                "node updates may not change providerID except from \"\" to valid",
            ));
        }
    }
    errs
}

/// Lease: positive duration, non-negative transitions.
pub fn lease(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut errs = update_meta(obj, old);
    errs.extend(meta::object_meta(obj, true, NameRule::Subdomain));
    let spec = sub(obj, "spec");
    let sp = Path::new("spec");
    if let Some(d) = spec.i("leaseDurationSeconds").filter(|d| *d <= 0) {
        errs.push(Cause::invalid(
            &sp.child("leaseDurationSeconds"),
            BadValue::Int(d),
            "must be greater than 0",
        ));
    }
    if let Some(t) = spec.i("leaseTransitions").filter(|t| *t < 0) {
        errs.push(Cause::invalid(
            &sp.child("leaseTransitions"),
            BadValue::Int(t),
            "must be greater than or equal to 0",
        ));
    }
    errs
}

/// Event (core/v1): the involved object's namespace must match the event's.
pub fn event(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut errs = update_meta(obj, old);
    errs.extend(meta::object_meta(obj, true, NameRule::Subdomain));
    let ns = sub(obj, "metadata").s("namespace");
    let involved_ns = sub(obj, "involvedObject").s("namespace");
    let ip = Path::new("involvedObject").child("namespace");
    let mismatch = || {
        Cause::invalid(
            &ip,
            BadValue::str(involved_ns),
            "does not match event.namespace",
        )
    };
    if obj.field("eventTime").is_none() {
        if involved_ns.is_empty() {
            if !ns.is_empty() && ns != "default" {
                errs.push(mismatch());
            }
        } else if ns != involved_ns {
            errs.push(mismatch());
        }
    } else {
        if involved_ns.is_empty() && ns != "default" && ns != "kube-system" {
            errs.push(mismatch());
        }
        let controller = obj.s("reportingComponent");
        if controller.is_empty() {
            errs.push(Cause::required(&Path::new("reportingComponent"), ""));
        }
        for m in names::qualified_name(controller) {
            errs.push(Cause::invalid(
                &Path::new("reportingComponent"),
                BadValue::str(controller),
                &m,
            ));
        }
        if obj.s("reportingInstance").is_empty() {
            errs.push(Cause::required(&Path::new("reportingInstance"), ""));
        }
        if obj.s("action").is_empty() {
            errs.push(Cause::required(&Path::new("action"), ""));
        }
    }
    for m in names::dns1123_subdomain(ns) {
        errs.push(Cause::invalid(
            &Path::new("namespace"),
            BadValue::str(ns),
            &m,
        ));
    }
    errs
}
