//! The handler on raw bytes: answers, FORMERR, NOTIMP, BADVERS, EDNS0 sizes,
//! truncation, and random bytes that must never panic it.

use crate::test_objects::*;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use proptest::prelude::*;

use super::{respond_local, Transport};
use crate::zone::{Zone, ZoneBuilder};

fn zone() -> &'static Zone {
    static ZONE: std::sync::OnceLock<Zone> = std::sync::OnceLock::new();
    ZONE.get_or_init(build_zone)
}

fn build_zone() -> Zone {
    let mut b = ZoneBuilder::new("cluster.local", 30).unwrap();
    b.add_service(&cluster_ip(
        "default",
        "kubernetes",
        &["10.96.0.1"],
        &[("https", "TCP", 443)],
    ));
    b.add_service(&headless("default", "big", &[("http", "TCP", 80)], false));
    let eps: Vec<String> = (0..200)
        .map(|i| format!("10.244.{}.{}", i / 100, i % 100 + 1))
        .collect();
    let eps: Vec<Ep<'_>> = eps.iter().map(|ip| ep(ip)).collect();
    b.add_endpoint_slice(&slice(
        "default",
        "big",
        "a",
        "IPv4",
        &[("http", "TCP", 8080)],
        &eps,
    ));
    b.build()
}

fn query(name: &str, qtype: RecordType, edns: Option<u16>) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(4242)
        .set_message_type(MessageType::Query)
        .set_recursion_desired(true);
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        m.set_edns(e);
    }
    m.to_vec().unwrap()
}

fn answer(packet: &[u8], transport: Transport) -> (Message, usize) {
    let bytes = respond_local(zone(), packet, transport).expect("an answer");
    (Message::from_vec(&bytes).unwrap(), bytes.len())
}

#[test]
fn answers_a_query_from_the_zone() {
    let (m, _) = answer(
        &query("kubernetes.default.svc.cluster.local.", RecordType::A, None),
        Transport::Udp,
    );
    assert_eq!(m.id(), 4242);
    assert_eq!(m.message_type(), MessageType::Response);
    assert!(m.authoritative());
    assert!(m.recursion_desired() && m.recursion_available());
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert_eq!(m.queries().len(), 1);
    assert_eq!(m.answers().len(), 1);
    assert_eq!(
        m.answers()[0]
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        "kubernetes.default.svc.cluster.local. 30 IN A 10.96.0.1"
    );
    assert!(m.extensions().is_none(), "no OPT without one in the query");
}

#[test]
fn nxdomain_carries_the_soa() {
    let (m, _) = answer(
        &query("nope.default.svc.cluster.local.", RecordType::A, Some(1232)),
        Transport::Udp,
    );
    assert_eq!(m.response_code(), ResponseCode::NXDomain);
    assert!(m.answers().is_empty());
    assert_eq!(m.name_servers().len(), 1);
    assert_eq!(m.name_servers()[0].record_type(), RecordType::SOA);
    assert!(m.extensions().is_some(), "OPT echoed");
}

#[test]
fn names_outside_the_zone_fail_without_upstream() {
    let (m, _) = answer(&query("example.com.", RecordType::A, None), Transport::Udp);
    assert_eq!(m.response_code(), ResponseCode::ServFail);
    assert!(!m.authoritative());
}

#[test]
fn short_packets_and_responses_are_dropped() {
    assert_eq!(respond_local(zone(), &[], Transport::Udp), None);
    assert_eq!(respond_local(zone(), &[1, 2, 3], Transport::Udp), None);
    let mut packet = query("kubernetes.default.svc.cluster.local.", RecordType::A, None);
    packet[2] |= 0x80;
    assert_eq!(respond_local(zone(), &packet, Transport::Udp), None);
}

#[test]
fn garbage_after_a_header_is_formerr() {
    // id 0xbeef, RD, one question, then a label running past the end.
    let packet = [
        0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 40, b'a', b'b',
    ];
    let bytes = respond_local(zone(), &packet, Transport::Udp).unwrap();
    assert_eq!(bytes, vec![0xbe, 0xef, 0x81, 0x81, 0, 0, 0, 0, 0, 0, 0, 0]);
    let m = Message::from_vec(&bytes).unwrap();
    assert_eq!(m.response_code(), ResponseCode::FormErr);
}

#[test]
fn two_questions_are_formerr() {
    let mut m = Message::new();
    m.set_id(7);
    m.add_query(Query::query(
        Name::from_ascii("a.cluster.local.").unwrap(),
        RecordType::A,
    ));
    m.add_query(Query::query(
        Name::from_ascii("b.cluster.local.").unwrap(),
        RecordType::A,
    ));
    let (r, _) = answer(&m.to_vec().unwrap(), Transport::Udp);
    assert_eq!(r.response_code(), ResponseCode::FormErr);
    assert_eq!(r.id(), 7);
}

#[test]
fn other_opcodes_are_notimp_and_edns1_is_badvers() {
    let mut m = Message::new();
    m.set_id(8).set_op_code(OpCode::Status);
    let (r, _) = answer(&m.to_vec().unwrap(), Transport::Udp);
    assert_eq!(r.response_code(), ResponseCode::NotImp);

    let mut m = Message::new();
    m.set_id(9);
    m.add_query(Query::query(
        Name::from_ascii("kubernetes.default.svc.cluster.local.").unwrap(),
        RecordType::A,
    ));
    let mut e = Edns::new();
    e.set_version(1);
    m.set_edns(e);
    let (r, _) = answer(&m.to_vec().unwrap(), Transport::Udp);
    // 16 is BADVERS in an OPT-carrying answer (hickory decodes it as its TSIG twin BADSIG).
    assert_eq!(u16::from(r.response_code()), 16);
    assert!(r.extensions().is_some());
    assert!(r.answers().is_empty());
}

#[test]
fn big_answers_are_truncated_over_udp_and_whole_over_tcp() {
    let q = query("big.default.svc.cluster.local.", RecordType::A, None);
    let (m, len) = answer(&q, Transport::Udp);
    assert!(m.truncated());
    assert!(len <= 512, "{len}");
    assert!(!m.answers().is_empty() && m.answers().len() < 200);

    // With compression 200 A records take about 3.3 kB: they fit in 4096.
    let q = query("big.default.svc.cluster.local.", RecordType::A, Some(4096));
    let (m, len) = answer(&q, Transport::Udp);
    assert!(!m.truncated());
    assert!(len <= 4096 && len > 512, "{len}");
    assert_eq!(m.answers().len(), 200);

    let q = query("big.default.svc.cluster.local.", RecordType::A, None);
    let (m, _) = answer(&q, Transport::Tcp);
    assert!(!m.truncated());
    assert_eq!(m.answers().len(), 200);

    // 200 SRV records and their addresses do not fit in 4096 bytes.
    let q = query(
        "_http._tcp.big.default.svc.cluster.local.",
        RecordType::SRV,
        Some(4096),
    );
    let (m, len) = answer(&q, Transport::Udp);
    assert!(m.truncated());
    assert!(len <= 4096, "{len}");
    assert!(m.additionals().is_empty());

    let q = query(
        "_http._tcp.big.default.svc.cluster.local.",
        RecordType::SRV,
        None,
    );
    let (m, _) = answer(&q, Transport::Tcp);
    assert_eq!(m.answers().len(), 200);
    assert_eq!(m.additionals().len(), 200);
}

#[test]
fn the_client_payload_size_is_honoured() {
    let q = query("big.default.svc.cluster.local.", RecordType::A, Some(65000));
    let (m, _) = answer(&q, Transport::Udp);
    assert!(!m.truncated());
    assert_eq!(m.answers().len(), 200);
    // Sizes below 512 count as 512.
    let q = query(
        "kubernetes.default.svc.cluster.local.",
        RecordType::A,
        Some(100),
    );
    let (m, _) = answer(&q, Transport::Udp);
    assert!(!m.truncated());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let z = zone();
        let _ = respond_local(z, &bytes, Transport::Udp);
        let _ = respond_local(z, &bytes, Transport::Tcp);
    }

    #[test]
    fn mutated_queries_never_panic(
        flips in proptest::collection::vec((0usize..64, any::<u8>()), 1..8),
        cut in 0usize..80,
    ) {
        let z = zone();
        let mut packet = query("_http._tcp.big.default.svc.cluster.local.", RecordType::SRV, Some(1232));
        for (at, value) in flips {
            let i = at % packet.len();
            packet[i] = value;
        }
        packet.truncate(packet.len().saturating_sub(cut % packet.len()));
        if let Some(bytes) = respond_local(z, &packet, Transport::Udp) {
            prop_assert!(bytes.len() >= 12);
            prop_assert_eq!(&bytes[..2], &packet[..2]);
            prop_assert!(bytes[2] & 0x80 != 0, "a response");
        }
    }
}
