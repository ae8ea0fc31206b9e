//! The direct layout: which service ports get it, and the transactions that move a service
//! port into and out of it.

use super::*;
use crate::nftables::ops::Op;
use crate::nftables::ruleset::Collection;

fn dns() -> ServiceKey {
    key("kube-system", "kube-dns", "dns", Protocol::Udp)
}

/// `n` endpoints 10.244.3.0, 10.244.3.1, … on port 53.
fn many(n: u32) -> Vec<Endpoint> {
    (0..n)
        .map(|i| {
            ep(
                &std::net::Ipv4Addr::from(0x0af4_0300 + i).to_string(),
                53,
                false,
            )
        })
        .collect()
}

fn is_direct(sp: &ServicePort) -> bool {
    let rules = ServiceRules::build(&dns(), sp, &config()).unwrap();
    let direct = rules
        .elements
        .keys()
        .any(|(c, _)| *c == Collection::DirectServices);
    if direct {
        assert!(rules.chains.is_empty() && rules.maps.is_empty() && rules.sets.is_empty());
    }
    direct
}

#[test]
fn only_plain_cluster_ip_ports_with_1_to_16_endpoints_are_direct() {
    let plain = dns_only().services[&dns()].clone();
    assert!(is_direct(&plain));
    let with = |f: &dyn Fn(&mut ServicePort)| {
        let mut sp = plain.clone();
        f(&mut sp);
        sp
    };
    assert!(is_direct(&with(&|sp| sp.endpoints = many(1))));
    assert!(is_direct(&with(&|sp| sp.endpoints = many(16))));
    assert!(!is_direct(&with(&|sp| sp.endpoints = many(17))));
    assert!(!is_direct(&with(&|sp| sp.endpoints.clear())));
    assert!(!is_direct(&with(
        &|sp| sp.affinity = Some(Duration::from_secs(60))
    )));
    assert!(!is_direct(&with(&|sp| sp.internal_local = true)));
    // Node ports, external and LoadBalancer IPs under `externalTrafficPolicy: Cluster`
    // are direct too; under `Local` they are not.
    assert!(is_direct(&with(&|sp| sp.node_port = Some(30053))));
    assert!(is_direct(&with(
        &|sp| sp.external_ips = vec![ip("192.0.2.1")]
    )));
    assert!(is_direct(&with(
        &|sp| sp.load_balancer_ips = vec![ip("127.240.0.1")]
    )));
    for f in [
        &|sp: &mut ServicePort| sp.node_port = Some(30053),
        &|sp: &mut ServicePort| sp.external_ips = vec![ip("192.0.2.1")],
        &|sp: &mut ServicePort| sp.load_balancer_ips = vec![ip("127.240.0.1")],
    ] as [&dyn Fn(&mut ServicePort); 3]
    {
        assert!(!is_direct(&with(&|sp| {
            f(sp);
            sp.external_local = true;
        })));
    }
    // The policy alone, without an external address, changes nothing.
    assert!(is_direct(&with(&|sp| sp.external_local = true)));
    // Only IPv4 endpoints count; not-ready ones do not.
    assert!(!is_direct(&with(&|sp| {
        sp.endpoints = vec![ep("fd00::5", 53, false)];
    })));
    let mut sp = with(&|sp| sp.endpoints = many(17));
    sp.endpoints[16].ready = false;
    assert!(is_direct(&sp), "16 ready endpoints");
}

#[test]
fn endpoints_are_numbered_in_address_order() {
    let mut s = dns_only();
    s.services.get_mut(&dns()).unwrap().endpoints.reverse();
    assert_eq!(
        render_full(&s, &config()),
        render_full(&dns_only(), &config())
    );
    let text = render_full(&s, &config());
    assert!(
        text.contains(
            "add element ip portico direct-2 { 10.96.0.10 . udp . 53 . 0 : 10.244.0.5 . 53 }"
        ) && text.contains(
            "add element ip portico direct-2 { 10.96.0.10 . udp . 53 . 1 : 10.244.1.5 . 53 }"
        ),
        "{text}"
    );
}

#[test]
fn adding_a_direct_service_is_elements_only() {
    let c = config();
    let old = Ruleset::build(&state(), &c);
    let k = key("default", "api", "https", Protocol::Tcp);
    let next = ServiceRules::build(&k, &added().services[&k], &c);
    let tx = render::changes(&old, &[(k, next)], &BTreeSet::new(), true, &c);
    assert_eq!(tx.ops.len(), 4, "{}", tx.text);
    assert!(
        tx.ops.iter().all(|op| matches!(op, Op::AddElement { .. })),
        "{}",
        tx.text
    );
}

#[test]
fn seventeen_endpoints_move_to_the_compact_layout_and_back() {
    let mut s16 = dns_only();
    s16.services.get_mut(&dns()).unwrap().endpoints = many(16);
    let mut s17 = s16.clone();
    s17.services.get_mut(&dns()).unwrap().endpoints = many(17);

    let tx = diff_text(&s16, &s17);
    let lines: Vec<&str> = tx.lines().collect();
    // The map and chain first, then the direct elements go, then rules, then the dispatch.
    assert!(
        lines[0].starts_with("add map ip portico endpoints-6WHWAHDN-"),
        "{tx}"
    );
    assert!(
        lines[1].starts_with("add chain ip portico service-6WHWAHDN-"),
        "{tx}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("delete element ip portico direct-16 "))
            .count(),
        16,
        "{tx}"
    );
    assert!(tx.contains("delete element ip portico direct-services { 10.96.0.10 . udp . 53 }\n"));
    assert!(tx.contains("add element ip portico hairpin { 10.244.3.16 . 10.244.3.16 }\n"));
    let dispatch = "add element ip portico service-ips { 10.96.0.10 . udp . 53 comment \"kube-system/kube-dns:dns\" : goto service-6WHWAHDN-kube-system/kube-dns/udp/dns }";
    let dispatch_at = lines.iter().position(|l| *l == dispatch);
    let last_rule = lines.iter().rposition(|l| l.starts_with("add rule "));
    assert!(dispatch_at > last_rule && last_rule.is_some(), "{tx}");
    assert!(!tx.contains("add element ip portico direct"), "{tx}");

    // Back: the dispatch element goes before the chain is flushed and deleted, after the map.
    let tx = diff_text(&s17, &s16);
    let lines: Vec<&str> = tx.lines().collect();
    let at = |prefix: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix}:\n{tx}"))
    };
    assert!(at("delete element ip portico service-ips ") < at("flush chain ip portico service-"));
    assert!(at("flush chain ip portico service-") < at("delete map ip portico endpoints-"));
    assert!(at("delete map ip portico endpoints-") < at("delete chain ip portico service-"));
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("add element ip portico direct-16 "))
            .count(),
        16,
        "{tx}"
    );
    assert!(tx.contains("add element ip portico direct-services { 10.96.0.10 . udp . 53 comment \"kube-system/kube-dns:dns\" }\n"));
    assert!(tx.contains("delete element ip portico hairpin { 10.244.3.16 . 10.244.3.16 }\n"));
    assert!(
        !tx.contains("add rule") && !tx.contains("add chain"),
        "{tx}"
    );
}

#[test]
fn a_node_port_and_a_load_balancer_ip_are_elements_only() {
    let mut np = dns_only();
    {
        let sp = np.services.get_mut(&dns()).unwrap();
        sp.node_port = Some(30053);
        sp.load_balancer_ips = vec![ip("127.240.0.1")];
    }
    let tx = diff_text(&dns_only(), &np);
    assert_text(
        &tx,
        r#"add element ip portico direct-2 { 127.240.0.1 . udp . 53 . 0 : 10.244.0.5 . 53 }
add element ip portico direct-2 { 127.240.0.1 . udp . 53 . 1 : 10.244.1.5 . 53 }
add element ip portico direct-external { 127.240.0.1 . udp . 53 comment "kube-system/kube-dns:dns" }
add element ip portico direct-nodeports { udp . 30053 comment "kube-system/kube-dns:dns" }
add element ip portico direct-nodeport-2 { udp . 30053 . 0 : 10.244.0.5 . 53 }
add element ip portico direct-nodeport-2 { udp . 30053 . 1 : 10.244.1.5 . 53 }
"#,
    );
    let back = diff_text(&np, &dns_only());
    assert!(
        !back.contains("add ") && back.lines().count() == 6,
        "{back}"
    );
}

#[test]
fn external_traffic_policy_local_moves_to_the_compact_layout() {
    let mut np = dns_only();
    {
        let sp = np.services.get_mut(&dns()).unwrap();
        sp.node_port = Some(30053);
        sp.external_local = true;
    }
    let tx = diff_text(&dns_only(), &np);
    assert!(
        tx.contains("add chain ip portico external-6WHWAHDN-"),
        "{tx}"
    );
    assert!(
        tx.contains("add element ip portico service-nodeports { udp . 30053 "),
        "{tx}"
    );
    assert!(
        tx.contains("delete element ip portico direct-2 { 10.96.0.10 . udp . 53 . 1 }"),
        "{tx}"
    );
    // The endpoints keep their hairpin elements: untouched.
    assert!(!tx.contains("hairpin"), "{tx}");
    let back = diff_text(&np, &dns_only());
    assert!(
        back.contains("delete chain ip portico external-6WHWAHDN-"),
        "{back}"
    );
    assert!(
        back.contains(
            "add element ip portico direct-2 { 10.96.0.10 . udp . 53 . 1 : 10.244.1.5 . 53 }"
        ),
        "{back}"
    );
}
