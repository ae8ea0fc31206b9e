//! The worker threads: each runs a single-threaded tokio runtime with its own HTTP and HTTPS
//! listeners (`SO_REUSEPORT`: the kernel spreads new connections over the workers) and its
//! own keep-alive backend connections, and serves every connection it accepts to the end.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, warn};

use super::headers::Origin;
use super::lean::{self, Ended, Idle, Lean};
use super::rewind::Rewind;
use super::{accept_loop, serve_proxied, Shared, GRACE, HEADER_TIMEOUT};

/// Runs one worker until `shutdown` and its connections' grace period are over.
pub(super) fn run(
    shared: &Arc<Shared>,
    http: std::net::TcpListener,
    https: std::net::TcpListener,
    shutdown: &CancellationToken,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            error!(%error, "cannot start an ingress worker runtime");
            return;
        }
    };
    // The worker's own token: its connections wait on it without sharing a lock with the
    // other workers'.
    let shutdown = &shutdown.child_token();
    runtime.block_on(async {
        let (http, https) = match (TcpListener::from_std(http), TcpListener::from_std(https)) {
            (Ok(http), Ok(https)) => (http, https),
            (Err(error), _) | (_, Err(error)) => {
                error!(%error, "cannot register the ingress listeners");
                return;
            }
        };
        let lean = Arc::new(Lean {
            proxy: shared.proxy.clone(),
            idle: Idle::default(),
        });
        let tracker = TaskTracker::new();
        let plain = accept_loop(&http, shutdown, |stream, peer| {
            tracker.spawn(serve_plain(
                stream,
                peer,
                shared.clone(),
                lean.clone(),
                shutdown.clone(),
            ));
        });
        let secure = accept_loop(&https, shutdown, |stream, peer| {
            tracker.spawn(serve_tls(
                stream,
                peer,
                shared.clone(),
                lean.clone(),
                shutdown.clone(),
            ));
        });
        tokio::join!(plain, secure);
        drop((http, https));
        tracker.close();
        if tokio::time::timeout(GRACE, tracker.wait()).await.is_err() {
            warn!(
                connections = tracker.len(),
                "connections still open after the grace period"
            );
        }
    });
}

/// A connection on the plain HTTP listener.
async fn serve_plain(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    lean: Arc<Lean>,
    shutdown: CancellationToken,
) {
    let origin = Origin {
        client: peer.ip(),
        port: shared.http_port,
        tls: false,
    };
    if let Ended::Handoff(read) = lean::serve(&mut stream, &lean, &origin, &shutdown).await {
        let io = Rewind::new(read, stream);
        serve_proxied(io, origin, &shared.hyper, shared.proxy.clone(), &shutdown).await;
    }
}

/// A connection on the HTTPS listener: the handshake, then HTTP/2 (ALPN) through hyper or
/// HTTP/1.1 through the lean path.
async fn serve_tls(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    lean: Arc<Lean>,
    shutdown: CancellationToken,
) {
    let accepted = tokio::time::timeout(HEADER_TIMEOUT, shared.tls.accept(stream)).await;
    let mut stream = match accepted {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => return debug!(%peer, %error, "TLS handshake failed"),
        Err(_) => return debug!(%peer, "TLS handshake timed out"),
    };
    let origin = Origin {
        client: peer.ip(),
        port: shared.https_port,
        tls: true,
    };
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    let read = if h2 {
        Vec::new()
    } else {
        match lean::serve(&mut stream, &lean, &origin, &shutdown).await {
            Ended::Closed => return,
            Ended::Handoff(read) => read,
        }
    };
    let io = Rewind::new(read, stream);
    serve_proxied(io, origin, &shared.hyper, shared.proxy.clone(), &shutdown).await;
}
