//! The pieces of Kubernetes' e2e framework the traffic tests lean on, over kubectl: pods
//! (`test/e2e/framework/pod`: `NewAgnhostPod`, `CreateExecPodOrFail`, `NewExecPodSpec`,
//! waiting for Ready), `RunHostCmd` / `ExecShellInPodWithFullOutput` (`kubectl exec`),
//! replication controllers as `testutils.RCConfig` makes them (`RunRC`), nodes
//! (`GetReadySchedulableNodes`, addresses) and `wait.PollImmediate`.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::Cluster;

/// `framework.PodStartTimeout`.
pub const POD_START_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// `framework.PodReadyBeforeTimeout` (RunRC's timeout).
pub const POD_READY_BEFORE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// `framework.Poll`.
pub const POLL: Duration = Duration::from_secs(2);

/// `wait.PollImmediate`: runs `f` now and every `interval` until it returns true or
/// `timeout` has passed; true if it succeeded.
pub fn poll_immediate(interval: Duration, timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() + interval > deadline {
            return false;
        }
        std::thread::sleep(interval);
    }
}

/// Creates an object from its JSON in namespace `ns`; returns what the server stored.
#[track_caller]
pub fn create(c: &Cluster, ns: &str, obj: &Value) -> Value {
    let r = c.kubectl_stdin(
        &["create", "-n", ns, "-o", "json", "-f", "-"],
        &obj.to_string(),
    );
    assert!(r.ok, "creating {obj}:\n{}{}", r.stdout, r.stderr);
    serde_json::from_str(&r.stdout).expect("kubectl create -o json")
}

/// Reads one object (`kind` as kubectl names it).
#[track_caller]
pub fn get(c: &Cluster, ns: &str, kind: &str, name: &str) -> Value {
    c.get_json(&["-n", ns, kind, name])
}

/// `RunHostCmd`: `kubectl exec POD -- /bin/sh -x -c CMD`; stdout, or the error with stderr.
pub fn run_host_cmd(c: &Cluster, ns: &str, pod: &str, cmd: &str) -> Result<String, String> {
    let r = c.kubectl(&["exec", "-n", ns, pod, "--", "/bin/sh", "-x", "-c", cmd]);
    if r.ok {
        Ok(r.stdout)
    } else {
        Err(format!(
            "error running {cmd:?} in {ns}/{pod} (exit code {}): {}",
            r.code, r.stderr
        ))
    }
}

/// `ExecShellInPodWithFullOutput`: `/bin/sh -c CMD` in the pod's first container;
/// (succeeded, stdout, stderr).
pub fn exec_shell_full(c: &Cluster, ns: &str, pod: &str, cmd: &str) -> (bool, String, String) {
    let r = c.kubectl(&["exec", "-n", ns, pod, "--", "/bin/sh", "-c", cmd]);
    (r.ok, r.stdout, r.stderr)
}

/// `e2epod.NewAgnhostPod`: one `agnhost-container` running the agnhost image with `args`
/// (none: the image's default, `pause`) and `ports`.
pub fn agnhost_pod(name: &str, ports: Value, args: &[&str]) -> Value {
    let mut container = json!({
        "name": "agnhost-container",
        "image": "registry.k8s.io/e2e-test-images/agnhost:2.53",
    });
    if !args.is_empty() {
        container["args"] = json!(args);
    }
    if ports.as_array().is_some_and(|p| !p.is_empty()) {
        container["ports"] = ports;
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [container]},
    })
}

/// `e2epod.NewExecPodSpec`: an agnhost pod (pausing), on the host network if asked.
pub fn exec_pod_spec(name: &str, host_network: bool) -> Value {
    let mut pod = agnhost_pod(name, json!([]), &[]);
    pod["spec"]["hostNetwork"] = json!(host_network);
    pod
}

/// Whether the pod is Running with its Ready condition True.
pub fn pod_ready(pod: &Value) -> bool {
    pod["status"]["phase"] == "Running"
        && pod["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// `WaitTimeoutForPodReadyInNamespace`: waits until the pod is Running and Ready; returns it.
#[track_caller]
pub fn wait_pod_ready(c: &Cluster, ns: &str, name: &str, timeout: Duration) -> Value {
    let mut last = Value::Null;
    let ok = poll_immediate(POLL, timeout, || {
        let r = c.kubectl(&["get", "-n", ns, "pod", name, "-o", "json"]);
        if let Ok(p) = serde_json::from_str::<Value>(&r.stdout) {
            last = p;
        }
        pod_ready(&last)
    });
    assert!(
        ok,
        "pod {ns}/{name} not running and ready within {timeout:?}: {}",
        last["status"]
    );
    last
}

/// `e2epod.CreateExecPodOrFail`: an agnhost pod named from `generate_name`, grace period 0,
/// waited for until Ready; returns its name.
#[track_caller]
pub fn create_exec_pod(c: &Cluster, ns: &str, generate_name: &str) -> String {
    let mut pod = agnhost_pod("", json!([]), &[]);
    pod["metadata"] = json!({"generateName": generate_name});
    pod["spec"]["terminationGracePeriodSeconds"] = json!(0);
    let created = create(c, ns, &pod);
    let name = created["metadata"]["name"]
        .as_str()
        .expect("generated name")
        .to_string();
    wait_pod_ready(c, ns, &name, POD_START_TIMEOUT);
    name
}

/// `e2erc.RunRC` with a `testutils.RCConfig` of `name`, `replicas`, the agnhost image and
/// `command`, extra pod `labels`: the RC selects `name=<name>`, its one container (named
/// like the RC) exposes port 80, DNS policy Default, a grace period of 1 s. Waits until all
/// replicas run and are ready; returns their names, sorted.
#[track_caller]
pub fn run_rc(
    c: &Cluster,
    ns: &str,
    name: &str,
    replicas: usize,
    command: &[&str],
    labels: &Value,
) -> Vec<String> {
    let mut pod_labels = json!({"name": name});
    for (k, v) in labels.as_object().into_iter().flatten() {
        pod_labels[k] = v.clone();
    }
    let rc = json!({
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"name": name},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "containers": [{
                        "name": name,
                        "image": "registry.k8s.io/e2e-test-images/agnhost:2.53",
                        "command": command,
                        "ports": [{"containerPort": 80}],
                    }],
                    "dnsPolicy": "Default",
                    "terminationGracePeriodSeconds": 1,
                },
            },
        },
    });
    create(c, ns, &rc);
    let selector = format!("name={name}");
    let mut names = Vec::new();
    let ok = poll_immediate(Duration::from_secs(3), POD_READY_BEFORE_TIMEOUT, || {
        let list = c.get_json(&["-n", ns, "pods", "-l", &selector]);
        let pods: Vec<&Value> = list["items"]
            .as_array()
            .map(|i| {
                i.iter()
                    .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
                    .collect()
            })
            .unwrap_or_default();
        names = pods
            .iter()
            .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
            .collect();
        pods.len() == replicas && pods.iter().all(|p| pod_ready(p))
    });
    assert!(
        ok,
        "RC {ns}/{name}: {replicas} pods not running and ready in time ({names:?})"
    );
    names.sort();
    names
}

/// `GetReadySchedulableNodes`: Ready, schedulable nodes without NoSchedule taints.
pub fn ready_schedulable_nodes(c: &Cluster) -> Vec<Value> {
    let list = c.get_json(&["nodes"]);
    list["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|n| {
            let ready = n["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
            let tainted = n["spec"]["taints"]
                .as_array()
                .is_some_and(|ts| ts.iter().any(|t| t["effect"] == "NoSchedule"));
            ready && n["spec"]["unschedulable"] != true && !tainted
        })
        .collect()
}

/// A node's addresses of `kind` (`InternalIP`, `ExternalIP`).
pub fn addresses(node: &Value, kind: &str) -> Vec<String> {
    node["status"]["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["type"] == kind)
        .filter_map(|a| a["address"].as_str().map(String::from))
        .collect()
}

/// `FirstAddressByTypeAndFamily(nodes, kind, IPv4)`.
pub fn first_address(nodes: &[Value], kind: &str) -> Option<String> {
    nodes
        .iter()
        .flat_map(|n| addresses(n, kind))
        .find(|a| a.parse::<std::net::Ipv4Addr>().is_ok())
}

/// A short unique id, as the framework's `uuid.NewUUID()` gives test objects.
pub fn uid() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{:x}-{:x}", std::process::id(), nanos & 0xffff_ffff_ffff)
}
