//! The userspace datapath inside a network namespace of the test's own: service addresses
//! made local with the AnyIP route, endpoints on 127.0.0.x, clients connecting to cluster
//! IPs, node ports and LoadBalancer IPs as pods would.

#[path = "support/backends.rs"]
mod backends;
#[path = "support/sandbox.rs"]
mod sandbox;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backends::*;
use portico_proxy::metrics::Metrics;
use portico_proxy::model::Protocol;
use portico_proxy::userspace::{prepare_node, EchoBlock, Options, Relay, Userspace};
use portico_proxy::Datapath;
use sandbox::in_netns;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpStream, UdpSocket};

const CLUSTER_IP: &str = "10.96.0.10";

async fn setup(relay: Relay) -> (Userspace, Arc<Metrics>) {
    let block = prepare_node(Ipv4Addr::new(10, 96, 0, 0), 12).await.unwrap();
    eprintln!("pings blocked with {block:?}");
    tcp_backend("127.0.0.2:8080", "pod-a").await;
    tcp_backend("127.0.0.3:8080", "pod-b").await;
    tcp_backend("127.0.0.4:8080", "pod-c").await;
    let metrics = Arc::new(Metrics::default());
    let options = Options {
        relay,
        udp_idle_timeout: Duration::from_secs(30),
        metrics: metrics.clone(),
    };
    (Userspace::new(options), metrics)
}

fn three() -> Vec<portico_proxy::Endpoint> {
    vec![
        ep("127.0.0.2:8080", false),
        ep("127.0.0.3:8080", false),
        ep("127.0.0.4:8080", false),
    ]
}

async fn spread(addr: &str, n: usize) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for _ in 0..n {
        *seen.entry(greeting(addr).await.unwrap()).or_default() += 1;
    }
    seen
}

async fn assert_refused_fast(addr: &str) {
    let started = Instant::now();
    let err = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(
        err.kind(),
        std::io::ErrorKind::ConnectionRefused,
        "{addr}: {err}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "refusal took {:?}",
        started.elapsed()
    );
}

async fn cluster_ip_round_robin_refusal_and_relay(relay: Relay) {
    let (mut proxy, metrics) = setup(relay).await;
    let svc = key("kubia", Protocol::Tcp);
    let addr = format!("{CLUSTER_IP}:80");
    proxy
        .apply(&state(vec![(svc.clone(), port(CLUSTER_IP, 80, three()))]))
        .await
        .unwrap();
    let seen = spread(&addr, 9).await;
    assert_eq!(
        seen,
        BTreeMap::from([
            ("pod-a".into(), 3),
            ("pod-b".into(), 3),
            ("pod-c".into(), 3)
        ])
    );

    // A megabyte each way, then half-close: everything comes back and the relay ends.
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let back = echo(&addr, &data).await;
    let newline = back.iter().position(|b| *b == b'\n').unwrap();
    assert_eq!(&back[newline + 1..], &data[..]);

    // No endpoint: connection refused at once, and back again when one returns.
    proxy
        .apply(&state(vec![(svc.clone(), port(CLUSTER_IP, 80, vec![]))]))
        .await
        .unwrap();
    assert!(proxy.listeners().is_empty());
    assert_refused_fast(&addr).await;
    proxy
        .apply(&state(vec![(
            svc.clone(),
            port(CLUSTER_IP, 80, vec![ep("127.0.0.3:8080", false)]),
        )]))
        .await
        .unwrap();
    assert_eq!(greeting(&addr).await.unwrap(), "pod-b");
    // The service goes away entirely.
    proxy.apply(&state(vec![])).await.unwrap();
    assert_refused_fast(&addr).await;

    tokio::time::sleep(Duration::from_millis(50)).await;
    let text = metrics.render();
    assert!(
        text.contains("portico_proxy_sync_duration_seconds"),
        "{text}"
    );
}

#[test]
fn cluster_ip_round_robin_refusal_and_splice_relay() {
    in_netns("cluster_ip_round_robin_refusal_and_splice_relay", || {
        cluster_ip_round_robin_refusal_and_relay(Relay::Splice)
    });
}

#[test]
fn cluster_ip_with_copy_relay() {
    in_netns("cluster_ip_with_copy_relay", || {
        cluster_ip_round_robin_refusal_and_relay(Relay::Copy)
    });
}

#[test]
fn session_affinity_keeps_a_client_on_one_endpoint() {
    in_netns(
        "session_affinity_keeps_a_client_on_one_endpoint",
        || async {
            let (mut proxy, metrics) = setup(Relay::Splice).await;
            let svc = key("sticky", Protocol::Tcp);
            let mut sp = port(CLUSTER_IP, 80, three());
            sp.affinity = Some(Duration::from_secs(600));
            proxy
                .apply(&state(vec![(svc.clone(), sp.clone())]))
                .await
                .unwrap();
            let seen = spread(&format!("{CLUSTER_IP}:80"), 6).await;
            assert_eq!(seen.len(), 1, "{seen:?}");
            // Its endpoint goes: the client moves, and sticks again.
            let pinned = seen.keys().next().unwrap().clone();
            sp.endpoints.retain(|e| {
                !pinned.ends_with(match e.ip.to_string().as_str() {
                    "127.0.0.2" => "a",
                    "127.0.0.3" => "b",
                    _ => "c",
                })
            });
            assert_eq!(sp.endpoints.len(), 2);
            proxy.apply(&state(vec![(svc.clone(), sp)])).await.unwrap();
            let seen = spread(&format!("{CLUSTER_IP}:80"), 4).await;
            assert_eq!(seen.len(), 1, "{seen:?}");
            assert!(!seen.contains_key(&pinned));
            let text = metrics.render();
            assert!(
            text.contains("portico_proxy_connections_total{namespace=\"default\",service=\"sticky\",port=\"\",protocol=\"TCP\"} 10"),
            "{text}"
        );
        },
    );
}

#[test]
fn node_port_load_balancer_ip_and_local_policy() {
    in_netns("node_port_load_balancer_ip_and_local_policy", || async {
        let (mut proxy, _) = setup(Relay::Splice).await;
        let svc = key("kubia-lb", Protocol::Tcp);
        let mut sp = port(
            CLUSTER_IP,
            80,
            vec![ep("127.0.0.2:8080", true), ep("127.0.0.3:8080", false)],
        );
        sp.node_port = Some(30080);
        sp.load_balancer_ips = vec!["127.240.0.1".parse().unwrap()];
        proxy
            .apply(&state(vec![(svc.clone(), sp.clone())]))
            .await
            .unwrap();
        let listeners: Vec<String> = proxy
            .listeners()
            .iter()
            .map(|(_, a)| a.to_string())
            .collect();
        assert_eq!(
            listeners,
            ["0.0.0.0:30080", "10.96.0.10:80", "127.240.0.1:80"]
        );
        assert_eq!(spread("127.0.0.1:30080", 4).await.len(), 2);
        assert_eq!(
            spread("10.96.0.10:30080", 2).await.len(),
            2,
            "any local address"
        );
        assert_eq!(spread("127.240.0.1:80", 4).await.len(), 2);

        // externalTrafficPolicy: Local: external addresses only reach the local endpoint;
        // the cluster IP still reaches both; the health check port reports one.
        sp.external_local = true;
        sp.health_check_node_port = Some(32000);
        proxy
            .apply(&state(vec![(svc.clone(), sp.clone())]))
            .await
            .unwrap();
        let seen = spread("127.0.0.1:30080", 4).await;
        assert_eq!(seen, BTreeMap::from([("pod-a".into(), 4)]));
        assert_eq!(spread("10.96.0.10:80", 4).await.len(), 2);
        let (status, body) = http_get("127.0.0.1:32000").await;
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["localEndpoints"], 1);
        assert_eq!(v["service"]["name"], "kubia-lb");
        assert_eq!(v["serviceProxyHealthy"], true);

        // No local endpoint: external traffic refused, cluster IP served, health 503.
        sp.endpoints[0].local = false;
        proxy
            .apply(&state(vec![(svc.clone(), sp.clone())]))
            .await
            .unwrap();
        assert_refused_fast("127.0.0.1:30080").await;
        assert_refused_fast("127.240.0.1:80").await;
        assert_eq!(spread("10.96.0.10:80", 2).await.len(), 2);
        let (status, body) = http_get("127.0.0.1:32000").await;
        assert_eq!(status, 503);
        assert!(body.contains("\"localEndpoints\": 0"), "{body}");
        assert_eq!(proxy.health_check_ports(), [32000]);
        proxy.apply(&state(vec![])).await.unwrap();
        assert!(proxy.health_check_ports().is_empty());
        assert_refused_fast("127.0.0.1:32000").await;
    });
}

async fn http_get(addr: &str) -> (u16, String) {
    use tokio::io::AsyncWriteExt;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).await.unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}

#[test]
fn udp_replies_from_the_service_address_and_flows_follow_endpoints() {
    in_netns(
        "udp_replies_from_the_service_address_and_flows_follow_endpoints",
        || async {
            let (mut proxy, _) = setup(Relay::Splice).await;
            udp_backend("127.0.0.2:5353", "dns-a").await;
            udp_backend("127.0.0.3:5353", "dns-b").await;
            let svc = key("kube-dns", Protocol::Udp);
            let both = vec![ep("127.0.0.2:5353", false), ep("127.0.0.3:5353", false)];
            proxy
                .apply(&state(vec![(svc.clone(), port(CLUSTER_IP, 53, both))]))
                .await
                .unwrap();
            let client = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            let service: std::net::SocketAddr = format!("{CLUSTER_IP}:53").parse().unwrap();
            let ask = |q: &'static str| {
                let client = &client;
                async move {
                    client.send_to(q.as_bytes(), service).await.unwrap();
                    let mut buf = [0u8; 1500];
                    let (n, from) =
                        tokio::time::timeout(Duration::from_secs(2), client.recv_from(&mut buf))
                            .await
                            .expect("no UDP reply")
                            .unwrap();
                    (String::from_utf8_lossy(&buf[..n]).to_string(), from)
                }
            };
            let (first, from) = ask("q1").await;
            assert_eq!(from, service, "replies come from the service address");
            let (again, _) = ask("q2").await;
            assert_eq!(
                first.split(':').next(),
                again.split(':').next(),
                "one flow, one endpoint"
            );
            assert!(again.ends_with(":q2"));
            assert_eq!(proxy.udp_flows(), 1);

            // The flow's endpoint goes: the flow is dropped at once, the next query goes to the
            // other endpoint.
            let other = if first.starts_with("dns-a") {
                "127.0.0.3:5353"
            } else {
                "127.0.0.2:5353"
            };
            proxy
                .apply(&state(vec![(
                    svc.clone(),
                    port(CLUSTER_IP, 53, vec![ep(other, false)]),
                )]))
                .await
                .unwrap();
            assert_eq!(proxy.udp_flows(), 0);
            let (moved, _) = ask("q3").await;
            assert_ne!(moved.split(':').next(), first.split(':').next());

            // No endpoint: the port is closed (ICMP port unreachable on a connected socket).
            proxy
                .apply(&state(vec![(svc.clone(), port(CLUSTER_IP, 53, vec![]))]))
                .await
                .unwrap();
            let c = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            c.connect(service).await.unwrap();
            c.send(b"q4").await.unwrap();
            let mut buf = [0u8; 64];
            let r = tokio::time::timeout(Duration::from_secs(2), c.recv(&mut buf))
                .await
                .unwrap();
            assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::ConnectionRefused);
        },
    );
}

#[test]
fn udp_flows_end_when_idle() {
    in_netns("udp_flows_end_when_idle", || async {
        prepare_node(Ipv4Addr::new(10, 96, 0, 0), 12).await.unwrap();
        udp_backend("127.0.0.2:5353", "dns-a").await;
        let mut proxy = Userspace::new(Options {
            udp_idle_timeout: Duration::from_millis(200),
            metrics: Arc::new(Metrics::default()),
            ..Options::default()
        });
        let svc = key("kube-dns", Protocol::Udp);
        proxy
            .apply(&state(vec![(
                svc,
                port(CLUSTER_IP, 53, vec![ep("127.0.0.2:5353", false)]),
            )]))
            .await
            .unwrap();
        let client = UdpSocket::bind("0.0.0.0:0").await.unwrap();
        client
            .send_to(b"x", format!("{CLUSTER_IP}:53"))
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        client.recv_from(&mut buf).await.unwrap();
        assert_eq!(proxy.udp_flows(), 1);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(proxy.udp_flows(), 0);
    });
}

#[test]
fn cluster_ips_do_not_answer_pings() {
    in_netns("cluster_ips_do_not_answer_pings", || async {
        let block = prepare_node(Ipv4Addr::new(10, 96, 0, 0), 12).await.unwrap();
        assert_eq!(
            block,
            EchoBlock::Nftables,
            "nft is installed on this machine"
        );
        // Control: the loopback address answers, so a missing reply means something.
        assert!(ping("127.0.0.1").await, "127.0.0.1 should answer");
        assert!(!ping(CLUSTER_IP).await, "a cluster IP answered a ping");
    });
}

/// Sends one ICMP echo request to `ip` over a raw socket; true if a reply came within
/// 300 ms.
async fn ping(ip: &str) -> bool {
    use socket2::{Domain, Protocol as P, Socket, Type};
    let target: Ipv4Addr = ip.parse().unwrap();
    tokio::task::spawn_blocking(move || {
        let s = Socket::new(Domain::IPV4, Type::RAW, Some(P::ICMPV4)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut pkt = [8u8, 0, 0, 0, 0x12, 0x34, 0, 1, b'p', b'i', b'n', b'g'];
        let sum = checksum(&pkt);
        pkt[2..4].copy_from_slice(&sum.to_be_bytes());
        let dst = std::net::SocketAddr::from((target, 0));
        s.send_to(&pkt, &dst.into()).unwrap();
        let deadline = Instant::now() + Duration::from_millis(300);
        let mut buf = [0u8; 1500];
        while Instant::now() < deadline {
            use std::io::Read;
            let Ok(n) = (&s).read(&mut buf) else {
                return false;
            };
            let bytes = &buf[..n];
            let ihl = usize::from(bytes[0] & 0x0f) * 4;
            let src = Ipv4Addr::new(bytes[12], bytes[13], bytes[14], bytes[15]);
            if src == target && bytes.get(ihl) == Some(&0) {
                return true;
            }
        }
        false
    })
    .await
    .unwrap()
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
