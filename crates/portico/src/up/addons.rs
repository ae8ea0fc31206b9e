//! The add-ons every `portico up` cluster runs as ordinary pods, as kubeadm clusters do:
//! the cluster DNS (`coredns` Deployment behind the `kube-dns` Service at 10.96.0.10), and the
//! forwarder on the node network that lets it resolve names outside the cluster through the
//! host's resolvers.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::plan;

/// Queries in flight upstream: the id sent → (client, its own id, when).
type Pending = HashMap<u16, (SocketAddr, u16, Instant)>;

/// The cluster DNS Service's address.
pub const DNS_IP: &str = "10.96.0.10";

/// Creates (or updates) the DNS Deployment and Service.
pub async fn apply_dns(client: &kube::Client) -> anyhow::Result<()> {
    let params = PatchParams::apply("portico-up").force();
    let service: Service = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {
            "name": "kube-dns", "namespace": "kube-system",
            "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"},
        },
        "spec": {
            "clusterIP": DNS_IP,
            "selector": {"k8s-app": "kube-dns"},
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
            ],
        },
    }))?;
    Api::<Service>::namespaced(client.clone(), "kube-system")
        .patch("kube-dns", &params, &Patch::Apply(&service))
        .await?;
    let upstream = format!("{}:53", plan::GATEWAY);
    let deployment: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "coredns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"k8s-app": "kube-dns"}},
            "template": {
                "metadata": {"labels": {"k8s-app": "kube-dns"}},
                "spec": {
                    "dnsPolicy": "Default",
                    "containers": [{
                        "name": "coredns",
                        "image": "portico/dns",
                        "args": ["--upstream", upstream],
                        "ports": [
                            {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                            {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                        ],
                        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, "periodSeconds": 2},
                        "livenessProbe": {
                            "httpGet": {"path": "/health", "port": 8080},
                            "initialDelaySeconds": 60, "timeoutSeconds": 5,
                            "failureThreshold": 5, "periodSeconds": 10,
                        },
                    }],
                },
            },
        },
    }))?;
    Api::<Deployment>::namespaced(client.clone(), "kube-system")
        .patch("coredns", &params, &Patch::Apply(&deployment))
        .await?;
    Ok(())
}

/// The host's DNS servers, from its resolv.conf (the sandbox sees the host's files).
fn host_resolvers() -> Vec<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    portico_dns::upstreams_from_resolv_conf(&text)
}

/// Relays DNS queries sent to `GATEWAY:53` on the node network to `upstream` (else the
/// host's first resolver) through a UDP socket the host side bound (a socket keeps the host's
/// network).
pub async fn forward_dns(
    ports: portico_sandbox::ports::PortClient,
    upstream: Option<SocketAddr>,
    stop: CancellationToken,
) {
    let resolvers = match upstream {
        Some(u) => vec![u],
        None => host_resolvers(),
    };
    let Some(&upstream) = resolvers.first() else {
        tracing::info!("the host has no DNS servers: names outside the cluster will not resolve");
        return;
    };
    let inside = match UdpSocket::bind((plan::GATEWAY, 53)).await {
        Ok(s) => Arc::new(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for DNS on the node network");
            return;
        }
    };
    let bind_at = match upstream.ip() {
        IpAddr::V4(v4) if v4.is_loopback() => SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        _ => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
    };
    let outside = match ports
        .bind_udp(bind_at)
        .await
        .map_err(|e| e.to_string())
        .and_then(|s| {
            s.set_nonblocking(true).map_err(|e| e.to_string())?;
            UdpSocket::from_std(s).map_err(|e| e.to_string())
        }) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot get a host socket for DNS");
            return;
        }
    };
    // Query id sent upstream → (client, its own id, when).
    let pending: Arc<std::sync::Mutex<Pending>> = Arc::default();
    let replies = {
        let (inside, outside, pending) = (inside.clone(), outside.clone(), pending.clone());
        async move {
            let mut buf = vec![0u8; 65535];
            loop {
                let Ok((n, _)) = outside.recv_from(&mut buf).await else {
                    return;
                };
                if n < 12 {
                    continue;
                }
                let id = u16::from_be_bytes([buf[0], buf[1]]);
                let entry = pending.lock().ok().and_then(|mut p| p.remove(&id));
                if let Some((client, orig, _)) = entry {
                    buf[..2].copy_from_slice(&orig.to_be_bytes());
                    let _ = inside.send_to(&buf[..n], client).await;
                }
            }
        }
    };
    let queries = async move {
        let mut buf = vec![0u8; 65535];
        let mut next: u16 = rand_id();
        loop {
            let Ok((n, client)) = inside.recv_from(&mut buf).await else {
                return;
            };
            if n < 12 {
                continue;
            }
            next = next.wrapping_add(1);
            let orig = u16::from_be_bytes([buf[0], buf[1]]);
            if let Ok(mut p) = pending.lock() {
                p.retain(|_, (_, _, at)| at.elapsed() < Duration::from_secs(10));
                p.insert(next, (client, orig, Instant::now()));
            }
            buf[..2].copy_from_slice(&next.to_be_bytes());
            let _ = outside.send_to(&buf[..n], upstream).await;
        }
    };
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = replies => {}
        _ = queries => {}
    }
}

fn rand_id() -> u16 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (t ^ std::process::id()) as u16
}
