//! Host ports: a container port with `hostPort` is reachable on the node at
//! `hostIP:hostPort` (every node address when `hostIP` is empty), as the CNI portmap plugin
//! arranges it.
//!
//! Portico forwards in userspace, inside the node's network namespace: for each mapping the
//! node binds `hostIP:hostPort` itself (TCP or UDP) and relays to `podIP:containerPort`.
//! Binding the address is what makes it correct for every destination the kernel delivers
//! locally, `127.0.0.1` included (a DNAT rule would need `route_localnet` and a masquerade
//! for that), and it claims the port, so a second pod asking for the same
//! `hostIP:hostPort/protocol` fails to start instead of silently sharing it. The pod sees
//! connections coming from the node (as with the portmap plugin's masquerade for local
//! traffic).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::PodSpec;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

use crate::Error;

/// How long a UDP flow lives without traffic in either direction.
const UDP_IDLE: Duration = Duration::from_secs(30);

/// The transport of one mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TCP: connections are accepted and relayed.
    Tcp,
    /// UDP: datagrams are relayed per client address.
    Udp,
}

/// One `hostPort` of a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The node address to bind (`0.0.0.0` for an empty `hostIP`).
    pub host: SocketAddrV4,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// Where the traffic goes: the pod's address and the container port.
    pub pod: SocketAddrV4,
}

/// The host ports a pod (not on the host network) asks for, forwarded to `pod_ip`. Ports
/// of other protocols (SCTP) and unparsable `hostIP`s are left out with a warning.
pub fn mappings(spec: &PodSpec, pod_ip: Ipv4Addr) -> Vec<Mapping> {
    if spec.host_network == Some(true) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for c in &spec.containers {
        for p in c.ports.iter().flatten() {
            let Some(host_port) = p.host_port.and_then(|h| u16::try_from(h).ok()) else {
                continue;
            };
            let Ok(container_port) = u16::try_from(p.container_port) else {
                continue;
            };
            if host_port == 0 {
                continue;
            }
            let protocol = match p.protocol.as_deref().unwrap_or("TCP") {
                "TCP" => Protocol::Tcp,
                "UDP" => Protocol::Udp,
                other => {
                    tracing::warn!(protocol = other, host_port, "host port not forwarded");
                    continue;
                }
            };
            let host_ip = match p.host_ip.as_deref().unwrap_or("") {
                "" => Ipv4Addr::UNSPECIFIED,
                text => match text.parse() {
                    Ok(ip) => ip,
                    Err(_) => {
                        tracing::warn!(host_ip = text, "host port on a non-IPv4 address");
                        continue;
                    }
                },
            };
            out.push(Mapping {
                host: SocketAddrV4::new(host_ip, host_port),
                protocol,
                pod: SocketAddrV4::new(pod_ip, container_port),
            });
        }
    }
    out
}

/// The running forwarders of one pod; dropping it closes every host port.
#[derive(Default)]
pub struct HostPorts {
    tasks: Vec<JoinHandle<()>>,
}

impl HostPorts {
    /// Binds every mapping and starts relaying. Fails (binding nothing) if any address is
    /// taken or cannot be bound.
    pub async fn open(mappings: &[Mapping]) -> Result<HostPorts, Error> {
        let mut tcp = Vec::new();
        let mut udp = Vec::new();
        for m in mappings {
            let what = || {
                format!(
                    "cannot open hostport {} for pod: {}/{}",
                    m.host.port(),
                    match m.protocol {
                        Protocol::Tcp => "tcp",
                        Protocol::Udp => "udp",
                    },
                    m.host
                )
            };
            match m.protocol {
                Protocol::Tcp => tcp.push((
                    TcpListener::bind(m.host)
                        .await
                        .map_err(|e| Error::io(what(), e))?,
                    m.pod,
                )),
                Protocol::Udp => udp.push((
                    UdpSocket::bind(m.host)
                        .await
                        .map_err(|e| Error::io(what(), e))?,
                    m.pod,
                )),
            }
        }
        let mut tasks = Vec::new();
        for (listener, pod) in tcp {
            tasks.push(tokio::spawn(relay_tcp(listener, pod)));
        }
        for (socket, pod) in udp {
            tasks.push(tokio::spawn(relay_udp(Arc::new(socket), pod)));
        }
        Ok(HostPorts { tasks })
    }
}

impl Drop for HostPorts {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn relay_tcp(listener: TcpListener, pod: SocketAddrV4) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let (mut client, from) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "host port accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        while conns.try_join_next().is_some() {}
        conns.spawn(async move {
            match TcpStream::connect(pod).await {
                Ok(mut upstream) => {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
                Err(e) => tracing::debug!(%from, %pod, error = %e, "host port: pod unreachable"),
            }
        });
    }
}

/// One UDP client's flow: its own socket towards the pod and when it was last used.
struct Flow {
    upstream: Arc<UdpSocket>,
    last: Arc<Mutex<Instant>>,
}

async fn relay_udp(socket: Arc<UdpSocket>, pod: SocketAddrV4) {
    let flows: Arc<Mutex<HashMap<SocketAddr, Flow>>> = Arc::default();
    let mut replies = tokio::task::JoinSet::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, client) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "host port receive failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        while replies.try_join_next().is_some() {}
        let existing = flows.lock().ok().and_then(|f| {
            f.get(&client).map(|flow| {
                if let Ok(mut last) = flow.last.lock() {
                    *last = Instant::now();
                }
                flow.upstream.clone()
            })
        });
        let upstream = match existing {
            Some(u) => u,
            None => {
                let upstream = match open_upstream(pod).await {
                    Ok(u) => Arc::new(u),
                    Err(e) => {
                        tracing::debug!(%pod, error = %e, "host port: pod unreachable");
                        continue;
                    }
                };
                let last = Arc::new(Mutex::new(Instant::now()));
                if let Ok(mut f) = flows.lock() {
                    f.insert(
                        client,
                        Flow {
                            upstream: upstream.clone(),
                            last: last.clone(),
                        },
                    );
                }
                replies.spawn(relay_replies(
                    socket.clone(),
                    upstream.clone(),
                    client,
                    last,
                    flows.clone(),
                ));
                upstream
            }
        };
        let _ = upstream.send(&buf[..n]).await;
    }
}

async fn open_upstream(pod: SocketAddrV4) -> std::io::Result<UdpSocket> {
    let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).await?;
    s.connect(pod).await?;
    Ok(s)
}

/// Sends the pod's answers back to `client` from the host port until the flow idles out.
async fn relay_replies(
    socket: Arc<UdpSocket>,
    upstream: Arc<UdpSocket>,
    client: SocketAddr,
    last: Arc<Mutex<Instant>>,
    flows: Arc<Mutex<HashMap<SocketAddr, Flow>>>,
) {
    let mut buf = vec![0u8; 65536];
    loop {
        match tokio::time::timeout(UDP_IDLE, upstream.recv(&mut buf)).await {
            Ok(Ok(n)) => {
                if let Ok(mut l) = last.lock() {
                    *l = Instant::now();
                }
                let _ = socket.send_to(&buf[..n], client).await;
            }
            // ICMP errors (nothing listening yet) surface here: keep the flow.
            Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(_) => {
                let idle = last.lock().map(|l| l.elapsed() >= UDP_IDLE).unwrap_or(true);
                if idle {
                    if let Ok(mut f) = flows.lock() {
                        f.remove(&client);
                    }
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
