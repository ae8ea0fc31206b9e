//! kube-scheduler's NodePorts filter: a pod asking for a `hostPort` does not go to a node
//! where a placed pod already holds it. Two host ports clash when protocol and port match
//! and either host IP is the wildcard (`0.0.0.0`, what an empty `hostIP` means) or both are
//! the same address; the same port on different addresses or protocols is free.

use k8s_openapi::api::core::v1::Pod;

/// One host port a pod asks for: protocol, host IP (`0.0.0.0` for any), port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPort {
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// The address, `0.0.0.0` when the spec left it empty.
    pub ip: String,
    /// The port.
    pub port: i32,
}

const WILDCARD: &str = "0.0.0.0";

/// The host ports of the pod's containers (init containers hold none, as in
/// kube-scheduler).
pub fn host_ports(pod: &Pod) -> Vec<HostPort> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    spec.containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter(|p| p.host_port.unwrap_or(0) > 0)
        .map(|p| HostPort {
            protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
            ip: p
                .host_ip
                .clone()
                .filter(|ip| !ip.is_empty())
                .unwrap_or_else(|| WILDCARD.into()),
            port: p.host_port.unwrap_or(0),
        })
        .collect()
}

/// Whether any of `wanted` clashes with a port in `used`.
pub fn conflict<'a>(wanted: &[HostPort], used: impl IntoIterator<Item = &'a HostPort>) -> bool {
    used.into_iter().any(|u| {
        wanted.iter().any(|w| {
            w.protocol == u.protocol
                && w.port == u.port
                && (w.ip == WILDCARD || u.ip == WILDCARD || w.ip == u.ip)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(ports: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "ports": ports}]},
        }))
        .unwrap()
    }

    #[test]
    fn same_port_clashes_only_on_the_same_address_and_protocol() {
        let on = |ip: &str, proto: &str| {
            host_ports(&pod(json!([
                {"containerPort": 8080, "hostPort": 54323, "hostIP": ip, "protocol": proto}
            ])))
        };
        let local_tcp = on("127.0.0.1", "TCP");
        let node_tcp = on("172.18.0.2", "TCP");
        let node_udp = on("172.18.0.2", "UDP");
        let any_tcp = on("", "TCP");
        assert_eq!(any_tcp[0].ip, "0.0.0.0");
        assert!(!conflict(&node_tcp, &local_tcp), "different host IPs");
        assert!(!conflict(&node_udp, &node_tcp), "different protocols");
        assert!(
            conflict(&node_tcp, &node_tcp),
            "the same hostIP:hostPort/TCP"
        );
        assert!(
            conflict(&any_tcp, &local_tcp),
            "the wildcard takes every address"
        );
        assert!(conflict(&local_tcp, &any_tcp));
        assert!(!conflict(&any_tcp, &node_udp));
    }

    #[test]
    fn ports_without_host_port_hold_nothing() {
        assert!(host_ports(&pod(json!([{"containerPort": 80}]))).is_empty());
        assert_eq!(
            host_ports(&pod(json!([{"containerPort": 80, "hostPort": 8080}]))),
            vec![HostPort {
                protocol: "TCP".into(),
                ip: "0.0.0.0".into(),
                port: 8080
            }]
        );
    }
}
