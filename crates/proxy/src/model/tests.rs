//! Tests for [`build`], [`usable`] and [`diff`] against API objects as the API server
//! returns them.

use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::{json, Value};

use super::*;

fn svc(v: Value) -> Service {
    serde_json::from_value(v).unwrap()
}

fn slice(v: Value) -> EndpointSlice {
    serde_json::from_value(v).unwrap()
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

/// kubia from the notes: two named ports, the target ports named in the pod.
fn kubia() -> Service {
    svc(json!({
        "metadata": {"name": "kubia", "namespace": "default"},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20"],
            "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                {"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}
            ],
            "selector": {"app": "kubia"}
        }
    }))
}

fn kubia_slice(name: &str, endpoints: Value) -> EndpointSlice {
    slice(json!({
        "metadata": {"name": name, "namespace": "default",
                     "labels": {"kubernetes.io/service-name": "kubia"}},
        "addressType": "IPv4",
        "ports": [
            {"name": "http", "port": 8080, "protocol": "TCP"},
            {"name": "https", "port": 8443, "protocol": "TCP"}
        ],
        "endpoints": endpoints
    }))
}

fn addrs(sp: &ServicePort) -> Vec<String> {
    sp.endpoints.iter().map(|e| e.addr().to_string()).collect()
}

#[test]
fn named_target_ports_resolve_per_slice_port() {
    let slices = [kubia_slice(
        "kubia-abc",
        json!([
            {"addresses": ["10.244.1.5"], "conditions": {"ready": true}, "nodeName": "node-1"},
            {"addresses": ["10.244.2.7"], "conditions": {"ready": true}, "nodeName": "node-2"}
        ]),
    )];
    let state = build(&[kubia()], &slices, "node-1");
    assert_eq!(state.services.len(), 2);
    let http = &state.services[&key("default", "kubia", "http", Protocol::Tcp)];
    assert_eq!(http.cluster_ips, vec![ip("10.96.0.20")]);
    assert_eq!(http.port, 80);
    assert_eq!(addrs(http), ["10.244.1.5:8080", "10.244.2.7:8080"]);
    assert!(http.endpoints[0].local && !http.endpoints[1].local);
    let https = &state.services[&key("default", "kubia", "https", Protocol::Tcp)];
    assert_eq!(https.port, 443);
    assert_eq!(addrs(https), ["10.244.1.5:8443", "10.244.2.7:8443"]);
    assert_eq!(http.node_port, None);
    assert_eq!(http.affinity, None);
}

#[test]
fn endpoints_from_several_slices_are_merged_and_deduplicated() {
    let slices = [
        kubia_slice(
            "kubia-b",
            json!([{"addresses": ["10.244.1.6"]}, {"addresses": ["10.244.1.5"]}]),
        ),
        kubia_slice(
            "kubia-a",
            json!([
                {"addresses": ["10.244.1.5"], "conditions": {"ready": false, "serving": true, "terminating": true}},
                {"addresses": ["10.244.1.9"], "conditions": {"ready": false}}
            ]),
        ),
    ];
    let state = build(&[kubia()], &slices, "node-1");
    let http = &state.services[&key("default", "kubia", "http", Protocol::Tcp)];
    assert_eq!(
        addrs(http),
        ["10.244.1.5:8080", "10.244.1.6:8080", "10.244.1.9:8080"]
    );
    // The non-terminating copy of 10.244.1.5 wins, whichever slice comes first.
    let five = &http.endpoints[0];
    assert!(five.ready && five.serving && !five.terminating);
    // Absent conditions: ready; serving follows ready.
    let nine = &http.endpoints[2];
    assert!(!nine.ready && !nine.serving && !nine.terminating);
    assert!(!five.local, "no nodeName: never local");
}

#[test]
fn slices_join_only_their_service_and_namespace() {
    let mut other_ns = kubia_slice("kubia-x", json!([{"addresses": ["10.244.9.9"]}]));
    other_ns.metadata.namespace = Some("other".into());
    let mut unlabeled = kubia_slice("kubia-y", json!([{"addresses": ["10.244.8.8"]}]));
    unlabeled.metadata.labels = None;
    let mut fqdn = kubia_slice("kubia-z", json!([{"addresses": ["example.com"]}]));
    fqdn.address_type = "FQDN".into();
    let state = build(&[kubia()], &[other_ns, unlabeled, fqdn], "node-1");
    for sp in state.services.values() {
        assert!(sp.endpoints.is_empty(), "{:?}", sp.endpoints);
    }
}

#[test]
fn slice_ports_match_by_name_and_protocol_and_need_a_name() {
    let dns = svc(json!({
        "metadata": {"name": "kube-dns", "namespace": "kube-system"},
        "spec": {"clusterIP": "10.96.0.10", "ports": [
            {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}
        ]}
    }));
    let slices = [slice(json!({
        "metadata": {"name": "kube-dns-1", "namespace": "kube-system",
                     "labels": {"kubernetes.io/service-name": "kube-dns"}},
        "addressType": "IPv4",
        "ports": [
            {"name": "dns", "port": 5353, "protocol": "UDP"},
            {"name": "dns-tcp", "port": 5354, "protocol": "TCP"},
            {"name": "dns", "port": 9999, "protocol": "TCP"},
            {"port": 7777, "protocol": "UDP"}
        ],
        "endpoints": [{"addresses": ["10.244.0.3"]}]
    }))];
    let state = build(&[dns], &slices, "");
    let udp = &state.services[&key("kube-system", "kube-dns", "dns", Protocol::Udp)];
    assert_eq!(addrs(udp), ["10.244.0.3:5353"]);
    let tcp = &state.services[&key("kube-system", "kube-dns", "dns-tcp", Protocol::Tcp)];
    assert_eq!(addrs(tcp), ["10.244.0.3:5354"]);
    assert_eq!(state.services.len(), 2);
}

#[test]
fn headless_external_name_and_unallocated_services_are_skipped() {
    let headless = svc(json!({
        "metadata": {"name": "h", "namespace": "default"},
        "spec": {"clusterIP": "None", "ports": [{"port": 80}], "selector": {"a": "b"}}
    }));
    let external = svc(json!({
        "metadata": {"name": "e", "namespace": "default"},
        "spec": {"type": "ExternalName", "externalName": "api.example.com", "ports": [{"port": 80}]}
    }));
    let unallocated = svc(json!({
        "metadata": {"name": "u", "namespace": "default"},
        "spec": {"ports": [{"port": 80}]}
    }));
    let manual = svc(json!({
        "metadata": {"name": "external-service", "namespace": "default"},
        "spec": {"clusterIP": "10.96.3.3", "ports": [{"port": 80}]}
    }));
    let manual_slice = slice(json!({
        "metadata": {"name": "external-service-1", "namespace": "default",
                     "labels": {"kubernetes.io/service-name": "external-service"}},
        "addressType": "IPv4",
        "ports": [{"name": "", "port": 80, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["11.11.11.11"]}, {"addresses": ["22.22.22.22"]}]
    }));
    let state = build(
        &[headless, external, unallocated, manual],
        &[manual_slice],
        "n",
    );
    let keys: Vec<_> = state.services.keys().map(|k| k.name.as_str()).collect();
    assert_eq!(
        keys,
        ["external-service"],
        "selector-less services are proxied"
    );
    let sp = state.services.values().next().unwrap();
    assert_eq!(addrs(sp), ["11.11.11.11:80", "22.22.22.22:80"]);
    let k = state.services.keys().next().unwrap();
    assert_eq!((k.port_name.as_str(), k.protocol), ("", Protocol::Tcp));
}

#[test]
fn load_balancer_with_local_policy_and_affinity() {
    let lb = svc(json!({
        "metadata": {"name": "kubia-lb", "namespace": "web"},
        "spec": {
            "type": "LoadBalancer", "clusterIP": "10.96.0.30",
            "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30123}],
            "externalIPs": ["192.0.2.10"],
            "externalTrafficPolicy": "Local", "healthCheckNodePort": 32000,
            "sessionAffinity": "ClientIP",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}
        },
        "status": {"loadBalancer": {"ingress": [
            {"ip": "127.240.0.1"}, {"ip": "127.240.0.2", "ipMode": "Proxy"}, {"hostname": "lb.example"}
        ]}}
    }));
    let state = build(
        &[lb],
        &[] as &[k8s_openapi::api::discovery::v1::EndpointSlice],
        "node-1",
    );
    let sp = &state.services[&key("web", "kubia-lb", "", Protocol::Tcp)];
    assert_eq!(sp.node_port, Some(30123));
    assert_eq!(sp.external_ips, vec![ip("192.0.2.10")]);
    assert_eq!(sp.load_balancer_ips, vec![ip("127.240.0.1")]);
    assert!(sp.external_local && !sp.internal_local);
    assert_eq!(sp.health_check_node_port, Some(32000));
    assert_eq!(sp.affinity, Some(Duration::from_secs(60)));
    assert!(sp.externally_accessible());
}

#[test]
fn policies_that_do_not_apply_are_off() {
    // externalTrafficPolicy on a ClusterIP service without external IPs means nothing; a
    // health check port only exists for LoadBalancers; affinity defaults to three hours.
    let s = svc(json!({
        "metadata": {"name": "s", "namespace": "default"},
        "spec": {
            "clusterIP": "10.96.0.40", "ports": [{"port": 80, "nodePort": 30001}],
            "externalTrafficPolicy": "Local", "internalTrafficPolicy": "Local",
            "healthCheckNodePort": 32001, "sessionAffinity": "ClientIP"
        }
    }));
    let state = build(
        &[s],
        &[] as &[k8s_openapi::api::discovery::v1::EndpointSlice],
        "node-1",
    );
    let sp = state.services.values().next().unwrap();
    assert!(!sp.external_local && sp.internal_local);
    assert_eq!(sp.node_port, None, "ClusterIP services have no node port");
    assert_eq!(sp.health_check_node_port, None);
    assert_eq!(sp.affinity, Some(Duration::from_secs(10800)));
    assert!(!sp.externally_accessible());
}

fn ep(last: u8, ready: bool, serving: bool, terminating: bool, local: bool) -> Endpoint {
    Endpoint {
        ip: IpAddr::from([10, 244, 1, last]),
        port: 8080,
        ready,
        serving,
        terminating,
        local,
    }
}

fn port_with(endpoints: Vec<Endpoint>) -> ServicePort {
    ServicePort {
        cluster_ips: vec![ip("10.96.0.20")],
        port: 80,
        node_port: Some(30080),
        external_ips: vec![],
        load_balancer_ips: vec![],
        affinity: None,
        external_local: false,
        internal_local: false,
        health_check_node_port: None,
        endpoints,
    }
}

fn lasts(eps: Vec<&Endpoint>) -> Vec<u8> {
    eps.iter()
        .map(|e| match e.ip {
            IpAddr::V4(v4) => v4.octets()[3],
            IpAddr::V6(_) => 0,
        })
        .collect()
}

#[test]
fn usable_prefers_ready_then_serving_terminating() {
    let sp = port_with(vec![
        ep(1, true, true, false, false),
        ep(2, false, true, true, false),
        ep(3, false, false, false, false),
    ]);
    assert_eq!(lasts(usable(&sp, false)), [1]);
    let sp = port_with(vec![
        ep(2, false, true, true, false),
        ep(3, false, false, false, false),
        ep(4, false, false, true, false),
    ]);
    assert_eq!(lasts(usable(&sp, false)), [2], "terminating fallback");
    let sp = port_with(vec![ep(3, false, false, false, false)]);
    assert!(usable(&sp, false).is_empty());
}

#[test]
fn usable_with_local_policies() {
    let mut sp = port_with(vec![
        ep(1, true, true, false, false),
        ep(2, true, true, false, true),
        ep(3, false, true, true, true),
    ]);
    sp.external_local = true;
    assert_eq!(lasts(usable(&sp, true)), [2]);
    assert_eq!(
        lasts(usable(&sp, false)),
        [1, 2],
        "cluster IP keeps Cluster"
    );
    sp.endpoints.remove(1);
    assert_eq!(lasts(usable(&sp, true)), [3], "local terminating fallback");
    sp.endpoints.pop();
    assert!(usable(&sp, true).is_empty(), "no local endpoint: dropped");
    sp.external_local = false;
    sp.internal_local = true;
    assert!(usable(&sp, false).is_empty());
    assert_eq!(lasts(usable(&sp, true)), [1]);
}

#[test]
fn diff_reports_added_removed_and_changed() {
    let k = |n: &str| key("default", n, "", Protocol::Tcp);
    let mut old = ProxyState::default();
    old.services.insert(k("a"), port_with(vec![]));
    old.services.insert(k("b"), port_with(vec![]));
    old.services.insert(k("c"), port_with(vec![]));
    let mut new = old.clone();
    new.services.remove(&k("a"));
    new.services
        .get_mut(&k("b"))
        .unwrap()
        .endpoints
        .push(ep(1, true, true, false, false));
    new.services.insert(k("d"), port_with(vec![]));
    let d = diff(&old, &new);
    assert_eq!(d.added, [k("d")]);
    assert_eq!(d.removed, [k("a")]);
    assert_eq!(d.changed, [k("b")]);
    assert!(!d.is_empty());
    assert!(diff(&new, &new).is_empty());
}
