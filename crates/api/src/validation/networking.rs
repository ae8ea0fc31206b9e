//! Ingress and IngressClass validation (networking.k8s.io/v1).
//!
//! Ingress objects are validated in the stored (v1) shape whatever version the request used,
//! as Kubernetes validated its internal type; for the old versions ([`Version::Beta`]) the
//! field paths and messages name the fields as that version spells them (`backend`,
//! `serviceName`, `servicePort`) and the leniencies Kubernetes kept for them apply (any TLS
//! secret name, rules under wildcard hosts unchecked, class annotation and field exclusive).

use serde_json::Value;

use super::access::{sub, Access};
use super::field::{BadValue, Path};
use super::meta::{self, NameRule};
use super::names;
use super::Cause;

const PATH_TYPES: &[&str] = &["Exact", "ImplementationSpecific", "Prefix"];
const INVALID_SEQUENCES: &[&str] = &["//", "/./", "/../", "%2f", "%2F"];
const INVALID_SUFFIXES: &[&str] = &["/..", "/."];

fn host_errors(host: &str, p: &Path) -> Vec<Cause> {
    let msgs = if host.contains('*') {
        names::wildcard_dns1123_subdomain(host)
    } else {
        names::dns1123_subdomain(host)
    };
    msgs.into_iter()
        .map(|m| Cause::invalid(p, BadValue::str(host), &m))
        .collect()
}

/// The Ingress version a request was made in, which decides how fields are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `networking.k8s.io/v1`.
    V1,
    /// `extensions/v1beta1` or `networking.k8s.io/v1beta1`.
    Beta,
}

impl Version {
    fn default_backend(self) -> &'static str {
        match self {
            Version::V1 => "defaultBackend",
            Version::Beta => "backend",
        }
    }

    fn service_name(self, p: &Path) -> Path {
        match self {
            Version::V1 => p.child("service").child("name"),
            Version::Beta => p.child("serviceName"),
        }
    }

    fn service_port(self, p: &Path, field: &str) -> Path {
        match self {
            Version::V1 => p.child("service").child("port").child(field),
            Version::Beta => p.child("servicePort"),
        }
    }
}

fn backend(b: &Value, p: &Path, v: Version) -> Vec<Cause> {
    let mut errs = Vec::new();
    match (b.field("resource"), b.field("service")) {
        (Some(_), Some(_)) => errs.push(Cause::invalid(
            p,
            BadValue::str(""),
            "cannot set both resource and service backends",
        )),
        (Some(r), None) => {
            let rp = p.child("resource");
            if let Some(group) = r.opt_s("apiGroup") {
                for m in names::dns1123_subdomain(group) {
                    errs.push(Cause::invalid(
                        &rp.child("apiGroup"),
                        BadValue::str(group),
                        &m,
                    ));
                }
            }
            for key in ["kind", "name"] {
                let v = r.s(key);
                if v.is_empty() {
                    errs.push(Cause::required(&rp.child(key), ""));
                } else {
                    errs.extend(path_segment(v, &rp.child(key)));
                }
            }
        }
        (None, Some(svc)) => {
            let name = svc.s("name");
            let np = v.service_name(p);
            if name.is_empty() {
                errs.push(Cause::required(&np, ""));
            } else {
                for m in names::dns1035_label(name) {
                    errs.push(Cause::invalid(&np, BadValue::str(name), &m));
                }
            }
            let port = sub(svc, "port");
            let port_name = port.s("name");
            let number = port.i("number").unwrap_or(0);
            match (port_name.is_empty(), number == 0) {
                (false, false) => errs.push(Cause::invalid(
                    p,
                    BadValue::str(""),
                    "cannot set both port name & port number",
                )),
                (false, true) => {
                    for m in names::port_name(port_name) {
                        errs.push(Cause::invalid(
                            &v.service_port(p, "name"),
                            BadValue::str(port_name),
                            &m,
                        ));
                    }
                }
                (true, false) => {
                    for m in names::port_num(number) {
                        errs.push(Cause::invalid(
                            &v.service_port(p, "number"),
                            BadValue::Int(number),
                            &m,
                        ));
                    }
                }
                (true, true) => errs.push(Cause::required(p, "port name or number is required")),
            }
        }
        (None, None) => errs.push(Cause::invalid(
            p,
            BadValue::str(""),
            "resource or service backend is required",
        )),
    }
    errs
}

fn path_segment(v: &str, p: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    if v == "." || v == ".." {
        errs.push(Cause::invalid(
            p,
            BadValue::str(v),
            &format!("may not be '{v}'"),
        ));
    }
    for bad in ["/", "%"] {
        if v.contains(bad) {
            errs.push(Cause::invalid(
                p,
                BadValue::str(v),
                &format!("may not contain '{bad}'"),
            ));
        }
    }
    errs
}

fn http_path(hp: &Value, p: &Path, v: Version) -> Vec<Cause> {
    let mut errs = Vec::new();
    let Some(pt) = hp.opt_s("pathType") else {
        return vec![Cause::required(
            &p.child("pathType"),
            "pathType must be specified",
        )];
    };
    let path = hp.s("path");
    match pt {
        "Exact" | "Prefix" => {
            if !path.starts_with('/') {
                errs.push(Cause::invalid(
                    &p.child("path"),
                    BadValue::str(path),
                    "must be an absolute path",
                ));
            }
            if !path.is_empty() {
                for seq in INVALID_SEQUENCES {
                    if path.contains(seq) {
                        errs.push(Cause::invalid(
                            &p.child("path"),
                            BadValue::str(path),
                            &format!("must not contain '{seq}'"),
                        ));
                    }
                }
                for suffix in INVALID_SUFFIXES {
                    if path.ends_with(suffix) {
                        errs.push(Cause::invalid(
                            &p.child("path"),
                            BadValue::str(path),
                            &format!("cannot end with '{suffix}'"),
                        ));
                    }
                }
            }
        }
        "ImplementationSpecific" => {
            if !path.is_empty() && !path.starts_with('/') {
                errs.push(Cause::invalid(
                    &p.child("path"),
                    BadValue::str(path),
                    "must be an absolute path",
                ));
            }
        }
        other => errs.push(Cause::not_supported(
            &p.child("pathType"),
            BadValue::str(other),
            PATH_TYPES,
        )),
    }
    errs.extend(backend(sub(hp, "backend"), &p.child("backend"), v));
    errs
}

/// Ingress: rules, hosts (wildcards allowed), paths, backends, TLS, class name. `obj` and
/// `old` are in the v1 shape; `v` is the version the request was made in.
pub fn ingress(obj: &Value, old: Option<&Value>, v: Version) -> Vec<Cause> {
    let mut errs = match old {
        Some(old) => meta::object_meta_update(obj, old),
        None => Vec::new(),
    };
    errs.extend(meta::object_meta(obj, true, NameRule::Subdomain));
    let spec = sub(obj, "spec");
    let sp = Path::new("spec");
    let rules = spec.arr("rules");
    if rules.is_empty() && spec.field("defaultBackend").is_none() {
        let shown = if spec.field("rules").is_some() {
            "[]networking.IngressRule{}"
        } else {
            "[]networking.IngressRule(nil)"
        };
        errs.push(Cause::invalid(
            &sp,
            BadValue::Raw(shown.into()),
            &format!(
                "either `{}` or `rules` must be specified",
                v.default_backend()
            ),
        ));
    }
    if let Some(db) = spec.field("defaultBackend") {
        errs.extend(backend(db, &sp.child(v.default_backend()), v));
    }
    for (i, rule) in rules.iter().enumerate() {
        let rp = sp.child("rules").index(i);
        let host = rule.s("host");
        // The old versions never checked the rules under a wildcard host.
        if host.contains('*') && v == Version::Beta {
            errs.extend(host_errors(host, &rp.child("host")));
            continue;
        }
        if !host.is_empty() {
            if names::parse_ip(host).is_some() {
                errs.push(Cause::invalid(
                    &rp.child("host"),
                    BadValue::str(host),
                    "must be a DNS name, not an IP address",
                ));
            }
            errs.extend(host_errors(host, &rp.child("host")));
        }
        if let Some(http) = rule.field("http") {
            let hp = rp.child("http");
            let paths = http.arr("paths");
            if paths.is_empty() {
                errs.push(Cause::required(&hp.child("paths"), ""));
            }
            for (j, path) in paths.iter().enumerate() {
                errs.extend(http_path(path, &hp.child("paths").index(j), v));
            }
        }
    }
    for (i, tls) in spec.arr("tls").iter().enumerate() {
        let tp = sp.child("tls").index(i);
        for (j, host) in tls.arr("hosts").iter().enumerate() {
            errs.extend(host_errors(
                host.as_str().unwrap_or_default(),
                &tp.child("hosts").index(j),
            ));
        }
        let secret = tls.s("secretName");
        // The old versions accepted any secret name.
        if !secret.is_empty() && v == Version::V1 {
            for m in names::dns1123_subdomain(secret) {
                errs.push(Cause::invalid(
                    &tp.child("secretName"),
                    BadValue::str(secret),
                    &m,
                ));
            }
        }
    }
    if let Some(class) = spec.opt_s("ingressClassName") {
        for m in names::dns1123_subdomain(class) {
            errs.push(Cause::invalid(
                &sp.child("ingressClassName"),
                BadValue::str(class),
                &m,
            ));
        }
    }
    if old.is_none() {
        let annotation =
            sub(sub(obj, "metadata"), "annotations").opt_s("kubernetes.io/ingress.class");
        if let (Some(a), Some(class)) = (annotation, spec.opt_s("ingressClassName")) {
            // Kubernetes 1.21 allowed only one of the two in the old versions; v1 now
            // accepts both when they agree.
            let message = match v {
                Version::Beta => Some("can not be set when the class field is also set"),
                Version::V1 if a != class => {
                    Some("must match `ingressClassName` when both are specified")
                }
                Version::V1 => None,
            };
            if let Some(message) = message {
                errs.push(Cause::invalid(
                    &Path::new("annotations").child("kubernetes.io/ingress.class"),
                    BadValue::str(a),
                    message,
                ));
            }
        }
    }
    errs
}

/// IngressClass: controller (a domain-prefixed path, immutable) and parameters.
pub fn ingress_class(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut errs = Vec::new();
    let spec = sub(obj, "spec");
    let sp = Path::new("spec");
    if let Some(old) = old {
        errs.extend(meta::object_meta_update(obj, old));
        let controller = spec.s("controller");
        if controller != sub(old, "spec").s("controller") {
            errs.push(Cause::invalid(
                &sp.child("controller"),
                BadValue::str(controller),
                "field is immutable",
            ));
        }
    }
    errs.extend(meta::object_meta(obj, false, NameRule::Subdomain));
    let controller = spec.s("controller");
    let cp = sp.child("controller");
    if controller.is_empty() {
        errs.push(Cause::required(&cp, ""));
    } else {
        if controller.len() > 250 {
            errs.push(Cause::too_long(&cp, 250));
        }
        errs.extend(domain_prefixed_path(controller, &cp));
    }
    if let Some(params) = spec.field("parameters") {
        let pp = sp.child("parameters");
        if let Some(group) = params.opt_s("apiGroup") {
            for m in names::dns1123_subdomain(group) {
                errs.push(Cause::invalid(
                    &pp.child("apiGroup"),
                    BadValue::str(group),
                    &m,
                ));
            }
        }
        for key in ["kind", "name"] {
            let v = params.s(key);
            if v.is_empty() {
                errs.push(Cause::required(&pp.child(key), ""));
            } else {
                errs.extend(path_segment(v, &pp.child(key)));
            }
        }
        match params.opt_s("scope") {
            None => errs.push(Cause::required(&pp.child("scope"), "")),
            Some("Namespace") => match params.opt_s("namespace") {
                None => errs.push(Cause::required(
                    &pp.child("namespace"),
                    "`parameters.scope` is set to 'Namespace'",
                )),
                Some(ns) => {
                    for m in names::dns1123_label(ns) {
                        errs.push(Cause::invalid(
                            &pp.child("namespace"),
                            BadValue::str(ns),
                            &m,
                        ));
                    }
                }
            },
            Some("Cluster") => {
                if params.field("namespace").is_some() {
                    errs.push(Cause::forbidden(
                        &pp.child("namespace"),
                        "`parameters.scope` is set to 'Cluster'",
                    ));
                }
            }
            Some(other) => errs.push(Cause::not_supported(
                &pp.child("scope"),
                BadValue::str(other),
                &["Cluster", "Namespace"],
            )),
        }
    }
    errs
}

fn domain_prefixed_path(v: &str, p: &Path) -> Vec<Cause> {
    let Some((host, path)) = v
        .split_once('/')
        .filter(|(h, r)| !h.is_empty() && !r.is_empty())
    else {
        return vec![Cause::invalid(
            p,
            BadValue::str(v),
            "must be a domain-prefixed path (such as \"acme.io/foo\")",
        )];
    };
    let mut errs: Vec<Cause> = names::dns1123_subdomain(host)
        .into_iter()
        .map(|m| Cause::invalid(p, BadValue::str(host), &m))
        .collect();
    let ok = path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/-._~%!$&'()*+,;=:".contains(c));
    if !ok {
        errs.push(Cause::invalid(
            p,
            BadValue::str(path),
            &names::regex_error("Invalid path", "[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+", &[]),
        ));
    }
    errs
}
