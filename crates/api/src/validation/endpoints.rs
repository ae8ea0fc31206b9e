//! Endpoints (core/v1) and EndpointSlice (discovery.k8s.io/v1) validation.

use serde_json::Value;

use super::access::Access;
use super::field::{BadValue, Path};
use super::meta::{self, NameRule};
use super::names;
use super::Cause;

const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const BAD_IP: &str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";

/// `ValidateNonSpecialIP`: no unspecified, loopback or link-local addresses.
pub fn non_special_ip(ip: &str, p: &Path) -> Vec<Cause> {
    let Some(parsed) = names::parse_ip(ip) else {
        return vec![Cause::invalid(
            p,
            BadValue::str(ip),
            "must be a valid IP address",
        )];
    };
    let mut errs = Vec::new();
    let (unspecified, loopback, ll_unicast, ll_multicast) = match names::as_v4(&parsed) {
        Some(v4) => {
            let o = v4.octets();
            (
                v4.is_unspecified(),
                v4.is_loopback(),
                o[0] == 169 && o[1] == 254,
                o[0] == 224 && o[1] == 0 && o[2] == 0,
            )
        }
        None => match parsed {
            std::net::IpAddr::V6(v6) => {
                let s = v6.segments();
                (
                    v6.is_unspecified(),
                    v6.is_loopback(),
                    s[0] & 0xffc0 == 0xfe80,
                    s[0] & 0xff0f == 0xff02,
                )
            }
            std::net::IpAddr::V4(_) => (false, false, false, false),
        },
    };
    if unspecified {
        errs.push(Cause::invalid(
            p,
            BadValue::str(ip),
            &format!("may not be unspecified ({ip})"),
        ));
    }
    if loopback {
        errs.push(Cause::invalid(
            p,
            BadValue::str(ip),
            "may not be in the loopback range (127.0.0.0/8, ::1/128)",
        ));
    }
    if ll_unicast {
        errs.push(Cause::invalid(
            p,
            BadValue::str(ip),
            "may not be in the link-local range (169.254.0.0/16, fe80::/10)",
        ));
    }
    if ll_multicast {
        errs.push(Cause::invalid(
            p,
            BadValue::str(ip),
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
        ));
    }
    errs
}

fn address(a: &Value, p: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    let ip = a.s("ip");
    if names::parse_ip(ip).is_none() {
        errs.push(Cause::invalid(&p.child("ip"), BadValue::str(ip), BAD_IP));
    }
    let hostname = a.s("hostname");
    if !hostname.is_empty() {
        for m in names::dns1123_label(hostname) {
            errs.push(Cause::invalid(
                &p.child("hostname"),
                BadValue::str(hostname),
                &m,
            ));
        }
    }
    if let Some(node) = a.opt_s("nodeName") {
        for m in names::dns1123_subdomain(node) {
            errs.push(Cause::invalid(
                &p.child("nodeName"),
                BadValue::str(node),
                &m,
            ));
        }
    }
    errs.extend(non_special_ip(ip, &p.child("ip")));
    errs
}

fn endpoint_port(port: &Value, require_name: bool, p: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    let name = port.s("name");
    if require_name && name.is_empty() {
        errs.push(Cause::required(&p.child("name"), ""));
    } else if !name.is_empty() {
        for m in names::dns1123_label(name) {
            errs.push(Cause::invalid(&p.child("name"), BadValue::str(name), &m));
        }
    }
    let num = port.i("port").unwrap_or(0);
    for m in names::port_num(num) {
        errs.push(Cause::invalid(&p.child("port"), BadValue::Int(num), &m));
    }
    let proto = port.s("protocol");
    if proto.is_empty() {
        errs.push(Cause::required(&p.child("protocol"), ""));
    } else if !PROTOCOLS.contains(&proto) {
        errs.push(Cause::not_supported(
            &p.child("protocol"),
            BadValue::str(proto),
            PROTOCOLS,
        ));
    }
    if let Some(app) = port.opt_s("appProtocol") {
        for m in names::qualified_name(app) {
            errs.push(Cause::invalid(
                &p.child("appProtocol"),
                BadValue::str(app),
                &m,
            ));
        }
    }
    errs
}

/// Endpoints (create and update run the same checks, plus metadata rules on update).
pub fn endpoints(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut errs = match old {
        Some(old) => meta::object_meta_update(obj, old),
        None => Vec::new(),
    };
    errs.extend(meta::object_meta(obj, true, NameRule::Subdomain));
    let sp = Path::new("subsets");
    for (i, ss) in obj.arr("subsets").iter().enumerate() {
        let ip = sp.index(i);
        if ss.arr("addresses").is_empty() && ss.arr("notReadyAddresses").is_empty() {
            errs.push(Cause::required(
                &ip,
                "must specify `addresses` or `notReadyAddresses`",
            ));
        }
        for key in ["addresses", "notReadyAddresses"] {
            for (j, a) in ss.arr(key).iter().enumerate() {
                errs.extend(address(a, &ip.child(key).index(j)));
            }
        }
        let ports = ss.arr("ports");
        for (j, port) in ports.iter().enumerate() {
            errs.extend(endpoint_port(
                port,
                ports.len() > 1,
                &ip.child("ports").index(j),
            ));
        }
    }
    errs
}

fn fqdn(v: &str, p: &Path) -> Vec<Cause> {
    if v.is_empty() {
        return vec![Cause::required(p, "")];
    }
    let name = v.strip_suffix('.').unwrap_or(v);
    let msgs = names::dns1123_subdomain(name);
    if !msgs.is_empty() {
        return vec![Cause::invalid(p, BadValue::str(name), &msgs.join(","))];
    }
    if name.split('.').count() < 2 {
        return vec![Cause::invalid(
            p,
            BadValue::str(name),
            "should be a domain with at least two segments separated by dots",
        )];
    }
    for label in name.split('.') {
        let msgs = names::dns1123_label(label);
        if !msgs.is_empty() {
            return vec![Cause::invalid(p, BadValue::str(label), &msgs.join(","))];
        }
    }
    Vec::new()
}

/// EndpointSlice: address type, endpoints' addresses per type, ports.
pub fn endpoint_slice(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut errs = meta::object_meta(obj, true, NameRule::Subdomain);
    let addr_type = obj.s("addressType");
    let atp = Path::new("addressType");
    let supported: &[&str] = if old.is_some() {
        &["FQDN", "IP", "IPv4", "IPv6"]
    } else {
        &["FQDN", "IPv4", "IPv6"]
    };
    if addr_type.is_empty() {
        errs.push(Cause::required(&atp, ""));
    } else if !supported.contains(&addr_type) {
        errs.push(Cause::not_supported(
            &atp,
            BadValue::str(addr_type),
            supported,
        ));
    }
    let eps = obj.arr("endpoints");
    let ep_path = Path::new("endpoints");
    if eps.len() > 1000 {
        errs.push(Cause::too_many(&ep_path, eps.len(), 1000));
    } else {
        for (i, ep) in eps.iter().enumerate() {
            let ip = ep_path.index(i);
            let ap = ip.child("addresses");
            let addrs = ep.arr("addresses");
            if addrs.is_empty() {
                errs.push(Cause::required(&ap, "must contain at least 1 address"));
            } else if addrs.len() > 100 {
                errs.push(Cause::too_many(&ap, addrs.len(), 100));
            }
            for (j, a) in addrs.iter().enumerate() {
                let a = a.as_str().unwrap_or_default();
                let p = ap.index(j);
                let parsed = names::parse_ip(a);
                match addr_type {
                    "IPv4" if parsed.as_ref().and_then(names::as_v4).is_none() => {
                        errs.push(Cause::invalid(
                            &p,
                            BadValue::str(a),
                            "must be a valid IPv4 address",
                        ));
                    }
                    "IPv6"
                        if parsed.is_none()
                            || names::as_v4(
                                parsed.as_ref().unwrap_or(&std::net::IpAddr::from([0u8; 4])),
                            )
                            .is_some() =>
                    {
                        errs.push(Cause::invalid(
                            &p,
                            BadValue::str(a),
                            "must be a valid IPv6 address",
                        ));
                    }
                    "IPv4" | "IPv6" => errs.extend(non_special_ip(a, &p)),
                    "FQDN" => errs.extend(fqdn(a, &p)),
                    _ => {}
                }
            }
            if let Some(node) = ep.opt_s("nodeName") {
                for m in names::dns1123_subdomain(node) {
                    errs.push(Cause::invalid(
                        &ip.child("nodeName"),
                        BadValue::str(node),
                        &m,
                    ));
                }
            }
            let tp = ip.child("deprecatedTopology");
            let topo = ep.obj("deprecatedTopology").map_or(0, |m| m.len());
            if topo > 16 {
                errs.push(Cause::too_many(&tp, topo, 16));
            }
            errs.extend(meta::labels(ep, "deprecatedTopology", &tp));
            if let Some(h) = ep.opt_s("hostname") {
                for m in names::dns1123_label(h) {
                    errs.push(Cause::invalid(&ip.child("hostname"), BadValue::str(h), &m));
                }
            }
        }
    }
    let ports = obj.arr("ports");
    let pp = Path::new("ports");
    if ports.len() > 100 {
        errs.push(Cause::too_many(&pp, ports.len(), 100));
        return finish(errs, obj, old);
    }
    let mut seen: Vec<&str> = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let ip = pp.index(i);
        let name = port.s("name");
        if !name.is_empty() {
            for m in names::dns1123_label(name) {
                errs.push(Cause::invalid(&ip.child("name"), BadValue::str(name), &m));
            }
        }
        if seen.contains(&name) {
            errs.push(Cause::duplicate(&ip.child("name"), BadValue::str(name)));
        } else {
            seen.push(name);
        }
        match port.opt_s("protocol") {
            None => errs.push(Cause::required(&ip.child("protocol"), "")),
            Some(proto) if !PROTOCOLS.contains(&proto) => {
                errs.push(Cause::not_supported(
                    &ip.child("protocol"),
                    BadValue::str(proto),
                    PROTOCOLS,
                ));
            }
            Some(_) => {}
        }
        if let Some(app) = port.opt_s("appProtocol") {
            for m in names::qualified_name(app) {
                errs.push(Cause::invalid(
                    &ip.child("appProtocol"),
                    BadValue::str(app),
                    &m,
                ));
            }
        }
    }
    finish(errs, obj, old)
}

fn finish(mut errs: Vec<Cause>, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    if let Some(old) = old {
        if obj.s("addressType") != old.s("addressType") {
            errs.push(Cause::invalid(
                &Path::new("addressType"),
                BadValue::str(obj.s("addressType")),
                "field is immutable",
            ));
        }
        let mut all = meta::object_meta_update(obj, old);
        all.extend(errs);
        return all;
    }
    errs
}
