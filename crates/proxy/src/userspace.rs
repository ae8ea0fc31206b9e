//! The userspace datapath: sockets on every service address, relaying to endpoints.
//!
//! # How traffic reaches it
//!
//! The proxy runs in the node's network namespace (inside the node agent). The service CIDR
//! is made local there with one AnyIP route, `ip route replace local 10.96.0.0/12 dev lo
//! table local` ([`route_service_cidr`]), so the proxy can bind a listener on any cluster
//! IP without adding addresses, and packets that pods send to a cluster IP (through their
//! default route, the node) are delivered to it. Listeners:
//!
//! * each cluster IP and port (TCP or UDP), for the cluster IP's endpoints
//!   (`internalTrafficPolicy`);
//! * `0.0.0.0:nodePort` (every node address) for NodePort and LoadBalancer services, and each
//!   external IP and LoadBalancer IP with the service port (`externalTrafficPolicy`).
//!   LoadBalancer IPs come from 127.0.0.0/8, which is local on `lo` already; pods reach
//!   them through the node with `route_localnet`, which the node sets. External IPs must be
//!   routed to the node as local addresses by whoever assigns them; listeners on them bind
//!   with `IP_FREEBIND` so that order does not matter.
//!
//! A listener exists only while its service port has a usable endpoint (see
//! [`crate::model::usable`]): with none, the kernel itself answers a TCP SYN with a reset
//! ("connection refused", at once) and a UDP datagram with ICMP port unreachable, as
//! kube-proxy's reject rules do. Listeners are opened and closed incrementally, only where
//! a new state differs; all are bound with `SO_REUSEADDR` and `SO_REUSEPORT`, so a node port
//! on the wildcard address and a cluster IP with the same port number coexist.
//!
//! # Relaying
//!
//! TCP: each accepted connection goes to an endpoint chosen round-robin (or the client's
//! sticky one under `sessionAffinity: ClientIP`); if the dial fails, the next endpoint is
//! tried. Bytes move by reads and writes, then zero-copy with `splice(2)` once a direction
//! carries bulk data ([`Relay::Splice`], half-close propagated), or through
//! `copy_bidirectional` ([`Relay::Copy`]). UDP: a flow table per listener (see
//! [`udp`]), idle timeout [`Options::udp_idle_timeout`], flows to endpoints that are gone
//! dropped on every apply; replies leave from the service address.
//!
//! # Differences from kube-proxy's kernel datapaths
//!
//! * The endpoint sees the node's address as the source, never the client's: a userspace
//!   relay opens its own connection. `externalTrafficPolicy: Local` still restricts traffic
//!   to local endpoints (and the health check port reports them), but cannot preserve the
//!   client address either.
//! * Hairpin traffic (a pod reaching itself through its service) works without anything
//!   special: the proxy's connection to the pod comes from the node.
//! * Pings: with AnyIP every service address would answer ICMP echo, which a Kubernetes
//!   service IP never does. [`block_echo`] drops echo requests to the service CIDR with one
//!   nftables rule (table `ip portico-userspace`), falling back to
//!   `net.ipv4.icmp_echo_ignore_all=1` for the namespace when `nft` is unusable.
//! * With `externalTrafficPolicy: Local`, pods reaching a node port or LoadBalancer IP get
//!   only this node's endpoints (kube-proxy short-circuits pod traffic to all endpoints).
//! * A UDP node port listens on the wildcard address; its replies leave with the source
//!   address the kernel picks for the client's route (the node address the client used, in
//!   the usual single-address case).

mod balancer;
mod claims;
mod health;
mod node;
mod relay;
mod tcp;
mod udp;

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use socket2::{Domain, Socket, Type};
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

pub use node::{block_echo, prepare_node, route_service_cidr, EchoBlock, ECHO_TABLE};
pub use relay::Relay;

use crate::metrics::Metrics;
use crate::model::{usable, Protocol, ProxyState, ServiceKey, ServicePort};
use crate::{Datapath, Error};
use balancer::Backends;
use claims::Claims;
use health::HealthServer;
use udp::UdpProxy;

/// Settings of the userspace datapath.
#[derive(Debug, Clone)]
pub struct Options {
    /// How TCP bytes are moved (zero-copy `splice` by default).
    pub relay: Relay,
    /// How long a UDP flow lives without traffic (30 s, like the kernel's UDP conntrack
    /// timeout that kube-proxy relies on).
    pub udp_idle_timeout: Duration,
    /// Where connection, byte and error counts go.
    pub metrics: Arc<Metrics>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            relay: Relay::Splice,
            udp_idle_timeout: Duration::from_secs(30),
            metrics: Metrics::global(),
        }
    }
}

/// The userspace datapath. Listening tasks run on the tokio runtime that calls
/// [`Datapath::apply`]; dropping the datapath closes every listener.
#[derive(Debug, Default)]
pub struct Userspace {
    options: Options,
    backends: HashMap<ServiceKey, Arc<Backends>>,
    listeners: HashMap<(Protocol, SocketAddr), Listener>,
    health: HashMap<u16, HealthServer>,
    /// The addresses each service port wants a listener on (with "external traffic?").
    listen_claims: Claims<(Protocol, SocketAddr), bool>,
    /// The health check node ports each service port wants.
    health_claims: Claims<u16, ()>,
}

/// What a TCP listener relays to; swapped in place when another service port takes over
/// the address.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) backends: Arc<Backends>,
    pub(crate) external: bool,
}

#[derive(Debug)]
struct Listener {
    service: ServiceKey,
    external: bool,
    kind: ListenerKind,
    task: Option<tokio::task::JoinHandle<()>>,
    stop: CancellationToken,
}

impl Listener {
    /// Closes the listener and waits until its task has let go of the socket, so that the
    /// address is closed (refusing) when this returns.
    async fn close(mut self) {
        let task = self.task.take();
        drop(self);
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

#[derive(Debug)]
enum ListenerKind {
    Tcp {
        socket: Arc<TcpListener>,
        target: Arc<RwLock<Target>>,
    },
    Udp(Arc<UdpProxy>),
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.cancel();
        // Stop listening now, not when the accept task next runs: new SYNs get a reset at
        // once and the address is free for another socket.
        if let ListenerKind::Tcp { socket, .. } = &self.kind {
            let _ = rustix::net::shutdown(&**socket, rustix::net::Shutdown::Read);
        }
    }
}

impl Userspace {
    /// A datapath with `options`; nothing listens until the first apply.
    pub fn new(options: Options) -> Userspace {
        Userspace {
            options,
            ..Userspace::default()
        }
    }

    /// The addresses listened on now, sorted (health check ports excluded).
    pub fn listeners(&self) -> Vec<(Protocol, SocketAddr)> {
        let mut v: Vec<_> = self.listeners.keys().copied().collect();
        v.sort();
        v
    }

    /// The health check node ports served now, sorted.
    pub fn health_check_ports(&self) -> Vec<u16> {
        let mut v: Vec<_> = self.health.keys().copied().collect();
        v.sort();
        v
    }

    /// The number of open UDP flows over all listeners.
    pub fn udp_flows(&self) -> usize {
        self.listeners
            .values()
            .map(|l| match &l.kind {
                ListenerKind::Udp(p) => p.flow_count(),
                ListenerKind::Tcp { .. } => 0,
            })
            .sum()
    }

    fn sync_backends(&mut self, state: &ProxyState, changed: &BTreeSet<ServiceKey>) {
        for key in changed {
            match (state.services.get(key), self.backends.get(key)) {
                (Some(sp), Some(b)) => b.update(sp),
                (Some(sp), None) => {
                    let counters = self.options.metrics.service(key);
                    let b = Backends::new(key.clone(), sp, counters);
                    self.backends.insert(key.clone(), Arc::new(b));
                }
                (None, _) => {
                    self.backends.remove(key);
                    self.options.metrics.remove(key);
                }
            }
        }
    }

    async fn sync_listeners(
        &mut self,
        state: &ProxyState,
        changed: &BTreeSet<ServiceKey>,
    ) -> Vec<String> {
        let mut affected: BTreeSet<(Protocol, SocketAddr)> = BTreeSet::new();
        for key in changed {
            let wanted = state
                .services
                .get(key)
                .map(|sp| listener_claims(key, sp))
                .unwrap_or_default();
            affected.extend(self.listen_claims.set(key, wanted));
        }
        for addr in &affected {
            let keep = self.listeners.get(addr).is_some_and(|l| {
                self.listen_claims
                    .owner(addr)
                    .is_some_and(|(key, external)| {
                        // A TCP listener is retargeted in place; a UDP one is reopened.
                        matches!(l.kind, ListenerKind::Tcp { .. })
                            || (l.service == *key && l.external == external)
                    })
            });
            if keep {
                continue;
            }
            if let Some(l) = self.listeners.remove(addr) {
                tracing::debug!(service = %l.service.display_name(), addr = %addr.1, "closing");
                l.close().await;
            }
        }
        let mut errors = Vec::new();
        for addr in affected {
            let Some((key, external)) = self.listen_claims.owner(&addr) else {
                continue;
            };
            let Some(backends) = self.backends.get(key).cloned() else {
                continue;
            };
            if let Some(l) = self.listeners.get_mut(&addr) {
                if let ListenerKind::Tcp { target, .. } = &l.kind {
                    if l.service != *key || l.external != external {
                        let mut t = target.write().unwrap_or_else(|e| e.into_inner());
                        *t = Target { backends, external };
                        l.service = key.clone();
                        l.external = external;
                    }
                }
                continue;
            }
            let key = key.clone();
            match self.open(addr, &key, backends, external) {
                Ok(l) => {
                    tracing::debug!(service = %key.display_name(), protocol = addr.0.as_str(), addr = %addr.1, "listening");
                    self.listeners.insert(addr, l);
                }
                Err(e) => {
                    tracing::warn!(service = %key.display_name(), error = %e, "cannot listen");
                    errors.push(e.to_string());
                }
            }
        }
        // UDP flows to endpoints a changed service port no longer uses end now.
        for key in changed {
            for addr in self.listen_claims.of(key) {
                if let Some(Listener {
                    kind: ListenerKind::Udp(p),
                    ..
                }) = self.listeners.get(&addr)
                {
                    p.prune();
                }
            }
        }
        errors
    }

    fn open(
        &self,
        (protocol, addr): (Protocol, SocketAddr),
        key: &ServiceKey,
        backends: Arc<Backends>,
        external: bool,
    ) -> Result<Listener, Error> {
        let stop = CancellationToken::new();
        let (kind, task) = match protocol {
            Protocol::Tcp => {
                let socket = Arc::new(bind_tcp(addr)?);
                let target = Arc::new(RwLock::new(Target { backends, external }));
                let task = tokio::spawn(tcp::serve(
                    socket.clone(),
                    target.clone(),
                    self.options.relay,
                    stop.clone(),
                ));
                (ListenerKind::Tcp { socket, target }, task)
            }
            Protocol::Udp => {
                let socket = bind_udp(addr)?;
                let proxy =
                    UdpProxy::new(socket, backends, external, self.options.udp_idle_timeout);
                let task = tokio::spawn(proxy.clone().serve(stop.clone()));
                (ListenerKind::Udp(proxy), task)
            }
            Protocol::Sctp => return Err(Error::Other(format!("{addr}: SCTP is not proxied"))),
        };
        Ok(Listener {
            service: key.clone(),
            external,
            kind,
            task: Some(task),
            stop,
        })
    }

    fn sync_health(&mut self, state: &ProxyState, changed: &BTreeSet<ServiceKey>) -> Vec<String> {
        let mut affected: BTreeSet<u16> = BTreeSet::new();
        for key in changed {
            let port = state
                .services
                .get(key)
                .and_then(|sp| sp.health_check_node_port);
            affected.extend(
                self.health_claims
                    .set(key, port.map(|p| (p, ())).into_iter().collect()),
            );
        }
        let mut errors = Vec::new();
        for port in affected {
            // The first service (in key order) on the port owns it; its local ready
            // endpoints are the most over its ports that share the health check port.
            let Some((owner, ())) = self.health_claims.owner(&port) else {
                self.health.remove(&port);
                continue;
            };
            let (ns, name) = (owner.namespace.clone(), owner.name.clone());
            let local = self
                .health_claims
                .claimants(&port)
                .filter(|(k, ())| k.namespace == ns && k.name == name)
                .filter_map(|(k, ())| state.services.get(k))
                .map(|sp| sp.endpoints.iter().filter(|e| e.local && e.ready).count())
                .max()
                .unwrap_or(0);
            if self
                .health
                .get(&port)
                .is_some_and(|h| h.namespace != ns || h.name != name)
            {
                self.health.remove(&port);
            }
            if let std::collections::hash_map::Entry::Vacant(slot) = self.health.entry(port) {
                match HealthServer::start(port, &ns, &name) {
                    Ok(h) => {
                        slot.insert(h);
                    }
                    Err(e) => {
                        tracing::warn!(service = %format!("{ns}/{name}"), error = %e, "no health check port");
                        errors.push(e.to_string());
                        continue;
                    }
                }
            }
            if let Some(h) = self.health.get(&port) {
                h.set_local_endpoints(local);
            }
        }
        errors
    }

    /// Applies the service ports `changed` of `state`.
    async fn sync(
        &mut self,
        state: &ProxyState,
        changed: &BTreeSet<ServiceKey>,
    ) -> Result<(), Error> {
        self.sync_backends(state, changed);
        let mut errors = self.sync_listeners(state, changed).await;
        errors.extend(self.sync_health(state, changed));
        if errors.is_empty() {
            Ok(())
        } else {
            // Everything else was applied; the failed listeners are retried on the next
            // full apply (which the run loop makes after a failure).
            Err(Error::Other(format!(
                "userspace proxy: {}",
                errors.join("; ")
            )))
        }
    }
}

impl Datapath for Userspace {
    async fn apply(&mut self, state: &ProxyState) -> Result<(), Error> {
        let mut all: BTreeSet<ServiceKey> = state.services.keys().cloned().collect();
        all.extend(self.backends.keys().cloned());
        self.sync(state, &all).await?;
        self.options.metrics.retain(state);
        Ok(())
    }

    async fn apply_changes(
        &mut self,
        state: &ProxyState,
        changed: &BTreeSet<ServiceKey>,
    ) -> Result<(), Error> {
        self.sync(state, changed).await
    }

    fn rules_renderer(&self) -> Option<crate::rules::Renderer> {
        Some(Arc::new(crate::rules::userspace_rules))
    }
}

/// The listeners one service port wants: address → external traffic? None without a
/// usable endpoint, so that the kernel refuses its traffic. (When two service ports claim
/// one address, [`Claims`] gives it to the first in key order.)
fn listener_claims(key: &ServiceKey, sp: &ServicePort) -> Vec<((Protocol, SocketAddr), bool)> {
    let mut out = Vec::new();
    if key.protocol == Protocol::Sctp {
        return out;
    }
    let mut claim = |ip: IpAddr, port: u16, external: bool| {
        out.push(((key.protocol, SocketAddr::new(ip, port)), external));
    };
    if !usable(sp, false).is_empty() {
        for ip in &sp.cluster_ips {
            claim(*ip, sp.port, false);
        }
    }
    if !usable(sp, true).is_empty() {
        if let Some(np) = sp.node_port {
            claim(wildcard(sp), np, true);
        }
        for ip in sp.external_ips.iter().chain(&sp.load_balancer_ips) {
            claim(*ip, sp.port, true);
        }
    }
    out
}

/// The wildcard address of the service's family (IPv4 unless its cluster IP is IPv6).
fn wildcard(sp: &ServicePort) -> IpAddr {
    match sp.cluster_ips.first() {
        Some(IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }
}

fn socket(addr: SocketAddr, ty: Type) -> Result<Socket, Error> {
    let io = |what: &str, source| Error::Io {
        what: format!("{what} {addr}"),
        source,
    };
    let socket =
        Socket::new(Domain::for_address(addr), ty, None).map_err(|e| io("socket for", e))?;
    socket
        .set_reuse_address(true)
        .and_then(|()| socket.set_reuse_port(true))
        .and_then(|()| socket.set_nonblocking(true))
        .map_err(|e| io("socket options for", e))?;
    if addr.is_ipv6() {
        socket
            .set_only_v6(true)
            .map_err(|e| io("IPV6_V6ONLY on", e))?;
        let _ = socket.set_freebind_v6(true);
    } else {
        let _ = socket.set_freebind_v4(true);
    }
    socket.bind(&addr.into()).map_err(|e| io("binding", e))?;
    Ok(socket)
}

/// A listening TCP socket on `addr`, shareable with the other proxy listeners. It has
/// `TCP_NODELAY` set, which Linux copies to every accepted connection (one system call per
/// connection fewer than setting it on each).
pub(crate) fn bind_tcp(addr: SocketAddr) -> Result<TcpListener, Error> {
    let s = socket(addr, Type::STREAM)?;
    if let Err(e) = s.set_tcp_nodelay(true) {
        tracing::debug!(%addr, error = %e, "TCP_NODELAY on a listener");
    }
    s.listen(1024).map_err(|source| Error::Io {
        what: format!("listening on {addr}"),
        source,
    })?;
    TcpListener::from_std(s.into()).map_err(|source| Error::Io {
        what: format!("registering {addr}"),
        source,
    })
}

fn bind_udp(addr: SocketAddr) -> Result<UdpSocket, Error> {
    let s = socket(addr, Type::DGRAM)?;
    UdpSocket::from_std(s.into()).map_err(|source| Error::Io {
        what: format!("registering {addr}"),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The relay counts on accepted connections inheriting `TCP_NODELAY` from the listener.
    #[tokio::test]
    async fn accepted_connections_inherit_nodelay() {
        let listener = bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        assert!(accepted.nodelay().unwrap());
        assert!(!client.nodelay().unwrap());
    }
}
