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

/// True in the sandboxed re-run of `test`; otherwise runs it there, checks that it passed,
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

#[test]
fn services_work_through_kernel_dnat() {
    if !in_sandbox("services_work_through_kernel_dnat") {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let net = network().await;
        for (ns, name, addr) in [(&net.b1, "b1", "10.244.0.3"), (&net.b2, "b2", "10.244.0.4")] {
            tcp_backend(ns, name, addr, 8080);
            udp_backend(ns, name, addr, 5353);
        }
        let mut dp = Nftables::new(config()).unwrap();
        dp.apply(&state()).await.unwrap();
        // The first apply replaces the table with what `portico proxy rules` shows.
        assert_eq!(
            dp.last_transaction(),
            format!(
                "add table ip portico\ndelete table ip portico\n{}",
                render_full(&state(), dp.config())
            )
        );

        // Cluster IP: both endpoints take connections; pods keep their address.
        let seen = tally(&net.client, "10.96.0.10:80", 40);
        assert_eq!(backends(&seen), ["b1", "b2"], "{seen:?}");
        assert!(seen.keys().all(|a| a.ends_with(" 10.244.0.2")), "{seen:?}");
        let udp: Vec<String> = (0..30)
            .map(|_| udp_get(&net.client, "10.96.0.10:53"))
            .collect();
        assert!(
            udp.iter().any(|a| a == "b1") && udp.iter().any(|a| a == "b2"),
            "{udp:?}"
        );

        // Node port on every node address; from outside, masqueraded (Cluster policy).
        let seen = tally(&net.outside, "172.18.0.1:30080", 20);
        assert_eq!(backends(&seen), ["b1", "b2"], "{seen:?}");
        assert!(seen.keys().all(|a| a.ends_with(" 10.244.0.1")), "{seen:?}");
        let seen = tally(&net.client, "10.244.0.1:30080", 10);
        assert!(!seen.is_empty());

        // Hairpin: a pod reaching itself through the service sees the node's address.
        let mut hairpin = None;
        for _ in 0..60 {
            let answer = tcp_get(&net.b1, "10.96.0.10:80").unwrap();
            if answer.starts_with("b1 ") {
                hairpin = Some(answer);
                break;
            }
        }
        assert_eq!(hairpin.as_deref(), Some("b1 10.244.0.1"));

        // A port the cluster IP does not have: refused at once. An unallocated address of
        // the service range: dropped (the connection attempt times out).
        assert_eq!(
            tcp_get(&net.client, "10.96.0.10:81"),
            Err(ErrorKind::ConnectionRefused)
        );
        assert_eq!(
            tcp_get(&net.client, "10.96.0.99:80"),
            Err(ErrorKind::TimedOut)
        );

        // Session affinity: one client sticks to one endpoint.
        let mut s = state();
        web(&mut s).affinity = Some(Duration::from_secs(600));
        dp.apply(&s).await.unwrap();
        let tx = dp.last_transaction().to_string();
        assert!(
            !tx.contains("udp"),
            "the dns service must not be touched:\n{tx}"
        );
        let seen = tally(&net.client, "10.96.0.10:80", 20);
        assert_eq!(seen.len(), 1, "{seen:?}");
        let seen = tally(&net.outside, "172.18.0.1:30080", 10);
        assert_eq!(seen.len(), 1, "{seen:?}");

        // No endpoints: connections are refused at once, on the cluster IP and node port.
        let mut s = state();
        web(&mut s).endpoints.clear();
        dp.apply(&s).await.unwrap();
        let started = Instant::now();
        assert_eq!(
            tcp_get(&net.client, "10.96.0.10:80"),
            Err(ErrorKind::ConnectionRefused)
        );
        assert_eq!(
            tcp_get(&net.outside, "172.18.0.1:30080"),
            Err(ErrorKind::ConnectionRefused)
        );
        assert!(started.elapsed() < Duration::from_millis(500));
        assert_eq!(
            udp_get(&net.client, "10.96.0.10:53").len(),
            2,
            "dns still answers"
        );

        // externalTrafficPolicy: Local: outside clients reach only the local endpoint and
        // keep their address; pods still reach every endpoint.
        let mut s = state();
        web(&mut s).external_local = true;
        dp.apply(&s).await.unwrap();
        let seen = tally(&net.outside, "172.18.0.1:30080", 20);
        assert_eq!(
            seen.keys().collect::<Vec<_>>(),
            ["b1 172.18.0.10"],
            "{seen:?}"
        );
        let seen = tally(&net.client, "10.244.0.1:30080", 30);
        assert_eq!(backends(&seen), ["b1", "b2"], "{seen:?}");

        // internalTrafficPolicy: Local: the cluster IP only reaches the local endpoint.
        let mut s = state();
        web(&mut s).internal_local = true;
        dp.apply(&s).await.unwrap();
        let seen = tally(&net.client, "10.96.0.10:80", 20);
        assert_eq!(backends(&seen), ["b1"], "{seen:?}");

        // Removing every service leaves the fixed part of the table only.
        dp.apply(&ProxyState::default()).await.unwrap();
        let listed = nft_list();
        assert!(listed.contains("chain services {"), "{listed}");
        assert!(
            !listed.contains("/tcp/") && !listed.contains("/udp/"),
            "{listed}"
        );
        assert_eq!(
            tcp_get(&net.client, "10.96.0.10:80"),
            Err(ErrorKind::TimedOut)
        );
        dp.remove().await.unwrap();
        assert_eq!(nft_list(), "");
    });
}

#[test]
fn incremental_applies_touch_only_what_changed() {
    if !in_sandbox("incremental_applies_touch_only_what_changed") {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let net = network().await;
        tcp_backend(&net.b1, "b1", "10.244.0.3", 8080);
        tcp_backend(&net.b2, "b2", "10.244.0.4", 8080);

        // 1000 services with 2 endpoints each.
        let mut big = state();
        for i in 0..1000u32 {
            let ip = format!("10.97.{}.{}", i / 250, i % 250 + 1);
            big.services.insert(
                key(&format!("svc-{i}"), Protocol::Tcp),
                port(
                    &ip,
                    80,
                    vec![ep("10.244.0.3", 8080, true), ep("10.244.0.4", 8080, false)],
                ),
            );
        }
        let mut dp = Nftables::new(config()).unwrap();
        let started = Instant::now();
        dp.apply(&big).await.unwrap();
        let full = started.elapsed();
        let full_lines = dp.last_transaction().lines().count();
        assert_eq!(
            tcp_get(&net.client, "10.97.3.250:80").map(|a| a.len() > 2),
            Ok(true)
        );

        // Nothing changed: nothing is sent.
        dp.apply(&big).await.unwrap();
        assert_eq!(dp.last_transaction(), "");

        // One more service: its 3 chains, 6 rules and 2 elements.
        let mut more = big.clone();
        more.services.insert(
            key("new", Protocol::Tcp),
            port("10.98.0.1", 80, vec![ep("10.244.0.4", 8080, false)]),
        );
        let started = Instant::now();
        dp.apply(&more).await.unwrap();
        let add_one = started.elapsed();
        let tx = dp.last_transaction().to_string();
        assert_eq!(tx.lines().count(), 8, "{tx}");
        assert!(
            tx.lines()
                .all(|l| l.contains("default/new/") || l.contains("cluster-ips { 10.98.0.1 }")),
            "{tx}"
        );
        assert_eq!(
            tcp_get(&net.client, "10.98.0.1:80").unwrap(),
            "b2 10.244.0.2"
        );

        // One endpoint leaves one service: its chain is rewritten, the endpoint's deleted.
        let mut fewer = more.clone();
        fewer
            .services
            .get_mut(&key("svc-7", Protocol::Tcp))
            .unwrap()
            .endpoints
            .retain(|e| e.ip != "10.244.0.4".parse::<IpAddr>().unwrap());
        dp.apply(&fewer).await.unwrap();
        let tx = dp.last_transaction().to_string();
        assert_eq!(tx.lines().count(), 5, "{tx}");
        assert!(tx.lines().all(|l| l.contains("default/svc-7/")), "{tx}");
        let seen = tally(&net.client, "10.97.0.8:80", 10);
        assert_eq!(backends(&seen), ["b1"], "{seen:?}");
        let listed = nft_list();
        assert!(
            !listed.contains("svc-7/tcp/__10.244.0.4/8080"),
            "endpoint chain deleted"
        );

        // Cost of small transactions (one `nft -f -` process each).
        let rounds = 20;
        let started = Instant::now();
        for i in 0..rounds {
            dp.apply(if i % 2 == 0 { &more } else { &fewer })
                .await
                .unwrap();
        }
        let small = started.elapsed() / rounds;
        eprintln!(
            "nftables cost: full apply of 1000 services ({full_lines} lines) {full:?}; \
             add one service {add_one:?}; one-endpoint change {small:?} on average"
        );
        assert!(small < Duration::from_millis(500));
    });
}

/// `nft list table ip <table>` in a form two tables can be compared in: the table's name
/// replaced, sets, maps and chains sorted by name (the kernel lists them in creation
/// order), and the elements of each set sorted (hash sets list in hash order).
fn normalized_listing(table: &str) -> String {
    let out = Command::new(config().nft)
        .args(["list", "table", "ip", table])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout)
        .replace(&format!("table ip {table} {{"), "table ip TABLE {");
    // Elements: one sorted list per set.
    let mut sorted = String::new();
    let mut rest = text.as_str();
    const OPEN: &str = "elements = {";
    while let Some(i) = rest.find(OPEN) {
        sorted.push_str(&rest[..i + OPEN.len()]);
        rest = &rest[i + OPEN.len()..];
        let j = rest.find('}').unwrap();
        let mut items: Vec<String> = rest[..j]
            .split(',')
            .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|s| !s.is_empty())
            .collect();
        items.sort();
        sorted.push(' ');
        sorted.push_str(&items.join(", "));
        sorted.push(' ');
        rest = &rest[j..];
    }
    sorted.push_str(rest);
    let mut blocks: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in sorted.lines() {
        if ["\tchain ", "\tset ", "\tmap "]
            .iter()
            .any(|p| line.starts_with(p))
        {
            current = Some(String::new());
        }
        if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
            if line == "\t}" {
                blocks.push(current.take().unwrap());
            }
        }
    }
    blocks.sort();
    blocks.concat()
}

/// Loads `state` from scratch into table `reference` with the text path (`nft -f -`).
fn load_reference(state: &ProxyState, mut config: NftConfig) {
    config.table = "reference".into();
    let script = format!(
        "add table ip reference\ndelete table ip reference\n{}",
        render_full(state, &config)
    );
    let mut child = Command::new(&config.nft)
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "reference load failed");
}

/// The states the netlink test walks through, each with what it exercises.
fn netlink_states() -> Vec<(&'static str, ProxyState)> {
    let mut steps = Vec::new();
    let s0 = state();
    steps.push(("two services", s0.clone()));

    let mut s1 = s0;
    let mut api = port(
        "10.96.0.30",
        443,
        vec![
            ep("10.244.0.3", 8443, true),
            ep("10.244.0.4", 8443, false),
            ep("10.244.1.9", 8443, false),
        ],
    );
    api.external_ips = vec!["192.0.2.10".parse().unwrap()];
    api.load_balancer_ips = vec!["127.240.0.1".parse().unwrap()];
    api.node_port = Some(30443);
    s1.services.insert(key("api", Protocol::Tcp), api);
    let mut api2 = port("10.96.0.31", 443, vec![ep("10.244.0.4", 9443, false)]);
    api2.external_ips = vec!["192.0.2.10".parse().unwrap()];
    s1.services.insert(key("api2", Protocol::Tcp), api2);
    steps.push(("services added, one external IP shared", s1.clone()));

    let mut s2 = s1;
    web(&mut s2)
        .endpoints
        .retain(|e| e.ip != "10.244.0.4".parse::<IpAddr>().unwrap());
    let api = s2.services.get_mut(&key("api", Protocol::Tcp)).unwrap();
    api.endpoints.push(ep("10.244.2.7", 8443, false));
    api.endpoints[0].ready = false;
    steps.push(("endpoints changed", s2.clone()));

    let mut s3 = s2;
    for k in ["web", "api"] {
        s3.services
            .get_mut(&key(k, Protocol::Tcp))
            .unwrap()
            .affinity = Some(Duration::from_secs(600));
    }
    s3.services
        .get_mut(&key("dns", Protocol::Udp))
        .unwrap()
        .affinity = Some(Duration::from_secs(10800));
    steps.push(("affinity on", s3.clone()));

    let mut s4 = s3;
    web(&mut s4).affinity = Some(Duration::from_secs(60));
    steps.push(("affinity timeout changed", s4.clone()));

    let mut s5 = s4;
    for sp in s5.services.values_mut() {
        sp.affinity = None;
    }
    steps.push(("affinity off", s5.clone()));

    let mut s6 = s5;
    web(&mut s6).endpoints = vec![ep("10.244.0.3", 8080, true), ep("10.244.0.4", 8080, false)];
    web(&mut s6).internal_local = true;
    web(&mut s6).external_local = true;
    steps.push(("local traffic policies", s6.clone()));

    let mut s7 = s6;
    web(&mut s7).endpoints = vec![ep("10.244.0.4", 8080, false)];
    s7.services
        .get_mut(&key("api", Protocol::Tcp))
        .unwrap()
        .endpoints
        .clear();
    steps.push(("no local endpoint, no endpoints", s7.clone()));

    let mut s8 = s7;
    s8.services.remove(&key("api", Protocol::Tcp));
    steps.push(("service removed, shared IP passes on", s8.clone()));

    let mut s9 = s8.clone();
    s9.services.remove(&key("dns", Protocol::Udp));
    web(&mut s9).internal_local = false;
    web(&mut s9).external_local = false;
    web(&mut s9).endpoints = vec![ep("10.244.0.3", 8080, true)];
    steps.push(("policies back to Cluster", s9));
    steps.push(("everything removed", ProxyState::default()));
    steps.push(("services back", s8));
    steps
}

#[test]
fn netlink_updates_list_like_a_fresh_load() {
    if !in_sandbox("netlink_updates_list_like_a_fresh_load") {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // A pod network that is not a whole number of bytes: its match needs a mask.
        let mut config = config();
        config.pod_cidr = "10.244.0.0/20".parse().unwrap();
        let mut dp = Nftables::new(config.clone()).unwrap();
        for (i, (what, state)) in netlink_states().into_iter().enumerate() {
            dp.apply(&state).await.unwrap();
            if i == 0 {
                assert!(dp.last_transaction().starts_with("add table ip portico\n"));
                assert_eq!(dp.last_timing().batches, 0, "the first load goes through nft");
            } else {
                assert!(dp.last_timing().batches >= 1, "{what}: no netlink batch");
                assert!(dp.last_timing().messages > 0);
            }
            assert_eq!(dp.transaction(&state), "", "{what}: not in sync");
            load_reference(&state, config.clone());
            let ours = normalized_listing("portico");
            let reference = normalized_listing("reference");
            for (n, (a, b)) in ours.lines().zip(reference.lines()).enumerate() {
                assert_eq!(
                    a,
                    b,
                    "step {i} ({what}): line {n} differs\n--- netlink:\n{ours}\n--- nft:\n{reference}"
                );
            }
            assert_eq!(ours.lines().count(), reference.lines().count(), "step {i} ({what})");
            eprintln!("step {i} ({what}): {} lines agree", ours.lines().count());
        }

        // The kernel refuses a transaction (the table went away behind our back): the error
        // names the refused object, and the next apply rewrites the table through nft.
        let status = Command::new(&config.nft)
            .args(["delete", "table", "ip", "portico"])
            .status()
            .unwrap();
        assert!(status.success());
        let mut s = state();
        web(&mut s).endpoints.pop();
        let err = dp.apply(&s).await.unwrap_err().to_string();
        assert!(
            err.contains("nftables refused `") && err.contains("No such file or directory"),
            "{err}"
        );
        dp.apply(&s).await.unwrap();
        assert!(dp.last_transaction().starts_with("add table ip portico\n"));
        load_reference(&s, config.clone());
        assert_eq!(normalized_listing("portico"), normalized_listing("reference"));
    });
}
