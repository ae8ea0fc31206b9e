//! TCP: accepting on a service address and relaying each connection to an endpoint.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::balancer::Backends;
use super::relay::{relay, Relay};
use super::Target;
use crate::metrics::ServiceCounters;

/// How long one dial to an endpoint may take before the next endpoint is tried.
const DIAL_TIMEOUT: Duration = Duration::from_secs(3);

/// Accepts on `listener` until `stop`, relaying each connection to one of the endpoints
/// of the current `target`.
pub(crate) async fn serve(
    listener: Arc<TcpListener>,
    target: Arc<RwLock<Target>>,
    mode: Relay,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, client)) => {
                let t = target.read().unwrap_or_else(|e| e.into_inner()).clone();
                tokio::spawn(connection(stream, client, t.backends, t.external, mode));
            }
            Err(e) => {
                if stop.is_cancelled() {
                    return;
                }
                // EMFILE and friends: back off a little rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Refuses `stream` the way a closed port would: an immediate reset.
fn reset(stream: TcpStream) {
    if let Err(e) = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO)) {
        tracing::debug!(error = %e, "setting SO_LINGER 0");
    }
    drop(stream);
}

async fn connection(
    stream: TcpStream,
    client: SocketAddr,
    backends: Arc<Backends>,
    external: bool,
    mode: Relay,
) {
    let counters = &backends.counters;
    ServiceCounters::inc(&counters.connections);
    let candidates = backends.pick(client.ip(), external);
    if candidates.is_empty() {
        ServiceCounters::inc(&counters.errors);
        tracing::debug!(service = %backends.key.display_name(), %client, "no endpoint: refused");
        reset(stream);
        return;
    }
    let mut upstream = None;
    for endpoint in candidates {
        match tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(endpoint)).await {
            Ok(Ok(s)) => {
                backends.confirm(client.ip(), endpoint);
                upstream = Some((s, endpoint));
                break;
            }
            Ok(Err(e)) => {
                ServiceCounters::inc(&counters.errors);
                tracing::debug!(service = %backends.key.display_name(), %endpoint, error = %e, "dial failed");
            }
            Err(_) => {
                ServiceCounters::inc(&counters.errors);
                tracing::debug!(service = %backends.key.display_name(), %endpoint, "dial timed out");
            }
        }
    }
    let Some((upstream, endpoint)) = upstream else {
        reset(stream);
        return;
    };
    // The accepted side has TCP_NODELAY from its listener (see `bind_tcp`).
    let _ = upstream.set_nodelay(true);
    tracing::trace!(service = %backends.key.display_name(), %client, %endpoint, "relaying");
    match relay(stream, upstream, mode).await {
        Ok(moved) => {
            ServiceCounters::add(&counters.bytes_to_endpoint, moved.to_endpoint);
            ServiceCounters::add(&counters.bytes_to_client, moved.to_client);
        }
        Err(e) => {
            ServiceCounters::inc(&counters.errors);
            tracing::debug!(service = %backends.key.display_name(), %client, %endpoint, error = %e, "relay ended");
        }
    }
}
