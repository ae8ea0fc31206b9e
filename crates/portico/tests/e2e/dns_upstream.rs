//! Names outside `cluster.local` from inside a pod: the cluster DNS forwards them to the
//! upstream resolver (by default the host's first `nameserver`; here a resolver the test
//! runs on loopback and hands to `portico up --upstream-dns`, since tests may only talk to
//! 127.0.0.0/8), caches the answers, and resolves ExternalName targets the same way.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};

use crate::sandbox::Up;
use crate::support::exec;

/// The address the loopback resolver gives `outside.example.test` (TEST-NET-1: only ever
/// an answer, never contacted).
const OUTSIDE_IP: &str = "192.0.2.10";

/// A resolver on 127.0.0.1 that knows one name and counts the questions it gets.
struct Upstream {
    addr: SocketAddr,
    questions: Arc<AtomicUsize>,
}

fn upstream() -> Upstream {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the upstream resolver");
    let addr = socket.local_addr().expect("its address");
    let questions = Arc::new(AtomicUsize::new(0));
    let counted = questions.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let Ok(request) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            counted.fetch_add(1, Ordering::SeqCst);
            let mut m = Message::new();
            m.set_id(request.id())
                .set_message_type(MessageType::Response)
                .set_recursion_desired(request.recursion_desired())
                .set_recursion_available(true);
            m.add_queries(request.queries().iter().cloned());
            match request.query() {
                Some(q)
                    if q.name().to_lowercase().to_ascii() == "outside.example.test."
                        && q.query_type() == RecordType::A =>
                {
                    let ip: Ipv4Addr = OUTSIDE_IP.parse().expect("an IPv4 address");
                    m.add_answer(Record::from_rdata(q.name().clone(), 300, RData::A(A(ip))));
                }
                Some(q) if q.name().to_lowercase().to_ascii() == "outside.example.test." => {}
                _ => {
                    m.set_response_code(ResponseCode::NXDomain);
                }
            }
            if let Ok(bytes) = m.to_vec() {
                let _ = socket.send_to(&bytes, from);
            }
        }
    });
    Upstream { addr, questions }
}

fn dig(c: &Up, args: &[&str]) -> String {
    let mut cmd = vec!["dig"];
    cmd.extend_from_slice(args);
    let r = exec(c, "client", &cmd);
    assert!(r.ok, "dig {args:?}: {}{}", r.stdout, r.stderr);
    r.stdout
}

#[test]
fn names_outside_the_cluster_come_from_the_upstream_resolver_with_a_cache() {
    let up = upstream();
    let c = Up::start_with(1, None, &["--upstream-dns", &up.addr.to_string()]);
    c.apply(
        "apiVersion: v1
kind: Service
metadata: {name: outside}
spec:
  type: ExternalName
  externalName: outside.example.test
",
    );
    c.client_pod();
    // The DNS pods come moments after the nodes: wait until an outside name answers.
    // Until then dig fails (the kube-dns Service has no ready endpoint and refuses), so
    // a failed dig here means "not yet", not a failure.
    let first = c.eventually(120, || {
        let r = exec(
            &c,
            "client",
            &[
                "dig",
                "+short",
                "+time=2",
                "+tries=1",
                "outside.example.test",
            ],
        );
        (r.ok && !r.stdout.trim().is_empty()).then_some(r.stdout)
    });
    assert_eq!(first.trim(), OUTSIDE_IP, "A from the upstream resolver");

    // Cached: more lookups (spread over the two DNS replicas) ask upstream at most once
    // more per replica.
    let asked = up.questions.load(Ordering::SeqCst);
    for _ in 0..6 {
        let again = dig(&c, &["+short", "outside.example.test"]);
        assert_eq!(again.trim(), OUTSIDE_IP);
    }
    let more = up.questions.load(Ordering::SeqCst) - asked;
    assert!(more <= 2, "6 repeated lookups asked upstream {more} times");

    // An ExternalName Service: CNAME to the outside name, whose A comes from upstream.
    let chain = dig(&c, &["+short", "outside.default.svc.cluster.local"]);
    let lines: Vec<&str> = chain.lines().collect();
    assert_eq!(
        lines,
        ["outside.example.test.", OUTSIDE_IP],
        "CNAME then the upstream's A:\n{chain}"
    );
    // The glibc resolver with the pod's search path follows the same chain.
    let r = exec(&c, "client", &["getent", "hosts", "outside"]);
    assert!(
        r.ok && r.stdout.starts_with(OUTSIDE_IP),
        "{}{}",
        r.stdout,
        r.stderr
    );

    // A name the upstream does not know: its NXDOMAIN comes back to the pod.
    let missing = dig(&c, &["missing.example.test"]);
    assert!(missing.contains("status: NXDOMAIN"), "{missing}");
}
