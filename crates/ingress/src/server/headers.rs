//! Request and response header work: the request's host, hop-by-hop headers, the
//! `X-Forwarded-*` family ingress-nginx sets, request ids, and rewrite-target.

use std::borrow::Cow;
use std::net::IpAddr;

use http::header::{
    HeaderMap, HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, HOST, TE, TRAILER,
    TRANSFER_ENCODING, UPGRADE,
};
use http::Uri;

/// `X-Forwarded-For`.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `X-Forwarded-Proto`.
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `X-Forwarded-Host`.
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
/// `X-Forwarded-Port`.
pub const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
/// `X-Forwarded-Scheme` (ingress-nginx sets it along with `-Proto`).
pub const X_FORWARDED_SCHEME: HeaderName = HeaderName::from_static("x-forwarded-scheme");
/// `X-Scheme`.
pub const X_SCHEME: HeaderName = HeaderName::from_static("x-scheme");
/// `X-Real-IP`.
pub const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
/// `X-Request-ID`.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// `X-Original-URI`: the request target before rewrite-target.
pub const X_ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// The request's authority (`:authority`, or `Host`), port included, as sent.
pub fn authority(uri: &Uri, headers: &HeaderMap) -> Option<HeaderValue> {
    match uri.authority() {
        Some(authority) => HeaderValue::from_str(authority.as_str()).ok(),
        None => headers.get(HOST).cloned(),
    }
}

/// The host part of an authority, without port, lower-cased (`[::1]:80` gives `[::1]`).
pub fn host_of(authority: &str) -> Option<Cow<'_, str>> {
    let host = if authority.starts_with('[') {
        let end = authority.find(']')?;
        &authority[..=end]
    } else {
        match authority.rsplit_once(':') {
            Some((host, _port)) => host,
            None => authority,
        }
    };
    // Userinfo is not allowed in requests; refuse to guess.
    if host.is_empty() || host.contains('@') {
        return None;
    }
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Some(Cow::Owned(host.to_ascii_lowercase()))
    } else {
        Some(Cow::Borrowed(host))
    }
}

/// True when the request asks to switch protocols (`Connection: upgrade` and `Upgrade`).
pub fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(UPGRADE)
        && headers
            .get_all(CONNECTION)
            .iter()
            .any(|v| tokens(v).any(|t| t.eq_ignore_ascii_case("upgrade")))
}

fn tokens(value: &HeaderValue) -> impl Iterator<Item = &str> {
    value
        .to_str()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Removes hop-by-hop headers: `Connection` and those it names, `Keep-Alive`,
/// `Proxy-Connection`, `Transfer-Encoding`, `Trailer`, `TE` (except `TE: trailers`, which gRPC
/// needs end to end), and `Upgrade` unless `keep_upgrade` (a protocol switch passed through,
/// which then keeps `Connection: upgrade` too).
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    if headers.contains_key(CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(CONNECTION)
            .iter()
            .flat_map(tokens)
            .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
            .collect();
        for name in named {
            if !(keep_upgrade && name == UPGRADE) {
                headers.remove(&name);
            }
        }
        headers.remove(CONNECTION);
    }
    for name in [KEEP_ALIVE, PROXY_CONNECTION, TRANSFER_ENCODING, TRAILER] {
        headers.remove(name);
    }
    if let Some(te) = headers.get(TE) {
        if !te.as_bytes().eq_ignore_ascii_case(b"trailers") {
            headers.remove(TE);
        }
    }
    if keep_upgrade {
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(UPGRADE);
    }
}

/// True for a request hyper would frame by one length and a peer by another: several
/// `Content-Length` values that differ, or `Content-Length` alongside `Transfer-Encoding`.
pub fn ambiguous_length(headers: &HeaderMap) -> bool {
    let mut lengths = headers.get_all(CONTENT_LENGTH).iter();
    if let Some(first) = lengths.next() {
        if headers.contains_key(TRANSFER_ENCODING) || lengths.any(|v| v != first) {
            return true;
        }
    }
    false
}

/// Where a request came from and how, for the forwarded headers.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    /// The client's address.
    pub client: IpAddr,
    /// The port the request arrived on.
    pub port: u16,
    /// True on the TLS listener.
    pub tls: bool,
}

/// The forwarded header values of one connection, made once for all its requests.
#[derive(Debug, Clone)]
pub struct Forwarded {
    /// The client's address as text.
    ip: HeaderValue,
    /// The port the connection came in on.
    port: HeaderValue,
    /// `http` or `https`.
    scheme: HeaderValue,
}

impl Forwarded {
    /// The values for connections from `origin`.
    pub fn new(origin: &Origin) -> Forwarded {
        let ip = HeaderValue::try_from(origin.client.to_string())
            .unwrap_or(HeaderValue::from_static("0.0.0.0"));
        Forwarded {
            ip,
            port: HeaderValue::from(origin.port),
            scheme: HeaderValue::from_static(if origin.tls { "https" } else { "http" }),
        }
    }
}

impl Forwarded {
    /// The client's address as text.
    pub fn ip(&self) -> &[u8] {
        self.ip.as_bytes()
    }

    /// The port the connection came in on, as text.
    pub fn port(&self) -> &[u8] {
        self.port.as_bytes()
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &[u8] {
        self.scheme.as_bytes()
    }
}

/// Sets `X-Forwarded-*`, `X-Real-IP`, `X-Scheme` and `X-Request-ID` (keeping the client's id);
/// returns the request id. `authority` is the request's host and port as the client sent them.
pub fn set_forwarded(
    headers: &mut HeaderMap,
    origin: &Forwarded,
    authority: Option<&HeaderValue>,
) -> HeaderValue {
    headers.reserve(9);
    let forwarded_for = match headers.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(previous) if !previous.trim().is_empty() => {
            let mut joined = Vec::with_capacity(previous.len() + 2 + origin.ip.len());
            joined.extend_from_slice(previous.as_bytes());
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(origin.ip.as_bytes());
            HeaderValue::from_bytes(&joined).ok()
        }
        _ => Some(origin.ip.clone()),
    };
    if let Some(value) = forwarded_for {
        headers.insert(X_FORWARDED_FOR, value);
    }
    headers.insert(X_REAL_IP, origin.ip.clone());
    headers.insert(X_FORWARDED_PROTO, origin.scheme.clone());
    headers.insert(X_FORWARDED_SCHEME, origin.scheme.clone());
    headers.insert(X_SCHEME, origin.scheme.clone());
    headers.insert(X_FORWARDED_PORT, origin.port.clone());
    match authority {
        Some(value) => {
            headers.insert(X_FORWARDED_HOST, value.clone());
        }
        None => {
            headers.remove(X_FORWARDED_HOST);
        }
    }
    match headers.get(X_REQUEST_ID) {
        Some(id) if !id.is_empty() => id.clone(),
        _ => {
            let id = request_id();
            headers.insert(X_REQUEST_ID, id.clone());
            id
        }
    }
}

/// A random 32-hex-digit request id, as nginx's `$request_id`.
pub fn request_id() -> HeaderValue {
    let id: u128 = rand::random();
    let mut text = [0u8; 32];
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in text.iter_mut().enumerate() {
        *byte = HEX[((id >> (4 * (31 - i))) & 0xf) as usize];
    }
    HeaderValue::from_bytes(&text).unwrap_or(HeaderValue::from_static("0"))
}

/// The path (and query) sent upstream under `rewrite-target`, as ingress-nginx (0.22 and
/// later) does: the whole path becomes `target` with `$1`, `$2`.. replaced by the rule's
/// captures (missing groups are empty); the request's query is appended (after `&` when the
/// target has its own).
pub fn rewrite(target: &str, captures: &[String], query: Option<&str>) -> String {
    let mut path = String::with_capacity(target.len() + 32);
    let mut chars = target.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c == '$' {
            if let Some(&(_, d)) = chars.peek() {
                if let Some(n) = d.to_digit(10) {
                    chars.next();
                    if n > 0 {
                        if let Some(group) = captures.get(n as usize - 1) {
                            path.push_str(group);
                        }
                    }
                    continue;
                }
            }
        }
        path.push(c);
    }
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        path.push(if path.contains('?') { '&' } else { '?' });
        path.push_str(query);
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_without_port_lower_cased() {
        assert_eq!(
            host_of("Kubia.Example.COM:8080").unwrap(),
            "kubia.example.com"
        );
        assert_eq!(host_of("a.example").unwrap(), "a.example");
        assert_eq!(host_of("[::1]:8443").unwrap(), "[::1]");
        assert!(host_of(":80").is_none());
        assert!(host_of("user@h").is_none());
    }

    #[test]
    fn hop_by_hop_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(TE, HeaderValue::from_static("gzip"));
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h, false);
        let names: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["x-kept"]);

        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(TE, HeaderValue::from_static("trailers"));
        assert!(wants_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h[UPGRADE], "websocket");
        assert_eq!(h[CONNECTION], "upgrade");
        assert_eq!(h[TE], "trailers");
    }

    #[test]
    fn ambiguous_lengths_are_found() {
        let mut h = HeaderMap::new();
        h.append(CONTENT_LENGTH, HeaderValue::from_static("5"));
        assert!(!ambiguous_length(&h));
        h.append(CONTENT_LENGTH, HeaderValue::from_static("5"));
        assert!(!ambiguous_length(&h));
        h.append(CONTENT_LENGTH, HeaderValue::from_static("6"));
        assert!(ambiguous_length(&h));
        let mut h = HeaderMap::new();
        h.append(CONTENT_LENGTH, HeaderValue::from_static("5"));
        h.append(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        assert!(ambiguous_length(&h));
    }

    #[test]
    fn forwarded_headers_append_and_keep_request_id() {
        let mut h = HeaderMap::new();
        h.insert(X_FORWARDED_FOR, HeaderValue::from_static("10.0.0.1"));
        h.insert(X_REQUEST_ID, HeaderValue::from_static("abc"));
        let origin = Origin {
            client: "127.0.0.9".parse().unwrap(),
            port: 8443,
            tls: true,
        };
        let id = set_forwarded(
            &mut h,
            &Forwarded::new(&origin),
            Some(&HeaderValue::from_static("a.example:8443")),
        );
        assert_eq!(id, "abc");
        assert_eq!(h[X_FORWARDED_FOR], "10.0.0.1, 127.0.0.9");
        assert_eq!(h[X_REAL_IP], "127.0.0.9");
        assert_eq!(h[X_FORWARDED_PROTO], "https");
        assert_eq!(h[X_FORWARDED_PORT], "8443");
        assert_eq!(h[X_FORWARDED_HOST], "a.example:8443");

        let mut h = HeaderMap::new();
        let origin = Origin {
            client: "::1".parse().unwrap(),
            port: 80,
            tls: false,
        };
        let id = set_forwarded(&mut h, &Forwarded::new(&origin), None);
        assert_eq!(id.len(), 32);
        assert!(id.to_str().unwrap().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(id, request_id());
        assert_eq!(h[X_FORWARDED_FOR], "::1");
        assert_eq!(h[X_FORWARDED_PROTO], "http");
    }

    #[test]
    fn rewrite_target_replaces_the_path() {
        let caps = vec!["/".to_string(), "new/x".to_string()];
        assert_eq!(rewrite("/$2", &caps, Some("q=1")), "/new/x?q=1");
        assert_eq!(rewrite("/", &[], None), "/");
        assert_eq!(rewrite("/app/$1", &[], Some("")), "/app/");
        assert_eq!(rewrite("/a?b=1", &[], Some("c=2")), "/a?b=1&c=2");
        assert_eq!(rewrite("$1", &["x".to_string()], None), "/x");
        assert_eq!(rewrite("/cost$", &[], None), "/cost$");
    }
}
