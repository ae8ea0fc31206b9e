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

/// A DNS service (UDP, two endpoints) and a web service (TCP NodePort + LoadBalancer).
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

const FULL: &str = r#"add table ip portico { comment "portico service proxy" ; }
add set ip portico cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }
add map ip portico service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }
add map ip portico service-nodeports { type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }
add map ip portico no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; comment "reject or drop traffic to services without endpoints" ; }
add map ip portico no-endpoint-nodeports { type inet_proto . inet_service : verdict ; comment "reject or drop traffic to node ports without endpoints" ; }
add set ip portico hairpin { type ipv4_addr . ipv4_addr ; comment "endpoints reaching themselves through a service" ; }
add chain ip portico nat-prerouting { type nat hook prerouting priority -100 ; }
add chain ip portico nat-output { type nat hook output priority -100 ; }
add chain ip portico nat-postrouting { type nat hook postrouting priority 100 ; }
add chain ip portico filter-prerouting { type filter hook prerouting priority -90 ; }
add chain ip portico filter-output { type filter hook output priority -90 ; }
add chain ip portico services
add chain ip portico masquerading
add chain ip portico mark-for-masquerade
add chain ip portico service-endpoints-check
add chain ip portico cluster-ips-check
add chain ip portico reject-chain
add rule ip portico nat-prerouting jump services
add rule ip portico nat-output jump services
add rule ip portico nat-postrouting jump masquerading
add rule ip portico filter-prerouting ct state new jump service-endpoints-check
add rule ip portico filter-prerouting ct state new jump cluster-ips-check
add rule ip portico filter-output ct state new jump service-endpoints-check
add rule ip portico filter-output ct state new jump cluster-ips-check
add rule ip portico services ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip portico services fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports
add rule ip portico masquerading ip saddr . ip daddr @hairpin masquerade fully-random
add rule ip portico masquerading mark and 0x4000 == 0 return
add rule ip portico masquerading mark set mark xor 0x4000
add rule ip portico masquerading masquerade fully-random
add rule ip portico mark-for-masquerade mark set mark or 0x4000
add rule ip portico service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services
add rule ip portico service-endpoints-check fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports
add rule ip portico cluster-ips-check ip daddr @cluster-ips reject comment "no such port on this cluster IP"
add rule ip portico cluster-ips-check ip daddr 10.96.0.0/12 drop comment "unallocated cluster IP"
add rule ip portico reject-chain reject

# default/web (TCP)
add map ip portico endpoints-I6BWTMCE-default/web/tcp/ { typeof numgen random mod 65536 : ip daddr . tcp dport ; flags interval ; }
add element ip portico endpoints-I6BWTMCE-default/web/tcp/ { 0-65535 : 10.244.0.7 . 8080 }
add chain ip portico service-I6BWTMCE-default/web/tcp/
add chain ip portico external-I6BWTMCE-default/web/tcp/
add rule ip portico service-I6BWTMCE-default/web/tcp/ ip daddr 10.96.0.20 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
add rule ip portico service-I6BWTMCE-default/web/tcp/ meta l4proto tcp dnat ip addr . port to numgen random mod 65536 map @endpoints-I6BWTMCE-default/web/tcp/
add rule ip portico external-I6BWTMCE-default/web/tcp/ jump mark-for-masquerade
add rule ip portico external-I6BWTMCE-default/web/tcp/ goto service-I6BWTMCE-default/web/tcp/
add element ip portico cluster-ips { 10.96.0.20 }
add element ip portico service-ips { 10.96.0.20 . tcp . 80 comment "default/web" : goto service-I6BWTMCE-default/web/tcp/ }
add element ip portico service-ips { 127.240.0.1 . tcp . 80 comment "default/web" : goto external-I6BWTMCE-default/web/tcp/ }
add element ip portico service-nodeports { tcp . 30080 comment "default/web" : goto external-I6BWTMCE-default/web/tcp/ }
add element ip portico hairpin { 10.244.0.7 . 10.244.0.7 }

# kube-system/kube-dns:dns (UDP)
add map ip portico endpoints-6WHWAHDN-kube-system/kube-dns/udp/dns { typeof numgen random mod 65536 : ip daddr . udp dport ; flags interval ; }
add element ip portico endpoints-6WHWAHDN-kube-system/kube-dns/udp/dns { 0-32767 : 10.244.0.5 . 53, 32768-65535 : 10.244.1.5 . 53 }
add chain ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns
add rule ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns ip daddr 10.96.0.10 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
add rule ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns meta l4proto udp dnat ip addr . port to numgen random mod 65536 map @endpoints-6WHWAHDN-kube-system/kube-dns/udp/dns
add element ip portico cluster-ips { 10.96.0.10 }
add element ip portico service-ips { 10.96.0.10 . udp . 53 comment "kube-system/kube-dns:dns" : goto service-6WHWAHDN-kube-system/kube-dns/udp/dns }
add element ip portico hairpin { 10.244.0.5 . 10.244.0.5 }
add element ip portico hairpin { 10.244.1.5 . 10.244.1.5 }
"#;

#[test]
fn adding_a_service_adds_only_its_chains_and_elements() {
    assert_text(&diff_text(&state(), &added()), ADD);
}

const ADD: &str = r#"add map ip portico endpoints-QA5GDUKI-default/api/tcp/https { typeof numgen random mod 65536 : ip daddr . tcp dport ; flags interval ; }
add chain ip portico service-QA5GDUKI-default/api/tcp/https
add element ip portico endpoints-QA5GDUKI-default/api/tcp/https { 0-65535 : 10.244.0.9 . 8443 }
add rule ip portico service-QA5GDUKI-default/api/tcp/https ip daddr 10.96.0.30 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
add rule ip portico service-QA5GDUKI-default/api/tcp/https meta l4proto tcp dnat ip addr . port to numgen random mod 65536 map @endpoints-QA5GDUKI-default/api/tcp/https
add element ip portico cluster-ips { 10.96.0.30 }
add element ip portico service-ips { 10.96.0.30 . tcp . 443 comment "default/api:https" : goto service-QA5GDUKI-default/api/tcp/https }
add element ip portico hairpin { 10.244.0.9 . 10.244.0.9 }
"#;

#[test]
fn removing_an_endpoint_rewrites_only_the_endpoint_map_and_hairpin() {
    let mut removed = state();
    for sp in removed.services.values_mut() {
        sp.endpoints.retain(|e| e.ip != ip("10.244.1.5"));
    }
    assert_text(&diff_text(&state(), &removed), REMOVE_EP);

    // The operations themselves: no rule or chain in sight.
    let c = config();
    let old = Ruleset::build(&state(), &c);
    let k = key("kube-system", "kube-dns", "dns", Protocol::Udp);
    let next = ServiceRules::build(&k, &removed.services[&k], &c);
    let tx = render::changes(&old, &[(k, next)], &BTreeSet::new(), true, &c);
    let kinds: Vec<&str> = tx
        .ops
        .iter()
        .map(|op| match op {
            ops::Op::FlushMap(_) => "flush map",
            ops::Op::AddRanges { .. } => "add ranges",
            ops::Op::DeleteElement(ruleset::Collection::Hairpin, _) => "delete hairpin",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["flush map", "add ranges", "delete hairpin"]);
    assert!(tx.stale_chains.is_empty());

    // Adding an endpoint: the same, with a hairpin element added.
    let mut more = state();
    for sp in more.services.values_mut() {
        sp.endpoints.push(ep("10.244.2.9", 8080, false));
    }
    assert_text(
        &diff_text(&state(), &more),
        r#"flush map ip portico endpoints-6WHWAHDN-kube-system/kube-dns/udp/dns
add element ip portico endpoints-6WHWAHDN-kube-system/kube-dns/udp/dns { 0-21844 : 10.244.0.5 . 53, 21845-43689 : 10.244.1.5 . 53, 43690-65535 : 10.244.2.9 . 8080 }
flush map ip portico endpoints-I6BWTMCE-default/web/tcp/
add element ip portico endpoints-I6BWTMCE-default/web/tcp/ { 0-32767 : 10.244.0.7 . 8080, 32768-65535 : 10.244.2.9 . 8080 }
add element ip portico hairpin { 10.244.2.9 . 10.244.2.9 }
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
fn going_to_and_from_zero_endpoints_switches_between_reject_and_the_chain() {
    let mut none = dns_only();
    for sp in none.services.values_mut() {
        sp.endpoints.clear();
    }
    assert_text(
        &diff_text(&dns_only(), &none),
        r#"delete element ip portico service-ips { 10.96.0.10 . udp . 53 }
delete element ip portico hairpin { 10.244.0.5 . 10.244.0.5 }
delete element ip portico hairpin { 10.244.1.5 . 10.244.1.5 }
flush chain ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns
add element ip portico no-endpoint-services { 10.96.0.10 . udp . 53 comment "kube-system/kube-dns:dns" : goto reject-chain }
delete map ip portico endpoints-6WHWAHDN-kube-system/kube-dns/udp/dns
delete chain ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns
"#,
    );
    assert_text(
        &diff_text(&none, &dns_only()),
        r#"add map ip portico endpoints-6WHWAHDN-kube-system/kube-dns/udp/dns { typeof numgen random mod 65536 : ip daddr . udp dport ; flags interval ; }
add chain ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns
add element ip portico endpoints-6WHWAHDN-kube-system/kube-dns/udp/dns { 0-32767 : 10.244.0.5 . 53, 32768-65535 : 10.244.1.5 . 53 }
delete element ip portico no-endpoint-services { 10.96.0.10 . udp . 53 }
add rule ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns ip daddr 10.96.0.10 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
add rule ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns meta l4proto udp dnat ip addr . port to numgen random mod 65536 map @endpoints-6WHWAHDN-kube-system/kube-dns/udp/dns
add element ip portico service-ips { 10.96.0.10 . udp . 53 comment "kube-system/kube-dns:dns" : goto service-6WHWAHDN-kube-system/kube-dns/udp/dns }
add element ip portico hairpin { 10.244.0.5 . 10.244.0.5 }
add element ip portico hairpin { 10.244.1.5 . 10.244.1.5 }
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

const REMOVE_EP: &str = r#"flush map ip portico endpoints-6WHWAHDN-kube-system/kube-dns/udp/dns
add element ip portico endpoints-6WHWAHDN-kube-system/kube-dns/udp/dns { 0-65535 : 10.244.0.5 . 53 }
delete element ip portico hairpin { 10.244.1.5 . 10.244.1.5 }
"#;

#[test]
fn turning_on_affinity_adds_sets_and_rewrites_the_service_chains() {
    let on = with_affinity(dns_only(), 10800);
    assert_text(&diff_text(&dns_only(), &on), AFFINITY);
}

const AFFINITY: &str = r#"add set ip portico affinity-P3SG3GTU-kube-system/kube-dns/udp/dns__10.244.1.5/53 { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }
add set ip portico affinity-W37H562W-kube-system/kube-dns/udp/dns__10.244.0.5/53 { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }
add chain ip portico endpoint-2ZDGV56Z-kube-system/kube-dns/udp/dns__10.244.0.5/53
add chain ip portico endpoint-LUSLH42O-kube-system/kube-dns/udp/dns__10.244.1.5/53
delete element ip portico hairpin { 10.244.0.5 . 10.244.0.5 }
delete element ip portico hairpin { 10.244.1.5 . 10.244.1.5 }
add rule ip portico endpoint-2ZDGV56Z-kube-system/kube-dns/udp/dns__10.244.0.5/53 ip saddr 10.244.0.5 jump mark-for-masquerade
add rule ip portico endpoint-2ZDGV56Z-kube-system/kube-dns/udp/dns__10.244.0.5/53 update @affinity-W37H562W-kube-system/kube-dns/udp/dns__10.244.0.5/53 { ip saddr }
add rule ip portico endpoint-2ZDGV56Z-kube-system/kube-dns/udp/dns__10.244.0.5/53 meta l4proto udp dnat to 10.244.0.5:53
add rule ip portico endpoint-LUSLH42O-kube-system/kube-dns/udp/dns__10.244.1.5/53 ip saddr 10.244.1.5 jump mark-for-masquerade
add rule ip portico endpoint-LUSLH42O-kube-system/kube-dns/udp/dns__10.244.1.5/53 update @affinity-P3SG3GTU-kube-system/kube-dns/udp/dns__10.244.1.5/53 { ip saddr }
add rule ip portico endpoint-LUSLH42O-kube-system/kube-dns/udp/dns__10.244.1.5/53 meta l4proto udp dnat to 10.244.1.5:53
flush chain ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns
add rule ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns ip daddr 10.96.0.10 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
add rule ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns ip saddr @affinity-W37H562W-kube-system/kube-dns/udp/dns__10.244.0.5/53 goto endpoint-2ZDGV56Z-kube-system/kube-dns/udp/dns__10.244.0.5/53
add rule ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns ip saddr @affinity-P3SG3GTU-kube-system/kube-dns/udp/dns__10.244.1.5/53 goto endpoint-LUSLH42O-kube-system/kube-dns/udp/dns__10.244.1.5/53
add rule ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns numgen random mod 2 == 0 goto endpoint-2ZDGV56Z-kube-system/kube-dns/udp/dns__10.244.0.5/53
add rule ip portico service-6WHWAHDN-kube-system/kube-dns/udp/dns goto endpoint-LUSLH42O-kube-system/kube-dns/udp/dns__10.244.1.5/53
delete map ip portico endpoints-6WHWAHDN-kube-system/kube-dns/udp/dns
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
        text.contains("/dns { 0-65535 : 10.244.1.5 . 53 }"),
        "{text}"
    );
    for sp in s.services.values_mut() {
        sp.endpoints[1].ready = false;
        sp.endpoints[1].terminating = true;
    }
    let text = render_full(&s, &config());
    assert!(
        text.contains("/dns { 0-32767 : 10.244.0.5 . 53, 32768-65535 : 10.244.1.5 . 53 }"),
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
    // service-… of both, external-… of web (no endpoint chains without affinity).
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
