//! The `proxy` subresources of pods, services and nodes: any HTTP request to
//! `.../pods/[scheme:]name[:port]/proxy/<path>` (or `services/...`, `nodes/...`) is sent on to
//! the backend at `<path>` and its answer streamed back, as Kubernetes' upgrade-aware proxy
//! handler does:
//!
//! - a bare `.../proxy` asked with `GET` or `HEAD` is redirected (301) to `.../proxy/`;
//! - the request's method, query, headers (but the bearer token and hop-by-hop headers) and
//!   body go through unchanged, plus `X-Forwarded-For` and `X-Forwarded-Uri`;
//! - `https:` backends are reached over TLS without verifying their certificate;
//! - HTML answers and redirects have their absolute links rewritten to go through the proxy
//!   (see [`html`]), CORS headers of the backend are dropped;
//! - upgrades (WebSocket) are spliced once both sides switched protocols.
//!
//! The API server runs in the cluster network namespace, which routes every node's pod
//! range to that node, so pod and endpoint addresses are dialled directly.

mod backend;
mod html;
mod location;

use std::net::SocketAddr;

use http::{header, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use super::{Body, RequestBody};
use crate::error::Error;
use crate::request::ResourceRequest;
use crate::State;

/// The peer of the client connection, put in the request's extensions by the server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub SocketAddr);

/// Largest HTML answer whose links are rewritten (larger ones pass through unchanged).
const MAX_REWRITTEN: usize = 16 << 20;

/// Serves one request to a `proxy` subresource.
pub(super) async fn serve(
    state: &State,
    req: Request<RequestBody>,
    r: &ResourceRequest,
) -> Result<Response<Body>, Error> {
    let id = r.name.clone().unwrap_or_default();
    let raw_path = req.uri().path().to_string();
    let marker = format!("/{}/{}/proxy", r.info.plural, id);
    let Some(at) = raw_path.find(&marker) else {
        return Err(Error::NoRoute);
    };
    let prefix_end = at + marker.len();
    // The proxied path: what follows `/proxy`, with a leading slash (Kubernetes' `path`
    // connect option), cleaned and keeping a trailing slash.
    let sub = &raw_path[prefix_end..];
    let path = join_preserving_trailing_slash(sub);
    let query = req.uri().query().map(str::to_string);
    if path.is_empty() && (req.method() == Method::GET || req.method() == Method::HEAD) {
        let location = match &query {
            Some(q) if !q.is_empty() => format!("{raw_path}/?{q}"),
            _ => format!("{raw_path}/"),
        };
        let mut resp = Response::new(Full::new(bytes::Bytes::new()).boxed());
        *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
        if let Ok(v) = HeaderValue::from_str(&location) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        return Ok(resp);
    }
    let to = match r.info.plural {
        "pods" => location::pod(state, r, &id).await?,
        "services" => location::service(state, r, &id).await?,
        "nodes" => location::node(state, &id).await?,
        _ => return Err(Error::NoRoute),
    };
    // Kubernetes' `PathPrepend`: the request path less the proxied path.
    let mut suffix = path.clone();
    if raw_path.ends_with('/') && !suffix.ends_with('/') {
        suffix.push('/');
    }
    let prepend = raw_path
        .strip_suffix(suffix.as_str())
        .unwrap_or(&raw_path)
        .to_string();
    let mut forwarded_uri = clean_path(&format!("{prepend}/{path}"));
    if path.ends_with('/') && !forwarded_uri.ends_with('/') {
        forwarded_uri.push('/');
    }
    let request_host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let target = match &query {
        Some(q) => format!("{}?{q}", if path.is_empty() { "/" } else { &path }),
        None => {
            if path.is_empty() {
                "/".into()
            } else {
                path.clone()
            }
        }
    };
    let out = outgoing(state, &req, &to, &target, &request_host, &forwarded_uri)?;
    let rewriter = html::Rewriter {
        prefix: prepend,
        backend_host: to.addr.to_string(),
        request_host,
    };
    let resp = backend::send(req, out, &to).await?;
    Ok(answer(resp, &rewriter).await)
}

/// Hop-by-hop headers, which concern one connection only.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
];

fn is_hop_by_hop(name: &HeaderName, listed: &[String]) -> bool {
    HOP_BY_HOP.contains(&name.as_str()) || listed.iter().any(|l| l == name.as_str())
}

/// Names listed in a `Connection` header.
fn connection_listed(headers: &http::HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| s != "upgrade")
        .collect()
}

/// The request to send to the backend (without its body).
fn outgoing(
    state: &State,
    req: &Request<RequestBody>,
    to: &location::Location,
    target: &str,
    request_host: &str,
    forwarded_uri: &str,
) -> Result<Request<()>, Error> {
    let mut out = Request::builder()
        .method(req.method().clone())
        .uri(target)
        .body(())
        .map_err(|e| Error::BadRequest(format!("invalid proxy path: {e}")))?;
    let listed = connection_listed(req.headers());
    let upgrading = req.headers().contains_key(header::UPGRADE);
    for (name, value) in req.headers() {
        if name == header::AUTHORIZATION || name == header::HOST || is_hop_by_hop(name, &listed) {
            continue;
        }
        if name == header::UPGRADE && !upgrading {
            continue;
        }
        out.headers_mut().append(name.clone(), value.clone());
    }
    if upgrading {
        out.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    }
    let host = if request_host.is_empty() {
        to.addr.to_string()
    } else {
        request_host.to_string()
    };
    if let Ok(v) = HeaderValue::from_str(&host) {
        out.headers_mut().insert(header::HOST, v);
    }
    if let Some(Peer(peer)) = req.extensions().get::<Peer>() {
        let forwarded = match req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        {
            Some(prior) => format!("{prior}, {}", peer.ip()),
            None => peer.ip().to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&forwarded) {
            out.headers_mut().insert("x-forwarded-for", v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(forwarded_uri) {
        out.headers_mut().insert("x-forwarded-uri", v);
    }
    if to.node_agent {
        if let Ok(v) = HeaderValue::from_str(&format!("Bearer {}", state.creds.token)) {
            out.headers_mut().insert(header::AUTHORIZATION, v);
        }
    }
    Ok(out)
}

/// The backend's answer as the client gets it.
async fn answer(resp: backend::Answer, rewriter: &html::Rewriter) -> Response<Body> {
    let backend::Answer { mut head, body } = resp;
    let listed = connection_listed(&head.headers);
    let names: Vec<HeaderName> = head.headers.keys().cloned().collect();
    for name in names {
        if (is_hop_by_hop(&name, &listed) && head.status != StatusCode::SWITCHING_PROTOCOLS)
            || name.as_str().starts_with("access-control-allow-")
        {
            head.headers.remove(&name);
        }
    }
    if let Some(location) = head
        .headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    {
        if let Ok(v) = HeaderValue::from_str(&rewriter.url(&location)) {
            head.headers.insert(header::LOCATION, v);
        }
        return Response::from_parts(head, body);
    }
    let is_html = head
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("text/html"));
    let encoded = head
        .headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| !v.is_empty() && v != "identity");
    if !is_html || encoded {
        return Response::from_parts(head, body);
    }
    let collected = match http_body_util::Limited::new(body, MAX_REWRITTEN)
        .collect()
        .await
    {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            tracing::debug!(error = %e, "reading an HTML answer to rewrite failed");
            return Response::from_parts(head, Full::new(bytes::Bytes::new()).boxed());
        }
    };
    let rewritten = match std::str::from_utf8(&collected) {
        Ok(text) => bytes::Bytes::from(rewriter.html(text)),
        Err(_) => collected,
    };
    head.headers.remove(header::CONTENT_LENGTH);
    if let Ok(v) = HeaderValue::from_str(&rewritten.len().to_string()) {
        head.headers.insert(header::CONTENT_LENGTH, v);
    }
    Response::from_parts(head, Full::new(rewritten).boxed())
}

/// Go's `path.Clean` (on a path that may be empty: then it stays empty).
pub(crate) fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return String::new();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Kubernetes' `JoinPreservingTrailingSlash("", sub)`: the cleaned path, empty for an empty
/// one, with the trailing slash kept.
fn join_preserving_trailing_slash(sub: &str) -> String {
    if sub.is_empty() {
        return String::new();
    }
    let mut out = clean_path(sub);
    if sub.ends_with('/') && !out.ends_with('/') {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_like_go() {
        assert_eq!(clean_path("/a//b/./c/../d/"), "/a/b/d");
        assert_eq!(clean_path("/.."), "/");
        assert_eq!(clean_path("a/../.."), "..");
        assert_eq!(join_preserving_trailing_slash(""), "");
        assert_eq!(join_preserving_trailing_slash("/"), "/");
        assert_eq!(
            join_preserving_trailing_slash("/some//path/"),
            "/some/path/"
        );
    }
}
