//! Ingress and IngressClass validation (networking.k8s.io/v1).

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

fn backend(b: &Value, p: &Path) -> Vec<Cause> {
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
            let np = p.child("service").child("name");
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
            let pp = p.child("service").child("port");
            match (port_name.is_empty(), number == 0) {
                (false, false) => errs.push(Cause::invalid(
                    p,
                    BadValue::str(""),
                    "cannot set both port name & port number",
                )),
                (false, true) => {
                    for m in names::port_name(port_name) {
                        errs.push(Cause::invalid(
                            &pp.child("name"),
                            BadValue::str(port_name),
                            &m,
                        ));
                    }
                }
                (true, false) => {
                    for m in names::port_num(number) {
                        errs.push(Cause::invalid(
                            &pp.child("number"),
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

fn http_path(hp: &Value, p: &Path) -> Vec<Cause> {
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
    errs.extend(backend(sub(hp, "backend"), &p.child("backend")));
    errs
}

/// Ingress: rules, hosts (wildcards allowed), paths, backends, TLS, class name.
pub fn ingress(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
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
            "either `defaultBackend` or `rules` must be specified",
        ));
    }
    if let Some(db) = spec.field("defaultBackend") {
        errs.extend(backend(db, &sp.child("defaultBackend")));
    }
    for (i, rule) in rules.iter().enumerate() {
        let rp = sp.child("rules").index(i);
        let host = rule.s("host");
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
                errs.extend(http_path(path, &hp.child("paths").index(j)));
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
        if !secret.is_empty() {
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
            if a != class {
                errs.push(Cause::invalid(
                    &Path::new("annotations").child("kubernetes.io/ingress.class"),
                    BadValue::str(a),
                    "must match `ingressClassName` when both are specified",
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
