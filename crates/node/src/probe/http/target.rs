//! Request targets: the URL a probe requests, and where a `Location` header sends it next.

use super::join_host_port;

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    /// `http` or `https` (anything else is refused when used).
    pub scheme: String,
    /// Host name or IP, IPv6 without brackets.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Path, query and fragment as written, empty or starting with `/` or `?`.
    pub path: String,
}

impl Target {
    /// The URL as Go prints it in errors.
    pub fn url(&self) -> String {
        format!(
            "{}://{}{}",
            self.scheme,
            join_host_port(&self.host, self.port),
            self.path
        )
    }

    /// The request target of the request line: the path and query, `/` when empty.
    pub fn request_target(&self) -> String {
        let without_fragment = self.path.split('#').next().unwrap_or("");
        if without_fragment.is_empty() || without_fragment.starts_with('?') {
            format!("/{without_fragment}")
        } else {
            without_fragment.to_string()
        }
    }
}

/// Resolves a `Location` against the current request; also says whether it was absolute
/// (had a scheme).
pub(super) fn resolve(base: &Target, location: &str) -> Result<(Target, bool), String> {
    if let Some((scheme, rest)) = location.split_once("://") {
        let valid_scheme = !scheme.is_empty()
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if valid_scheme {
            let scheme = scheme.to_ascii_lowercase();
            return Ok((authority_and_path(&scheme, rest)?, true));
        }
    }
    if let Some(rest) = location.strip_prefix("//") {
        return Ok((authority_and_path(&base.scheme, rest)?, false));
    }
    let base_path = base.path.split(['?', '#']).next().unwrap_or("");
    let path = if location.starts_with('/') {
        location.to_string()
    } else if location.is_empty() {
        base.path.split('#').next().unwrap_or("").to_string()
    } else if location.starts_with('?') || location.starts_with('#') {
        format!("{base_path}{location}")
    } else {
        let directory = match base_path.rfind('/') {
            Some(at) => &base_path[..=at],
            None => "/",
        };
        format!("{directory}{location}")
    };
    Ok((
        Target {
            path,
            ..base.clone()
        },
        false,
    ))
}

/// Parses `host[:port]/path?query` after `scheme://`.
fn authority_and_path(scheme: &str, rest: &str) -> Result<Target, String> {
    let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let authority = authority.rsplit('@').next().unwrap_or("");
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("missing ']' in host {authority:?}"))?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let default_port = if scheme == "https" { 443 } else { 80 };
    let port = match port.filter(|p| !p.is_empty()) {
        None => default_port,
        Some(text) => text
            .parse::<u16>()
            .map_err(|_| format!("invalid port {:?} after host", format!(":{text}")))?,
    };
    Ok(Target {
        scheme: scheme.to_string(),
        host: host.to_string(),
        port,
        path: path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_like_urls() {
        let base = Target {
            scheme: "http".into(),
            host: "10.0.0.1".into(),
            port: 8080,
            path: "/a/b?x=1".into(),
        };
        let path = |loc: &str| resolve(&base, loc).unwrap().0.path;
        assert_eq!(path("/c"), "/c");
        assert_eq!(path("c"), "/a/c");
        assert_eq!(path("?y=2"), "/a/b?y=2");
        let (other, absolute) = resolve(&base, "https://[fd00::1]:9443/z").unwrap();
        assert!(absolute);
        assert_eq!(
            (other.scheme.as_str(), other.host.as_str(), other.port),
            ("https", "fd00::1", 9443)
        );
        assert_eq!(other.url(), "https://[fd00::1]:9443/z");
        let (same, absolute) = resolve(&base, "//10.0.0.1/p").unwrap();
        assert!(!absolute);
        assert_eq!((same.port, same.path.as_str()), (80, "/p"));
        assert!(resolve(&base, "http://h:99999/").is_err());
    }
}
