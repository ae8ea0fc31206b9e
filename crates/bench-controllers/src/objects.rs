//! The objects the benchmark creates: one namespace, a few Ready nodes, `n` Services
//! (`svc-00042`, selector `app=svc-00042`, port 80 → 8080) and `p` pods per Service
//! (`svc-00042-3`) bound to a node by `spec.nodeName`, plus the status patches that make a pod
//! Running and Ready (or not Ready) as a kubelet would.

use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service};
use serde_json::{json, Value};

use crate::Error;

/// The namespace every Service and pod goes in.
pub const NAMESPACE: &str = "bench";

/// The port the pods listen on (the Services' `targetPort`).
pub const TARGET_PORT: i32 = 8080;

/// The name of Service `i`.
pub fn service_name(i: usize) -> String {
    format!("svc-{i:05}")
}

/// The index of the Service called `name`, if it is one of ours.
pub fn service_index(name: &str) -> Option<usize> {
    let digits = name.strip_prefix("svc-")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The name of pod `j` of Service `i`.
pub fn pod_name(i: usize, j: usize) -> String {
    format!("svc-{i:05}-{j}")
}

/// The name of node `k`.
pub fn node_name(k: usize) -> String {
    format!("bench-node-{k}")
}

/// The IP of pod `j` of Service `i` when each Service has `p` pods: unique, in 10.128.0.0/9.
pub fn pod_ip(i: usize, j: usize, p: usize) -> Ipv4Addr {
    let k = (i * p + j) as u32;
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 128, 0, 0)) + k)
}

/// The benchmark's namespace.
pub fn namespace() -> Result<Namespace, Error> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE},
    }))?)
}

/// Node `k`, in one of three zones.
pub fn node(k: usize) -> Result<Node, Error> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": node_name(k),
            "labels": {"topology.kubernetes.io/zone": format!("zone-{}", k % 3)},
        },
    }))?)
}

/// The status patch that makes a node Ready.
pub fn node_ready_patch() -> Value {
    json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}})
}

/// Service `i`: ClusterIP, selector `app=<name>`, port 80 → [`TARGET_PORT`].
pub fn service(i: usize) -> Result<Service, Error> {
    let name = service_name(i);
    Ok(serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": TARGET_PORT}]},
    }))?)
}

/// Pod `j` of Service `i`, already bound to one of `nodes` nodes.
pub fn pod(i: usize, j: usize, nodes: usize) -> Result<Pod, Error> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": pod_name(i, j), "labels": {"app": service_name(i)}},
        "spec": {
            "nodeName": node_name((i + j) % nodes.max(1)),
            "containers": [{
                "name": "app", "image": "bench",
                "ports": [{"containerPort": TARGET_PORT, "protocol": "TCP"}],
            }],
        },
    }))?)
}

/// The status patch a kubelet would send for a running pod at `ip`, Ready or not.
pub fn pod_status_patch(ip: Ipv4Addr, ready: bool) -> Value {
    let ready = if ready { "True" } else { "False" };
    json!({"status": {
        "phase": "Running",
        "podIP": ip.to_string(),
        "podIPs": [{"ip": ip.to_string()}],
        "conditions": [
            {"type": "Ready", "status": ready},
            {"type": "ContainersReady", "status": ready},
        ],
    }})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_foreign_names_are_ignored() {
        assert_eq!(service_name(42), "svc-00042");
        assert_eq!(service_index("svc-00042"), Some(42));
        assert_eq!(service_index(&service_name(12345)), Some(12345));
        assert_eq!(service_index("kubernetes"), None);
        assert_eq!(service_index("svc-00042-3"), None);
        assert_eq!(service_index("svc-"), None);
        assert_eq!(pod_name(7, 3), "svc-00007-3");
    }

    #[test]
    fn pod_ips_are_distinct_across_services() {
        assert_eq!(pod_ip(0, 0, 10), Ipv4Addr::new(10, 128, 0, 0));
        assert_eq!(pod_ip(1, 2, 10), Ipv4Addr::new(10, 128, 0, 12));
        assert_eq!(pod_ip(9999, 9, 10), Ipv4Addr::new(10, 129, 134, 159));
        let mut all: Vec<_> = (0..300)
            .flat_map(|i| (0..10).map(move |j| pod_ip(i, j, 10)))
            .collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 3000);
    }

    #[test]
    fn pods_select_their_service_and_name_a_node() {
        let svc = service(3).unwrap();
        let pod = pod(3, 1, 4).unwrap();
        let selector = svc.spec.unwrap().selector.unwrap();
        let labels = pod.metadata.labels.unwrap();
        assert_eq!(selector.get("app"), labels.get("app"));
        assert_eq!(pod.spec.unwrap().node_name.as_deref(), Some("bench-node-0"));
    }

    #[test]
    fn status_patch_sets_ip_and_readiness() {
        let patch = pod_status_patch(Ipv4Addr::new(10, 128, 0, 5), false);
        assert_eq!(patch["status"]["podIP"], "10.128.0.5");
        assert_eq!(patch["status"]["podIPs"][0]["ip"], "10.128.0.5");
        assert_eq!(patch["status"]["conditions"][0]["type"], "Ready");
        assert_eq!(patch["status"]["conditions"][0]["status"], "False");
    }
}
