//! Rendering tests: whole tables and transactions compared line by line.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use super::ruleset::{Ruleset, ServiceRules};
use super::*;
use crate::model::{Endpoint, Protocol, ServiceKey, ServicePort};

fn config() -> NftConfig {
    let mut c = NftConfig::new(
        "10.244.0.0/16".parse().unwrap(),
        "10.96.0.0/12".parse().unwrap(),
    );
    c.nft = PathBuf::from("/nonexistent/nft");
    c
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn key(ns: &str, name: &str, port: &str, protocol: Protocol) -> ServiceKey {
    ServiceKey {
        namespace: ns.into(),
        name: name.into(),
        port_name: port.into(),
        protocol,
    }
}

fn ep(addr: &str, port: u16, local: bool) -> Endpoint {
    Endpoint {
        ip: ip(addr),
        port,
        ready: true,
        serving: true,
        terminating: false,
        local,
    }
}

fn cluster_ip(cip: &str, port: u16, endpoints: Vec<Endpoint>) -> ServicePort {
    ServicePort {
        cluster_ips: vec![ip(cip)],
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

/// A DNS service (UDP, two endpoints) and a web service (TCP NodePort + LoadBalancer,
/// `externalTrafficPolicy: Local`, which keeps it out of the direct layout).
fn state() -> ProxyState {
    let mut s = ProxyState::default();
    s.services.insert(
        key("kube-system", "kube-dns", "dns", Protocol::Udp),
        cluster_ip(
            "10.96.0.10",
            53,
            vec![ep("10.244.0.5", 53, true), ep("10.244.1.5", 53, false)],
        ),
    );
    let mut web = cluster_ip("10.96.0.20", 80, vec![ep("10.244.0.7", 8080, true)]);
    web.node_port = Some(30080);
    web.load_balancer_ips = vec![ip("127.240.0.1")];
    web.external_local = true;
    s.services
        .insert(key("default", "web", "", Protocol::Tcp), web);
    s
}

fn diff_text(old: &ProxyState, new: &ProxyState) -> String {
    let c = config();
    render::diff(
        &Ruleset::build(old, &c),
        &Ruleset::build(new, &c),
        &BTreeSet::new(),
        true,
        &c,
    )
    .text
}

fn with_affinity(mut s: ProxyState, secs: u64) -> ProxyState {
    for sp in s.services.values_mut() {
        sp.affinity = Some(Duration::from_secs(secs));
    }
    s
}

fn added() -> ProxyState {
    let mut s = state();
    s.services.insert(
        key("default", "api", "https", Protocol::Tcp),
        cluster_ip("10.96.0.30", 443, vec![ep("10.244.0.9", 8443, true)]),
    );
    s
}

fn dns_only() -> ProxyState {
    let mut s = ProxyState::default();
    let k = key("kube-system", "kube-dns", "dns", Protocol::Udp);
    s.services.insert(k.clone(), state().services[&k].clone());
    s
}

/// Compares line by line, so a failure names the first differing line.
fn assert_text(actual: &str, expected: &str) {
    for (i, (a, e)) in actual.lines().zip(expected.lines()).enumerate() {
        assert_eq!(a, e, "line {} differs; whole text:\n{actual}", i + 1);
    }
    assert_eq!(
        actual.lines().count(),
        expected.lines().count(),
        "whole text:\n{actual}"
    );
}

#[test]
fn full_table() {
    assert_text(&render_full(&state(), &config()), FULL);
}

/// The two services of [`state`]: `default/web` in the compact layout (node port,
/// LoadBalancer IP), `kube-system/kube-dns:dns` in the direct layout.
const FULL: &str = include_str!("tests/full.nft");

#[test]
fn adding_a_plain_cluster_ip_service_adds_only_elements() {
    assert_text(&diff_text(&state(), &added()), ADD);
}

/// A plain ClusterIP service with one endpoint: the direct layout, elements only.
const ADD: &str = r#"add element ip portico cluster-ips { 10.96.0.30 }
add element ip portico hairpin { 10.244.0.9 . 10.244.0.9 }
add element ip portico direct-services { 10.96.0.30 . tcp . 443 comment "default/api:https" }
add element ip portico direct-1 { 10.96.0.30 . tcp . 443 . 0 : 10.244.0.9 . 8443 }
"#;

#[test]
fn a_compact_endpoint_change_rewrites_only_the_endpoint_map_and_hairpin() {
    // `default/web` (node port, `externalTrafficPolicy: Local`: the compact layout, with a
    // map of all endpoints and one of the local ones) moves from 10.244.0.7 to 10.244.0.8.
    let web = key("default", "web", "", Protocol::Tcp);
    let mut moved = state();
    moved.services.get_mut(&web).unwrap().endpoints = vec![ep("10.244.0.8", 8080, true)];
    assert_text(&diff_text(&state(), &moved), REMOVE_EP);

    // The operations themselves: no rule or chain in sight.
    let c = config();
    let old = Ruleset::build(&state(), &c);
    let next = ServiceRules::build(&web, &moved.services[&web], &c);
    let tx = render::changes(&old, &[(web, next)], &BTreeSet::new(), true, &c);
    let kinds: Vec<&str> = tx
        .ops
        .iter()
        .map(|op| match op {
            ops::Op::FlushMap(_) => "flush map",
            ops::Op::AddRanges { .. } => "add ranges",
            ops::Op::DeleteElement(ruleset::Collection::Hairpin, _) => "delete hairpin",
            ops::Op::AddElement {
                coll: ruleset::Collection::Hairpin,
                ..
            } => "add hairpin",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "flush map",
            "add ranges",
            "flush map",
            "add ranges",
            "delete hairpin",
            "add hairpin"
        ]
    );
    assert!(tx.stale_chains.is_empty());

    // Adding an endpoint to both: the compact one refills its map, the direct one moves
    // its choice from `direct-2` to `direct-3`; a hairpin element for the new endpoint.
    let mut more = state();
    for sp in more.services.values_mut() {
        sp.endpoints.push(ep("10.244.2.9", 8080, false));
    }
    assert_text(
        &diff_text(&state(), &more),
        r#"flush map ip portico endpoints-I6BWTMCE-default/web/tcp/
add element ip portico endpoints-I6BWTMCE-default/web/tcp/ { 0-32767 : 10.244.0.7 . 8080, 32768-65535 : 10.244.2.9 . 8080 }
delete element ip portico direct-2 { 10.96.0.10 . udp . 53 . 0 }
delete element ip portico direct-2 { 10.96.0.10 . udp . 53 . 1 }
add element ip portico hairpin { 10.244.2.9 . 10.244.2.9 }
add element ip portico direct-3 { 10.96.0.10 . udp . 53 . 0 : 10.244.0.5 . 53 }
add element ip portico direct-3 { 10.96.0.10 . udp . 53 . 1 : 10.244.1.5 . 53 }
add element ip portico direct-3 { 10.96.0.10 . udp . 53 . 2 : 10.244.2.9 . 8080 }
"#,
    );
}

#[test]
fn with_affinity_removing_an_endpoint_rewrites_one_chain_and_deletes_another() {
    let old = with_affinity(dns_only(), 60);
    let mut removed = old.clone();
    for sp in removed.services.values_mut() {
        sp.endpoints.retain(|e| e.ip != ip("10.244.1.5"));
    }
    assert_text(
        &diff_text(&old, &removed),
        r#"flush chain ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns
add rule ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns ip daddr 10.96.0.10 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
add rule ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns ip saddr @affinity-LRKRDI5G-kube-system/kube-dns/udp/dns__10.244.0.5/53 goto endpoint-2ZDGV56Z-kube-system/kube-dns/udp/dns__10.244.0.5/53
add rule ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns goto endpoint-2ZDGV56Z-kube-system/kube-dns/udp/dns__10.244.0.5/53
flush chain ip portico endpoint-LUSLH42O-kube-system/kube-dns/udp/dns__10.244.1.5/53
delete set ip portico affinity-R2LKMRC6-kube-system/kube-dns/udp/dns__10.244.1.5/53
delete chain ip portico endpoint-LUSLH42O-kube-system/kube-dns/udp/dns__10.244.1.5/53
"#,
    );
}

#[test]
fn going_to_and_from_zero_endpoints_switches_between_reject_and_the_direct_elements() {
    let mut none = dns_only();
    for sp in none.services.values_mut() {
        sp.endpoints.clear();
    }
    assert_text(
        &diff_text(&dns_only(), &none),
        r#"delete element ip portico hairpin { 10.244.0.5 . 10.244.0.5 }
delete element ip portico hairpin { 10.244.1.5 . 10.244.1.5 }
delete element ip portico direct-services { 10.96.0.10 . udp . 53 }
delete element ip portico direct-2 { 10.96.0.10 . udp . 53 . 0 }
delete element ip portico direct-2 { 10.96.0.10 . udp . 53 . 1 }
add element ip portico no-endpoint-services { 10.96.0.10 . udp . 53 comment "kube-system/kube-dns:dns" : goto reject-chain }
"#,
    );
    assert_text(
        &diff_text(&none, &dns_only()),
        r#"delete element ip portico no-endpoint-services { 10.96.0.10 . udp . 53 }
add element ip portico hairpin { 10.244.0.5 . 10.244.0.5 }
add element ip portico hairpin { 10.244.1.5 . 10.244.1.5 }
add element ip portico direct-services { 10.96.0.10 . udp . 53 comment "kube-system/kube-dns:dns" }
add element ip portico direct-2 { 10.96.0.10 . udp . 53 . 0 : 10.244.0.5 . 53 }
add element ip portico direct-2 { 10.96.0.10 . udp . 53 . 1 : 10.244.1.5 . 53 }
"#,
    );
}

#[test]
fn a_compact_service_going_to_zero_endpoints_deletes_its_chains_and_map() {
    let web = key("default", "web", "", Protocol::Tcp);
    let mut none = state();
    none.services.get_mut(&web).unwrap().endpoints.clear();
    assert_text(
        &diff_text(&state(), &none),
        r#"delete element ip portico service-ips { 10.96.0.20 . tcp . 80 }
delete element ip portico service-ips { 127.240.0.1 . tcp . 80 }
delete element ip portico service-nodeports { tcp . 30080 }
delete element ip portico hairpin { 10.244.0.7 . 10.244.0.7 }
flush chain ip portico external-I6BWTMCE-default/web/tcp/
flush chain ip portico local-I6BWTMCE-default/web/tcp/
flush chain ip portico service-I6BWTMCE-default/web/tcp/
add element ip portico no-endpoint-services { 10.96.0.20 . tcp . 80 comment "default/web" : goto reject-chain }
add element ip portico no-endpoint-services { 127.240.0.1 . tcp . 80 comment "default/web" : goto reject-chain }
add element ip portico no-endpoint-nodeports { tcp . 30080 comment "default/web" : goto reject-chain }
delete map ip portico endpoints-I6BWTMCE-default/web/tcp/
delete map ip portico local-endpoints-I6BWTMCE-default/web/tcp/
delete chain ip portico external-I6BWTMCE-default/web/tcp/
delete chain ip portico local-I6BWTMCE-default/web/tcp/
delete chain ip portico service-I6BWTMCE-default/web/tcp/
"#,
    );
}

#[test]
fn a_shared_endpoint_keeps_its_hairpin_element_until_the_last_service_goes() {
    let mut two = state();
    let mut other = cluster_ip("10.96.0.50", 53, vec![ep("10.244.0.5", 53, true)]);
    other.port = 5353;
    two.services
        .insert(key("default", "other", "", Protocol::Udp), other);
    let tx = diff_text(&state(), &two);
    assert!(!tx.contains("hairpin"), "already there:\n{tx}");
    let tx = diff_text(&two, &state());
    assert!(!tx.contains("hairpin"), "still claimed by kube-dns:\n{tx}");
    let mut gone = two.clone();
    gone.services
        .remove(&key("kube-system", "kube-dns", "dns", Protocol::Udp));
    let tx = diff_text(&two, &gone);
    assert!(
        tx.contains("delete element ip portico hairpin { 10.244.1.5 . 10.244.1.5 }")
            && !tx.contains("10.244.0.5 . 10.244.0.5"),
        "{tx}"
    );
}

const REMOVE_EP: &str = r#"flush map ip portico endpoints-I6BWTMCE-default/web/tcp/
add element ip portico endpoints-I6BWTMCE-default/web/tcp/ { 0-65535 : 10.244.0.8 . 8080 }
flush map ip portico local-endpoints-I6BWTMCE-default/web/tcp/
add element ip portico local-endpoints-I6BWTMCE-default/web/tcp/ { 0-65535 : 10.244.0.8 . 8080 }
delete element ip portico hairpin { 10.244.0.7 . 10.244.0.7 }
add element ip portico hairpin { 10.244.0.8 . 10.244.0.8 }
"#;

#[test]
fn turning_on_affinity_replaces_the_direct_elements_with_chains() {
    let on = with_affinity(dns_only(), 10800);
    assert_text(&diff_text(&dns_only(), &on), AFFINITY);
}

/// From the direct layout to per-endpoint chains: the direct elements go, the chains come.
const AFFINITY: &str = r#"add set ip portico affinity-P3SG3GTU-kube-system/kube-dns/udp/dns__10.244.1.5/53 { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }
add set ip portico affinity-W37H562W-kube-system/kube-dns/udp/dns__10.244.0.5/53 { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }
add chain ip portico endpoint-2ZDGV56Z-kube-system/kube-dns/udp/dns__10.244.0.5/53
add chain ip portico endpoint-LUSLH42O-kube-system/kube-dns/udp/dns__10.244.1.5/53
add chain ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns
delete element ip portico hairpin { 10.244.0.5 . 10.244.0.5 }
delete element ip portico hairpin { 10.244.1.5 . 10.244.1.5 }
delete element ip portico direct-services { 10.96.0.10 . udp . 53 }
delete element ip portico direct-2 { 10.96.0.10 . udp . 53 . 0 }
delete element ip portico direct-2 { 10.96.0.10 . udp . 53 . 1 }
add rule ip portico endpoint-2ZDGV56Z-kube-system/kube-dns/udp/dns__10.244.0.5/53 ip saddr 10.244.0.5 jump mark-for-masquerade
add rule ip portico endpoint-2ZDGV56Z-kube-system/kube-dns/udp/dns__10.244.0.5/53 update @affinity-W37H562W-kube-system/kube-dns/udp/dns__10.244.0.5/53 { ip saddr }
add rule ip portico endpoint-2ZDGV56Z-kube-system/kube-dns/udp/dns__10.244.0.5/53 meta l4proto udp dnat to 10.244.0.5:53
add rule ip portico endpoint-LUSLH42O-kube-system/kube-dns/udp/dns__10.244.1.5/53 ip saddr 10.244.1.5 jump mark-for-masquerade
add rule ip portico endpoint-LUSLH42O-kube-system/kube-dns/udp/dns__10.244.1.5/53 update @affinity-P3SG3GTU-kube-system/kube-dns/udp/dns__10.244.1.5/53 { ip saddr }
add rule ip portico endpoint-LUSLH42O-kube-system/kube-dns/udp/dns__10.244.1.5/53 meta l4proto udp dnat to 10.244.1.5:53
add rule ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns ip daddr 10.96.0.10 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
add rule ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns ip saddr @affinity-W37H562W-kube-system/kube-dns/udp/dns__10.244.0.5/53 goto endpoint-2ZDGV56Z-kube-system/kube-dns/udp/dns__10.244.0.5/53
add rule ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns ip saddr @affinity-P3SG3GTU-kube-system/kube-dns/udp/dns__10.244.1.5/53 goto endpoint-LUSLH42O-kube-system/kube-dns/udp/dns__10.244.1.5/53
add rule ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns numgen random mod 2 == 0 goto endpoint-2ZDGV56Z-kube-system/kube-dns/udp/dns__10.244.0.5/53
add rule ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns goto endpoint-LUSLH42O-kube-system/kube-dns/udp/dns__10.244.1.5/53
add element ip portico service-ips { 10.96.0.10 . udp . 53 comment "kube-system/kube-dns:dns" : goto service-6WHWAHDN-kube-system/kube-dns/udp/dns }
"#;

#[test]
fn a_new_affinity_timeout_replaces_the_sets() {
    let old = with_affinity(dns_only(), 10800);
    let new = with_affinity(dns_only(), 60);
    assert_text(&diff_text(&old, &new), AFFINITY_TIMEOUT);
}

const AFFINITY_TIMEOUT: &str = r#"add set ip portico affinity-LRKRDI5G-kube-system/kube-dns/udp/dns__10.244.0.5/53 { type ipv4_addr ; flags dynamic,timeout ; timeout 60s ; }
add set ip portico affinity-R2LKMRC6-kube-system/kube-dns/udp/dns__10.244.1.5/53 { type ipv4_addr ; flags dynamic,timeout ; timeout 60s ; }
flush chain ip portico endpoint-2ZDGV56Z-kube-system/kube-dns/udp/dns__10.244.0.5/53
add rule ip portico endpoint-2ZDGV56Z-kube-system/kube-dns/udp/dns__10.244.0.5/53 ip saddr 10.244.0.5 jump mark-for-masquerade
add rule ip portico endpoint-2ZDGV56Z-kube-system/kube-dns/udp/dns__10.244.0.5/53 update @affinity-LRKRDI5G-kube-system/kube-dns/udp/dns__10.244.0.5/53 { ip saddr }
add rule ip portico endpoint-2ZDGV56Z-kube-system/kube-dns/udp/dns__10.244.0.5/53 meta l4proto udp dnat to 10.244.0.5:53
flush chain ip portico endpoint-LUSLH42O-kube-system/kube-dns/udp/dns__10.244.1.5/53
add rule ip portico endpoint-LUSLH42O-kube-system/kube-dns/udp/dns__10.244.1.5/53 ip saddr 10.244.1.5 jump mark-for-masquerade
add rule ip portico endpoint-LUSLH42O-kube-system/kube-dns/udp/dns__10.244.1.5/53 update @affinity-R2LKMRC6-kube-system/kube-dns/udp/dns__10.244.1.5/53 { ip saddr }
add rule ip portico endpoint-LUSLH42O-kube-system/kube-dns/udp/dns__10.244.1.5/53 meta l4proto udp dnat to 10.244.1.5:53
flush chain ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns
add rule ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns ip daddr 10.96.0.10 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
add rule ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns ip saddr @affinity-LRKRDI5G-kube-system/kube-dns/udp/dns__10.244.0.5/53 goto endpoint-2ZDGV56Z-kube-system/kube-dns/udp/dns__10.244.0.5/53
add rule ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns ip saddr @affinity-R2LKMRC6-kube-system/kube-dns/udp/dns__10.244.1.5/53 goto endpoint-LUSLH42O-kube-system/kube-dns/udp/dns__10.244.1.5/53
add rule ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns numgen random mod 2 == 0 goto endpoint-2ZDGV56Z-kube-system/kube-dns/udp/dns__10.244.0.5/53
add rule ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns goto endpoint-LUSLH42O-kube-system/kube-dns/udp/dns__10.244.1.5/53
delete set ip portico affinity-P3SG3GTU-kube-system/kube-dns/udp/dns__10.244.1.5/53
delete set ip portico affinity-W37H562W-kube-system/kube-dns/udp/dns__10.244.0.5/53
"#;

#[test]
fn no_endpoints_reject_everywhere_and_local_policies_drop() {
    let mut s = ProxyState::default();
    let mut web = cluster_ip("10.96.0.20", 80, vec![]);
    web.node_port = Some(30080);
    web.load_balancer_ips = vec![ip("127.240.0.1")];
    s.services
        .insert(key("default", "web", "", Protocol::Tcp), web.clone());
    let text = render_full(&s, &config());
    let service_part = &text[text.find("# default/web").unwrap()..];
    assert_text(
        service_part,
        r#"# default/web (TCP)
add element ip portico cluster-ips { 10.96.0.20 }
add element ip portico no-endpoint-services { 10.96.0.20 . tcp . 80 comment "default/web" : goto reject-chain }
add element ip portico no-endpoint-services { 127.240.0.1 . tcp . 80 comment "default/web" : goto reject-chain }
add element ip portico no-endpoint-nodeports { tcp . 30080 comment "default/web" : goto reject-chain }
"#,
    );

    // Only a remote endpoint, both policies Local: cluster IP and node port drop (outside
    // clients), but pods and the node are short-circuited to the remote endpoint.
    web.endpoints = vec![ep("10.244.1.5", 80, false)];
    web.internal_local = true;
    web.external_local = true;
    s.services
        .insert(key("default", "web", "", Protocol::Tcp), web);
    let text = render_full(&s, &config());
    assert!(
        text.contains(
            "no-endpoint-services { 10.96.0.20 . tcp . 80 comment \"default/web\" : drop }"
        ),
        "{text}"
    );
    assert!(
        text.contains("no-endpoint-nodeports { tcp . 30080 comment \"default/web\" : drop }"),
        "{text}"
    );
    assert!(
        text.contains(
            "service-ips { 127.240.0.1 . tcp . 80 comment \"default/web\" : goto external-"
        ),
        "{text}"
    );
    assert!(text.contains("short-circuit pod traffic"), "{text}");
    assert!(
        !text.contains("add chain ip portico local-"),
        "no local endpoints, no local chain:\n{text}"
    );
}

#[test]
fn terminating_endpoints_serve_only_when_none_is_ready() {
    let mut s = dns_only();
    for sp in s.services.values_mut() {
        sp.endpoints[0].ready = false;
        sp.endpoints[0].terminating = true;
    }
    let text = render_full(&s, &config());
    assert!(
        text.contains("direct-1 { 10.96.0.10 . udp . 53 . 0 : 10.244.1.5 . 53 }"),
        "{text}"
    );
    for sp in s.services.values_mut() {
        sp.endpoints[1].ready = false;
        sp.endpoints[1].terminating = true;
    }
    let text = render_full(&s, &config());
    assert!(
        text.contains("direct-2 { 10.96.0.10 . udp . 53 . 0 : 10.244.0.5 . 53 }")
            && text.contains("direct-2 { 10.96.0.10 . udp . 53 . 1 : 10.244.1.5 . 53 }"),
        "both serving-terminating: {text}"
    );
}

#[test]
fn an_unchanged_state_sends_nothing_and_pending_chains_are_deleted() {
    assert_eq!(diff_text(&state(), &state()), "");
    let c = config();
    let rs = Ruleset::build(&state(), &c);
    let pending: BTreeSet<String> = ["endpoint-OLD-default/x/tcp/__10.0.0.1/1".to_string()].into();
    let tx = render::diff(&rs, &rs, &pending, true, &c);
    assert_eq!(
        tx.text,
        "delete chain ip portico endpoint-OLD-default/x/tcp/__10.0.0.1/1\n"
    );
    let tx = render::diff(&rs, &Ruleset::default(), &BTreeSet::new(), false, &c);
    assert!(!tx.text.contains("delete chain"), "{}", tx.text);
    // service-…, local-… and external-… of web (no endpoint chains without affinity;
    // kube-dns, in the direct layout, has no chain).
    assert_eq!(tx.stale_chains.len(), 3);
}

#[test]
fn config_is_checked() {
    assert_eq!(
        "10.244.1.7/16".parse::<Ipv4Cidr>().unwrap().to_string(),
        "10.244.0.0/16"
    );
    assert!("10.244.0.0".parse::<Ipv4Cidr>().is_err());
    assert!("10.244.0.0/33".parse::<Ipv4Cidr>().is_err());
    let mut c = config();
    c.table = "bad table; flush ruleset".into();
    assert!(Nftables::new(c).is_err());
    let mut c = config();
    c.masquerade_bit = 32;
    assert!(Nftables::new(c).is_err());
    assert_eq!(config().mark(), "0x4000");
}

#[test]
fn a_shared_external_ip_passes_to_the_next_service_when_the_first_goes() {
    let mut both = ProxyState::default();
    for name in ["a", "b"] {
        let mut sp = cluster_ip(
            if name == "a" {
                "10.96.0.41"
            } else {
                "10.96.0.42"
            },
            80,
            vec![ep("10.244.0.7", 8080, true)],
        );
        sp.external_ips = vec![ip("192.0.2.10")];
        sp.external_local = true;
        both.services
            .insert(key("default", name, "", Protocol::Tcp), sp);
    }
    let text = render_full(&both, &config());
    assert!(
        text.contains(
            "add element ip portico service-ips { 192.0.2.10 . tcp . 80 comment \"default/a\""
        ),
        "{text}"
    );
    assert!(
        !text.contains("192.0.2.10 . tcp . 80 comment \"default/b\""),
        "{text}"
    );
    let mut only_b = both.clone();
    only_b
        .services
        .remove(&key("default", "a", "", Protocol::Tcp));
    let tx = diff_text(&both, &only_b);
    assert!(
        tx.contains("delete element ip portico service-ips { 192.0.2.10 . tcp . 80 }\n"),
        "{tx}"
    );
    assert!(
        tx.contains("add element ip portico service-ips { 192.0.2.10 . tcp . 80 comment \"default/b\" : goto external-"),
        "{tx}"
    );
    // b's own objects are not touched.
    assert!(!tx.contains("default/b/tcp/ ip daddr"), "{tx}");
}

mod direct;
