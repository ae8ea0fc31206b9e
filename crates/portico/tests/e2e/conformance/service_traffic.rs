//! Ported from test/e2e/network/service.go: the Services conformance tests that send traffic
//! (type changes, NodePort, session affinity, one port for TCP and UDP). Their helpers from
//! service.go live at the end of this file; the e2e framework's (jig, pods, RCs) in
//! `service_traffic/jig.rs` and `service_traffic/e2e.rs`.

pub(crate) mod e2e;
pub(crate) mod jig;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use super::framework;
use crate::harness::Cluster;
use e2e::poll_immediate;
use jig::Jig;

/// `AffinityTimeout`.
const AFFINITY_TIMEOUT: Duration = Duration::from_secs(2 * 60);
/// `AffinityConfirmCount`.
const AFFINITY_CONFIRM_COUNT: usize = 15;
/// `framework.ServiceStartTimeout`.
const SERVICE_START_TIMEOUT: Duration = Duration::from_secs(3 * 60);

// Ported from test/e2e/network/service.go, "should be able to create a functioning NodePort
// service".
#[test]
fn services_should_be_able_to_create_a_functioning_node_port_service() {
    let _case = framework::case(
        "[sig-network] Services should be able to create a functioning NodePort service [Conformance]",
    );
    let c = framework::cluster(2);
    let ns = framework::namespace(&c, "services");
    let jig = Jig::new(&c, &ns, "nodeport-test");
    let svc = jig
        .create_tcp_service(|s| {
            s["spec"]["type"] = json!("NodePort");
            s["spec"]["ports"] =
                json!([{"port": 80, "name": "http", "protocol": "TCP", "targetPort": 9376}]);
        })
        .unwrap();
    jig.create_service_pods(2);
    let exec_pod = e2e::create_exec_pod(&c, &ns, "execpod");
    jig.check_service_reachability(&svc, &exec_pod).unwrap();
}

// Ported from test/e2e/network/service.go, "should be able to change the type from
// ExternalName to ClusterIP".
#[test]
fn services_should_be_able_to_change_the_type_from_external_name_to_cluster_ip() {
    let _case = framework::case(
        "[sig-network] Services should be able to change the type from ExternalName to ClusterIP [Conformance]",
    );
    let c = framework::cluster(1);
    let ns = framework::namespace(&c, "services");
    let jig = Jig::new(&c, &ns, "externalname-service");
    jig.create_external_name_service().unwrap();
    let svc = jig
        .update_service(|s| {
            s["spec"]["type"] = json!("ClusterIP");
            s["spec"]["externalName"] = json!("");
            s["spec"]["ports"] =
                json!([{"port": 80, "name": "http", "protocol": "TCP", "targetPort": 9376}]);
        })
        .unwrap();
    jig.create_service_pods(2);
    let exec_pod = e2e::create_exec_pod(&c, &ns, "execpod");
    jig.check_service_reachability(&svc, &exec_pod).unwrap();
}

// Ported from test/e2e/network/service.go, "should be able to change the type from
// ExternalName to NodePort".
#[test]
fn services_should_be_able_to_change_the_type_from_external_name_to_node_port() {
    let _case = framework::case(
        "[sig-network] Services should be able to change the type from ExternalName to NodePort [Conformance]",
    );
    let c = framework::cluster(2);
    let ns = framework::namespace(&c, "services");
    let jig = Jig::new(&c, &ns, "externalname-service");
    jig.create_external_name_service().unwrap();
    let svc = jig
        .update_service(|s| {
            s["spec"]["type"] = json!("NodePort");
            s["spec"]["externalName"] = json!("");
            s["spec"]["ports"] =
                json!([{"port": 80, "name": "http", "protocol": "TCP", "targetPort": 9376}]);
        })
        .unwrap();
    jig.create_service_pods(2);
    let exec_pod = e2e::create_exec_pod(&c, &ns, "execpod");
    jig.check_service_reachability(&svc, &exec_pod).unwrap();
}

// Ported from test/e2e/network/service.go, "should be able to change the type from ClusterIP
// to ExternalName".
#[test]
fn services_should_be_able_to_change_the_type_from_cluster_ip_to_external_name() {
    let _case = framework::case(
        "[sig-network] Services should be able to change the type from ClusterIP to ExternalName [Conformance]",
    );
    let c = framework::cluster(1);
    let ns = framework::namespace(&c, "services");
    let jig = Jig::new(&c, &ns, "clusterip-service");
    jig.create_tcp_service(|_| {}).unwrap();
    let fqdn = create_and_get_external_service_fqdn(&c, &ns, "externalsvc");
    let svc = jig
        .update_service(|s| {
            s["spec"]["type"] = json!("ExternalName");
            s["spec"]["externalName"] = json!(fqdn);
        })
        .unwrap();
    assert_eq!(
        svc["spec"]["clusterIP"].as_str().unwrap_or(""),
        "",
        "Spec.ClusterIP was not cleared"
    );
    let exec_pod = e2e::create_exec_pod(&c, &ns, "execpod");
    jig.check_service_reachability(&svc, &exec_pod).unwrap();
}

// Ported from test/e2e/network/service.go, "should be able to change the type from NodePort
// to ExternalName".
#[test]
fn services_should_be_able_to_change_the_type_from_node_port_to_external_name() {
    let _case = framework::case(
        "[sig-network] Services should be able to change the type from NodePort to ExternalName [Conformance]",
    );
    let c = framework::cluster(1);
    let ns = framework::namespace(&c, "services");
    let jig = Jig::new(&c, &ns, "nodeport-service");
    jig.create_tcp_service(|s| s["spec"]["type"] = json!("NodePort"))
        .unwrap();
    let fqdn = create_and_get_external_service_fqdn(&c, &ns, "externalsvc");
    let svc = jig
        .update_service(|s| {
            s["spec"]["type"] = json!("ExternalName");
            s["spec"]["externalName"] = json!(fqdn);
        })
        .unwrap();
    assert_eq!(
        svc["spec"]["clusterIP"].as_str().unwrap_or(""),
        "",
        "Spec.ClusterIP was not cleared"
    );
    let exec_pod = e2e::create_exec_pod(&c, &ns, "execpod");
    jig.check_service_reachability(&svc, &exec_pod).unwrap();
}

// Ported from test/e2e/network/service.go, "should have session affinity work for service
// with type clusterIP [LinuxOnly]".
#[test]
fn services_should_have_session_affinity_work_for_service_with_type_cluster_ip() {
    let _case = framework::case(
        "[sig-network] Services should have session affinity work for service with type clusterIP [LinuxOnly] [Conformance]",
    );
    let c = framework::cluster(1);
    let mut svc = serve_hostname_service("affinity-clusterip");
    svc["spec"]["type"] = json!("ClusterIP");
    exec_affinity_test_for_non_lb_service(&c, svc, false);
}

// Ported from test/e2e/network/service.go, "should be able to switch session affinity for
// service with type clusterIP [LinuxOnly]".
#[test]
fn services_should_be_able_to_switch_session_affinity_for_service_with_type_cluster_ip() {
    let _case = framework::case(
        "[sig-network] Services should be able to switch session affinity for service with type clusterIP [LinuxOnly] [Conformance]",
    );
    let c = framework::cluster(1);
    let mut svc = serve_hostname_service("affinity-clusterip-transition");
    svc["spec"]["type"] = json!("ClusterIP");
    exec_affinity_test_for_non_lb_service(&c, svc, true);
}

// Ported from test/e2e/network/service.go, "should have session affinity work for NodePort
// service [LinuxOnly]".
#[test]
fn services_should_have_session_affinity_work_for_node_port_service() {
    let _case = framework::case(
        "[sig-network] Services should have session affinity work for NodePort service [LinuxOnly] [Conformance]",
    );
    let c = framework::cluster(2);
    let mut svc = serve_hostname_service("affinity-nodeport");
    svc["spec"]["type"] = json!("NodePort");
    exec_affinity_test_for_non_lb_service(&c, svc, false);
}

// Ported from test/e2e/network/service.go, "should be able to switch session affinity for
// NodePort service [LinuxOnly]".
#[test]
fn services_should_be_able_to_switch_session_affinity_for_node_port_service() {
    let _case = framework::case(
        "[sig-network] Services should be able to switch session affinity for NodePort service [LinuxOnly] [Conformance]",
    );
    let c = framework::cluster(2);
    let mut svc = serve_hostname_service("affinity-nodeport-transition");
    svc["spec"]["type"] = json!("NodePort");
    exec_affinity_test_for_non_lb_service(&c, svc, true);
}

// Ported from test/e2e/network/service.go, "should serve endpoints on same port and
// different protocols".
#[test]
fn services_should_serve_endpoints_on_same_port_and_different_protocols() {
    let _case = framework::case(
        "[sig-network] Services should serve endpoints on same port and different protocols [Conformance]",
    );
    let c = framework::cluster(1);
    let ns = framework::namespace(&c, "services");
    let service_name = "multiprotocol-test";
    let labels = json!({"app": "multiport"});
    let tcp_port = json!({"name": "tcp-port", "port": 80, "targetPort": 80, "protocol": "TCP"});
    let udp_port = json!({"name": "udp-port", "port": 80, "targetPort": 80, "protocol": "UDP"});
    let service = e2e::create(
        &c,
        &ns,
        &json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": service_name, "labels": labels},
            "spec": {"type": "ClusterIP", "selector": labels, "ports": [tcp_port, udp_port]},
        }),
    );
    let cluster_ip = service["spec"]["clusterIP"].as_str().unwrap().to_string();
    let container_ports = json!([
        {"name": "tcp-port", "containerPort": 80, "protocol": "TCP"},
        {"name": "udp-port", "containerPort": 80, "protocol": "UDP"},
    ]);
    create_pod_or_fail(
        &c,
        &ns,
        "pod1",
        &labels,
        container_ports,
        &["netexec", "--http-port", "80", "--udp-port", "80"],
    );
    validate_endpoints_ports_with_protocols_or_fail(
        &c,
        &ns,
        service_name,
        &[("pod1", &[(80, "TCP"), (80, "UDP")])],
    );

    // Checking if the Service forwards traffic to the TCP and UDP port.
    let exec_pod = e2e::create_exec_pod(&c, &ns, "execpod");
    let reach = |proto: &str, timeout: Duration| {
        jig::reachability(
            &c,
            &ns,
            &exec_pod,
            &cluster_ip,
            80,
            proto,
            e2e::POLL,
            timeout,
        )
    };
    reach("TCP", Duration::from_secs(30)).expect("Failed to connect to Service TCP port");
    reach("UDP", Duration::from_secs(30)).expect("Failed to connect to Service UDP port");

    // Checking if the Service forwards traffic to TCP only.
    let replace_ports = |ports: Value| {
        let mut svc = e2e::get(&c, &ns, "service", service_name);
        svc["spec"]["ports"] = ports;
        let r = c.kubectl_stdin(&["replace", "-n", &ns, "-f", "-"], &svc.to_string());
        assert!(
            r.ok,
            "failed to update Service {service_name:?}: {}",
            r.stderr
        );
    };
    replace_ports(json!([tcp_port]));
    reach("TCP", Duration::from_secs(30)).expect("Failed to connect to Service TCP port");
    // Eventually (30 s, every 5 s) a 6 s attempt on UDP must fail.
    assert!(
        poll_immediate(Duration::from_secs(5), Duration::from_secs(30), || reach(
            "UDP",
            Duration::from_secs(6)
        )
        .is_err()),
        "the Service still forwards UDP after its UDP port was removed"
    );

    // Checking if the Service forwards traffic to UDP only.
    replace_ports(json!([udp_port]));
    reach("UDP", Duration::from_secs(30)).expect("Failed to connect to Service UDP port");
    assert!(
        poll_immediate(Duration::from_secs(5), Duration::from_secs(30), || reach(
            "TCP",
            Duration::from_secs(6)
        )
        .is_err()),
        "the Service still forwards TCP after its TCP port was removed"
    );
}

/// `getServeHostnameService(name)`: port 80 → 9376/TCP selecting `name=<name>`.
fn serve_hostname_service(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "ports": [{"port": 80, "targetPort": 9376, "protocol": "TCP"}],
            "selector": {"name": name},
        },
    })
}

/// `StartServeHostnameService`: the Service, then an RC of `replicas` agnhost
/// `serve-hostname` pods named like it; returns the sorted pod names and the cluster IP.
fn start_serve_hostname_service(
    c: &Cluster,
    svc: &Value,
    ns: &str,
    replicas: usize,
) -> (Vec<String>, String) {
    let name = svc["metadata"]["name"].as_str().unwrap().to_string();
    e2e::create(c, ns, svc);
    let pods = e2e::run_rc(
        c,
        ns,
        &name,
        replicas,
        &["/agnhost", "serve-hostname"],
        &json!({}),
    );
    let service = e2e::get(c, ns, "service", &name);
    let ip = service["spec"]["clusterIP"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(!ip.is_empty(), "service IP is blank for {name}");
    (pods, ip)
}

/// `createAndGetExternalServiceFQDN`: a serve-hostname Service with 2 pods; its FQDN.
fn create_and_get_external_service_fqdn(c: &Cluster, ns: &str, name: &str) -> String {
    start_serve_hostname_service(c, &serve_hostname_service(name), ns, 2);
    format!("{name}.{ns}.svc.cluster.local")
}

/// `createPodOrFail`: an agnhost pod with `labels`, `ports` and `args`, and the env var
/// `FOO=" "`; created and waited for until Ready (`CreateSync`).
fn create_pod_or_fail(
    c: &Cluster,
    ns: &str,
    name: &str,
    labels: &Value,
    ports: Value,
    args: &[&str],
) {
    let mut pod = e2e::agnhost_pod(name, ports, args);
    pod["metadata"]["labels"] = labels.clone();
    pod["spec"]["containers"][0]["env"] = json!([{"name": "FOO", "value": " "}]);
    e2e::create(c, ns, &pod);
    e2e::wait_pod_ready(c, ns, name, e2e::POD_START_TIMEOUT);
}

/// `validateEndpointsPortsWithProtocolsOrFail`: the Endpoints and the EndpointSlices of the
/// Service list exactly the given pods (by uid) with exactly these (port, protocol)s.
fn validate_endpoints_ports_with_protocols_or_fail(
    c: &Cluster,
    ns: &str,
    service: &str,
    expected: &[(&str, &[(i64, &str)])],
) {
    let want: BTreeSet<(String, i64, String)> = expected
        .iter()
        .flat_map(|(pod, ports)| {
            let uid = e2e::get(c, ns, "pod", pod)["metadata"]["uid"]
                .as_str()
                .unwrap()
                .to_string();
            ports
                .iter()
                .map(move |(p, proto)| (uid.clone(), *p, proto.to_string()))
        })
        .collect();
    let mut last = (BTreeSet::new(), BTreeSet::new());
    let ok = poll_immediate(Duration::from_secs(1), SERVICE_START_TIMEOUT, || {
        let mut from_endpoints = BTreeSet::new();
        let ep = c.kubectl(&["get", "-n", ns, "endpoints", service, "-o", "json"]);
        let ep: Value = serde_json::from_str(&ep.stdout).unwrap_or_default();
        for subset in ep["subsets"].as_array().into_iter().flatten() {
            for a in subset["addresses"].as_array().into_iter().flatten() {
                let uid = a["targetRef"]["uid"].as_str().unwrap_or("").to_string();
                for p in subset["ports"].as_array().into_iter().flatten() {
                    from_endpoints.insert((
                        uid.clone(),
                        p["port"].as_i64().unwrap_or(0),
                        p["protocol"].as_str().unwrap_or("TCP").to_string(),
                    ));
                }
            }
        }
        let mut from_slices = BTreeSet::new();
        let selector = format!("kubernetes.io/service-name={service}");
        let slices = c.get_json(&["-n", ns, "endpointslices", "-l", &selector]);
        for s in slices["items"].as_array().into_iter().flatten() {
            for e in s["endpoints"].as_array().into_iter().flatten() {
                let uid = e["targetRef"]["uid"].as_str().unwrap_or("").to_string();
                for p in s["ports"].as_array().into_iter().flatten() {
                    from_slices.insert((
                        uid.clone(),
                        p["port"].as_i64().unwrap_or(0),
                        p["protocol"].as_str().unwrap_or("TCP").to_string(),
                    ));
                }
            }
        }
        let ok = from_endpoints == want && from_slices == want;
        last = (from_endpoints, from_slices);
        ok
    });
    assert!(
        ok,
        "error waiting for service {service} in namespace {ns} to expose endpoints {want:?}: endpoints {:?}, slices {:?}",
        last.0, last.1
    );
}

/// `execAffinityTestForNonLBServiceWithOptionalTransition`.
fn exec_affinity_test_for_non_lb_service(c: &Cluster, mut svc: Value, transition: bool) {
    let ns = framework::namespace(c, "services");
    let name = svc["metadata"]["name"].as_str().unwrap().to_string();
    let service_type = svc["spec"]["type"].as_str().unwrap_or("").to_string();
    svc["spec"]["sessionAffinity"] = json!("ClientIP");
    start_serve_hostname_service(c, &svc, &ns, 3);
    let jig = Jig::new(c, &ns, &name);
    let svc = e2e::get(c, &ns, "service", &name);
    let (svc_ip, service_port) = if service_type == "NodePort" {
        let nodes = e2e::ready_schedulable_nodes(c);
        let ip = e2e::first_address(&nodes, "InternalIP")
            .expect("failed to get Node internal IP for family: IPv4");
        (ip, svc["spec"]["ports"][0]["nodePort"].as_i64().unwrap())
    } else {
        (svc["spec"]["clusterIP"].as_str().unwrap().to_string(), 80)
    };
    let exec_pod = e2e::create_exec_pod(c, &ns, "execpod-affinity");
    jig.check_service_reachability(&svc, &exec_pod).unwrap();
    if !transition {
        check_affinity(c, &ns, &exec_pod, &svc_ip, service_port, true);
    } else {
        jig.update_service(|s| s["spec"]["sessionAffinity"] = json!("None"))
            .unwrap();
        check_affinity(c, &ns, &exec_pod, &svc_ip, service_port, false);
        jig.update_service(|s| s["spec"]["sessionAffinity"] = json!("ClientIP"))
            .unwrap();
        check_affinity(c, &ns, &exec_pod, &svc_ip, service_port, true);
    }
}

/// `checkAffinity` from an exec pod: every 30 s (for up to 2 min) 16 curls in a row; done
/// when the last 15 answers all came from one host (`should_hold`) or did not.
fn check_affinity(c: &Cluster, ns: &str, pod: &str, ip: &str, port: i64, should_hold: bool) {
    let curl = format!("curl -q -s --connect-timeout 2 http://{ip}:{port}/");
    let cmd = format!("for i in $(seq 0 {AFFINITY_CONFIRM_COUNT}); do echo; {curl} ; done");
    let interval = Duration::from_secs(2 * AFFINITY_CONFIRM_COUNT as u64);
    let mut trace: Vec<String> = Vec::new();
    let ok = poll_immediate(interval, AFFINITY_TIMEOUT, || {
        if let Ok(out) = e2e::run_host_cmd(c, ns, pod, &cmd) {
            trace.extend(
                out.split('\n')
                    .filter(|h| !h.is_empty())
                    .map(|h| h.trim().to_string()),
            );
        }
        let (fulfilled, holds) = check_host_trace(&trace, AFFINITY_CONFIRM_COUNT);
        fulfilled && holds == should_hold
    });
    if !ok {
        let (fulfilled, _) = check_host_trace(&trace, AFFINITY_CONFIRM_COUNT);
        assert!(
            fulfilled,
            "Connection timed out or not enough responses. {trace:?}"
        );
        if should_hold {
            panic!("Affinity should hold but didn't. {trace:?}");
        } else {
            panic!("Affinity shouldn't hold but did. {trace:?}");
        }
    }
}

/// `affinityTracker.checkHostTrace`: (at least `count` answers, the last `count` are one
/// host).
fn check_host_trace(trace: &[String], count: usize) -> (bool, bool) {
    let fulfilled = trace.len() >= count;
    let Some(host) = trace.last() else {
        return (fulfilled, true);
    };
    let last = &trace[trace.len().saturating_sub(count)..];
    (fulfilled, last.iter().all(|h| h == host))
}
