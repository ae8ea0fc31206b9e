//! The orders Kubernetes gives to endpoint ports and subsets.
//!
//! kube-controller-manager does not sort ports and subsets by value: it sorts them by a hash
//! of a textual dump of the Go struct (go-spew's `%#v` rendering, as `k8s.io/utils/dump`
//! `ForHash` produces it): MD5 for the ports and subsets of an Endpoints object, FNV-128a for
//! the ports of an EndpointSlice. To show the same order as a real cluster, this module
//! renders our objects exactly as that dump renders the Go structs (field order, type names,
//! nil pointers and slices) and sorts by the same digests.

use std::cmp::Ordering;
use std::fmt::Write;

use k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort, EndpointSubset, ObjectReference};
use k8s_openapi::api::discovery::v1::EndpointPort as SlicePort;
use md5::{Digest, Md5};

/// `(type)value` for a Go string-kinded value.
fn typed_str(out: &mut String, ty: &str, v: &str) {
    let _ = write!(out, "({ty}){v}");
}

/// `(*type)value` or `(*type)<nil>` for a Go pointer to a string-kinded value.
fn ptr_str(out: &mut String, ty: &str, v: Option<&str>) {
    match v {
        Some(v) => {
            let _ = write!(out, "(*{ty}){v}");
        }
        None => {
            let _ = write!(out, "(*{ty})<nil>");
        }
    }
}

fn object_reference_fields(out: &mut String, r: &ObjectReference) {
    out.push_str("{Kind:");
    typed_str(out, "string", r.kind.as_deref().unwrap_or(""));
    out.push_str(" Namespace:");
    typed_str(out, "string", r.namespace.as_deref().unwrap_or(""));
    out.push_str(" Name:");
    typed_str(out, "string", r.name.as_deref().unwrap_or(""));
    out.push_str(" UID:");
    typed_str(out, "types.UID", r.uid.as_deref().unwrap_or(""));
    out.push_str(" APIVersion:");
    typed_str(out, "string", r.api_version.as_deref().unwrap_or(""));
    out.push_str(" ResourceVersion:");
    typed_str(out, "string", r.resource_version.as_deref().unwrap_or(""));
    out.push_str(" FieldPath:");
    typed_str(out, "string", r.field_path.as_deref().unwrap_or(""));
    out.push('}');
}

/// The fields of a core `EndpointAddress` struct, `{IP:... TargetRef:...}`.
fn address_fields(out: &mut String, a: &EndpointAddress) {
    out.push_str("{IP:");
    typed_str(out, "string", &a.ip);
    out.push_str(" Hostname:");
    typed_str(out, "string", a.hostname.as_deref().unwrap_or(""));
    out.push_str(" NodeName:");
    ptr_str(out, "string", a.node_name.as_deref());
    out.push_str(" TargetRef:");
    match &a.target_ref {
        Some(r) => {
            out.push_str("(*v1.ObjectReference)");
            object_reference_fields(out, r);
        }
        None => out.push_str("(*v1.ObjectReference)<nil>"),
    }
    out.push('}');
}

fn port_fields(out: &mut String, p: &EndpointPort) {
    out.push_str("{Name:");
    typed_str(out, "string", p.name.as_deref().unwrap_or(""));
    let _ = write!(out, " Port:(int32){}", p.port);
    out.push_str(" Protocol:");
    typed_str(out, "v1.Protocol", p.protocol.as_deref().unwrap_or(""));
    out.push_str(" AppProtocol:");
    ptr_str(out, "string", p.app_protocol.as_deref());
    out.push('}');
}

/// A Go slice field: `([]T)<nil>` when absent, `([]T)[e1 e2]` (elements untyped) otherwise.
fn slice<T>(out: &mut String, ty: &str, items: Option<&Vec<T>>, each: fn(&mut String, &T)) {
    let _ = write!(out, "([]{ty})");
    match items {
        None => out.push_str("<nil>"),
        Some(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                each(out, item);
            }
            out.push(']');
        }
    }
}

/// The dump of a core `EndpointPort`.
pub(crate) fn dump_port(p: &EndpointPort) -> String {
    let mut out = String::from("(v1.EndpointPort)");
    port_fields(&mut out, p);
    out
}

/// The dump of an `EndpointSubset`.
pub(crate) fn dump_subset(s: &EndpointSubset) -> String {
    let mut out = String::from("(v1.EndpointSubset){Addresses:");
    slice(
        &mut out,
        "v1.EndpointAddress",
        s.addresses.as_ref(),
        address_fields,
    );
    out.push_str(" NotReadyAddresses:");
    slice(
        &mut out,
        "v1.EndpointAddress",
        s.not_ready_addresses.as_ref(),
        address_fields,
    );
    out.push_str(" Ports:");
    slice(&mut out, "v1.EndpointPort", s.ports.as_ref(), port_fields);
    out.push('}');
    out
}

/// The dump of a discovery `EndpointPort`.
pub(crate) fn dump_slice_port(p: &SlicePort) -> String {
    let mut out = String::from("(v1.EndpointPort){Name:");
    ptr_str(&mut out, "string", p.name.as_deref());
    out.push_str(" Protocol:");
    ptr_str(&mut out, "v1.Protocol", p.protocol.as_deref());
    out.push_str(" Port:");
    match p.port {
        Some(n) => {
            let _ = write!(out, "(*int32){n}");
        }
        None => out.push_str("(*int32)<nil>"),
    }
    out.push_str(" AppProtocol:");
    ptr_str(&mut out, "string", p.app_protocol.as_deref());
    out.push('}');
    out
}

fn md5_of(s: &str) -> [u8; 16] {
    Md5::digest(s.as_bytes()).into()
}

/// FNV-128a, as Go's `hash/fnv.New128a`, big-endian digest.
pub(crate) fn fnv128a(data: &[u8]) -> [u8; 16] {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    let mut h = OFFSET;
    for b in data {
        h ^= u128::from(*b);
        h = h.wrapping_mul(PRIME);
    }
    h.to_be_bytes()
}

/// Compares two addresses as Kubernetes does: IP bytes, then target UID (no target first).
pub(crate) fn cmp_address(a: &EndpointAddress, b: &EndpointAddress) -> Ordering {
    a.ip.as_bytes().cmp(b.ip.as_bytes()).then_with(|| {
        let ua = a
            .target_ref
            .as_ref()
            .map(|r| r.uid.clone().unwrap_or_default());
        let ub = b
            .target_ref
            .as_ref()
            .map(|r| r.uid.clone().unwrap_or_default());
        ua.cmp(&ub)
    })
}

/// Sorts subsets in Kubernetes' canonical order: addresses by IP and UID, ports and then
/// subsets by the MD5 of their dump.
pub(crate) fn sort_subsets(subsets: &mut [EndpointSubset]) {
    for s in subsets.iter_mut() {
        if let Some(a) = s.addresses.as_mut() {
            a.sort_by(cmp_address);
        }
        if let Some(a) = s.not_ready_addresses.as_mut() {
            a.sort_by(cmp_address);
        }
        if let Some(p) = s.ports.as_mut() {
            p.sort_by_cached_key(|p| md5_of(&dump_port(p)));
        }
    }
    subsets.sort_by_cached_key(|s| md5_of(&dump_subset(s)));
}

/// Sorts EndpointSlice ports in the order the EndpointSlice controller gives them (FNV-128a
/// of their dump).
pub(crate) fn sort_slice_ports(ports: &mut [SlicePort]) {
    ports.sort_by_cached_key(|p| fnv128a(dump_slice_port(p).as_bytes()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(name: &str, n: i32) -> EndpointPort {
        EndpointPort {
            name: Some(name.into()),
            port: n,
            protocol: Some("TCP".into()),
            app_protocol: None,
        }
    }

    #[test]
    fn port_dump_matches_go_spew() {
        assert_eq!(
            dump_port(&port("http", 8080)),
            "(v1.EndpointPort){Name:(string)http Port:(int32)8080 Protocol:(v1.Protocol)TCP AppProtocol:(*string)<nil>}"
        );
    }

    #[test]
    fn subset_dump_renders_nil_and_pointers_like_go() {
        let s = EndpointSubset {
            addresses: Some(vec![EndpointAddress {
                ip: "10.0.0.1".into(),
                node_name: Some("n1".into()),
                target_ref: Some(ObjectReference {
                    kind: Some("Pod".into()),
                    namespace: Some("default".into()),
                    name: Some("p".into()),
                    uid: Some("u1".into()),
                    ..Default::default()
                }),
                hostname: None,
            }]),
            not_ready_addresses: None,
            ports: Some(vec![port("", 80)]),
        };
        assert_eq!(
            dump_subset(&s),
            "(v1.EndpointSubset){Addresses:([]v1.EndpointAddress)[{IP:(string)10.0.0.1 Hostname:(string) \
             NodeName:(*string)n1 TargetRef:(*v1.ObjectReference){Kind:(string)Pod Namespace:(string)default \
             Name:(string)p UID:(types.UID)u1 APIVersion:(string) ResourceVersion:(string) FieldPath:(string)}}] \
             NotReadyAddresses:([]v1.EndpointAddress)<nil> Ports:([]v1.EndpointPort)[{Name:(string) Port:(int32)80 \
             Protocol:(v1.Protocol)TCP AppProtocol:(*string)<nil>}]}"
        );
    }

    #[test]
    fn fnv128a_matches_known_vectors() {
        // Reference values of Go's hash/fnv New128a.
        let hex = |d: [u8; 16]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(hex(fnv128a(b"")), "6c62272e07bb014262b821756295c58d");
        assert_eq!(hex(fnv128a(b"a")), "d228cb696f1a8caf78912b704e4a8964");
    }

    #[test]
    fn addresses_sort_by_ip_bytes_not_numerically() {
        let a = |ip: &str| EndpointAddress {
            ip: ip.into(),
            ..Default::default()
        };
        let mut v = [a("10.244.1.5"), a("10.244.1.10"), a("10.244.0.7")];
        v.sort_by(cmp_address);
        let ips: Vec<_> = v.iter().map(|a| a.ip.as_str()).collect();
        assert_eq!(ips, ["10.244.0.7", "10.244.1.10", "10.244.1.5"]);
    }

    #[test]
    fn sorting_ports_is_independent_of_input_order() {
        let mut a = vec![
            port("http", 8080),
            port("https", 8443),
            port("metrics", 9090),
        ];
        let mut b = vec![
            port("metrics", 9090),
            port("http", 8080),
            port("https", 8443),
        ];
        let mut sa = [EndpointSubset {
            ports: Some(std::mem::take(&mut a)),
            ..Default::default()
        }];
        let mut sb = [EndpointSubset {
            ports: Some(std::mem::take(&mut b)),
            ..Default::default()
        }];
        sort_subsets(&mut sa);
        sort_subsets(&mut sb);
        assert_eq!(sa[0].ports, sb[0].ports);
    }
}
