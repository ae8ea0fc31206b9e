//! Exact answers of the zone for every kind of name, after CoreDNS'
//! kubernetes plugin tests and the Kubernetes DNS specification.

use crate::test_objects::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, Record, RecordType};

use super::{Lookup, Zone, ZoneBuilder};

const SOA: &str =
    "cluster.local. 30 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 30";

fn zone() -> Zone {
    let mut b = ZoneBuilder::new("cluster.local", 30).unwrap().serial(42);
    b.add_namespace(&namespace("emptyns"));
    b.add_service(&cluster_ip(
        "testns",
        "svc1",
        &["10.0.0.1"],
        &[("http", "TCP", 80)],
    ));
    b.add_service(&cluster_ip(
        "testns",
        "svc6",
        &["1234:abcd::1"],
        &[("http", "TCP", 80)],
    ));
    b.add_service(&cluster_ip(
        "testns",
        "dual",
        &["10.0.0.3", "10::3"],
        &[("http", "TCP", 80)],
    ));
    b.add_service(&cluster_ip(
        "testns",
        "multi",
        &["10.0.0.4"],
        &[("http", "TCP", 80), ("dns", "UDP", 53), ("", "TCP", 8080)],
    ));
    b.add_service(&headless("testns", "hdls1", &[("http", "TCP", 80)], false));
    b.add_endpoint_slice(&slice(
        "testns",
        "hdls1",
        "a",
        "IPv4",
        &[("http", "TCP", 80)],
        &[
            ep("172.0.0.2"),
            ep("172.0.0.3"),
            Ep {
                ip: "172.0.0.4",
                ready: true,
                hostname: Some("dup-name"),
                pod: None,
            },
            Ep {
                ip: "172.0.0.5",
                ready: true,
                hostname: Some("dup-name"),
                pod: None,
            },
            Ep {
                ip: "172.0.0.9",
                ready: false,
                hostname: None,
                pod: None,
            },
        ],
    ));
    b.add_endpoint_slice(&slice(
        "testns",
        "hdls1",
        "b",
        "IPv6",
        &[("http", "TCP", 80)],
        &[ep("5678:abcd::1"), ep("5678:abcd::2")],
    ));
    b.add_service(&headless("testns", "pnr", &[], true));
    b.add_endpoint_slice(&slice(
        "testns",
        "pnr",
        "a",
        "IPv4",
        &[],
        &[Ep {
            ip: "172.0.0.30",
            ready: false,
            hostname: None,
            pod: None,
        }],
    ));
    b.add_service(&headless("testns", "nginx", &[("web", "TCP", 80)], false));
    b.add_endpoint_slice(&slice(
        "testns",
        "nginx",
        "a",
        "IPv4",
        &[("web", "TCP", 8080)],
        &[
            Ep {
                ip: "10.244.1.5",
                ready: true,
                hostname: None,
                pod: Some("web-0"),
            },
            Ep {
                ip: "10.244.1.6",
                ready: true,
                hostname: Some("web-1"),
                pod: Some("web-1"),
            },
        ],
    ));
    b.add_pod(&pod("testns", "web-0", Some("web-0"), Some("nginx")));
    b.add_service(&headless(
        "testns",
        "empty-hdls",
        &[("http", "TCP", 80)],
        false,
    ));
    b.add_service(&external("testns", "external", "ext.interwebs.test"));
    b.add_service(&external(
        "testns",
        "external-to-service",
        "svc1.testns.svc.cluster.local",
    ));
    b.add_service(&external("testns", "external-ip", "1.2.3.4"));
    b.add_service(&cluster_ip(
        "kube-system",
        "kube-dns",
        &["10.96.0.10"],
        &[("dns", "UDP", 53)],
    ));
    b.build()
}

struct Got {
    rcode: ResponseCode,
    answers: Vec<String>,
    authority: Vec<String>,
    additionals: Vec<String>,
    chase: Option<Name>,
}

fn render(records: &[Record]) -> Vec<String> {
    let mut out: Vec<String> = records
        .iter()
        .map(|r| {
            r.to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    out.sort();
    out
}

fn ask(zone: &Zone, name: &str, qtype: RecordType) -> Got {
    match zone.lookup(&Name::from_ascii(name).unwrap(), qtype) {
        Lookup::Authoritative(a) => Got {
            rcode: a.rcode,
            answers: render(&a.answers),
            authority: render(&a.authority),
            additionals: render(&a.additionals),
            chase: a.chase,
        },
        Lookup::NotInZone => panic!("{name} {qtype} not in zone"),
    }
}

fn answers(name: &str, qtype: RecordType, expected: &[&str]) -> Got {
    let got = ask(&zone(), name, qtype);
    assert_eq!(got.rcode, ResponseCode::NoError, "{name} {qtype}");
    let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(got.answers, expected, "{name} {qtype}");
    assert!(
        got.authority.is_empty(),
        "{name} {qtype}: {:?}",
        got.authority
    );
    got
}

fn nodata(name: &str, qtype: RecordType) {
    let got = ask(&zone(), name, qtype);
    assert_eq!(got.rcode, ResponseCode::NoError, "{name} {qtype}");
    assert!(got.answers.is_empty(), "{name} {qtype}: {:?}", got.answers);
    assert_eq!(got.authority, vec![SOA.to_string()], "{name} {qtype}");
}

fn nxdomain(name: &str, qtype: RecordType) {
    let got = ask(&zone(), name, qtype);
    assert_eq!(got.rcode, ResponseCode::NXDomain, "{name} {qtype}");
    assert!(got.answers.is_empty(), "{name} {qtype}: {:?}", got.answers);
    assert_eq!(got.authority, vec![SOA.to_string()], "{name} {qtype}");
}

#[test]
fn cluster_ip_service_a_and_aaaa() {
    answers(
        "svc1.testns.svc.cluster.local.",
        RecordType::A,
        &["svc1.testns.svc.cluster.local. 30 IN A 10.0.0.1"],
    );
    nodata("svc1.testns.svc.cluster.local.", RecordType::AAAA);
    answers(
        "svc6.testns.svc.cluster.local.",
        RecordType::AAAA,
        &["svc6.testns.svc.cluster.local. 30 IN AAAA 1234:abcd::1"],
    );
    answers(
        "dual.testns.svc.cluster.local.",
        RecordType::A,
        &["dual.testns.svc.cluster.local. 30 IN A 10.0.0.3"],
    );
    answers(
        "dual.testns.svc.cluster.local.",
        RecordType::AAAA,
        &["dual.testns.svc.cluster.local. 30 IN AAAA 10::3"],
    );
}

#[test]
fn names_are_case_insensitive_and_keep_the_question_case() {
    answers(
        "SVC1.TestNS.svc.Cluster.Local.",
        RecordType::A,
        &["SVC1.TestNS.svc.Cluster.Local. 30 IN A 10.0.0.1"],
    );
}

#[test]
fn service_srv_per_port() {
    let got = answers(
        "_http._tcp.svc1.testns.svc.cluster.local.",
        RecordType::SRV,
        &["_http._tcp.svc1.testns.svc.cluster.local. 30 IN SRV 0 100 80 svc1.testns.svc.cluster.local."],
    );
    assert_eq!(
        got.additionals,
        vec!["svc1.testns.svc.cluster.local. 30 IN A 10.0.0.1"]
    );
    let got = answers(
        "multi.testns.svc.cluster.local.",
        RecordType::SRV,
        &[
            "multi.testns.svc.cluster.local. 30 IN SRV 0 33 53 multi.testns.svc.cluster.local.",
            "multi.testns.svc.cluster.local. 30 IN SRV 0 33 80 multi.testns.svc.cluster.local.",
            "multi.testns.svc.cluster.local. 30 IN SRV 0 33 8080 multi.testns.svc.cluster.local.",
        ],
    );
    assert_eq!(
        got.additionals,
        vec!["multi.testns.svc.cluster.local. 30 IN A 10.0.0.4"]
    );
    answers(
        "_dns._udp.multi.testns.svc.cluster.local.",
        RecordType::SRV,
        &["_dns._udp.multi.testns.svc.cluster.local. 30 IN SRV 0 100 53 multi.testns.svc.cluster.local."],
    );
    // Wrong protocol, unknown port name, missing underscores.
    nxdomain("_dns._tcp.multi.testns.svc.cluster.local.", RecordType::SRV);
    nxdomain(
        "_nope._tcp.multi.testns.svc.cluster.local.",
        RecordType::SRV,
    );
    nxdomain("http.tcp.multi.testns.svc.cluster.local.", RecordType::SRV);
    // Dual stack: one SRV (weight shared before merging), both addresses.
    let got = answers(
        "dual.testns.svc.cluster.local.",
        RecordType::SRV,
        &["dual.testns.svc.cluster.local. 30 IN SRV 0 50 80 dual.testns.svc.cluster.local."],
    );
    assert_eq!(
        got.additionals,
        vec![
            "dual.testns.svc.cluster.local. 30 IN A 10.0.0.3",
            "dual.testns.svc.cluster.local. 30 IN AAAA 10::3"
        ]
    );
}

#[test]
fn headless_service_answers_ready_endpoints() {
    answers(
        "hdls1.testns.svc.cluster.local.",
        RecordType::A,
        &[
            "hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.2",
            "hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.3",
            "hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.4",
            "hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.5",
        ],
    );
    answers(
        "hdls1.testns.svc.cluster.local.",
        RecordType::AAAA,
        &[
            "hdls1.testns.svc.cluster.local. 30 IN AAAA 5678:abcd::1",
            "hdls1.testns.svc.cluster.local. 30 IN AAAA 5678:abcd::2",
        ],
    );
    // publishNotReadyAddresses publishes the unready endpoint.
    answers(
        "pnr.testns.svc.cluster.local.",
        RecordType::A,
        &["pnr.testns.svc.cluster.local. 30 IN A 172.0.0.30"],
    );
    // No ready endpoint: NXDOMAIN, as CoreDNS answers.
    nxdomain("empty-hdls.testns.svc.cluster.local.", RecordType::A);
}

#[test]
fn headless_srv_points_at_each_endpoint() {
    let got = answers(
        "_http._tcp.hdls1.testns.svc.cluster.local.",
        RecordType::SRV,
        &[
            "_http._tcp.hdls1.testns.svc.cluster.local. 30 IN SRV 0 16 80 172-0-0-2.hdls1.testns.svc.cluster.local.",
            "_http._tcp.hdls1.testns.svc.cluster.local. 30 IN SRV 0 16 80 172-0-0-3.hdls1.testns.svc.cluster.local.",
            "_http._tcp.hdls1.testns.svc.cluster.local. 30 IN SRV 0 16 80 5678-abcd--1.hdls1.testns.svc.cluster.local.",
            "_http._tcp.hdls1.testns.svc.cluster.local. 30 IN SRV 0 16 80 5678-abcd--2.hdls1.testns.svc.cluster.local.",
            "_http._tcp.hdls1.testns.svc.cluster.local. 30 IN SRV 0 16 80 dup-name.hdls1.testns.svc.cluster.local.",
        ],
    );
    assert_eq!(
        got.additionals,
        vec![
            "172-0-0-2.hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.2",
            "172-0-0-3.hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.3",
            "5678-abcd--1.hdls1.testns.svc.cluster.local. 30 IN AAAA 5678:abcd::1",
            "5678-abcd--2.hdls1.testns.svc.cluster.local. 30 IN AAAA 5678:abcd::2",
            "dup-name.hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.4",
            "dup-name.hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.5",
        ]
    );
    // Endpoint ports are the target ports.
    answers(
        "_web._tcp.nginx.testns.svc.cluster.local.",
        RecordType::SRV,
        &[
            "_web._tcp.nginx.testns.svc.cluster.local. 30 IN SRV 0 50 8080 web-0.nginx.testns.svc.cluster.local.",
            "_web._tcp.nginx.testns.svc.cluster.local. 30 IN SRV 0 50 8080 web-1.nginx.testns.svc.cluster.local.",
        ],
    );
}

#[test]
fn per_endpoint_names() {
    answers(
        "172-0-0-2.hdls1.testns.svc.cluster.local.",
        RecordType::A,
        &["172-0-0-2.hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.2"],
    );
    answers(
        "dup-name.hdls1.testns.svc.cluster.local.",
        RecordType::A,
        &[
            "dup-name.hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.4",
            "dup-name.hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.5",
        ],
    );
    answers(
        "5678-abcd--2.hdls1.testns.svc.cluster.local.",
        RecordType::AAAA,
        &["5678-abcd--2.hdls1.testns.svc.cluster.local. 30 IN AAAA 5678:abcd::2"],
    );
    // StatefulSet pods: hostname from the slice, or from the Pod's spec.hostname + subdomain.
    answers(
        "web-0.nginx.testns.svc.cluster.local.",
        RecordType::A,
        &["web-0.nginx.testns.svc.cluster.local. 30 IN A 10.244.1.5"],
    );
    answers(
        "web-1.nginx.testns.svc.cluster.local.",
        RecordType::A,
        &["web-1.nginx.testns.svc.cluster.local. 30 IN A 10.244.1.6"],
    );
    nodata("web-1.nginx.testns.svc.cluster.local.", RecordType::AAAA);
    // The unready endpoint and unknown endpoints do not exist.
    nxdomain("172-0-0-9.hdls1.testns.svc.cluster.local.", RecordType::A);
    nxdomain(
        "bogusendpoint.hdls1.testns.svc.cluster.local.",
        RecordType::A,
    );
    nxdomain(
        "bogusendpoint.svc0.testns.svc.cluster.local.",
        RecordType::A,
    );
    nxdomain(
        "endpoint.external.testns.svc.cluster.local.",
        RecordType::CNAME,
    );
}

#[test]
fn external_name_services() {
    let got = answers(
        "external.testns.svc.cluster.local.",
        RecordType::CNAME,
        &["external.testns.svc.cluster.local. 30 IN CNAME ext.interwebs.test."],
    );
    assert_eq!(got.chase, None);
    let got = answers(
        "external.testns.svc.cluster.local.",
        RecordType::A,
        &["external.testns.svc.cluster.local. 30 IN CNAME ext.interwebs.test."],
    );
    assert_eq!(
        got.chase,
        Some(Name::from_ascii("ext.interwebs.test.").unwrap())
    );
    let got = answers(
        "external-to-service.testns.svc.cluster.local.",
        RecordType::A,
        &[
            "external-to-service.testns.svc.cluster.local. 30 IN CNAME svc1.testns.svc.cluster.local.",
            "svc1.testns.svc.cluster.local. 30 IN A 10.0.0.1",
        ],
    );
    assert_eq!(got.chase, None);
    // An IP as externalName publishes nothing.
    nxdomain("external-ip.testns.svc.cluster.local.", RecordType::A);
}

#[test]
fn pod_names_in_insecure_mode() {
    answers(
        "10-244-0-1.testns.pod.cluster.local.",
        RecordType::A,
        &["10-244-0-1.testns.pod.cluster.local. 30 IN A 10.244.0.1"],
    );
    answers(
        "fd00--5.emptyns.pod.cluster.local.",
        RecordType::AAAA,
        &["fd00--5.emptyns.pod.cluster.local. 30 IN AAAA fd00::5"],
    );
    nodata("10-244-0-1.testns.pod.cluster.local.", RecordType::AAAA);
    nxdomain("blah.testns.pod.cluster.local.", RecordType::A);
    nxdomain("10-244-0-1.nosuchns.pod.cluster.local.", RecordType::A);
}

#[test]
fn nodata_versus_nxdomain() {
    nodata("cluster.local.", RecordType::A);
    nodata("svc.cluster.local.", RecordType::A);
    nodata("svc.cluster.local.", RecordType::NS);
    nodata("pod.cluster.local.", RecordType::A);
    nodata("testns.svc.cluster.local.", RecordType::A);
    nodata("testns.svc.cluster.local.", RecordType::NS);
    nodata("emptyns.svc.cluster.local.", RecordType::A);
    nodata("svc1.testns.svc.cluster.local.", RecordType::SOA);
    nodata("svc1.testns.svc.cluster.local.", RecordType::MX);
    nxdomain("nosuchns.svc.cluster.local.", RecordType::A);
    nxdomain("svc0.testns.svc.cluster.local.", RecordType::A);
    nxdomain("svc0.testns.svc.cluster.local.", RecordType::AAAA);
    nxdomain("svc0.svc-nons.svc.cluster.local.", RecordType::A);
    nxdomain("foo.cluster.local.", RecordType::NS);
    nxdomain("foo.svc.cluster.local.", RecordType::NS);
    nxdomain(
        "a.b.c._http._tcp.svc1.testns.svc.cluster.local.",
        RecordType::A,
    );
}

#[test]
fn apex_soa_ns_and_schema_version() {
    answers("cluster.local.", RecordType::SOA, &[SOA]);
    let got = answers(
        "cluster.local.",
        RecordType::NS,
        &["cluster.local. 30 IN NS ns.dns.cluster.local."],
    );
    assert_eq!(
        got.additionals,
        vec!["ns.dns.cluster.local. 30 IN A 10.96.0.10"]
    );
    answers(
        "ns.dns.cluster.local.",
        RecordType::A,
        &["ns.dns.cluster.local. 30 IN A 10.96.0.10"],
    );
    answers(
        "dns-version.cluster.local.",
        RecordType::TXT,
        &["dns-version.cluster.local. 28800 IN TXT 1.1.0"],
    );
}

#[test]
fn ptr_for_cluster_ips_and_endpoints() {
    answers(
        "1.0.0.10.in-addr.arpa.",
        RecordType::PTR,
        &["1.0.0.10.in-addr.arpa. 30 IN PTR svc1.testns.svc.cluster.local."],
    );
    answers(
        "2.0.0.172.in-addr.arpa.",
        RecordType::PTR,
        &["2.0.0.172.in-addr.arpa. 30 IN PTR 172-0-0-2.hdls1.testns.svc.cluster.local."],
    );
    answers(
        "5.1.244.10.in-addr.arpa.",
        RecordType::PTR,
        &["5.1.244.10.in-addr.arpa. 30 IN PTR web-0.nginx.testns.svc.cluster.local."],
    );
    answers(
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa.",
        RecordType::PTR,
        &["1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa. 30 IN PTR svc6.testns.svc.cluster.local."],
    );
    let z = zone();
    // Unknown addresses and partial reverse names go upstream.
    assert_eq!(
        z.lookup(
            &Name::from_ascii("9.9.9.9.in-addr.arpa.").unwrap(),
            RecordType::PTR
        ),
        Lookup::NotInZone
    );
    assert_eq!(
        z.lookup(
            &Name::from_ascii("10.in-addr.arpa.").unwrap(),
            RecordType::PTR
        ),
        Lookup::NotInZone
    );
    // The unready endpoint has no PTR.
    assert_eq!(
        z.lookup(
            &Name::from_ascii("9.0.0.172.in-addr.arpa.").unwrap(),
            RecordType::PTR
        ),
        Lookup::NotInZone
    );
}

#[test]
fn names_outside_the_zone_are_not_answered() {
    let z = zone();
    assert_eq!(
        z.lookup(&Name::from_ascii("example.com.").unwrap(), RecordType::A),
        Lookup::NotInZone
    );
    assert_eq!(
        z.lookup(&Name::from_ascii("local.").unwrap(), RecordType::A),
        Lookup::NotInZone
    );
    assert_eq!(
        z.lookup(&Name::from_ascii("xcluster.local.").unwrap(), RecordType::A),
        Lookup::NotInZone
    );
}

#[test]
fn ttl_and_domain_are_configurable() {
    let mut b = ZoneBuilder::new("example.internal.", 5).unwrap().serial(7);
    b.add_service(&cluster_ip(
        "default",
        "kubernetes",
        &["10.96.0.1"],
        &[("https", "TCP", 443)],
    ));
    let z = b.build();
    let got = ask(
        &z,
        "kubernetes.default.svc.example.internal.",
        RecordType::A,
    );
    assert_eq!(
        got.answers,
        vec!["kubernetes.default.svc.example.internal. 5 IN A 10.96.0.1"]
    );
    let got = ask(&z, "nope.default.svc.example.internal.", RecordType::A);
    assert_eq!(
        got.authority,
        vec!["example.internal. 5 IN SOA ns.dns.example.internal. hostmaster.example.internal. 7 7200 1800 86400 5"]
    );
    assert!(ZoneBuilder::new(".", 5).is_err());
}
