//! Host names: normalisation, `*.` wildcards covering exactly one DNS label (as Kubernetes
//! documents for `spec.rules[].host` and `spec.tls[].hosts`), and sets of them.

use std::borrow::Cow;
use std::collections::BTreeSet;

/// Lower case, without a trailing dot (`Foo.Example.COM.` is `foo.example.com`).
pub(crate) fn normalize(host: &str) -> Cow<'_, str> {
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.bytes().any(|byte| byte.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

/// The part a wildcard covering `host` names after `*.`: `a.example.com` is covered by
/// `*.example.com`, so `example.com`; `None` for a single label.
pub(crate) fn wildcard_suffix(host: &str) -> Option<&str> {
    let (label, rest) = host.split_once('.')?;
    (!label.is_empty() && !rest.is_empty()).then_some(rest)
}

/// A host pattern from an Ingress: an exact name or a `*.` wildcard.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum HostPattern {
    /// `foo.example.com`.
    Exact(String),
    /// `*.example.com`, holding `example.com`.
    Wildcard(String),
}

impl HostPattern {
    /// Parses a host as written in an Ingress; `None` for an empty one (any host).
    pub(crate) fn parse(host: &str) -> Option<HostPattern> {
        let host = normalize(host.trim());
        if host.is_empty() {
            return None;
        }
        Some(match host.strip_prefix("*.") {
            Some(suffix) => HostPattern::Wildcard(suffix.to_string()),
            None => HostPattern::Exact(host.into_owned()),
        })
    }
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostPattern::Exact(host) => f.write_str(host),
            HostPattern::Wildcard(suffix) => write!(f, "*.{suffix}"),
        }
    }
}

/// A set of host patterns, asked whether a (normalised) host name is covered.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct HostSet {
    exact: BTreeSet<String>,
    wildcard: BTreeSet<String>,
}

impl HostSet {
    /// Adds a pattern.
    pub(crate) fn insert(&mut self, pattern: HostPattern) {
        match pattern {
            HostPattern::Exact(host) => self.exact.insert(host),
            HostPattern::Wildcard(suffix) => self.wildcard.insert(suffix),
        };
    }

    /// True when `host` is one of the exact names or under one of the wildcards.
    pub(crate) fn contains(&self, host: &str) -> bool {
        self.exact.contains(host)
            || wildcard_suffix(host).is_some_and(|suffix| self.wildcard.contains(suffix))
    }

    /// The patterns, exact names first.
    pub(crate) fn patterns(&self) -> impl Iterator<Item = HostPattern> + '_ {
        self.exact
            .iter()
            .cloned()
            .map(HostPattern::Exact)
            .chain(self.wildcard.iter().cloned().map(HostPattern::Wildcard))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_lowers_and_drops_the_root_dot() {
        assert_eq!(normalize("Foo.Example.COM."), "foo.example.com");
        assert!(matches!(normalize("foo.example.com"), Cow::Borrowed(_)));
    }

    #[test]
    fn wildcard_covers_exactly_one_label() {
        let mut set = HostSet::default();
        set.insert(HostPattern::parse("*.Example.com").unwrap());
        assert!(set.contains("a.example.com"));
        assert!(
            !set.contains("example.com"),
            "the bare domain is not covered"
        );
        assert!(
            !set.contains("a.b.example.com"),
            "two labels are not covered"
        );
        assert!(!set.contains(".example.com"));
    }

    #[test]
    fn exact_hosts_and_empty_host() {
        let mut set = HostSet::default();
        set.insert(HostPattern::parse("foo.bar.com").unwrap());
        assert!(set.contains("foo.bar.com"));
        assert!(!set.contains("x.foo.bar.com"));
        assert_eq!(HostPattern::parse("  "), None);
        assert_eq!(
            set.patterns().map(|p| p.to_string()).collect::<Vec<_>>(),
            ["foo.bar.com"]
        );
    }
}
