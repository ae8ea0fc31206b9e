//! The fast path against the full path: for every kind of name, type, case,
//! EDNS size and transport, the same answer (or no fast answer at all).

use hickory_proto::op::{Edns, Message, MessageType, Query};
use hickory_proto::rr::{Name, RecordType};

use super::answer;
use crate::handler::{respond_full, Transport};
use crate::test_objects::*;
use crate::zone::{Zone, ZoneBuilder};

fn zone() -> Zone {
    let mut b = ZoneBuilder::new("cluster.local", 30).unwrap().serial(42);
    b.add_service(&cluster_ip(
        "testns",
        "svc1",
        &["10.0.0.1"],
        &[("http", "TCP", 80)],
    ));
    b.add_service(&cluster_ip(
        "testns",
        "dual",
        &["10.0.0.3", "10::3"],
        &[("http", "TCP", 80), ("dns", "UDP", 53)],
    ));
    b.add_service(&headless("testns", "hdls", &[("http", "TCP", 80)], false));
    let ips: Vec<String> = (0..200)
        .map(|i| format!("10.244.{}.{}", i / 100, i % 100 + 1))
        .collect();
    let mut eps: Vec<Ep<'_>> = ips.iter().map(|ip| ep(ip)).collect();
    eps[3].hostname = Some("web-0");
    eps[4].hostname = Some("web-0");
    b.add_endpoint_slice(&slice(
        "testns",
        "hdls",
        "a",
        "IPv4",
        &[("http", "TCP", 8080)],
        &eps,
    ));
    b.add_endpoint_slice(&slice(
        "testns",
        "hdls",
        "b",
        "IPv6",
        &[("http", "TCP", 8080)],
        &[ep("fd00::5")],
    ));
    b.add_service(&headless("testns", "empty", &[], false));
    b.add_service(&external("testns", "ext", "ext.interwebs.test"));
    b.add_service(&external(
        "testns",
        "alias",
        "svc1.testns.svc.cluster.local",
    ));
    b.build()
}

const NAMES: &[&str] = &[
    "svc1.testns.svc.cluster.local.",
    "SVC1.TestNS.Svc.Cluster.LOCAL.",
    "dual.testns.svc.cluster.local.",
    "_http._tcp.dual.testns.svc.cluster.local.",
    "_dns._udp.dual.testns.svc.cluster.local.",
    "_dns._tcp.dual.testns.svc.cluster.local.",
    "hdls.testns.svc.cluster.local.",
    "_http._tcp.hdls.testns.svc.cluster.local.",
    "_HTTP._Tcp.Hdls.testns.svc.cluster.local.",
    "10-244-0-1.hdls.testns.svc.cluster.local.",
    "10-244-0-4.hdls.testns.svc.cluster.local.",
    "web-0.hdls.testns.svc.cluster.local.",
    "fd00--5.hdls.testns.svc.cluster.local.",
    "nope.hdls.testns.svc.cluster.local.",
    "10-244-0-1.svc1.testns.svc.cluster.local.",
    "empty.testns.svc.cluster.local.",
    "ext.testns.svc.cluster.local.",
    "x.ext.testns.svc.cluster.local.",
    "alias.testns.svc.cluster.local.",
    "nope.testns.svc.cluster.local.",
    "svc1.nons.svc.cluster.local.",
    "google.com.testns.svc.cluster.local.",
    "google.com.svc.cluster.local.",
    "google.com.cluster.local.",
    "a.b.c.d.e.svc1.testns.svc.cluster.local.",
    "a.b.svc1.testns.svc.cluster.local.",
    "testns.svc.cluster.local.",
    "svc.cluster.local.",
    "cluster.local.",
    "ns.dns.cluster.local.",
    "10-1-2-3.testns.pod.cluster.local.",
    "x.testns.other.cluster.local.",
    "example.com.",
    "1.0.0.10.in-addr.arpa.",
    "xcluster.local.",
];

const TYPES: &[RecordType] = &[
    RecordType::A,
    RecordType::AAAA,
    RecordType::SRV,
    RecordType::TXT,
    RecordType::CNAME,
    RecordType::SOA,
    RecordType::NS,
    RecordType::MX,
    RecordType::PTR,
    RecordType::HTTPS,
    RecordType::ANY,
    RecordType::AXFR,
];

fn query(name: &str, qtype: RecordType, edns: Option<u16>) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(0xabcd)
        .set_message_type(MessageType::Query)
        .set_recursion_desired(true)
        .set_checking_disabled(true);
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        m.set_edns(e);
    }
    m.to_vec().unwrap()
}

#[test]
fn the_fast_path_answers_as_the_full_path() {
    let zone = zone();
    let mut fast_answers = 0;
    let mut out = Vec::new();
    for name in NAMES {
        for qtype in TYPES {
            for edns in [None, Some(100), Some(1232), Some(4096)] {
                for transport in [Transport::Udp, Transport::Tcp] {
                    let packet = query(name, *qtype, edns);
                    let full = respond_full(&zone, &packet, transport).unwrap();
                    if !answer(&zone, &packet, transport, &mut out) {
                        continue;
                    }
                    fast_answers += 1;
                    let what = format!("{name} {qtype} edns {edns:?} {transport:?}");
                    let fast_message = Message::from_vec(&out).expect(&what);
                    let full_message = Message::from_vec(&full).unwrap();
                    assert_eq!(fast_message, full_message, "{what}");
                    // hickory compresses names case-sensitively: with a mixed-case
                    // question its answer can only be longer.
                    if name.bytes().any(|b| b.is_ascii_uppercase()) {
                        assert!(out.len() <= full.len(), "{what}");
                    } else {
                        assert_eq!(out.len(), full.len(), "{what}: same size");
                    }
                }
            }
        }
    }
    // Most of the questions above are the fast path's.
    assert!(fast_answers > 1000, "{fast_answers}");
}

#[test]
fn unusual_queries_take_the_full_path() {
    let zone = zone();
    let mut out = Vec::new();
    let name = "svc1.testns.svc.cluster.local.";
    let plain = query(name, RecordType::A, None);
    assert!(answer(&zone, &plain, Transport::Udp, &mut out));
    // EDNS version 1, an EDNS option, trailing bytes, class CH, a response,
    // opcode STATUS: none is answered here.
    let mut m = Message::from_vec(&query(name, RecordType::A, Some(1232))).unwrap();
    let mut e = Edns::new();
    e.set_version(1);
    m.set_edns(e);
    assert!(!answer(
        &zone,
        &m.to_vec().unwrap(),
        Transport::Udp,
        &mut out
    ));
    let mut with_option = query(name, RecordType::A, Some(1232));
    let n = with_option.len();
    with_option[n - 1] = 4;
    with_option.extend_from_slice(&[0, 10, 0, 0]);
    assert!(!answer(&zone, &with_option, Transport::Udp, &mut out));
    let mut trailing = plain.clone();
    trailing.push(0);
    assert!(!answer(&zone, &trailing, Transport::Udp, &mut out));
    let mut chaos = plain.clone();
    let n = chaos.len();
    chaos[n - 1] = 3;
    assert!(!answer(&zone, &chaos, Transport::Udp, &mut out));
    let mut response = plain.clone();
    response[2] |= 0x80;
    assert!(!answer(&zone, &response, Transport::Udp, &mut out));
    let mut status = plain.clone();
    status[2] |= 2 << 3;
    assert!(!answer(&zone, &status, Transport::Udp, &mut out));
}

#[test]
fn answers_are_cached_per_service_and_follow_changes() {
    let mut state = crate::zone::ZoneState::new("cluster.local", 30).unwrap();
    state.apply_service(&cluster_ip(
        "ns",
        "a",
        &["10.0.0.1"],
        &[("http", "TCP", 80)],
    ));
    let before = state.zone();
    let mut out = Vec::new();
    let packet = query("a.ns.svc.cluster.local.", RecordType::A, None);
    assert!(answer(&before, &packet, Transport::Udp, &mut out));
    let first = Message::from_vec(&out).unwrap();
    assert_eq!(first.answers()[0].data().to_string(), "10.0.0.1");
    state.apply_service(&cluster_ip(
        "ns",
        "a",
        &["10.0.0.2"],
        &[("http", "TCP", 80)],
    ));
    let after = state.zone();
    assert!(answer(&after, &packet, Transport::Udp, &mut out));
    let second = Message::from_vec(&out).unwrap();
    assert_eq!(second.answers()[0].data().to_string(), "10.0.0.2");
    // The old snapshot still answers as it did.
    assert!(answer(&before, &packet, Transport::Udp, &mut out));
    assert_eq!(Message::from_vec(&out).unwrap(), first);
}
