//! Traffic through the kernel's DNAT: load balancing, node ports, hairpin, session
//! affinity, traffic policies, services without endpoints.

use super::*;

#[test]
fn services_work_through_kernel_dnat() {
    sandboxed("traffic::services_work_through_kernel_dnat", || async {
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
        // That node port was elements only (the direct layout): no chain of its own.
        let listed = nft_list();
        assert!(
            listed.contains("elements = { tcp . 30080 comment \"default/web\" }")
                && !listed.contains("/web/tcp/"),
            "{listed}"
        );

        // Hairpin: a pod reaching itself through the service sees the node's address.
        assert_eq!(
            hairpin(&net.b1, "10.96.0.10:80").as_deref(),
            Some("b1 10.244.0.1")
        );

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
fn a_compact_service_spreads_connections_over_all_endpoints() {
    sandboxed(
        "traffic::a_compact_service_spreads_connections_over_all_endpoints",
        || async {
            let net = network().await;
            tcp_backend(&net.b1, "b1", "10.244.0.3", 8080);
            tcp_backend(&net.b2, "b2", "10.244.0.4", 8080);
            tcp_backend(&net.b2, "b3", "10.244.0.4", 8081);
            // Node port with `externalTrafficPolicy: Local`: the compact layout.
            let mut s = state();
            web(&mut s).external_local = true;
            let mut dp = Nftables::new(config()).unwrap();
            dp.apply(&s).await.unwrap();

            // Three endpoints through an incremental (netlink) change: the map's three ranges.
            web(&mut s).endpoints.push(ep("10.244.0.4", 8081, false));
            dp.apply(&s).await.unwrap();
            let listed = nft_list();
            assert!(
                listed.contains("typeof numgen random mod 65536 : ip daddr . tcp dport")
                    && listed.contains("43690-65535 : 10.244.0.4 . 8081"),
                "{listed}"
            );
            let seen = tally(&net.client, "10.96.0.10:80", 99);
            let per_backend = all_three_take_their_share(&seen);
            eprintln!("99 connections over 3 endpoints: {per_backend:?}");
        },
    );
}

#[test]
fn a_direct_service_reaches_every_endpoint_through_elements_only() {
    sandboxed(
        "traffic::a_direct_service_reaches_every_endpoint_through_elements_only",
        || async {
            let net = network().await;
            tcp_backend(&net.b1, "b1", "10.244.0.3", 8080);
            tcp_backend(&net.b2, "b2", "10.244.0.4", 8080);
            tcp_backend(&net.b2, "b3", "10.244.0.4", 8081);
            let mut dp = Nftables::new(config()).unwrap();
            dp.apply(&state()).await.unwrap();

            // A plain ClusterIP service with three endpoints, added over netlink: nothing
            // but elements (no chain, rule, set or map).
            let mut s = state();
            s.services.insert(
                key("direct", Protocol::Tcp),
                port(
                    "10.96.0.20",
                    80,
                    vec![
                        ep("10.244.0.3", 8080, true),
                        ep("10.244.0.4", 8080, false),
                        ep("10.244.0.4", 8081, false),
                    ],
                ),
            );
            dp.apply(&s).await.unwrap();
            let tx = dp.last_transaction().to_string();
            assert!(
                tx.lines().all(|l| l.starts_with("add element ")),
                "not elements only:\n{tx}"
            );
            assert!(
                tx.contains("add element ip portico direct-3 { 10.96.0.20 . tcp . 80 . 2 : 10.244.0.4 . 8081 }"),
                "{tx}"
            );
            assert!(dp.last_timing().batches >= 1);

            // Every endpoint takes connections; pods keep their address.
            let seen = tally(&net.client, "10.96.0.20:80", 99);
            all_three_take_their_share(&seen);
            assert!(seen.keys().all(|a| a.ends_with(" 10.244.0.2")), "{seen:?}");

            // From outside the pod network: masqueraded.
            let seen = tally(&net.outside, "10.96.0.20:80", 10);
            assert!(seen.keys().all(|a| a.ends_with(" 10.244.0.1")), "{seen:?}");

            // Hairpin: a pod reaching itself through the service sees the node's address.
            assert_eq!(
                hairpin(&net.b1, "10.96.0.20:80").as_deref(),
                Some("b1 10.244.0.1")
            );

            // A port the cluster IP does not have: refused at once.
            assert_eq!(
                tcp_get(&net.client, "10.96.0.20:81"),
                Err(ErrorKind::ConnectionRefused)
            );

            // One endpoint fewer: the choice moves to `direct-2`, still elements only, and
            // the endpoint that went takes no more connections.
            let mut s2 = s.clone();
            s2.services
                .get_mut(&key("direct", Protocol::Tcp))
                .unwrap()
                .endpoints
                .pop();
            dp.apply(&s2).await.unwrap();
            let tx = dp.last_transaction().to_string();
            assert!(
                tx.lines()
                    .all(|l| l.starts_with("add element ") || l.starts_with("delete element ")),
                "not elements only:\n{tx}"
            );
            let seen = tally(&net.client, "10.96.0.20:80", 30);
            assert_eq!(backends(&seen), ["b1", "b2"], "{seen:?}");

            // No endpoints: refused, like any service without endpoints.
            let mut s3 = s2.clone();
            s3.services
                .get_mut(&key("direct", Protocol::Tcp))
                .unwrap()
                .endpoints
                .clear();
            dp.apply(&s3).await.unwrap();
            assert_eq!(
                tcp_get(&net.client, "10.96.0.20:80"),
                Err(ErrorKind::ConnectionRefused)
            );
        },
    );
}

/// Connections per backend of `seen` (answers `"<backend> <client address>"`), after
/// checking that each of b1, b2 and b3 took its share of 99.
fn all_three_take_their_share(seen: &BTreeMap<String, usize>) -> BTreeMap<String, usize> {
    let mut per_backend: BTreeMap<String, usize> = BTreeMap::new();
    for (answer, n) in seen {
        *per_backend
            .entry(answer.split(' ').next().unwrap().to_string())
            .or_default() += n;
    }
    assert_eq!(
        per_backend.keys().collect::<Vec<_>>(),
        ["b1", "b2", "b3"],
        "{seen:?}"
    );
    // 33 each on average; 15 is about four standard deviations below.
    assert!(per_backend.values().all(|n| *n >= 15), "{per_backend:?}");
    per_backend
}

/// What b1 answers when it reaches itself through `service` (up to 60 tries, since the
/// endpoint is drawn at random), or `None` if it never drew itself.
fn hairpin(b1: &NetNs, service: &str) -> Option<String> {
    (0..60)
        .map(|_| tcp_get(b1, service).unwrap())
        .find(|answer| answer.starts_with("b1 "))
}
