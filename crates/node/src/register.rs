//! The Node object and its heartbeats: what `kubectl get nodes` shows about this node.
//!
//! The agent creates its Node (or takes over an existing one of the same name), reports
//! addresses, pod CIDR, capacity, conditions and its kubelet endpoint, then renews a Lease in
//! `kube-node-lease` every 10 seconds and refreshes the conditions' heartbeat every minute,
//! as the kubelet does.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::pods::status_now as now;
use crate::{Config, Error};

/// How often the Lease is renewed (the kubelet's default).
const LEASE_RENEW: Duration = Duration::from_secs(10);
/// How often the Node's conditions get a new heartbeat time.
const STATUS_EVERY: Duration = Duration::from_secs(60);
/// The Lease duration the kubelet asks for.
const LEASE_SECONDS: i32 = 40;

fn read_first_line(path: &str) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.lines().next().map(|l| l.trim().to_string()))
        .unwrap_or_default()
}

fn memory_kib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

fn os_image() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "Linux".into())
}

fn condition(type_: &str, status: &str, reason: &str, message: &str, at: &str) -> Value {
    json!({
        "type": type_, "status": status, "reason": reason, "message": message,
        "lastHeartbeatTime": at, "lastTransitionTime": at,
    })
}

/// The Node's status as this agent reports it.
pub fn node_status(config: &Config, transition: &str) -> Value {
    let at = now();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let capacity = json!({
        "cpu": cpus.to_string(),
        "memory": format!("{}Ki", memory_kib()),
        "pods": config.max_pods.to_string(),
        "ephemeral-storage": "100Gi",
    });
    let mut ready = condition(
        "Ready",
        "True",
        "KubeletReady",
        "kubelet is posting ready status",
        &at,
    );
    ready["lastTransitionTime"] = json!(transition);
    json!({
        "addresses": [
            {"type": "InternalIP", "address": config.node_ip.to_string()},
            {"type": "Hostname", "address": config.node_name},
        ],
        "capacity": capacity,
        "allocatable": capacity,
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available", transition),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", transition),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available", transition),
            ready,
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": config.kubelet_port}},
        "nodeInfo": {
            "machineID": read_first_line("/etc/machine-id"),
            "systemUUID": config.node_uid.clone(),
            "bootID": read_first_line("/proc/sys/kernel/random/boot_id"),
            "kernelVersion": read_first_line("/proc/sys/kernel/osrelease"),
            "osImage": os_image(),
            "containerRuntimeVersion": format!("portico://{}", env!("CARGO_PKG_VERSION")),
            "kubeletVersion": "v1.32.0",
            "kubeProxyVersion": "v1.32.0",
            "operatingSystem": "linux",
            "architecture": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
        },
    })
}

/// Creates or takes over this agent's Node and writes its status.
pub async fn register(client: &kube::Client, config: &Config) -> Result<(), Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let transition = now();
    let cidr = config.pod_cidr_string();
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": config.node_name,
            "labels": {
                "kubernetes.io/hostname": config.node_name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64",
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
    }))?;
    match nodes.create(&PostParams::default(), &node).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let patch = json!({"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}});
            nodes
                .patch(
                    &config.node_name,
                    &PatchParams::default(),
                    &Patch::Merge(patch),
                )
                .await?;
        }
        Err(e) => return Err(e.into()),
    }
    let status = json!({"status": node_status(config, &transition)});
    nodes
        .patch_status(
            &config.node_name,
            &PatchParams::default(),
            &Patch::Merge(status),
        )
        .await?;
    Ok(())
}

/// Renews the Lease and refreshes the Node's heartbeat until shutdown.
pub async fn heartbeat(
    client: kube::Client,
    config: std::sync::Arc<Config>,
    stop: CancellationToken,
) {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let nodes: Api<Node> = Api::all(client);
    let transition = now();
    let mut last_status = tokio::time::Instant::now();
    loop {
        if let Err(e) = renew(&leases, &config).await {
            tracing::warn!(error = %e, "renewing the node lease failed");
        }
        if last_status.elapsed() >= STATUS_EVERY {
            last_status = tokio::time::Instant::now();
            let status = json!({"status": node_status(&config, &transition)});
            if let Err(e) = nodes
                .patch_status(
                    &config.node_name,
                    &PatchParams::default(),
                    &Patch::Merge(status),
                )
                .await
            {
                tracing::warn!(error = %e, "updating the node status failed");
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(LEASE_RENEW) => {}
        }
    }
}

async fn renew(leases: &Api<Lease>, config: &Config) -> Result<(), Error> {
    let renew_time = MicroTime(jiff::Timestamp::now());
    let body = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": config.node_name, "namespace": "kube-node-lease"},
        "spec": {
            "holderIdentity": config.node_name,
            "leaseDurationSeconds": LEASE_SECONDS,
            "renewTime": renew_time,
        },
    });
    let patch = PatchParams::apply("portico-node").force();
    leases
        .patch(&config.node_name, &patch, &Patch::Apply(body))
        .await?;
    Ok(())
}
