//! The server end to end on 127.0.0.1: real `dig` (Debian's dnsutils) and
//! raw UDP/TCP clients against a zone built from objects, and forwarding to
//! a fake upstream on 127.0.0.1.

#[path = "fixtures/objects.rs"]
mod objects;
#[path = "fixtures/upstream.rs"]
mod upstream;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use objects::*;
use portico_dns::{Server, Zone, ZoneBuilder, ZoneHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;

fn zone() -> Zone {
    let mut b = ZoneBuilder::new("cluster.local", 30).unwrap().serial(1);
    b.add_service(&cluster_ip(
        "default",
        "kubernetes",
        &["10.96.0.1"],
        &[("https", "TCP", 443)],
    ));
    b.add_service(&cluster_ip(
        "kube-system",
        "kube-dns",
        &["10.96.0.10"],
        &[("dns", "UDP", 53), ("dns-tcp", "TCP", 53)],
    ));
    b.add_service(&headless("default", "big", &[("http", "TCP", 80)], false));
    let ips: Vec<String> = (0..200)
        .map(|i| format!("10.244.{}.{}", i / 100, i % 100 + 1))
        .collect();
    let eps: Vec<Ep<'_>> = ips.iter().map(|ip| ep(ip)).collect();
    b.add_endpoint_slice(&slice(
        "default",
        "big",
        "a",
        "IPv4",
        &[("http", "TCP", 8080)],
        &eps,
    ));
    b.add_service(&headless("default", "nginx", &[("web", "TCP", 80)], false));
    b.add_endpoint_slice(&slice(
        "default",
        "nginx",
        "a",
        "IPv4",
        &[("web", "TCP", 80)],
        &[Ep {
            ip: "10.244.2.7",
            ready: true,
            hostname: Some("web-0"),
            pod: Some("web-0"),
        }],
    ));
    b.add_service(&external("default", "ext", "ext.interwebs.test"));
    b.build()
}

struct Running {
    addr: SocketAddr,
    zone: ZoneHandle,
    stop: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn start(upstream: Vec<SocketAddr>) -> Running {
    let zone = ZoneHandle::new(zone());
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), zone.clone(), upstream)
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(server.serve(stop.clone()));
    Running { addr, zone, stop }
}

/// Runs dig against the server (off the runtime's threads) and returns its stdout.
async fn dig(addr: SocketAddr, args: &[&str]) -> String {
    let mut all = vec![
        format!("@{}", addr.ip()),
        "-p".to_string(),
        addr.port().to_string(),
        "+tries=1".to_string(),
        "+time=3".to_string(),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    let out = tokio::task::spawn_blocking(move || Command::new("dig").args(&all).output())
        .await
        .unwrap()
        .expect("dig (Debian package dnsutils) must be installed");
    assert!(
        out.status.success(),
        "dig failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn lines(text: &str) -> Vec<&str> {
    let mut v: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    v.sort();
    v
}

fn query(name: &str, qtype: RecordType, edns: Option<u16>) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(99)
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

async fn udp(addr: SocketAddr, packet: &[u8]) -> Option<Vec<u8>> {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    s.send_to(packet, addr).await.unwrap();
    let mut buf = vec![0u8; 65535];
    match tokio::time::timeout(Duration::from_millis(500), s.recv(&mut buf)).await {
        Ok(Ok(n)) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

async fn tcp(addr: SocketAddr, packet: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&(packet.len() as u16).to_be_bytes())
        .await
        .unwrap();
    s.write_all(packet).await.unwrap();
    let len = s.read_u16().await.unwrap();
    let mut buf = vec![0u8; usize::from(len)];
    s.read_exact(&mut buf).await.unwrap();
    buf
}

#[tokio::test]
async fn dig_a_srv_and_ptr() {
    let s = start(vec![]).await;
    assert_eq!(
        dig(s.addr, &["+short", "kubernetes.default.svc.cluster.local"]).await,
        "10.96.0.1\n"
    );
    assert_eq!(
        dig(
            s.addr,
            &[
                "+short",
                "SRV",
                "_https._tcp.kubernetes.default.svc.cluster.local"
            ]
        )
        .await,
        "0 100 443 kubernetes.default.svc.cluster.local.\n"
    );
    assert_eq!(
        dig(s.addr, &["+short", "-x", "10.96.0.1"]).await,
        "kubernetes.default.svc.cluster.local.\n"
    );
    assert_eq!(
        dig(s.addr, &["+short", "-x", "10.244.2.7"]).await,
        "web-0.nginx.default.svc.cluster.local.\n"
    );
    assert_eq!(
        dig(s.addr, &["+short", "web-0.nginx.default.svc.cluster.local"]).await,
        "10.244.2.7\n"
    );
    assert_eq!(
        dig(s.addr, &["+short", "10-244-9-9.default.pod.cluster.local"]).await,
        "10.244.9.9\n"
    );
    let full = dig(s.addr, &["kubernetes.default.svc.cluster.local"]).await;
    assert!(full.contains("status: NOERROR"), "{full}");
    assert!(full.contains("flags: qr aa rd ra;"), "{full}");
    assert!(
        full.contains("kubernetes.default.svc.cluster.local. 30 IN A\t10.96.0.1"),
        "{full}"
    );
    let tcp = dig(
        s.addr,
        &["+tcp", "+short", "kube-dns.kube-system.svc.cluster.local"],
    )
    .await;
    assert_eq!(tcp, "10.96.0.10\n");
}

#[tokio::test]
async fn dig_nxdomain_versus_nodata() {
    let s = start(vec![]).await;
    let nx = dig(s.addr, &["nope.default.svc.cluster.local"]).await;
    assert!(nx.contains("status: NXDOMAIN"), "{nx}");
    assert!(nx.contains("ANSWER: 0, AUTHORITY: 1"), "{nx}");
    assert!(
        nx.contains("cluster.local.\t\t30\tIN\tSOA\tns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 30"),
        "{nx}"
    );
    let nodata = dig(s.addr, &["AAAA", "kubernetes.default.svc.cluster.local"]).await;
    assert!(nodata.contains("status: NOERROR"), "{nodata}");
    assert!(nodata.contains("ANSWER: 0, AUTHORITY: 1"), "{nodata}");
    let ns = dig(s.addr, &["default.svc.cluster.local"]).await;
    assert!(
        ns.contains("status: NOERROR") && ns.contains("ANSWER: 0, AUTHORITY: 1"),
        "{ns}"
    );
    let no_ns = dig(s.addr, &["nosuchns.svc.cluster.local"]).await;
    assert!(no_ns.contains("status: NXDOMAIN"), "{no_ns}");
}

#[tokio::test]
async fn two_hundred_endpoints_truncate_over_udp_and_come_whole_over_tcp() {
    let s = start(vec![]).await;
    // Without EDNS: 512 bytes, TC set (dig +ignore shows the truncated answer).
    let truncated = dig(
        s.addr,
        &["+ignore", "+noedns", "big.default.svc.cluster.local"],
    )
    .await;
    assert!(truncated.contains("flags: qr aa tc rd ra;"), "{truncated}");
    // dig retries over TCP by itself on TC and gets all 200.
    let all = dig(
        s.addr,
        &["+noedns", "+short", "big.default.svc.cluster.local"],
    )
    .await;
    assert_eq!(lines(&all).len(), 200, "{all}");
    let srv = dig(
        s.addr,
        &[
            "+tcp",
            "+short",
            "SRV",
            "_http._tcp.big.default.svc.cluster.local",
        ],
    )
    .await;
    assert_eq!(lines(&srv).len(), 200);
    assert!(
        srv.lines().all(|l| l.starts_with("0 0 8080 10-244-")),
        "{srv}"
    );

    // The same with a raw client: UDP 512 truncates, TCP is whole.
    let q = query("big.default.svc.cluster.local.", RecordType::A, None);
    let m = Message::from_vec(&udp(s.addr, &q).await.unwrap()).unwrap();
    assert!(m.truncated());
    let m = Message::from_vec(&tcp(s.addr, &q).await).unwrap();
    assert!(!m.truncated());
    assert_eq!(m.answers().len(), 200);
}

#[tokio::test]
async fn garbage_gets_formerr_or_nothing() {
    let s = start(vec![]).await;
    let garbage = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 63, b'x'];
    let reply = udp(s.addr, &garbage).await.expect("a FORMERR");
    let m = Message::from_vec(&reply).unwrap();
    assert_eq!(m.id(), 0x1234);
    assert_eq!(m.response_code(), ResponseCode::FormErr);
    // Too short for a header: no answer, and the server keeps serving.
    assert_eq!(udp(s.addr, &[1, 2, 3]).await, None);
    let m = Message::from_vec(&tcp(s.addr, &garbage).await).unwrap();
    assert_eq!(m.response_code(), ResponseCode::FormErr);
    assert_eq!(
        dig(s.addr, &["+short", "kubernetes.default.svc.cluster.local"]).await,
        "10.96.0.1\n"
    );
}

#[tokio::test]
async fn a_new_zone_is_served_at_once() {
    let s = start(vec![]).await;
    let nx = dig(s.addr, &["fresh.default.svc.cluster.local"]).await;
    assert!(nx.contains("status: NXDOMAIN"), "{nx}");
    let mut b = ZoneBuilder::new("cluster.local", 30).unwrap();
    b.add_service(&cluster_ip(
        "default",
        "fresh",
        &["10.96.7.7"],
        &[("http", "TCP", 80)],
    ));
    s.zone.store(b.build());
    assert_eq!(
        dig(s.addr, &["+short", "fresh.default.svc.cluster.local"]).await,
        "10.96.7.7\n"
    );
}

#[tokio::test]
async fn other_names_go_upstream_and_are_cached() {
    let up = upstream::start().await;
    let s = start(vec![up.addr]).await;
    let out = dig(s.addr, &["example.test"]).await;
    assert!(out.contains("status: NOERROR"), "{out}");
    assert!(out.contains("flags: qr rd ra;"), "not authoritative: {out}");
    assert!(
        out.contains("example.test.\t\t60\tIN\tA\t192.0.2.1"),
        "{out}"
    );
    assert_eq!(up.questions.load(Ordering::SeqCst), 1);
    // From the cache: the upstream is not asked again.
    assert_eq!(
        dig(s.addr, &["+short", "example.test"]).await,
        "192.0.2.1\n"
    );
    assert_eq!(up.questions.load(Ordering::SeqCst), 1);
    // NXDOMAIN passes through with the upstream's SOA.
    let nx = dig(s.addr, &["nothing.test"]).await;
    assert!(
        nx.contains("status: NXDOMAIN") && nx.contains("AUTHORITY: 1"),
        "{nx}"
    );
    // A truncated upstream answer is fetched again over TCP.
    let many = dig(s.addr, &["+tcp", "+short", "many.example.test"]).await;
    assert_eq!(lines(&many).len(), 100);
    // Reverse names the zone does not know go upstream too.
    let rev = dig(s.addr, &["-x", "192.0.2.55"]).await;
    assert!(rev.contains("status: NXDOMAIN"), "{rev}");
    // An upstream SERVFAIL is a SERVFAIL.
    let broken = dig(s.addr, &["broken.test"]).await;
    assert!(broken.contains("status: SERVFAIL"), "{broken}");
}

#[tokio::test]
async fn external_name_chains_cname_and_upstream_address() {
    let up = upstream::start().await;
    let s = start(vec![up.addr]).await;
    let out = dig(s.addr, &["+short", "ext.default.svc.cluster.local"]).await;
    assert_eq!(out, "ext.interwebs.test.\n192.0.2.4\n");
    let cname = dig(
        s.addr,
        &["+short", "CNAME", "ext.default.svc.cluster.local"],
    )
    .await;
    assert_eq!(cname, "ext.interwebs.test.\n");
}

#[tokio::test]
async fn without_upstream_other_names_fail() {
    let s = start(vec![]).await;
    let out = dig(s.addr, &["example.test"]).await;
    assert!(out.contains("status: SERVFAIL"), "{out}");
    // A dead upstream (a closed port on 127.0.0.1) is a SERVFAIL too.
    let dead = UdpSocket::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let s = start(vec![dead]).await;
    let out = dig(s.addr, &["+time=5", "example.test"]).await;
    assert!(out.contains("status: SERVFAIL"), "{out}");
}
