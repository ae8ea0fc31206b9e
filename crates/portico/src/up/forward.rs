//! Host ports of a `portico up` cluster: every NodePort on `LISTEN:nodePort` and every
//! LoadBalancer address on `EXTERNAL-IP:port`, opened on the host (through the host side's
//! port broker) as Services appear and closed as they go. Connections are relayed to a node's
//! `NodeIP:nodePort`, where the node's proxy takes over. The ingress controller's Service
//! also gets `LISTEN:--http-port` and `LISTEN:--https-port`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::Api;
use tokio_util::sync::CancellationToken;

use super::plan;

/// Where host connections on one address go.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    node_port: u16,
}

/// Where the host side listens.
#[derive(Debug, Clone, Copy)]
pub struct Listen {
    /// `--listen-address`: NodePorts (and the ingress ports) open here.
    pub address: IpAddr,
    /// The ingress controller's Service (namespace, name) and the host ports of its `http`
    /// and `https` ports.
    pub ingress: (&'static str, &'static str, u16, u16),
}

/// The host addresses the Services ask for, and where each leads.
fn desired(services: &[Arc<Service>], listen: &Listen) -> HashMap<SocketAddr, Target> {
    let mut out = HashMap::new();
    let (ingress_ns, ingress_name, http_port, https_port) = listen.ingress;
    for svc in services {
        let is_ingress = svc.metadata.namespace.as_deref() == Some(ingress_ns)
            && svc.metadata.name.as_deref() == Some(ingress_name);
        let Some(spec) = &svc.spec else { continue };
        let ty = spec.type_.as_deref().unwrap_or("ClusterIP");
        if ty != "NodePort" && ty != "LoadBalancer" {
            continue;
        }
        let lb_ips: Vec<IpAddr> = svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|i| i.ip.as_deref().and_then(|ip| ip.parse().ok()))
            .collect();
        for port in spec.ports.iter().flatten() {
            if port.protocol.as_deref().unwrap_or("TCP") != "TCP" {
                continue;
            }
            let Some(node_port) = port.node_port.and_then(|p| u16::try_from(p).ok()) else {
                continue;
            };
            let target = Target { node_port };
            out.insert(SocketAddr::new(listen.address, node_port), target.clone());
            if is_ingress {
                let host_port = match port.name.as_deref() {
                    Some("http") => Some(http_port),
                    Some("https") => Some(https_port),
                    _ => None,
                };
                if let Some(p) = host_port {
                    out.insert(SocketAddr::new(listen.address, p), target.clone());
                }
            }
            if let Ok(p) = u16::try_from(port.port) {
                for ip in &lb_ips {
                    out.insert(SocketAddr::new(*ip, p), target.clone());
                }
            }
        }
    }
    out
}

/// Keeps the host ports in step with the Services until `shutdown`.
pub async fn run(
    client: kube::Client,
    ports: portico_sandbox::ports::PortClient,
    listen: Listen,
    nodes: u32,
    shutdown: CancellationToken,
) {
    let (store, writer) = reflector::store::<Service>();
    let stream = reflector::reflector(
        writer,
        watcher::watcher(Api::<Service>::all(client), watcher::Config::default()),
    )
    .touched_objects();
    futures::pin_mut!(stream);
    let mut open: HashMap<SocketAddr, (Target, CancellationToken)> = HashMap::new();
    let next_node = Arc::new(std::sync::atomic::AtomicU32::new(0));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            ev = stream.next() => if ev.is_none() { break },
        }
        // Coalesce a burst of changes.
        while let Ok(Some(_)) =
            tokio::time::timeout(std::time::Duration::from_millis(5), stream.next()).await
        {}
        let want = desired(&store.state(), &listen);
        open.retain(|addr, (target, stop)| {
            let keep = want.get(addr) == Some(target);
            if !keep {
                stop.cancel();
            }
            keep
        });
        for (addr, target) in want {
            if open.contains_key(&addr) {
                continue;
            }
            let listener = match ports.bind_tcp(addr).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "cannot open the host port");
                    continue;
                }
            };
            let stop = shutdown.child_token();
            tokio::spawn(serve(
                listener,
                target.node_port,
                nodes,
                next_node.clone(),
                stop.clone(),
            ));
            tracing::info!(%addr, node_port = target.node_port, "host port open");
            open.insert(addr, (target, stop));
        }
    }
    for (_, (_, stop)) in open {
        stop.cancel();
    }
}

async fn serve(
    listener: std::net::TcpListener,
    node_port: u16,
    nodes: u32,
    next_node: Arc<std::sync::atomic::AtomicU32>,
    stop: CancellationToken,
) {
    let Ok(listener) = listener
        .set_nonblocking(true)
        .and_then(|()| tokio::net::TcpListener::from_std(listener))
    else {
        return;
    };
    loop {
        let (mut client, _) = tokio::select! {
            _ = stop.cancelled() => return,
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(_) => continue,
            },
        };
        let n = next_node.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % nodes.max(1) + 1;
        let to = SocketAddr::new(IpAddr::V4(plan::node_ip(n)), node_port);
        tokio::spawn(async move {
            let Ok(mut upstream) = tokio::net::TcpStream::connect(to).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = upstream.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        });
    }
}
