//! The nftables datapath against the kernel, inside a user + network namespace this test
//! creates (the test binary re-runs itself there; nothing touches the host's network).
//!
//! The sandbox's own namespace is the node: bridge `cni0` (10.244.0.1/24) with three pods
//! (`client` 10.244.0.2, `b1` 10.244.0.3, `b2` 10.244.0.4), and a routed link to an
//! `outside` namespace (node 172.18.0.1, client 172.18.0.10) standing for a machine beyond
//! the node. Backends answer with their name and the client address they saw.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use portico_proxy::model::{Endpoint, Protocol, ProxyState, ServiceKey, ServicePort};
use portico_proxy::nftables::{render_full, NftConfig, Nftables};
use portico_proxy::Datapath;
use portico_sandbox::netlink::Netlink;
use portico_sandbox::netns::NetNs;
use portico_sandbox::userns::{check_available, sandbox_command_with, PidNamespace};

const ROLE: &str = "PORTICO_NFT_TEST_ROLE";

/// Runs `body` on a current-thread runtime in the sandboxed re-run of `test`; outside it,
/// re-runs the test there (see [`in_sandbox`]).
fn sandboxed<F: std::future::Future<Output = ()>>(test: &str, body: impl FnOnce() -> F) {
    if !in_sandbox(test) {
        return;
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(body());
}

/// True in the sandboxed re-run of `test` (its path, e.g. `traffic::…`); otherwise runs it there, checks that it passed,
/// and returns false. Skips (passes) where user namespaces or `nft` are unavailable.
fn in_sandbox(test: &str) -> bool {
    if std::env::var(ROLE).as_deref() == Ok(test) {
        return true;
    }
    if let Err(e) = check_available() {
        eprintln!("skipped: {e}");
        return false;
    }
    if !config().nft.exists() && Command::new("nft").arg("--version").output().is_err() {
        eprintln!("skipped: nft is not installed");
        return false;
    }
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, test);
    sandbox_command_with(&mut cmd, PidNamespace::Inherit);
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "sandboxed run of {test} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    eprintln!("{stdout}{stderr}");
    false
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn config() -> NftConfig {
    NftConfig::new(
        "10.244.0.0/16".parse().unwrap(),
        "10.96.0.0/12".parse().unwrap(),
    )
}

/// The namespaces of the test network.
struct Net {
    client: NetNs,
    b1: NetNs,
    b2: NetNs,
    outside: NetNs,
}

async fn pod(node: &Netlink, name: &str, addr: &str) -> NetNs {
    let ns = NetNs::new().unwrap().named(name);
    let host_end = format!("veth-{name}");
    node.add_veth(&host_end, "eth0", &ns).await.unwrap();
    node.set_master(&host_end, "cni0").await.unwrap();
    node.link_up(&host_end).await.unwrap();
    let hairpin = Command::new("ip")
        .args([
            "link",
            "set",
            "dev",
            &host_end,
            "type",
            "bridge_slave",
            "hairpin",
            "on",
        ])
        .status()
        .unwrap();
    assert!(hairpin.success());
    let nl = Netlink::in_netns(&ns).unwrap();
    nl.link_up("lo").await.unwrap();
    nl.link_up("eth0").await.unwrap();
    nl.add_addr("eth0", IpAddr::V4(v4(addr)), 24).await.unwrap();
    nl.add_default_route(v4("10.244.0.1")).await.unwrap();
    ns
}

async fn network() -> Net {
    let node_ns = NetNs::current().unwrap().named("node");
    let node = Netlink::in_netns(&node_ns).unwrap();
    node.link_up("lo").await.unwrap();
    node_ns.sysctl("net.ipv4.ip_forward", "1").unwrap();
    node.add_bridge("cni0").await.unwrap();
    node.add_addr("cni0", IpAddr::V4(v4("10.244.0.1")), 24)
        .await
        .unwrap();
    node.link_up("cni0").await.unwrap();
    // Hairpin traffic (a pod reaching itself through a service) leaves the bridge by the
    // port it came in on, which bridges allow only with hairpin mode (as the bridge CNI
    // plugin's `hairpinMode` sets it).
    let client = pod(&node, "client", "10.244.0.2").await;
    let b1 = pod(&node, "b1", "10.244.0.3").await;
    let b2 = pod(&node, "b2", "10.244.0.4").await;

    let outside = NetNs::new().unwrap().named("outside");
    node.add_veth("ext0", "eth0", &outside).await.unwrap();
    node.add_addr("ext0", IpAddr::V4(v4("172.18.0.1")), 24)
        .await
        .unwrap();
    node.link_up("ext0").await.unwrap();
    let nl = Netlink::in_netns(&outside).unwrap();
    nl.link_up("lo").await.unwrap();
    nl.link_up("eth0").await.unwrap();
    nl.add_addr("eth0", IpAddr::V4(v4("172.18.0.10")), 24)
        .await
        .unwrap();
    nl.add_default_route(v4("172.18.0.1")).await.unwrap();
    Net {
        client,
        b1,
        b2,
        outside,
    }
}

/// A TCP server in `ns` answering `<name> <client address>` to every connection.
fn tcp_backend(ns: &NetNs, name: &'static str, addr: &str, port: u16) {
    let addr: SocketAddr = format!("{addr}:{port}").parse().unwrap();
    let listener = ns.run_in(|| TcpListener::bind(addr)).unwrap().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let peer = conn
                .peer_addr()
                .map(|p| p.ip().to_string())
                .unwrap_or_default();
            let _ = conn.write_all(format!("{name} {peer}").as_bytes());
        }
    });
}

/// A UDP server in `ns` answering every datagram with its name.
fn udp_backend(ns: &NetNs, name: &'static str, addr: &str, port: u16) {
    let addr: SocketAddr = format!("{addr}:{port}").parse().unwrap();
    let socket = ns.run_in(|| UdpSocket::bind(addr)).unwrap().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((_, from)) = socket.recv_from(&mut buf) {
            let _ = socket.send_to(name.as_bytes(), from);
        }
    });
}

/// Connects from `ns` to `to` and reads the answer: `Ok("b1 10.244.0.2")` or the error
/// kind (refused, timed out).
fn tcp_get(ns: &NetNs, to: &str) -> Result<String, ErrorKind> {
    let to: SocketAddr = to.parse().unwrap();
    let conn = ns
        .run_in(|| TcpStream::connect_timeout(&to, Duration::from_millis(700)))
        .unwrap();
    let mut conn = conn.map_err(|e| e.kind())?;
    conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).map_err(|e| e.kind())?;
    Ok(answer)
}

fn udp_get(ns: &NetNs, to: &str) -> String {
    let socket = ns.run_in(|| UdpSocket::bind("0.0.0.0:0")).unwrap().unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    socket.send_to(b"q", to).unwrap();
    let mut buf = [0u8; 64];
    let n = socket.recv(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Which backends answered `n` connections, with the client address each saw.
fn tally(ns: &NetNs, to: &str, n: usize) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for _ in 0..n {
        let answer = tcp_get(ns, to).unwrap_or_else(|e| panic!("{to}: {e:?}"));
        *seen.entry(answer).or_insert(0) += 1;
    }
    seen
}

fn key(name: &str, protocol: Protocol) -> ServiceKey {
    ServiceKey {
        namespace: "default".into(),
        name: name.into(),
        port_name: String::new(),
        protocol,
    }
}

fn ep(ip: &str, port: u16, local: bool) -> Endpoint {
    Endpoint {
        ip: ip.parse().unwrap(),
        port,
        ready: true,
        serving: true,
        terminating: false,
        local,
    }
}

fn port(cluster_ip: &str, port: u16, endpoints: Vec<Endpoint>) -> ServicePort {
    ServicePort {
        cluster_ips: vec![cluster_ip.parse().unwrap()],
        port,
        node_port: None,
        external_ips: vec![],
        load_balancer_ips: vec![],
        affinity: None,
        external_local: false,
        internal_local: false,
        health_check_node_port: None,
        endpoints,
    }
}

/// `web` (TCP 10.96.0.10:80, node port 30080) and `dns` (UDP 10.96.0.10:53), both on b1
/// and b2.
fn state() -> ProxyState {
    let mut s = ProxyState::default();
    let mut web = port(
        "10.96.0.10",
        80,
        vec![ep("10.244.0.3", 8080, true), ep("10.244.0.4", 8080, false)],
    );
    web.node_port = Some(30080);
    s.services.insert(key("web", Protocol::Tcp), web);
    s.services.insert(
        key("dns", Protocol::Udp),
        port(
            "10.96.0.10",
            53,
            vec![ep("10.244.0.3", 5353, true), ep("10.244.0.4", 5353, false)],
        ),
    );
    s
}

fn web(s: &mut ProxyState) -> &mut ServicePort {
    s.services.get_mut(&key("web", Protocol::Tcp)).unwrap()
}

fn backends(seen: &BTreeMap<String, usize>) -> Vec<String> {
    let mut names: Vec<String> = seen
        .keys()
        .map(|a| a.split(' ').next().unwrap().to_string())
        .collect();
    names.dedup();
    names
}

fn nft_list() -> String {
    let out = Command::new(config().nft)
        .args(["list", "table", "ip", "portico"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[path = "nftables/incremental.rs"]
mod incremental;
#[path = "nftables/netlink.rs"]
mod netlink;
#[path = "nftables/traffic.rs"]
mod traffic;
