//! The netlink path against the text path: after every step of a sequence of states, the
//! table programmed incrementally lists exactly like the same state loaded fresh by nft.

use super::*;

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
    steps.push(("services back", s8.clone()));
    steps.extend(direct_states(s8));
    steps
}

/// Steps through the layouts of the `dns` service port, which starts in the direct layout
/// (plain ClusterIP, two endpoints): endpoint changes within it, a node port and a
/// LoadBalancer IP in it, and moves to and from the compact layout and no endpoints.
fn direct_states(start: ProxyState) -> Vec<(&'static str, ProxyState)> {
    let dns_key = key("dns", Protocol::Udp);
    let mut steps = Vec::new();
    let mut s = start;
    let set = |s: &mut ProxyState, f: &dyn Fn(&mut ServicePort)| {
        f(s.services.get_mut(&key("dns", Protocol::Udp)).unwrap())
    };
    let many = |n: u32| -> Vec<Endpoint> {
        (0..n)
            .map(|i| {
                let addr = Ipv4Addr::from(0x0af4_0300 + i).to_string();
                ep(&addr, 5353, false)
            })
            .collect()
    };
    assert_eq!(s.services[&dns_key].endpoints.len(), 2);
    set(&mut s, &|sp| {
        sp.endpoints[1] = ep("10.244.0.5", 5353, false)
    });
    steps.push(("direct: an endpoint replaced", s.clone()));
    set(&mut s, &|sp| sp.endpoints = many(16));
    steps.push(("direct: 16 endpoints", s.clone()));
    set(&mut s, &|sp| sp.endpoints = many(17));
    steps.push(("direct to compact: 17 endpoints", s.clone()));
    set(&mut s, &|sp| sp.endpoints = many(3));
    steps.push(("compact to direct: 3 endpoints", s.clone()));
    set(&mut s, &|sp| {
        sp.node_port = Some(30053);
        sp.load_balancer_ips = vec!["127.240.0.9".parse().unwrap()];
    });
    steps.push(("direct: a node port and a LoadBalancer IP", s.clone()));
    set(&mut s, &|sp| sp.endpoints = many(5));
    steps.push((
        "direct: node port and LoadBalancer IP, 5 endpoints",
        s.clone(),
    ));
    set(&mut s, &|sp| sp.external_local = true);
    steps.push(("direct to compact: externalTrafficPolicy Local", s.clone()));
    set(&mut s, &|sp| sp.external_local = false);
    steps.push((
        "compact to direct: externalTrafficPolicy Cluster",
        s.clone(),
    ));
    set(&mut s, &|sp| {
        sp.node_port = None;
        sp.load_balancer_ips.clear();
    });
    steps.push(("direct: no node port, no LoadBalancer IP", s.clone()));
    set(&mut s, &|sp| sp.endpoints.clear());
    steps.push(("direct to no endpoints", s.clone()));
    set(&mut s, &|sp| sp.endpoints = many(1));
    steps.push(("no endpoints to direct", s.clone()));
    s.services.insert(
        key("direct2", Protocol::Tcp),
        port(
            "10.96.0.40",
            8000,
            vec![ep("10.244.0.3", 8000, true), ep("10.244.3.0", 8000, false)],
        ),
    );
    steps.push(("direct: a service added, hairpin shared", s.clone()));
    s.services.remove(&dns_key);
    steps.push(("direct: a service removed", s));
    steps
}

#[test]
fn netlink_updates_list_like_a_fresh_load() {
    sandboxed(
        "netlink::netlink_updates_list_like_a_fresh_load",
        || async {
            // A pod network that is not a whole number of bytes: its match needs a mask.
            let mut config = config();
            config.pod_cidr = "10.244.0.0/20".parse().unwrap();
            let mut dp = Nftables::new(config.clone()).unwrap();
            for (i, (what, state)) in netlink_states().into_iter().enumerate() {
                dp.apply(&state).await.unwrap();
                if i == 0 {
                    assert!(dp.last_transaction().starts_with("add table ip portico\n"));
                    assert_eq!(
                        dp.last_timing().batches,
                        0,
                        "the first load goes through nft"
                    );
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
                assert_eq!(
                    ours.lines().count(),
                    reference.lines().count(),
                    "step {i} ({what})"
                );
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
            assert_eq!(
                normalized_listing("portico"),
                normalized_listing("reference")
            );
        },
    );
}
