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

/// ingress-nginx's annotation prefix.
pub const NGINX_PREFIX: &str = "nginx.ingress.kubernetes.io/";
/// Our own annotation prefix; wins over [`NGINX_PREFIX`] when both carry a key.
pub const PORTICO_PREFIX: &str = "portico.dev/";

/// The `session-cookie-name` default (ingress-nginx's).
pub const DEFAULT_COOKIE_NAME: &str = "INGRESSCOOKIE";

impl RouteOptions {
    /// Parses an Ingress's annotations; unknown or malformed values keep the defaults.
    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> RouteOptions {
        let get = |key: &str| {
            annotations
                .get(&format!("{PORTICO_PREFIX}{key}"))
                .or_else(|| annotations.get(&format!("{NGINX_PREFIX}{key}")))
                .map(|value| value.trim())
        };
        let defaults = RouteOptions::default();
        let affinity = get("affinity")
            .filter(|value| value.eq_ignore_ascii_case("cookie"))
            .map(|_| CookieAffinity {
                name: get("session-cookie-name")
                    .filter(|name| !name.is_empty())
                    .unwrap_or(DEFAULT_COOKIE_NAME)
                    .to_string(),
                path: get("session-cookie-path")
                    .filter(|path| !path.is_empty())
                    .map(str::to_string),
                max_age: get("session-cookie-max-age").and_then(|age| age.parse().ok()),
                samesite: get("session-cookie-samesite")
                    .filter(|samesite| !samesite.is_empty())
                    .map(str::to_string),
                persistent: get("affinity-mode")
                    .is_some_and(|mode| mode.eq_ignore_ascii_case("persistent")),
            });
        RouteOptions {
            affinity,
            rewrite_target: get("rewrite-target")
                .filter(|target| !target.is_empty())
                .map(str::to_string),
            ssl_redirect: get("ssl-redirect")
                .and_then(parse_bool)
                .unwrap_or(defaults.ssl_redirect),
            force_ssl_redirect: get("force-ssl-redirect")
                .and_then(parse_bool)
                .unwrap_or(defaults.force_ssl_redirect),
            backend_protocol: get("backend-protocol")
                .and_then(BackendProtocol::parse)
                .unwrap_or(defaults.backend_protocol),
            use_regex: get("use-regex")
                .and_then(parse_bool)
                .unwrap_or(defaults.use_regex),
            connect_timeout_secs: get("proxy-connect-timeout")
                .and_then(parse_seconds)
                .unwrap_or(defaults.connect_timeout_secs),
            read_timeout_secs: get("proxy-read-timeout")
                .and_then(parse_seconds)
                .unwrap_or(defaults.read_timeout_secs),
        }
    }

    /// True when this Ingress makes the paths of its hosts regular expressions: `use-regex`,
    /// or `rewrite-target`, which ingress-nginx treats the same way.
    pub fn wants_regex(&self) -> bool {
        self.use_regex || self.rewrite_target.is_some()
    }
}

impl BackendProtocol {
    /// Parses a `backend-protocol` value (case-insensitive); `None` for values not supported.
    pub fn parse(value: &str) -> Option<BackendProtocol> {
        match value.to_ascii_uppercase().as_str() {
            "HTTP" => Some(BackendProtocol::Http),
            "HTTPS" => Some(BackendProtocol::Https),
            "GRPC" | "H2C" => Some(BackendProtocol::H2c),
            _ => None,
        }
    }
}

/// A boolean as Go's `strconv.ParseBool` reads it (which ingress-nginx uses).
fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Whole seconds: ingress-nginx takes a plain integer; a trailing `s` is accepted too.
fn parse_seconds(value: &str) -> Option<u64> {
    value.strip_suffix('s').unwrap_or(value).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> RouteOptions {
        let annotations = pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        RouteOptions::from_annotations(&annotations)
    }

    #[test]
    fn no_annotations_give_ingress_nginx_defaults() {
        let options = options(&[]);
        assert_eq!(options, RouteOptions::default());
        assert!(options.ssl_redirect);
        assert!(!options.force_ssl_redirect);
        assert_eq!(options.connect_timeout_secs, 5);
        assert_eq!(options.read_timeout_secs, 60);
        assert!(!options.wants_regex());
    }

    #[test]
    fn nginx_prefix_is_read() {
        let options = options(&[
            ("nginx.ingress.kubernetes.io/affinity", "cookie"),
            (
                "nginx.ingress.kubernetes.io/session-cookie-max-age",
                "172800",
            ),
            (
                "nginx.ingress.kubernetes.io/session-cookie-samesite",
                "Strict",
            ),
            ("nginx.ingress.kubernetes.io/rewrite-target", "/$2"),
            ("nginx.ingress.kubernetes.io/ssl-redirect", "false"),
            ("nginx.ingress.kubernetes.io/force-ssl-redirect", "true"),
            ("nginx.ingress.kubernetes.io/backend-protocol", "GRPC"),
            ("nginx.ingress.kubernetes.io/proxy-connect-timeout", "2"),
            ("nginx.ingress.kubernetes.io/proxy-read-timeout", "120"),
        ]);
        assert_eq!(
            options.affinity,
            Some(CookieAffinity {
                name: "INGRESSCOOKIE".into(),
                path: None,
                max_age: Some(172800),
                samesite: Some("Strict".into()),
                persistent: false,
            })
        );
        assert_eq!(options.rewrite_target.as_deref(), Some("/$2"));
        assert!(!options.ssl_redirect);
        assert!(options.force_ssl_redirect);
        assert_eq!(options.backend_protocol, BackendProtocol::H2c);
        assert_eq!(options.connect_timeout_secs, 2);
        assert_eq!(options.read_timeout_secs, 120);
        assert!(!options.use_regex, "rewrite-target is not use-regex itself");
        assert!(options.wants_regex(), "but it turns regex paths on");
    }

    #[test]
    fn portico_prefix_wins_over_nginx() {
        let options = options(&[
            ("nginx.ingress.kubernetes.io/affinity", "cookie"),
            ("nginx.ingress.kubernetes.io/session-cookie-name", "NGINX"),
            ("portico.dev/session-cookie-name", "PORTICO"),
            ("portico.dev/session-cookie-path", "/app"),
            ("portico.dev/affinity-mode", "persistent"),
            ("nginx.ingress.kubernetes.io/backend-protocol", "HTTPS"),
            ("portico.dev/backend-protocol", "h2c"),
            ("portico.dev/use-regex", "true"),
            ("nginx.ingress.kubernetes.io/use-regex", "false"),
        ]);
        let affinity = options.affinity.unwrap();
        assert_eq!(affinity.name, "PORTICO");
        assert_eq!(affinity.path.as_deref(), Some("/app"));
        assert!(affinity.persistent);
        assert_eq!(options.backend_protocol, BackendProtocol::H2c);
        assert!(options.use_regex);
    }

    #[test]
    fn malformed_values_keep_defaults() {
        let options = options(&[
            ("nginx.ingress.kubernetes.io/affinity", "ip"),
            ("nginx.ingress.kubernetes.io/ssl-redirect", "maybe"),
            ("nginx.ingress.kubernetes.io/backend-protocol", "FCGI"),
            ("nginx.ingress.kubernetes.io/proxy-read-timeout", "soon"),
            ("nginx.ingress.kubernetes.io/rewrite-target", ""),
        ]);
        assert_eq!(options, RouteOptions::default());
    }

    #[test]
    fn cookie_affinity_defaults() {
        let options = options(&[("portico.dev/affinity", "cookie")]);
        let affinity = options.affinity.unwrap();
        assert_eq!(affinity.name, DEFAULT_COOKIE_NAME);
        assert_eq!(affinity.path, None);
        assert_eq!(affinity.max_age, None);
        assert!(!affinity.persistent);
    }

    #[test]
    fn go_booleans_and_second_suffix() {
        assert_eq!(parse_bool("True"), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("yes"), None);
        assert_eq!(parse_seconds("30s"), Some(30));
        assert_eq!(parse_seconds("30"), Some(30));
        assert_eq!(parse_seconds("-1"), None);
    }
}
