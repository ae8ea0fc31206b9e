//! Portico's ingress controller: what ingress-nginx does in a real cluster.
//!
//! - [`snapshot`]: the pure core. Ingresses, IngressClasses, Services, EndpointSlices and
//!   Secrets in; a [`Snapshot`] out: a [`RouteTable`] (hosts, paths, backends with their ready
//!   endpoints, per-route options from annotations) and the TLS certificates by host name.
//! - [`annotations`]: the `nginx.ingress.kubernetes.io/*` and `portico.dev/*` annotations
//!   this controller honours, parsed into [`RouteOptions`].
//! - [`certs`]: the rustls certificate resolver (SNI), swapped atomically on every change, with
//!   a self-signed default certificate for names no Secret covers.
//! - [`feed`]: kube-rs reflectors that rebuild the snapshot on every change and write
//!   `status.loadBalancer.ingress` of the Ingresses served.
//! - [`server`]: the HTTP and HTTPS listeners and the reverse proxy (HTTP/1.1, HTTP/2 via
//!   ALPN, WebSocket upgrades, retries, cookie affinity, the error answers).

pub mod annotations;
pub mod certs;
pub mod feed;
pub mod server;
pub mod snapshot;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

pub use annotations::{BackendProtocol, CookieAffinity, RouteOptions};
pub use certs::CertResolver;
pub use snapshot::{
    Backend, Inputs, PortRef, RouteMatch, RouteTable, ServiceRef, Snapshot, TlsPair,
};

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Any other I/O failure.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A certificate or key could not be used.
    #[error("TLS: {0}")]
    Tls(String),
    /// The Kubernetes API failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

/// How to run the ingress controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Plain HTTP listener (ingress-nginx: `:80`).
    pub http: SocketAddr,
    /// TLS listener (ingress-nginx: `:443`).
    pub https: SocketAddr,
    /// `GET /healthz` (ingress-nginx: `:10254`).
    pub health: Option<SocketAddr>,
    /// The IngressClass this controller serves (`portico`); Ingresses naming it in
    /// `spec.ingressClassName` or in the `kubernetes.io/ingress.class` annotation are served,
    /// and so are Ingresses without a class when this class is the default one.
    pub class: String,
    /// The controller name IngressClasses carry in `spec.controller`
    /// (`portico.dev/ingress-controller`).
    pub controller: String,
    /// `namespace/name` of the Service whose `status.loadBalancer.ingress` is copied into the
    /// served Ingresses (ingress-nginx's `--publish-service`); `None` writes no status.
    pub publish_service: Option<(String, String)>,
}

impl Default for Config {
    fn default() -> Self {
        let any = |port| SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port));
        Self {
            http: any(80),
            https: any(443),
            health: Some(any(10254)),
            class: "portico".to_string(),
            controller: "portico.dev/ingress-controller".to_string(),
            publish_service: None,
        }
    }
}

/// Runs the controller until `shutdown`: the feed and the server side by side.
pub async fn run(
    client: kube::Client,
    config: Config,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<(), Error> {
    let (tx, rx) = tokio::sync::watch::channel(std::sync::Arc::new(Snapshot::default()));
    let resolver = std::sync::Arc::new(CertResolver::new()?);
    let server = server::Server::bind(&config, rx, resolver.clone()).await?;
    let feed = feed::run(client, config.clone(), tx, resolver, shutdown.clone());
    let serve = server.serve(shutdown.clone());
    let (fed, served) = tokio::join!(feed, serve);
    fed.and(served)
}
