//! Service validation (`ValidateService`, `ValidateServiceUpdate`).
//!
//! ClusterIPs and NodePorts are allocated by the API server after defaulting, so an empty
//! `clusterIP`, a zero `nodePort` and a zero `healthCheckNodePort` are accepted here.

use serde_json::Value;

use super::access::{sub, Access};
use super::field::{go_quote, go_string_slice, BadValue, Path};
use super::meta::{self, NameRule};
use super::names;
use super::Cause;

mod ips;

use ips::{cluster_ips_related, update_rules};

const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const MAX_AFFINITY_SECONDS: i64 = 86400;

pub(super) fn spec_path() -> Path {
    Path::new("spec")
}

pub(super) fn is_headless(spec: &Value) -> bool {
    let ips = spec.arr("clusterIPs");
    ips.len() == 1 && ips[0].as_str() == Some("None")
}

pub(super) fn cluster_ips_repr(spec: &Value) -> BadValue {
    BadValue::Raw(go_string_slice(
        spec.get("clusterIPs").and_then(Value::as_array),
    ))
}

/// Validates a Service on create, or on update when `old` is given.
pub fn validate(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut errs = Vec::new();
    if let Some(old) = old {
        errs.extend(meta::object_meta_update(obj, old));
        errs.extend(update_rules(sub(obj, "spec"), sub(old, "spec")));
    }
    errs.extend(validate_service(obj));
    errs
}

fn validate_service(obj: &Value) -> Vec<Cause> {
    let mut errs = meta::object_meta(obj, true, NameRule::Dns1035);
    let spec = sub(obj, "spec");
    let sp = spec_path();
    let ty = spec.s("type");
    let headless = is_headless(spec);
    let ports = spec.arr("ports");

    let annotations = sub(sub(obj, "metadata"), "annotations");
    let hints = annotations.opt_s("service.kubernetes.io/topology-aware-hints");
    let mode = annotations.opt_s("service.kubernetes.io/topology-mode");
    if let (Some(h), Some(m)) = (hints, mode) {
        if h != m {
            errs.push(Cause::invalid(
                &Path::new("metadata").child("annotations").key("service.kubernetes.io/topology-mode"),
                BadValue::str(m),
                "must match annotations[service.kubernetes.io/topology-aware-hints] when both are specified",
            ));
        }
    }

    if ports.is_empty() && !headless && ty != "ExternalName" {
        errs.push(Cause::required(&sp.child("ports"), ""));
    }
    match ty {
        "LoadBalancer" | "NodePort" if headless => {
            errs.push(Cause::invalid(
                &sp.child("clusterIPs").index(0),
                BadValue::str("None"),
                &format!("may not be set to 'None' for {ty} services"),
            ));
        }
        "ExternalName" => errs.extend(external_name(spec, &sp)),
        _ => {}
    }

    let mut names_seen: Vec<&str> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        errs.extend(service_port(
            p,
            ports.len() > 1,
            &mut names_seen,
            &sp.child("ports").index(i),
        ));
    }
    if spec.field("selector").is_some() {
        errs.extend(meta::labels(spec, "selector", &sp.child("selector")));
    }
    errs.extend(session_affinity(spec, &sp));
    errs.extend(cluster_ips_related(spec, &sp));

    for (i, ip) in spec.arr("externalIPs").iter().enumerate() {
        let ip = ip.as_str().unwrap_or_default();
        let p = sp.child("externalIPs").index(i);
        if names::parse_ip(ip).is_none() {
            errs.push(Cause::invalid(
                &p,
                BadValue::str(ip),
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            ));
        } else {
            errs.extend(super::endpoints::non_special_ip(ip, &p));
        }
    }

    if ty.is_empty() {
        errs.push(Cause::required(&sp.child("type"), ""));
    } else if !TYPES.contains(&ty) {
        errs.push(Cause::not_supported(
            &sp.child("type"),
            BadValue::str(ty),
            TYPES,
        ));
    }
    if ty == "ClusterIP" {
        for (i, p) in ports.iter().enumerate() {
            if p.i("nodePort").unwrap_or(0) != 0 {
                errs.push(Cause::forbidden(
                    &sp.child("ports").index(i).child("nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            }
        }
    }
    errs.extend(duplicate_ports(ports, &sp));
    errs.extend(source_ranges(obj, spec, &sp));

    if spec.field("allocateLoadBalancerNodePorts").is_some() && ty != "LoadBalancer" {
        errs.push(Cause::forbidden(
            &sp.child("allocateLoadBalancerNodePorts"),
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    if ty == "LoadBalancer" && spec.field("allocateLoadBalancerNodePorts").is_none() {
        // Kubernetes reports this one without the `spec.` prefix.
        errs.push(Cause::required(
            &Path::new("allocateLoadBalancerNodePorts"),
            "",
        ));
    }
    if let Some(class) = spec.opt_s("loadBalancerClass") {
        if ty == "LoadBalancer" {
            for m in names::qualified_name(class) {
                errs.push(Cause::invalid(
                    &sp.child("loadBalancerClass"),
                    BadValue::str(class),
                    &m,
                ));
            }
        } else {
            errs.push(Cause::forbidden(
                &sp.child("loadBalancerClass"),
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
    }
    errs.extend(traffic_policies(spec, &sp));
    errs
}

fn external_name(spec: &Value, sp: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    if !spec.arr("clusterIPs").is_empty() {
        errs.push(Cause::forbidden(
            &sp.child("clusterIPs"),
            "may not be set for ExternalName services",
        ));
    }
    if !spec.arr("ipFamilies").is_empty() {
        errs.push(Cause::forbidden(
            &sp.child("ipFamilies"),
            "may not be set for ExternalName services",
        ));
    }
    if spec.field("ipFamilyPolicy").is_some() {
        errs.push(Cause::forbidden(
            &sp.child("ipFamilyPolicy"),
            "may not be set for ExternalName services",
        ));
    }
    let cname = spec.s("externalName");
    let cname = cname.strip_suffix('.').unwrap_or(cname);
    if cname.is_empty() {
        errs.push(Cause::required(&sp.child("externalName"), ""));
    } else {
        for m in names::dns1123_subdomain(cname) {
            errs.push(Cause::invalid(
                &sp.child("externalName"),
                BadValue::str(cname),
                &m,
            ));
        }
    }
    errs
}

/// `ValidatePortNumOrName` for an int-or-string field.
pub fn port_num_or_name(v: Option<&Value>, path: &Path) -> Vec<Cause> {
    match v {
        Some(Value::String(s)) => names::port_name(s)
            .into_iter()
            .map(|m| Cause::invalid(path, BadValue::str(s.as_str()), &m))
            .collect(),
        other => {
            let n = other.and_then(Value::as_i64).unwrap_or(0);
            names::port_num(n)
                .into_iter()
                .map(|m| Cause::invalid(path, BadValue::Int(n), &m))
                .collect()
        }
    }
}

fn service_port<'a>(
    p: &'a Value,
    require_name: bool,
    seen: &mut Vec<&'a str>,
    path: &Path,
) -> Vec<Cause> {
    let mut errs = Vec::new();
    let name = p.s("name");
    if require_name && name.is_empty() {
        errs.push(Cause::required(&path.child("name"), ""));
    } else if !name.is_empty() {
        for m in names::dns1123_label(name) {
            errs.push(Cause::invalid(&path.child("name"), BadValue::str(name), &m));
        }
        if seen.contains(&name) {
            errs.push(Cause::duplicate(&path.child("name"), BadValue::str(name)));
        } else {
            seen.push(name);
        }
    }
    let port = p.i("port").unwrap_or(0);
    for m in names::port_num(port) {
        errs.push(Cause::invalid(&path.child("port"), BadValue::Int(port), &m));
    }
    let proto = p.s("protocol");
    if proto.is_empty() {
        errs.push(Cause::required(&path.child("protocol"), ""));
    } else if !PROTOCOLS.contains(&proto) {
        errs.push(Cause::not_supported(
            &path.child("protocol"),
            BadValue::str(proto),
            PROTOCOLS,
        ));
    }
    errs.extend(port_num_or_name(
        p.field("targetPort"),
        &path.child("targetPort"),
    ));
    if let Some(app) = p.opt_s("appProtocol") {
        for m in names::qualified_name(app) {
            errs.push(Cause::invalid(
                &path.child("appProtocol"),
                BadValue::str(app),
                &m,
            ));
        }
    }
    errs
}

fn session_affinity(spec: &Value, sp: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    let aff = spec.s("sessionAffinity");
    let path = sp.child("sessionAffinity");
    match aff {
        "" => errs.push(Cause::required(&path, "")),
        "ClientIP" => {
            let cp = sp.child("sessionAffinityConfig");
            let detail = "when session affinity type is ClientIP";
            match spec.field("sessionAffinityConfig") {
                None => errs.push(Cause::required(&cp, detail)),
                Some(cfg) => {
                    match cfg.field("clientIP") {
                        None => errs.push(Cause::required(&cp.child("clientIP"), detail)),
                        Some(cip) => {
                            let tp = cp.child("clientIP").child("timeoutSeconds");
                            match cip.i("timeoutSeconds") {
                            None => errs.push(Cause::required(&tp, detail)),
                            Some(t) if t <= 0 || t > MAX_AFFINITY_SECONDS => errs.push(Cause::invalid(
                                &tp,
                                BadValue::Int(t),
                                &format!("must be greater than 0 and less than {MAX_AFFINITY_SECONDS}"),
                            )),
                            Some(_) => {}
                        }
                        }
                    }
                }
            }
        }
        "None" => {
            if spec.field("sessionAffinityConfig").is_some() {
                errs.push(Cause::forbidden(
                    &sp.child("sessionAffinityConfig"),
                    "must not be set when session affinity is None",
                ));
            }
        }
        other => errs.push(Cause::not_supported(
            &path,
            BadValue::str(other),
            &["ClientIP", "None"],
        )),
    }
    errs
}

fn service_port_repr(proto: &str, port: i64) -> String {
    format!(
        "core.ServicePort{{Name:\"\", Protocol:{}, AppProtocol:(*string)(nil), Port:{port}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}",
        go_quote(proto)
    )
}

fn duplicate_ports(ports: &[Value], sp: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    let mut node_ports: Vec<(&str, i64)> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let np = p.i("nodePort").unwrap_or(0);
        if np == 0 {
            continue;
        }
        let key = (p.s("protocol"), np);
        if node_ports.contains(&key) {
            errs.push(Cause::duplicate(
                &sp.child("ports").index(i).child("nodePort"),
                BadValue::Int(np),
            ));
        }
        node_ports.push(key);
    }
    let mut seen: Vec<(&str, i64)> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let key = (p.s("protocol"), p.i("port").unwrap_or(0));
        if seen.contains(&key) {
            errs.push(Cause::duplicate(
                &sp.child("ports").index(i),
                BadValue::Raw(service_port_repr(key.0, key.1)),
            ));
        }
        seen.push(key);
    }
    errs
}

fn source_ranges(obj: &Value, spec: &Value, sp: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    let ranges = spec.arr("loadBalancerSourceRanges");
    let lb = spec.s("type") == "LoadBalancer";
    let bad_cidr = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)";
    if !ranges.is_empty() {
        let fp = sp.child("LoadBalancerSourceRanges");
        if !lb {
            errs.push(Cause::forbidden(
                &fp,
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
        for (i, r) in ranges.iter().enumerate() {
            let r = r.as_str().unwrap_or_default().trim();
            if names::parse_cidr(r).is_none() {
                errs.push(Cause::invalid(&fp.index(i), BadValue::str(r), bad_cidr));
            }
        }
    } else if let Some(val) = sub(sub(obj, "metadata"), "annotations")
        .opt_s("service.beta.kubernetes.io/load-balancer-source-ranges")
    {
        let fp = Path::new("metadata")
            .child("annotations")
            .key("service.beta.kubernetes.io/load-balancer-source-ranges");
        if !lb {
            errs.push(Cause::forbidden(
                &fp,
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
        let val = val.trim();
        if !val.is_empty() {
            for r in val.split(',').map(str::trim) {
                if names::parse_cidr(r).is_none() {
                    errs.push(Cause::invalid(&fp, BadValue::str(r), bad_cidr));
                }
            }
        }
    }
    errs
}

fn externally_accessible(spec: &Value) -> bool {
    let ty = spec.s("type");
    ty == "LoadBalancer"
        || ty == "NodePort"
        || (ty == "ClusterIP" && !spec.arr("externalIPs").is_empty())
}

fn traffic_policies(spec: &Value, sp: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    let etp = spec.s("externalTrafficPolicy");
    let ep = sp.child("externalTrafficPolicy");
    if !externally_accessible(spec) {
        if !etp.is_empty() {
            errs.push(Cause::invalid(
                &ep,
                BadValue::str(etp),
                "may only be set for externally-accessible services",
            ));
        }
    } else if etp.is_empty() {
        errs.push(Cause::required(&ep, ""));
    } else if !["Cluster", "Local"].contains(&etp) {
        errs.push(Cause::not_supported(
            &ep,
            BadValue::str(etp),
            &["Cluster", "Local"],
        ));
    }
    let hc = spec.i("healthCheckNodePort").unwrap_or(0);
    let hp = sp.child("healthCheckNodePort");
    let needs_hc = spec.s("type") == "LoadBalancer" && etp == "Local";
    if !needs_hc && hc != 0 {
        errs.push(Cause::invalid(
            &hp,
            BadValue::Int(hc),
            "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
        ));
    } else if needs_hc && hc != 0 {
        for m in names::port_num(hc) {
            errs.push(Cause::invalid(&hp, BadValue::Int(hc), &m));
        }
    }
    let itp = sp.child("internalTrafficPolicy");
    match spec.opt_s("internalTrafficPolicy") {
        None => {
            if ["NodePort", "LoadBalancer", "ClusterIP"].contains(&spec.s("type")) {
                errs.push(Cause::required(&itp, ""));
            }
        }
        Some(p) if !["Cluster", "Local"].contains(&p) => {
            errs.push(Cause::not_supported(
                &itp,
                BadValue::str(p),
                &["Cluster", "Local"],
            ));
        }
        Some(_) => {}
    }
    if let Some(td) = spec.opt_s("trafficDistribution") {
        if td != "PreferClose" {
            errs.push(Cause::not_supported(
                &sp.child("trafficDistribution"),
                BadValue::str(td),
                &["PreferClose"],
            ));
        }
    }
    errs
}
