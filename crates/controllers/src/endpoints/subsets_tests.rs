use super::*;
use crate::endpoints::test_support::{named, num, pod, service};

fn ips(list: &Option<Vec<EndpointAddress>>) -> Vec<String> {
    list.iter().flatten().map(|a| a.ip.clone()).collect()
}

#[test]
fn ready_pods_give_one_sorted_subset() {
    let svc = service("myapp-svc", "myapp-rs", &[("", 80, num(8080))]);
    let pods = [
        pod("a", "myapp-rs", "10.244.1.5", true, &[]),
        pod("b", "myapp-rs", "10.244.2.10", true, &[]),
        pod("c", "myapp-rs", "10.244.1.10", true, &[]),
    ];
    let refs: Vec<&Pod> = pods.iter().collect();
    let s = desired(&svc, &refs);
    assert_eq!(s.len(), 1);
    assert_eq!(
        ips(&s[0].addresses),
        ["10.244.1.10", "10.244.1.5", "10.244.2.10"]
    );
    assert_eq!(s[0].not_ready_addresses, None);
    let port = &s[0].ports.as_ref().unwrap()[0];
    assert_eq!(
        (port.name.as_deref(), port.port, port.protocol.as_deref()),
        (Some(""), 8080, Some("TCP"))
    );
    let a = &s[0].addresses.as_ref().unwrap()[1];
    assert_eq!(a.node_name.as_deref(), Some("node-a"));
    let r = a.target_ref.as_ref().unwrap();
    assert_eq!(
        (r.kind.as_deref(), r.name.as_deref(), r.uid.as_deref()),
        (Some("Pod"), Some("a"), Some("uid-a"))
    );
}

#[test]
fn unready_pods_go_to_not_ready_addresses_unless_published() {
    let mut svc = service("s", "x", &[("", 80, num(8080))]);
    let pods = [
        pod("a", "x", "10.0.0.1", true, &[]),
        pod("b", "x", "10.0.0.2", false, &[]),
    ];
    let refs: Vec<&Pod> = pods.iter().collect();
    let s = desired(&svc, &refs);
    assert_eq!(s.len(), 1);
    assert_eq!(ips(&s[0].addresses), ["10.0.0.1"]);
    assert_eq!(ips(&s[0].not_ready_addresses), ["10.0.0.2"]);
    svc.spec.as_mut().unwrap().publish_not_ready_addresses = Some(true);
    let s = desired(&svc, &refs);
    assert_eq!(ips(&s[0].addresses), ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(s[0].not_ready_addresses, None);
}

#[test]
fn named_ports_split_pods_by_resolved_port_and_drop_pods_without_it() {
    let svc = service("s", "x", &[("http", 80, named("web"))]);
    let pods = [
        pod("a", "x", "10.0.0.1", true, &[("web", 8080)]),
        pod("b", "x", "10.0.0.2", true, &[("web", 9090)]),
        pod("c", "x", "10.0.0.3", true, &[("other", 8080)]),
    ];
    let refs: Vec<&Pod> = pods.iter().collect();
    let s = desired(&svc, &refs);
    assert_eq!(s.len(), 2);
    let mut got: Vec<(Vec<String>, i32)> = s
        .iter()
        .map(|s| (ips(&s.addresses), s.ports.as_ref().unwrap()[0].port))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (vec!["10.0.0.1".to_string()], 8080),
            (vec!["10.0.0.2".to_string()], 9090)
        ]
    );
}

#[test]
fn multi_port_services_share_one_subset() {
    let svc = service(
        "kubia",
        "kubia",
        &[("http", 80, num(8080)), ("https", 443, num(8443))],
    );
    let pods = [
        pod("a", "kubia", "10.0.0.1", true, &[]),
        pod("b", "kubia", "10.0.0.2", true, &[]),
    ];
    let refs: Vec<&Pod> = pods.iter().collect();
    let s = desired(&svc, &refs);
    assert_eq!(s.len(), 1);
    let mut ports: Vec<i32> = s[0]
        .ports
        .as_ref()
        .unwrap()
        .iter()
        .map(|p| p.port)
        .collect();
    ports.sort();
    assert_eq!(ports, [8080, 8443]);
}

#[test]
fn headless_without_ports_lists_addresses_without_ports() {
    let mut svc = service("h", "x", &[]);
    svc.spec.as_mut().unwrap().cluster_ip = Some("None".into());
    let pods = [pod("a", "x", "10.0.0.1", true, &[])];
    let refs: Vec<&Pod> = pods.iter().collect();
    let s = desired(&svc, &refs);
    assert_eq!(s.len(), 1);
    assert_eq!(ips(&s[0].addresses), ["10.0.0.1"]);
    assert_eq!(s[0].ports, None);
    // A Service with a cluster IP and no ports gets nothing.
    let svc = service("c", "x", &[]);
    assert!(desired(&svc, &refs).is_empty());
}

#[test]
fn truncation_keeps_1000_addresses_ready_first() {
    let svc = service("s", "x", &[("", 80, num(8080))]);
    let pods: Vec<Pod> = (0..1200)
        .map(|i| {
            pod(
                &format!("p{i}"),
                "x",
                &format!("10.1.{}.{}", i / 250, i % 250),
                i < 900,
                &[],
            )
        })
        .collect();
    let refs: Vec<&Pod> = pods.iter().collect();
    let mut s = desired(&svc, &refs);
    assert_eq!(count(&s), 1200);
    assert!(truncate(&mut s));
    assert_eq!(count(&s), MAX_ADDRESSES);
    let ready: usize = s
        .iter()
        .map(|s| s.addresses.as_ref().map_or(0, Vec::len))
        .sum();
    assert_eq!(ready, 900, "every ready address is kept");
    let mut small = desired(&svc, &refs[..10]);
    assert!(!truncate(&mut small));
}

#[test]
fn equality_ignores_target_resource_versions() {
    let svc = service("s", "x", &[("", 80, num(8080))]);
    let pods = [pod("a", "x", "10.0.0.1", true, &[])];
    let refs: Vec<&Pod> = pods.iter().collect();
    let a = desired(&svc, &refs);
    let mut b = a.clone();
    b[0].addresses.as_mut().unwrap()[0]
        .target_ref
        .as_mut()
        .unwrap()
        .resource_version = Some("7".into());
    assert!(equal_ignoring_versions(&a, &b));
    b[0].addresses.as_mut().unwrap()[0].ip = "10.0.0.9".into();
    assert!(!equal_ignoring_versions(&a, &b));
}
