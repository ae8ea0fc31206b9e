//! The HTTP and HTTPS listeners and the reverse proxy.
//!
//! One worker thread per CPU the process may run on, each with a single-threaded tokio
//! runtime and its own `SO_REUSEPORT` listeners ([`workers`]), so that a client connection,
//! its TLS session and its backend connections live on one thread with no cross-thread
//! wakeups; the routing snapshot and the certificates are shared. Plain HTTP/1.1 (and
//! HTTP/1.1 over TLS) goes through the [`lean`] path; HTTP/2 (ALPN or prior knowledge),
//! protocol upgrades and HTTPS or HTTP/2 backends go through hyper and [`proxy::Proxy`]. On
//! shutdown the listeners close, connections finish their requests in flight (at most
//! [`GRACE`]), then [`Server::serve`] returns.

mod affinity;
mod forward;
mod headers;
mod lean;
mod pages;
mod pool;
mod proxy;
mod rewind;
mod sniff;
mod upstream;
mod workers;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::{CertResolver, Config, Error, Snapshot};
use headers::Origin;
use proxy::{Connection, Proxy};

/// How long a client may take to send a request head (and a TLS handshake).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long requests in flight may take to finish after shutdown.
pub const GRACE: Duration = Duration::from_secs(10);
/// The listen backlog of each listener.
const BACKLOG: i32 = 1024;

/// Bound listeners, ready to serve.
pub struct Server {
    /// One HTTP and one HTTPS listener per worker, all on the same two ports.
    listeners: Vec<(std::net::TcpListener, std::net::TcpListener)>,
    health: Option<TcpListener>,
    addrs: LocalAddrs,
    shared: Arc<Shared>,
}

/// What every worker shares.
struct Shared {
    proxy: Arc<Proxy>,
    tls: TlsAcceptor,
    hyper: auto::Builder<TokioExecutor>,
    http_port: u16,
    https_port: u16,
}

/// The addresses the listeners are bound to (the actual ports when the config asked for 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalAddrs {
    /// Plain HTTP.
    pub http: SocketAddr,
    /// HTTPS.
    pub https: SocketAddr,
    /// `GET /healthz`, when configured.
    pub health: Option<SocketAddr>,
}

impl Server {
    /// Binds the HTTP, HTTPS and health listeners of `config` (the first two once per
    /// worker, one worker per CPU this process may run on).
    pub async fn bind(
        config: &Config,
        snapshots: watch::Receiver<Arc<Snapshot>>,
        certs: Arc<CertResolver>,
    ) -> Result<Server, Error> {
        let workers = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        let mut listeners = vec![(listen(config.http)?, listen(config.https)?)];
        let http = listeners[0].0.local_addr()?;
        let https = listeners[0].1.local_addr()?;
        for _ in 1..workers {
            listeners.push((listen(http)?, listen(https)?));
        }
        let health = match config.health {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| Error::Bind { addr, source })?,
            ),
            None => None,
        };
        let addrs = LocalAddrs {
            http,
            https,
            health: health.as_ref().map(TcpListener::local_addr).transpose()?,
        };
        let mut tls =
            rustls::ServerConfig::builder_with_provider(Arc::new(crate::certs::provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| Error::Tls(e.to_string()))?
                .with_no_client_auth()
                .with_cert_resolver(certs);
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        // Our suite order decides (see `certs::provider`), as `ssl_prefer_server_ciphers on`.
        tls.ignore_client_order = true;
        // Stateless session tickets (as nginx's default `ssl_session_tickets on`): a client
        // coming back resumes without a signature, whatever the number of clients.
        tls.ticketer =
            rustls::crypto::aws_lc_rs::Ticketer::new().map_err(|e| Error::Tls(e.to_string()))?;
        // One ticket per handshake (TLS 1.3 tickets are single-use, so a client coming back
        // always holds a fresh one), as OpenSSL sends on resumption; two would double the
        // ticket work of every resumed handshake on both ends.
        tls.send_tls13_tickets = 1;
        let proxy = Proxy::new(snapshots, upstream::Upstreams::new()?, addrs.https.port());
        let mut hyper = auto::Builder::new(TokioExecutor::new());
        hyper
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT);
        hyper.http2().timer(TokioTimer::new());
        info!(http = %addrs.http, https = %addrs.https, health = ?addrs.health, workers, "ingress listening");
        Ok(Server {
            listeners,
            health,
            addrs,
            shared: Arc::new(Shared {
                proxy: Arc::new(proxy),
                tls: TlsAcceptor::from(Arc::new(tls)),
                hyper,
                http_port: addrs.http.port(),
                https_port: addrs.https.port(),
            }),
        })
    }

    /// The bound addresses.
    pub fn local_addrs(&self) -> LocalAddrs {
        self.addrs
    }

    /// Serves until `shutdown`, then lets requests in flight finish.
    pub async fn serve(self, shutdown: CancellationToken) -> Result<(), Error> {
        let mut finished = Vec::with_capacity(self.listeners.len());
        for (i, (http, https)) in self.listeners.into_iter().enumerate() {
            let (done, finish) = oneshot::channel::<()>();
            let shared = self.shared.clone();
            let stop = shutdown.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("ingress-{i}"))
                .spawn(move || {
                    workers::run(&shared, http, https, &stop);
                    drop(done);
                });
            if let Err(error) = spawned {
                shutdown.cancel();
                return Err(Error::Io(error));
            }
            finished.push(finish);
        }
        let tracker = TaskTracker::new();
        let health = async {
            if let Some(listener) = &self.health {
                accept_loop(listener, &shutdown, |stream, _peer| {
                    let shutdown = shutdown.clone();
                    tracker.spawn(serve_health(stream, shutdown));
                })
                .await;
            }
        };
        let workers = async {
            for finish in finished {
                let _ = finish.await;
            }
        };
        tokio::join!(health, workers);
        tracker.close();
        if tokio::time::timeout(GRACE, tracker.wait()).await.is_err() {
            warn!(
                connections = tracker.len(),
                "health connections still open after the grace period"
            );
        }
        Ok(())
    }
}

/// A non-blocking listener on `addr` with `SO_REUSEPORT`, so that every worker has its own.
fn listen(addr: SocketAddr) -> Result<std::net::TcpListener, Error> {
    let bind = || -> std::io::Result<std::net::TcpListener> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(BACKLOG)?;
        Ok(socket.into())
    };
    bind().map_err(|source| Error::Bind { addr, source })
}

/// Accepts until `shutdown`, handing each connection (with `TCP_NODELAY` set) to `spawn`.
async fn accept_loop(
    listener: &TcpListener,
    shutdown: &CancellationToken,
    mut spawn: impl FnMut(TcpStream, SocketAddr),
) {
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                if let Err(error) = stream.set_nodelay(true) {
                    debug!(%peer, %error, "cannot set TCP_NODELAY");
                }
                spawn(stream, peer);
            }
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Serves one client connection through the proxy until it closes or `shutdown`.
async fn serve_proxied<I>(
    io: I,
    origin: Origin,
    builder: &auto::Builder<TokioExecutor>,
    proxy: Arc<Proxy>,
    shutdown: &CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (io, smuggle) = sniff::Sniffed::new(io);
    let conn = Arc::new(Connection {
        origin,
        forwarded: headers::Forwarded::new(&origin),
        smuggle: Some(smuggle),
    });
    let service = service_fn(move |request: Request<Incoming>| {
        let proxy = proxy.clone();
        let conn = conn.clone();
        async move { Ok::<_, Infallible>(proxy.handle(&conn, request).await) }
    });
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(connection);
    let served = tokio::select! {
        served = connection.as_mut() => served,
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = served {
        debug!(client = %origin.client, %error, "connection ended with an error");
    }
}

/// The health listener: `GET /healthz` answers `ok`, anything else 404.
async fn serve_health(stream: TcpStream, shutdown: CancellationToken) {
    let service = service_fn(|request: Request<Incoming>| async move {
        let response = if request.method() == Method::GET && request.uri().path() == "/healthz" {
            pages::ok()
        } else {
            pages::error(StatusCode::NOT_FOUND)
        };
        Ok::<_, Infallible>(response)
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let served = tokio::select! {
        served = connection.as_mut() => served,
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = served {
        debug!(%error, "health connection ended with an error");
    }
}
