//! Ported from test/e2e/network/hostport.go: pods asking for the same hostPort on different
//! host IPs and protocols all run on one node, and each is reachable on its own.

use serde_json::json;

use super::framework;
use super::service_traffic::e2e;
use crate::harness::Cluster;

// Ported from test/e2e/network/hostport.go, "validates that there is no conflict between pods
// with same hostPort but different hostIP and protocol [LinuxOnly]".
#[test]
fn host_port_validates_that_there_is_no_conflict_between_pods_with_same_host_port_but_different_host_ip_and_protocol(
) {
    let _case = framework::case(
        "[sig-network] HostPort validates that there is no conflict between pods with same hostPort but different hostIP and protocol [LinuxOnly] [Conformance]",
    );
    let c = framework::cluster(1);
    let ns = framework::namespace(&c, "hostport");
    let localhost = "127.0.0.1";
    // Get a node where to schedule the pods.
    let nodes = e2e::ready_schedulable_nodes(&c);
    let node = nodes.first().expect("No nodes available");
    let node_name = node["metadata"]["name"].as_str().unwrap().to_string();
    let host_ip = e2e::addresses(node, "InternalIP")
        .into_iter()
        .next()
        .expect("Failed to get NodeIP");
    let port = 54323;

    // Create pods with the same HostPort.
    create_host_port_pod_on_node(&c, "pod1", &ns, localhost, port, "TCP", &node_name);
    create_host_port_pod_on_node(&c, "pod2", &ns, &host_ip, port, "TCP", &node_name);
    create_host_port_pod_on_node(&c, "pod3", &ns, &host_ip, port, "UDP", &node_name);

    // Check that the port is being actually exposed to each container: a pod on the host
    // network in the same node.
    let host_exec_pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "e2e-host-exec", "namespace": ns},
        "spec": {
            "hostNetwork": true,
            "nodeName": node_name,
            "containers": [{
                "name": "e2e-host-exec",
                "image": "registry.k8s.io/e2e-test-images/agnhost:2.53",
            }],
        },
    });
    e2e::create(&c, &ns, &host_exec_pod);
    e2e::wait_pod_ready(&c, &ns, "e2e-host-exec", e2e::POD_START_TIMEOUT);

    // A 5 seconds timeout per connection.
    let timeout = 5;
    // IPv6 doesn't NAT from localhost -> localhost, so the source IP is given.
    let cmd_pod1 = format!(
        "curl -g --connect-timeout {timeout} --interface {host_ip} http://{localhost}:{port}/hostname"
    );
    let cmd_pod2 = format!("curl -g --connect-timeout {timeout} http://{host_ip}:{port}/hostname");
    let cmd_pod3 = format!("nc -vuz -w {timeout} {host_ip} {port}");
    let exec = |cmd: &str| {
        let r = c.kubectl(&[
            "exec",
            "-n",
            &ns,
            "e2e-host-exec",
            "-c",
            "e2e-host-exec",
            "--",
            "/bin/sh",
            "-c",
            cmd,
        ]);
        r.ok.then_some(r.stdout).ok_or(r.stderr)
    };
    // Try 5 times to connect to the exposed ports.
    let mut log = Vec::new();
    for _ in 0..5 {
        let hostname1 = match exec(&cmd_pod1) {
            Ok(h) => h,
            Err(e) => {
                log.push(format!(
                    "Can not connect to pod(pod1) at {localhost}:{port}: {e}"
                ));
                continue;
            }
        };
        let hostname2 = match exec(&cmd_pod2) {
            Ok(h) => h,
            Err(e) => {
                log.push(format!(
                    "Can not connect to pod(pod2) at {host_ip}:{port}: {e}"
                ));
                continue;
            }
        };
        // The hostnames differ: the same port is exposed by two different pods.
        if hostname1 == hostname2 {
            log.push(format!(
                "pods must have different hostname: pod1 has hostname {hostname1}, pod2 has hostname {hostname2}"
            ));
            continue;
        }
        if let Err(e) = exec(&cmd_pod3) {
            log.push(format!(
                "Can not connect to pod(pod3) at {host_ip}:{port}/UDP: {e}"
            ));
            continue;
        }
        return;
    }
    panic!("Failed to connect to exposed host ports: {log:#?}");
}

/// `createHostPortPodOnNode`: agnhost netexec on 8080 (HTTP and UDP) exposing
/// `hostIP:port/protocol`, ready when `/hostname` answers, bound to `node_name`.
fn create_host_port_pod_on_node(
    c: &Cluster,
    pod_name: &str,
    ns: &str,
    host_ip: &str,
    port: i32,
    protocol: &str,
    node_name: &str,
) {
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": pod_name},
        "spec": {
            "containers": [{
                "name": "agnhost",
                "image": "registry.k8s.io/e2e-test-images/agnhost:2.53",
                "args": ["netexec", "--http-port=8080", "--udp-port=8080"],
                "ports": [{
                    "hostPort": port,
                    "containerPort": 8080,
                    "protocol": protocol,
                    "hostIP": host_ip,
                }],
                "readinessProbe": {
                    "httpGet": {"path": "/hostname", "port": 8080, "scheme": "HTTP"},
                },
            }],
            "nodeName": node_name,
        },
    });
    e2e::create(c, ns, &pod);
    e2e::wait_pod_ready(c, ns, pod_name, e2e::POD_START_TIMEOUT);
}
