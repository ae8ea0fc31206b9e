//! One request, start to end: route it with the newest snapshot, answer what the proxy answers
//! itself (404, 503, 308, 400), otherwise pick an endpoint (round robin or the affinity
//! cookie), forward with the `X-Forwarded-*` headers, retry another endpoint when a connection
//! cannot be made, and pass protocol upgrades through.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderMap, HeaderValue, CONNECTION, HOST, SET_COOKIE, TRANSFER_ENCODING};
use http::uri::PathAndQuery;
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::Either;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;
use tracing::{debug, warn};

use super::affinity;
use super::forward::{self, Attempts};
use super::headers::{self, Forwarded, Origin};
use super::pages::{self, Body};
use super::sniff::SmuggleFlag;
use super::upstream::{UpBody, Upstreams};
use crate::annotations::BackendProtocol;
use crate::snapshot::{Backend, RouteMatch, Snapshot};

/// Tries per request, as ingress-nginx's `proxy-next-upstream-tries` (3), bounded by the
/// number of endpoints.
pub const MAX_TRIES: usize = 3;
const COUNTERS: usize = 256;

/// What every request handler shares.
pub struct Proxy {
    snapshots: watch::Receiver<Arc<Snapshot>>,
    upstreams: Upstreams,
    /// Round-robin positions, one per backend (by address of the backend in its snapshot,
    /// modulo the table size; two backends sharing a slot still alternate fairly).
    counters: Box<[AtomicUsize]>,
    /// The HTTPS listener's port, for redirects (left out when 443).
    https_port: u16,
}

/// What a connection's requests share: where it came from and its smuggling watch.
pub struct Connection {
    /// Client address, local port, TLS or not.
    pub origin: Origin,
    /// The forwarded header values for `origin`.
    pub forwarded: Forwarded,
    /// Raised when a request head carried both `Content-Length` and `Transfer-Encoding`.
    pub smuggle: Option<SmuggleFlag>,
}

impl Proxy {
    /// A proxy answering from `snapshots`.
    pub fn new(
        snapshots: watch::Receiver<Arc<Snapshot>>,
        upstreams: Upstreams,
        https_port: u16,
    ) -> Proxy {
        Proxy {
            snapshots,
            upstreams,
            counters: (0..COUNTERS).map(|_| AtomicUsize::new(0)).collect(),
            https_port,
        }
    }

    /// Answers one request.
    pub async fn handle(
        &self,
        conn: &Connection,
        mut request: Request<Incoming>,
    ) -> Response<Body> {
        if request.version() <= Version::HTTP_11 && smuggling(conn, request.headers()) {
            warn!(client = %conn.origin.client, "refused a request with both Content-Length and Transfer-Encoding");
            let mut response = pages::error(StatusCode::BAD_REQUEST);
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            return response;
        }
        let wants_upgrade = headers::wants_upgrade(request.headers());
        let client_upgrade = wants_upgrade.then(|| hyper::upgrade::on(&mut request));
        let (parts, body) = request.into_parts();
        let authority = headers::authority(&parts.uri, &parts.headers);
        let host = authority
            .as_ref()
            .and_then(|a| a.to_str().ok())
            .and_then(headers::host_of);
        let snapshot = self.snapshots.borrow().clone();
        let Some(route) = snapshot.routes.route(host.as_deref(), parts.uri.path()) else {
            debug!(method = %parts.method, host = ?host, path = parts.uri.path(), "no rule: 404");
            return pages::error(StatusCode::NOT_FOUND);
        };
        let options = route.options;
        if !conn.origin.tls
            && (options.force_ssl_redirect || (route.tls_host && options.ssl_redirect))
        {
            if let Some(host) = host.as_deref() {
                let location = self.https_location(host, &parts.uri);
                debug!(%location, "HTTPS redirect");
                return pages::redirect(&location);
            }
        }
        let backend = route.backend;
        if backend.endpoints.is_empty() {
            if backend.service_found {
                warn!(ingress = route.ingress, service = %backend.service.name, "no ready endpoints: 503");
            } else {
                warn!(ingress = route.ingress, service = %backend.service.name, "service or port not found: 503");
            }
            return pages::error(StatusCode::SERVICE_UNAVAILABLE);
        }

        // The endpoint: the one the affinity cookie names, else the next in turn.
        let endpoints = &backend.endpoints;
        let pinned = options.affinity.as_ref().and_then(|a| {
            affinity::requested(&parts.headers, &a.name)
                .and_then(|v| affinity::pinned(endpoints, v))
        });
        let first = pinned.unwrap_or_else(|| self.next(backend));

        // The request as the backend sees it.
        let upgrade = wants_upgrade && options.backend_protocol != BackendProtocol::H2c;
        let Some(path) = upstream_path(&route, &parts.uri) else {
            return pages::error(StatusCode::BAD_REQUEST);
        };
        let method = parts.method;
        let mut head = parts.headers;
        if options.rewrite_target.is_some() {
            if let Some(original) = parts.uri.path_and_query() {
                if let Ok(value) = HeaderValue::from_str(original.as_str()) {
                    head.insert(headers::X_ORIGINAL_URI, value);
                }
            }
        }
        if !head.contains_key(HOST) {
            if let Some(value) = authority.clone() {
                head.insert(HOST, value);
            }
        }
        headers::strip_hop_by_hop(&mut head, upgrade);
        let request_id = headers::set_forwarded(&mut head, &conn.forwarded, authority.as_ref());
        let (body, slot) = UpBody::wrap(body);
        let mut upstream = Request::new(body);
        *upstream.method_mut() = method.clone();
        *upstream.uri_mut() = Uri::from(path.clone());
        *upstream.headers_mut() = head;
        let attempts = Attempts {
            endpoints,
            first,
            tries: endpoints.len().min(MAX_TRIES),
            connect_timeout: options.connect_timeout_secs,
            read_timeout: Duration::from_secs(options.read_timeout_secs.max(1)),
        };
        let forwarded = match options.backend_protocol {
            BackendProtocol::Http => forward::plain(&self.upstreams, &attempts, upstream).await,
            protocol => {
                forward::pooled_client(&self.upstreams, protocol, &attempts, upstream, slot).await
            }
        };
        let (attempt, response) = match forwarded {
            Ok(forwarded) => forwarded,
            Err(status) => return pages::error(status),
        };
        let endpoint = endpoints[(first + attempt) % endpoints.len()];

        let mut response = response;
        let switching = response.status() == StatusCode::SWITCHING_PROTOCOLS;
        headers::strip_hop_by_hop(response.headers_mut(), switching && upgrade);
        if let Some(affinity) = &options.affinity {
            if pinned != Some((first + attempt) % endpoints.len()) {
                if let Some(cookie) = affinity::set_cookie(affinity, route.path, endpoint) {
                    response.headers_mut().append(SET_COOKIE, cookie);
                }
            }
        }
        debug!(method = %method, host = ?host, path = %path, %endpoint, status = response.status().as_u16(), request_id = ?request_id, "proxied");
        if switching {
            match client_upgrade {
                Some(client) => tunnel(client, hyper::upgrade::on(&mut response), endpoint),
                None => {
                    warn!(%endpoint, "backend switched protocols unasked: 502");
                    return pages::error(StatusCode::BAD_GATEWAY);
                }
            }
        }
        response.map(Either::Left)
    }

    /// The newest snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshots.borrow().clone()
    }

    /// The index of the endpoint of `backend` whose turn it is.
    pub fn next(&self, backend: &Backend) -> usize {
        let slot = (std::ptr::from_ref(backend) as usize >> 4) % COUNTERS;
        let n = self.counters[slot].fetch_add(1, Ordering::Relaxed);
        n % backend.endpoints.len().max(1)
    }

    fn https_location(&self, host: &str, uri: &Uri) -> String {
        self.redirect_to(host, uri.path_and_query().map_or("/", |pq| pq.as_str()))
    }

    /// Where the HTTPS redirect of a request for `host` and `pq` (path and query) points.
    pub fn redirect_to(&self, host: &str, pq: &str) -> String {
        if self.https_port == 443 {
            format!("https://{host}{pq}")
        } else {
            format!("https://{host}:{}{pq}", self.https_port)
        }
    }
}

fn smuggling(conn: &Connection, head: &HeaderMap) -> bool {
    headers::ambiguous_length(head)
        || (head.contains_key(TRANSFER_ENCODING)
            && conn
                .smuggle
                .as_ref()
                .is_some_and(|f| f.load(Ordering::Relaxed)))
}

/// The path and query sent upstream: rewritten under `rewrite-target`, else as received.
fn upstream_path(route: &RouteMatch<'_>, uri: &Uri) -> Option<PathAndQuery> {
    match route.options.rewrite_target.as_deref() {
        Some(target) => {
            PathAndQuery::try_from(headers::rewrite(target, &route.captures, uri.query())).ok()
        }
        None => Some(
            uri.path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
        ),
    }
}

/// Joins the client's and the backend's upgraded connections and copies both ways.
fn tunnel(
    client: hyper::upgrade::OnUpgrade,
    backend: hyper::upgrade::OnUpgrade,
    endpoint: SocketAddr,
) {
    tokio::spawn(async move {
        let (client, backend) = match tokio::try_join!(client, backend) {
            Ok(both) => both,
            Err(error) => {
                warn!(%endpoint, %error, "protocol upgrade failed");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut backend = TokioIo::new(backend);
        match tokio::io::copy_bidirectional(&mut client, &mut backend).await {
            Ok((up, down)) => debug!(%endpoint, up, down, "upgraded connection closed"),
            Err(error) => debug!(%endpoint, %error, "upgraded connection ended"),
        }
    });
}
