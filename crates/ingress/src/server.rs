//! The HTTP and HTTPS listeners and the reverse proxy.
//!
//! Each accepted connection gets its own task: TLS first on the HTTPS listener (SNI picks the
//! certificate through [`CertResolver`], ALPN offers `h2` and `http/1.1`), then hyper serves
//! HTTP/1.1 or HTTP/2 (prior knowledge too on the plain port) and hands every request to
//! [`proxy::Proxy`]. On shutdown the listeners close, connections finish their requests in
//! flight (at most [`GRACE`]), then [`Server::serve`] returns.

mod affinity;
mod forward;
mod headers;
mod pages;
mod pool;
mod proxy;
mod sniff;
mod upstream;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
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

/// Bound listeners, ready to serve.
pub struct Server {
    http: TcpListener,
    https: TcpListener,
    health: Option<TcpListener>,
    addrs: LocalAddrs,
    proxy: Arc<Proxy>,
    tls: TlsAcceptor,
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
    /// Binds the HTTP, HTTPS and health listeners of `config`.
    pub async fn bind(
        config: &Config,
        snapshots: watch::Receiver<Arc<Snapshot>>,
        certs: Arc<CertResolver>,
    ) -> Result<Server, Error> {
        let http = listen(config.http).await?;
        let https = listen(config.https).await?;
        let health = match config.health {
            Some(addr) => Some(listen(addr).await?),
            None => None,
        };
        let addrs = LocalAddrs {
            http: http.local_addr()?,
            https: https.local_addr()?,
            health: health.as_ref().map(TcpListener::local_addr).transpose()?,
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(certs);
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let proxy = Proxy::new(snapshots, upstream::Upstreams::new()?, addrs.https.port());
        info!(http = %addrs.http, https = %addrs.https, health = ?addrs.health, "ingress listening");
        Ok(Server {
            http,
            https,
            health,
            addrs,
            proxy: Arc::new(proxy),
            tls: TlsAcceptor::from(Arc::new(tls)),
        })
    }

    /// The bound addresses.
    pub fn local_addrs(&self) -> LocalAddrs {
        self.addrs
    }

    /// Serves until `shutdown`, then lets requests in flight finish.
    pub async fn serve(self, shutdown: CancellationToken) -> Result<(), Error> {
        let tracker = TaskTracker::new();
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT);
        builder.http2().timer(TokioTimer::new());
        let builder = Arc::new(builder);
        let https_port = self.addrs.https.port();
        let http_port = self.addrs.http.port();

        let plain = accept_loop(&self.http, &shutdown, |stream, peer| {
            let builder = builder.clone();
            let proxy = self.proxy.clone();
            let shutdown = shutdown.clone();
            tracker.spawn(async move {
                let origin = Origin {
                    client: peer.ip(),
                    port: http_port,
                    tls: false,
                };
                serve_proxied(stream, origin, &builder, proxy, &shutdown).await;
            });
        });
        let secure = accept_loop(&self.https, &shutdown, |stream, peer| {
            let builder = builder.clone();
            let proxy = self.proxy.clone();
            let shutdown = shutdown.clone();
            let acceptor = self.tls.clone();
            tracker.spawn(async move {
                let stream =
                    match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(error)) => return debug!(%peer, %error, "TLS handshake failed"),
                        Err(_) => return debug!(%peer, "TLS handshake timed out"),
                    };
                let origin = Origin {
                    client: peer.ip(),
                    port: https_port,
                    tls: true,
                };
                serve_proxied(stream, origin, &builder, proxy, &shutdown).await;
            });
        });
        let health = async {
            if let Some(listener) = &self.health {
                accept_loop(listener, &shutdown, |stream, _peer| {
                    let shutdown = shutdown.clone();
                    tracker.spawn(serve_health(stream, shutdown));
                })
                .await;
            }
        };
        tokio::join!(plain, secure, health);
        tracker.close();
        if tokio::time::timeout(GRACE, tracker.wait()).await.is_err() {
            warn!(
                connections = tracker.len(),
                "connections still open after the grace period"
            );
        }
        Ok(())
    }
}

async fn listen(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })
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
