//! One request, start to end: route it with the newest snapshot, answer what the proxy answers
//! itself (404, 503, 308, 400), otherwise pick an endpoint (round robin or the affinity
//! cookie), forward with the `X-Forwarded-*` headers, retry another endpoint when a connection
//! cannot be made, and pass protocol upgrades through.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderMap, HeaderValue, CONNECTION, HOST, SET_COOKIE, TRANSFER_ENCODING};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::Either;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;
use tracing::{debug, warn};

use super::affinity;
use super::headers::{self, Origin};
use super::pages::{self, Body};
use super::sniff::SmuggleFlag;
use super::upstream::{UpBody, Upstreams};
use crate::annotations::BackendProtocol;
use crate::snapshot::{Backend, RouteMatch, Snapshot};

/// Tries per request, as ingress-nginx's `proxy-next-upstream-tries` (3), bounded by the
/// number of endpoints.
const MAX_TRIES: usize = 3;
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
        let path = upstream_path(&route, &parts.uri);
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
        let request_id = headers::set_forwarded(&mut head, &conn.origin, authority.as_ref());
        let (mut body, slot) = UpBody::wrap(body);
        let tries = endpoints.len().min(MAX_TRIES);
        let read_timeout = Duration::from_secs(options.read_timeout_secs.max(1));
        let (scheme, version) = match options.backend_protocol {
            BackendProtocol::Http => ("http", Version::HTTP_11),
            BackendProtocol::Https => ("https", Version::HTTP_11),
            BackendProtocol::H2c => ("http", Version::HTTP_2),
        };

        let mut attempt = 0;
        let (endpoint, response) = loop {
            let endpoint = endpoints[(first + attempt) % endpoints.len()];
            let last = attempt + 1 >= tries;
            let Ok(uri) = Uri::try_from(format!("{scheme}://{endpoint}{path}")) else {
                return pages::error(StatusCode::BAD_REQUEST);
            };
            // Keep the head for another try unless this is the last one.
            let this_head = if last {
                std::mem::take(&mut head)
            } else {
                head.clone()
            };
            let mut upstream = Request::new(std::mem::replace(&mut body, UpBody::Empty));
            *upstream.method_mut() = method.clone();
            *upstream.uri_mut() = uri;
            *upstream.version_mut() = version;
            *upstream.headers_mut() = this_head;
            let sent = self.upstreams.send(
                options.backend_protocol,
                options.connect_timeout_secs,
                upstream,
            );
            match tokio::time::timeout(read_timeout, sent).await {
                Ok(Ok(response)) => break (endpoint, response),
                Ok(Err(error)) if error.is_connect() && !last => {
                    // The body is still ours when the connection never came up.
                    match slot.as_ref().map(UpBody::from_slot) {
                        None => body = UpBody::Empty,
                        Some(Some(again)) => body = again,
                        Some(None) => {
                            warn!(%endpoint, %error, "upstream connection failed after the body was sent: 502");
                            return pages::error(StatusCode::BAD_GATEWAY);
                        }
                    }
                    warn!(%endpoint, %error, "upstream connection failed, trying the next endpoint");
                    attempt += 1;
                }
                Ok(Err(error)) => {
                    warn!(%endpoint, error = %error_chain(&error), "upstream failed: 502");
                    return pages::error(StatusCode::BAD_GATEWAY);
                }
                Err(_) => {
                    warn!(%endpoint, timeout = ?read_timeout, "upstream timed out: 504");
                    return pages::error(StatusCode::GATEWAY_TIMEOUT);
                }
            }
        };

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

    fn next(&self, backend: &Backend) -> usize {
        let slot = (std::ptr::from_ref(backend) as usize >> 4) % COUNTERS;
        let n = self.counters[slot].fetch_add(1, Ordering::Relaxed);
        n % backend.endpoints.len().max(1)
    }

    fn https_location(&self, host: &str, uri: &Uri) -> String {
        let pq = uri.path_and_query().map_or("/", |pq| pq.as_str());
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
fn upstream_path(route: &RouteMatch<'_>, uri: &Uri) -> String {
    match route.options.rewrite_target.as_deref() {
        Some(target) => headers::rewrite(target, &route.captures, uri.query()),
        None => uri
            .path_and_query()
            .map_or_else(|| "/".to_string(), |pq| pq.as_str().to_string()),
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

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
