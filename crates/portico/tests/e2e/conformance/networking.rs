//! Ported from test/e2e/common/network/networking.go ("Networking Granular Checks: Pods"),
//! with the parts of test/e2e/framework/network/utils.go they use: one netexec "netserver"
//! pod per node, a netexec test container pod that dials them (`/dial`), and for the
//! node-pod checks a host network pod that curls or `nc`s them.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use super::framework;
use super::service_traffic::e2e;
use crate::harness::Cluster;

/// `EndpointHTTPPort`.
const ENDPOINT_HTTP_PORT: u16 = 8083;
/// `EndpointUDPPort`.
const ENDPOINT_UDP_PORT: u16 = 8081;
/// `testContainerHTTPPort`.
const TEST_CONTAINER_HTTP_PORT: u16 = 9080;
/// `testTries`.
const TEST_TRIES: usize = 30;
/// `maxNetProxyPodsCount`.
const MAX_NET_PROXY_PODS: usize = 10;
/// `hitEndpointRetryDelay`.
const RETRY_DELAY: Duration = Duration::from_secs(2);

/// `NetworkingTestConfig` after `setupCore`.
struct Config<'a> {
    c: &'a Cluster,
    ns: String,
    /// (name, pod IP, host IP) of each netserver pod.
    endpoint_pods: Vec<(String, String, String)>,
    test_container_pod_ip: String,
    max_tries: usize,
}

/// `NewCoreNetworkingTestConfig(f, hostNetwork)`.
fn new_core_networking_test_config(c: &Cluster, host_network: bool) -> Config<'_> {
    let ns = framework::namespace(c, "pod-network-test");
    // getServiceSelector
    let selector = json!({format!("selector-{}", e2e::uid()): "true"});
    // createNetProxyPods: one netserver per ready schedulable node (at most 10).
    let nodes: Vec<Value> = e2e::ready_schedulable_nodes(c)
        .into_iter()
        .take(MAX_NET_PROXY_PODS)
        .collect();
    let mut created = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let name = format!("netserver-{i}");
        let hostname = n["metadata"]["labels"]["kubernetes.io/hostname"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let mut pod = net_shell_pod_spec(&name, &hostname);
        pod["metadata"]["labels"] = selector.clone();
        pod["spec"]["hostNetwork"] = json!(false);
        e2e::create(c, &ns, &pod);
        created.push(name);
    }
    let endpoint_pods: Vec<(String, String, String)> = created
        .iter()
        .map(|name| {
            let p = e2e::wait_pod_ready(c, &ns, name, e2e::POD_START_TIMEOUT);
            let ip = |k: &str| p["status"][k].as_str().unwrap_or("").to_string();
            (name.clone(), ip("podIP"), ip("hostIP"))
        })
        .collect();
    // createTestPods
    let test_pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "test-container-pod"},
        "spec": {"containers": [{
            "name": "webserver",
            "image": "registry.k8s.io/e2e-test-images/agnhost:2.53",
            "imagePullPolicy": "IfNotPresent",
            "args": ["netexec", format!("--http-port={TEST_CONTAINER_HTTP_PORT}")],
            "ports": [{"name": "http", "containerPort": TEST_CONTAINER_HTTP_PORT}],
        }]},
    });
    e2e::create(c, &ns, &test_pod);
    if host_network {
        e2e::create(c, &ns, &e2e::exec_pod_spec("host-test-container-pod", true));
    }
    let test_pod = wait_running(c, &ns, "test-container-pod");
    if host_network {
        wait_running(c, &ns, "host-test-container-pod");
    }
    let ep_count = endpoint_pods.len();
    Config {
        c,
        ns,
        endpoint_pods,
        test_container_pod_ip: test_pod["status"]["podIP"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        max_tries: ep_count * ep_count + TEST_TRIES,
    }
}

/// `WaitForPodNameRunningInNamespace` (PodStartTimeout); returns the pod.
fn wait_running(c: &Cluster, ns: &str, name: &str) -> Value {
    let mut pod = Value::Null;
    let ok = e2e::poll_immediate(e2e::POLL, e2e::POD_START_TIMEOUT, || {
        let r = c.kubectl(&["get", "-n", ns, "pod", name, "-o", "json"]);
        pod = serde_json::from_str(&r.stdout).unwrap_or_default();
        pod["status"]["phase"] == "Running"
    });
    assert!(ok, "pod {ns}/{name} not running: {}", pod["status"]);
    pod
}

/// `createNetShellPodSpec`: agnhost netexec (HTTP 8083, UDP 8081) with liveness and
/// readiness probes on `/healthz`, on the node labelled `kubernetes.io/hostname=hostname`.
fn net_shell_pod_spec(name: &str, hostname: &str) -> Value {
    let probe = json!({
        "initialDelaySeconds": 10,
        "timeoutSeconds": 30,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
        "httpGet": {"path": "/healthz", "port": ENDPOINT_HTTP_PORT},
    });
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "containers": [{
                "name": "webserver",
                "image": "registry.k8s.io/e2e-test-images/agnhost:2.53",
                "imagePullPolicy": "IfNotPresent",
                "args": [
                    "netexec",
                    format!("--http-port={ENDPOINT_HTTP_PORT}"),
                    format!("--udp-port={ENDPOINT_UDP_PORT}"),
                ],
                "ports": [
                    {"name": "http", "containerPort": ENDPOINT_HTTP_PORT},
                    {"name": "udp", "containerPort": ENDPOINT_UDP_PORT, "protocol": "UDP"},
                ],
                "livenessProbe": probe,
                "readinessProbe": probe,
            }],
            "nodeSelector": {"kubernetes.io/hostname": hostname},
        },
    })
}

impl Config<'_> {
    /// `DialFromTestContainer` (`DialFromContainer` with the `hostname` dial command): curls
    /// the test container's `/dial` up to `max_tries` times until the responses are exactly
    /// `expected`.
    fn dial_from_test_container(
        &self,
        protocol: &str,
        target_ip: &str,
        target_port: u16,
        max_tries: usize,
        min_tries: usize,
        expected: &BTreeSet<String>,
    ) -> Result<(), String> {
        let cmd = format!(
            "curl -g -q -s 'http://{}:{TEST_CONTAINER_HTTP_PORT}/dial?request=hostname&protocol={protocol}&host={target_ip}&port={target_port}&tries=1'",
            self.test_container_pod_ip
        );
        let mut responses = BTreeSet::new();
        for i in 0..max_tries {
            let (ok, stdout, stderr) =
                e2e::exec_shell_full(self.c, &self.ns, "test-container-pod", &cmd);
            if ok {
                match serde_json::from_str::<Value>(&stdout) {
                    Ok(out) => {
                        for r in out["responses"].as_array().into_iter().flatten() {
                            let t = r.as_str().unwrap_or("").trim();
                            if !t.is_empty() {
                                responses.insert(t.to_string());
                            }
                        }
                        if &responses == expected && i + 1 >= min_tries {
                            return Ok(());
                        }
                    }
                    Err(e) => eprintln!("failed to unmarshal curl response {stdout:?}: {e}"),
                }
            } else {
                eprintln!("failed to execute {cmd:?}: {stderr}");
            }
            std::thread::sleep(RETRY_DELAY);
        }
        Err(format!(
            "did not find expected responses... \nTries {max_tries}\nCommand {cmd}\nretrieved {responses:?}\nexpected {expected:?}"
        ))
    }

    /// `DialFromNode`: from the host network pod, `curl .../hostName` (http) or
    /// `echo hostName | nc -w 1 -u` (udp), up to `max_tries` times until the answers are
    /// exactly `expected`; a try with any stderr output counts as failed.
    fn dial_from_node(
        &self,
        protocol: &str,
        target_ip: &str,
        target_port: u16,
        max_tries: usize,
        min_tries: usize,
        expected: &BTreeSet<String>,
    ) -> Result<(), String> {
        let cmd = if protocol == "udp" {
            format!("echo hostName | nc -w 1 -u {target_ip} {target_port}")
        } else {
            format!(
                "curl -g -q -s --max-time 15 --connect-timeout 1 http://{target_ip}:{target_port}/hostName"
            )
        };
        let filter_cmd = format!("{cmd} | grep -v '^\\s*$'");
        let mut eps = BTreeSet::new();
        for i in 0..max_tries {
            let (ok, stdout, stderr) =
                e2e::exec_shell_full(self.c, &self.ns, "host-test-container-pod", &filter_cmd);
            if !ok || !stderr.is_empty() {
                eprintln!("failed to execute {filter_cmd:?}: stdout {stdout:?}, stderr {stderr:?}");
            } else {
                let t = stdout.trim();
                if !t.is_empty() {
                    eps.insert(t.to_string());
                }
            }
            if &eps == expected && i + 1 >= min_tries {
                return Ok(());
            }
            std::thread::sleep(RETRY_DELAY);
        }
        Err(format!(
            "failed to find expected endpoints, \ntries {max_tries}\nCommand {cmd}\nretrieved {eps:?}\nexpected {expected:?}"
        ))
    }
}

/// `checkPodToPodConnectivity`: every netserver once (breadth first), then the ones that
/// failed with the full number of tries.
fn check_pod_to_pod_connectivity(config: &Config, protocol: &str, port: u16) {
    let mut failed = Vec::new();
    for (name, ip, _) in &config.endpoint_pods {
        let expected = BTreeSet::from([name.clone()]);
        if config
            .dial_from_test_container(protocol, ip, port, 1, 0, &expected)
            .is_err()
        {
            failed.push((name.clone(), ip.clone()));
        }
    }
    let mut errors = Vec::new();
    for (name, ip) in failed {
        let expected = BTreeSet::from([name]);
        if let Err(e) =
            config.dial_from_test_container(protocol, &ip, port, config.max_tries, 0, &expected)
        {
            errors.push(e);
        }
    }
    assert!(
        errors.is_empty(),
        "failed, {} out of {} connections failed: {errors:#?}",
        errors.len(),
        config.endpoint_pods.len()
    );
}

// Ported from test/e2e/common/network/networking.go, "should function for intra-pod
// communication: http".
#[test]
fn networking_granular_checks_pods_should_function_for_intra_pod_communication_http() {
    let _case = framework::case(
        "[sig-network] Networking Granular Checks: Pods should function for intra-pod communication: http [NodeConformance] [Conformance]",
    );
    let c = framework::cluster(2);
    let config = new_core_networking_test_config(&c, false);
    check_pod_to_pod_connectivity(&config, "http", ENDPOINT_HTTP_PORT);
}

// Ported from test/e2e/common/network/networking.go, "should function for intra-pod
// communication: udp".
#[test]
fn networking_granular_checks_pods_should_function_for_intra_pod_communication_udp() {
    let _case = framework::case(
        "[sig-network] Networking Granular Checks: Pods should function for intra-pod communication: udp [NodeConformance] [Conformance]",
    );
    let c = framework::cluster(2);
    let config = new_core_networking_test_config(&c, false);
    check_pod_to_pod_connectivity(&config, "udp", ENDPOINT_UDP_PORT);
}

// Ported from test/e2e/common/network/networking.go, "should function for node-pod
// communication: http [LinuxOnly]".
#[test]
fn networking_granular_checks_pods_should_function_for_node_pod_communication_http() {
    let _case = framework::case(
        "[sig-network] Networking Granular Checks: Pods should function for node-pod communication: http [LinuxOnly] [NodeConformance] [Conformance]",
    );
    let c = framework::cluster(2);
    let config = new_core_networking_test_config(&c, true);
    for (name, ip, _) in &config.endpoint_pods {
        let expected = BTreeSet::from([name.clone()]);
        config
            .dial_from_node(
                "http",
                ip,
                ENDPOINT_HTTP_PORT,
                config.max_tries,
                0,
                &expected,
            )
            .unwrap_or_else(|e| panic!("Error dialing HTTP node to pod {e}"));
    }
}

// Ported from test/e2e/common/network/networking.go, "should function for node-pod
// communication: udp [LinuxOnly]".
#[test]
fn networking_granular_checks_pods_should_function_for_node_pod_communication_udp() {
    let _case = framework::case(
        "[sig-network] Networking Granular Checks: Pods should function for node-pod communication: udp [LinuxOnly] [NodeConformance] [Conformance]",
    );
    let c = framework::cluster(2);
    let config = new_core_networking_test_config(&c, true);
    for (name, ip, _) in &config.endpoint_pods {
        let expected = BTreeSet::from([name.clone()]);
        config
            .dial_from_node("udp", ip, ENDPOINT_UDP_PORT, config.max_tries, 0, &expected)
            .unwrap_or_else(|e| panic!("Error dialing UDP from node to pod: {e}"));
    }
}
