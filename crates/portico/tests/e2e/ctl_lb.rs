//! LoadBalancer addresses, seen through kubectl: `kubectl expose --type=LoadBalancer` gets an
//! EXTERNAL-IP from the pool, `loadBalancerIP` and MetalLB's annotation are honoured, no two
//! Services share an address, a type change releases it, an exhausted pool leaves Services
//! `<pending>` with an `AllocationFailed` event, and freed addresses are handed out again,
//! also after a restart.

use crate::harness::Cluster;
use crate::support::{assert_has, describe_field, Table};

/// The EXTERNAL-IP cell of a Service.
fn external_ip(c: &Cluster, svc: &str) -> String {
    Table::parse(&c.ok(&["get", "svc", svc])).cell(svc, "EXTERNAL-IP")
}

/// Waits until the Service shows an address and returns it.
fn assigned(c: &Cluster, svc: &str) -> String {
    c.eventually(10, || {
        let ip = external_ip(c, svc);
        (ip != "<pending>").then_some(ip)
    })
}

fn lb_service(c: &Cluster, name: &str) {
    c.ok(&["create", "service", "loadbalancer", name, "--tcp=80:8080"]);
}

/// The events about a Service, once one with `reason` exists.
fn events_with(c: &Cluster, svc: &str, reason: &str) -> String {
    c.eventually(10, || {
        let out = c.ok(&[
            "get",
            "events",
            "--field-selector",
            &format!("involvedObject.name={svc},involvedObject.kind=Service"),
        ]);
        out.contains(reason).then_some(out)
    })
}

/// Waits for the LoadBalancer allocator to give `svc` an address and checks that it comes from
/// the default pool (for the tests of other areas that create LoadBalancer Services).
#[track_caller]
pub fn pool_address(c: &Cluster, svc: &str) -> String {
    let ip = assigned(c, svc);
    assert!(in_default_pool(&ip), "{svc}: {ip} is not in 127.240.0.0/24");
    ip
}

fn in_default_pool(ip: &str) -> bool {
    let o: Vec<u32> = ip.split('.').filter_map(|p| p.parse().ok()).collect();
    o.len() == 4 && o[..3] == [127, 240, 0] && (1..=254).contains(&o[3])
}

#[test]
fn expose_as_load_balancer_gets_an_external_ip() {
    let c = Cluster::start();
    c.ok(&[
        "run",
        "sample",
        "--image=luksa/kubia",
        "--labels=app=sample",
        "--port=8080",
    ]);
    let out = c.ok(&[
        "expose",
        "pod",
        "sample",
        "--type=LoadBalancer",
        "--port=80",
        "--target-port=8080",
        "--name=sample-lb",
    ]);
    assert_eq!(out.trim(), "service/sample-lb exposed");
    let ip = assigned(&c, "sample-lb");
    assert!(in_default_pool(&ip), "{ip}");
    let svc = c.get_json(&["svc", "sample-lb"]);
    assert_eq!(
        svc["status"]["loadBalancer"]["ingress"],
        serde_json::json!([{"ip": ip, "ipMode": "VIP"}])
    );
    let described = c.ok(&["describe", "svc", "sample-lb"]);
    assert_has(&describe_field(&described, "LoadBalancer Ingress"), &ip);
    let events = events_with(&c, "sample-lb", "IPAllocated");
    assert_has(&events, &format!("Assigned IP [\"{ip}\"]"));
}

#[test]
fn requested_addresses_are_honoured_and_never_shared() {
    let c = Cluster::start();
    c.apply(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: fixed\nspec:\n  type: LoadBalancer\n  \
         loadBalancerIP: 127.240.0.77\n  ports:\n  - port: 80\n",
    );
    assert_eq!(assigned(&c, "fixed"), "127.240.0.77");
    c.apply(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: annotated\n  annotations:\n    \
         metallb.universe.tf/loadBalancerIPs: 127.240.0.88\nspec:\n  type: LoadBalancer\n  ports:\n  - port: 80\n",
    );
    assert_eq!(assigned(&c, "annotated"), "127.240.0.88");
    // The same address again: refused, the Service waits.
    c.apply(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: copycat\nspec:\n  type: LoadBalancer\n  \
         loadBalancerIP: 127.240.0.77\n  ports:\n  - port: 80\n",
    );
    let events = events_with(&c, "copycat", "AllocationFailed");
    assert_has(
        &events,
        "Failed to allocate IP for \"default/copycat\": \"127.240.0.77\" is already in use by default/fixed",
    );
    assert_eq!(external_ip(&c, "copycat"), "<pending>");
    // Outside the pool: refused.
    c.apply(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: outside\nspec:\n  type: LoadBalancer\n  \
         loadBalancerIP: 10.1.2.3\n  ports:\n  - port: 80\n",
    );
    let events = events_with(&c, "outside", "AllocationFailed");
    assert_has(&events, "\"10.1.2.3\" is not allowed in config");
    // Unrequested Services get other addresses, all distinct.
    let mut seen =
        std::collections::BTreeSet::from(["127.240.0.77".to_string(), "127.240.0.88".to_string()]);
    for i in 0..5 {
        let name = format!("any-{i}");
        lb_service(&c, &name);
        let ip = assigned(&c, &name);
        assert!(in_default_pool(&ip), "{ip}");
        assert!(seen.insert(ip.clone()), "{ip} given twice");
    }
    // When the holder goes, the waiting Service gets the address it asked for.
    c.ok(&["delete", "svc", "fixed"]);
    assert_eq!(assigned(&c, "copycat"), "127.240.0.77");
}

#[test]
fn tiny_pool_runs_out_and_freed_addresses_are_reused() {
    let c = Cluster::start_with(&["--lb-pool", "127.240.0.5-127.240.0.6"]);
    lb_service(&c, "a");
    assert_eq!(assigned(&c, "a"), "127.240.0.5");
    lb_service(&c, "b");
    assert_eq!(assigned(&c, "b"), "127.240.0.6");
    lb_service(&c, "c");
    let events = events_with(&c, "c", "AllocationFailed");
    let line = events
        .lines()
        .find(|l| l.contains("AllocationFailed"))
        .unwrap();
    assert_has(line, "Warning");
    assert_has(
        line,
        "Failed to allocate IP for \"default/c\": no available IPs",
    );
    assert_eq!(external_ip(&c, "c"), "<pending>");
    // Changing a's type releases its address (and clears its status); c gets it.
    c.ok(&[
        "patch",
        "svc",
        "a",
        "-p",
        r#"{"spec":{"type":"ClusterIP"}}"#,
    ]);
    assert_eq!(assigned(&c, "c"), "127.240.0.5");
    let t = Table::parse(&c.ok(&["get", "svc", "a"]));
    assert_eq!(t.cell("a", "TYPE"), "ClusterIP");
    assert_eq!(t.cell("a", "EXTERNAL-IP"), "<none>");
    let a = c.get_json(&["svc", "a"]);
    assert!(
        a["status"]["loadBalancer"]["ingress"].is_null(),
        "{}",
        a["status"]
    );
    // Deleting b frees .6 for the next Service.
    c.ok(&["delete", "svc", "b"]);
    lb_service(&c, "d");
    assert_eq!(assigned(&c, "d"), "127.240.0.6");
}

#[test]
fn addresses_survive_a_restart_without_duplicates() {
    let mut c = Cluster::start_with(&["--lb-pool", "127.240.0.5-127.240.0.7"]);
    lb_service(&c, "a");
    lb_service(&c, "b");
    let a = assigned(&c, "a");
    let b = assigned(&c, "b");
    c.restart();
    lb_service(&c, "c");
    let cc = assigned(&c, "c");
    assert_eq!(external_ip(&c, "a"), a);
    assert_eq!(external_ip(&c, "b"), b);
    assert_eq!(cc, "127.240.0.7");
    lb_service(&c, "d");
    events_with(&c, "d", "AllocationFailed");
    assert_eq!(external_ip(&c, "d"), "<pending>");
}

#[test]
fn other_load_balancer_classes_are_left_alone() {
    let c = Cluster::start();
    c.apply(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: foreign\nspec:\n  type: LoadBalancer\n  \
         loadBalancerClass: example.com/other-lb\n  ports:\n  - port: 80\n",
    );
    c.apply(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: ours\nspec:\n  type: LoadBalancer\n  \
         loadBalancerClass: portico.dev/lb\n  ports:\n  - port: 80\n",
    );
    assert!(in_default_pool(&assigned(&c, "ours")));
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(external_ip(&c, "foreign"), "<pending>");
    let events = c.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=foreign",
    ]);
    assert!(!events.contains("IP"), "{events}");
}
