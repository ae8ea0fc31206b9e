//! UDP: a flow table per service address.
//!
//! The first datagram from a client address opens a flow: a socket connected to one endpoint.
//! Datagrams from the client go out through it; replies come back on it and are sent to the
//! client from the listening socket, so the client sees them come from the service address
//! it talked to. A flow ends when idle for the timeout, or at once when its endpoint stops
//! being usable ([`UdpProxy::prune`], called on every apply), so a client such as a DNS
//! resolver never keeps talking to a dead pod.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use super::balancer::Backends;
use crate::metrics::ServiceCounters;

/// The largest datagram relayed.
const MAX_DATAGRAM: usize = 65535;

/// One listening UDP socket and its flows.
#[derive(Debug)]
pub(crate) struct UdpProxy {
    socket: Arc<UdpSocket>,
    backends: Arc<Backends>,
    external: bool,
    idle: Duration,
    flows: Mutex<HashMap<SocketAddr, Flow>>,
    epoch: Instant,
}

#[derive(Debug)]
struct Flow {
    upstream: Arc<UdpSocket>,
    endpoint: SocketAddr,
    /// Milliseconds since [`UdpProxy::epoch`] of the last datagram either way.
    last: Arc<AtomicU64>,
    replies: AbortHandle,
}

impl Drop for Flow {
    fn drop(&mut self) {
        // Ends the reply task, which holds the other reference to the upstream socket.
        self.replies.abort();
    }
}

impl UdpProxy {
    /// A proxy for `socket` (already bound to the service address).
    pub(crate) fn new(
        socket: UdpSocket,
        backends: Arc<Backends>,
        external: bool,
        idle: Duration,
    ) -> Arc<UdpProxy> {
        Arc::new(UdpProxy {
            socket: Arc::new(socket),
            backends,
            external,
            idle,
            flows: Mutex::new(HashMap::new()),
            epoch: Instant::now(),
        })
    }

    fn flows(&self) -> MutexGuard<'_, HashMap<SocketAddr, Flow>> {
        self.flows.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Number of open flows.
    pub(crate) fn flow_count(&self) -> usize {
        self.flows().len()
    }

    /// Ends the flows whose endpoint is no longer usable.
    pub(crate) fn prune(&self) {
        let usable = self.backends.endpoints(self.external);
        let mut flows = self.flows();
        let before = flows.len();
        flows.retain(|_, f| usable.contains(&f.endpoint));
        let dropped = before - flows.len();
        if dropped > 0 {
            tracing::debug!(service = %self.backends.key.display_name(), dropped, "UDP flows to gone endpoints dropped");
        }
    }

    /// Relays datagrams until `stop`; all flows end with it.
    pub(crate) async fn serve(self: Arc<Self>, stop: CancellationToken) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let received = tokio::select! {
                _ = stop.cancelled() => break,
                r = self.socket.recv_from(&mut buf) => r,
            };
            match received {
                Ok((n, client)) => self.forward(&buf[..n], client).await,
                Err(e) => {
                    // ICMP errors from earlier sends surface here; keep going.
                    tracing::trace!(service = %self.backends.key.display_name(), error = %e, "UDP receive");
                }
            }
        }
        self.flows().clear();
    }

    /// Sends one client datagram to its flow's endpoint, opening the flow if needed.
    async fn forward(self: &Arc<Self>, data: &[u8], client: SocketAddr) {
        let counters = &self.backends.counters;
        let existing = {
            let flows = self.flows();
            flows.get(&client).map(|f| {
                f.last.store(self.now_ms(), Ordering::Relaxed);
                (f.upstream.clone(), f.endpoint)
            })
        };
        let (upstream, endpoint) = match existing {
            Some(f) => f,
            None => match self.open(client).await {
                Some(f) => f,
                None => return,
            },
        };
        match upstream.send(data).await {
            Ok(n) => ServiceCounters::add(&counters.bytes_to_endpoint, n as u64),
            Err(e) => {
                ServiceCounters::inc(&counters.errors);
                tracing::debug!(service = %self.backends.key.display_name(), %endpoint, error = %e, "UDP send failed; flow dropped");
                self.flows().remove(&client);
            }
        }
    }

    /// Opens a flow for `client` to the endpoint the balancer picks.
    async fn open(self: &Arc<Self>, client: SocketAddr) -> Option<(Arc<UdpSocket>, SocketAddr)> {
        let counters = &self.backends.counters;
        let Some(endpoint) = self
            .backends
            .pick(client.ip(), self.external)
            .first()
            .copied()
        else {
            ServiceCounters::inc(&counters.errors);
            return None;
        };
        let local: SocketAddr = match endpoint.ip() {
            IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let upstream = match UdpSocket::bind(local).await {
            Ok(s) => s,
            Err(e) => {
                ServiceCounters::inc(&counters.errors);
                tracing::warn!(error = %e, "binding an upstream UDP socket");
                return None;
            }
        };
        if let Err(e) = upstream.connect(endpoint).await {
            ServiceCounters::inc(&counters.errors);
            tracing::debug!(%endpoint, error = %e, "connecting an upstream UDP socket");
            return None;
        }
        ServiceCounters::inc(&counters.connections);
        let upstream = Arc::new(upstream);
        let last = Arc::new(AtomicU64::new(self.now_ms()));
        let task = UdpProxy::replies(
            Arc::downgrade(self),
            client,
            upstream.clone(),
            last.clone(),
            self.epoch,
            self.idle,
        );
        let replies = tokio::spawn(task).abort_handle();
        let flow = Flow {
            upstream: upstream.clone(),
            endpoint,
            last,
            replies,
        };
        self.flows().insert(client, flow);
        Some((upstream, endpoint))
    }

    /// Sends the endpoint's replies to `client` from the service address, until the flow
    /// has been idle for the timeout or the endpoint refuses. Holds the proxy weakly, so that
    /// closing the listener closes its socket at once.
    async fn replies(
        proxy: Weak<Self>,
        client: SocketAddr,
        upstream: Arc<UdpSocket>,
        last: Arc<AtomicU64>,
        epoch: Instant,
        idle: Duration,
    ) {
        let now_ms = || u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
        loop {
            let deadline = last.load(Ordering::Relaxed).saturating_add(idle_ms);
            let wait = Duration::from_millis(deadline.saturating_sub(now_ms()));
            let received = tokio::select! {
                r = upstream.recv(&mut buf) => r,
                _ = tokio::time::sleep(wait) => {
                    if now_ms() >= last.load(Ordering::Relaxed).saturating_add(idle_ms) {
                        break;
                    }
                    continue;
                }
            };
            let Some(p) = proxy.upgrade() else { return };
            let counters = &p.backends.counters;
            match received {
                Ok(n) => {
                    last.store(now_ms(), Ordering::Relaxed);
                    match p.socket.send_to(&buf[..n], client).await {
                        Ok(n) => ServiceCounters::add(&counters.bytes_to_client, n as u64),
                        Err(e) => {
                            ServiceCounters::inc(&counters.errors);
                            tracing::debug!(%client, error = %e, "UDP reply not delivered");
                        }
                    }
                }
                Err(e) => {
                    // The endpoint's port is closed (ICMP unreachable): end the flow so the
                    // next datagram picks again.
                    ServiceCounters::inc(&counters.errors);
                    tracing::debug!(%client, error = %e, "UDP endpoint unreachable; flow ends");
                    break;
                }
            }
        }
        let Some(p) = proxy.upgrade() else { return };
        // Removing the flow aborts this task through its handle: harmless, an abort only
        // takes effect at an await point and none is left.
        let mut flows = p.flows();
        if flows
            .get(&client)
            .is_some_and(|f| Arc::ptr_eq(&f.upstream, &upstream))
        {
            flows.remove(&client);
        }
    }
}
