//! Path matching as networking.k8s.io/v1 defines it, with ingress-nginx's readings where the
//! API leaves room: `Exact`, `Prefix` (element-wise), `ImplementationSpecific` (a plain string
//! prefix, as nginx's `location /path`), and case-insensitive regular expressions anchored at
//! the start (nginx's `location ~* "^path"`) for hosts that use `use-regex` or
//! `rewrite-target`.

use std::cmp::Reverse;
use std::fmt;

use regex::{Regex, RegexBuilder};

use super::Route;

/// The `pathType` of an Ingress path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PathKind {
    /// `Exact`.
    Exact,
    /// `Prefix`.
    Prefix,
    /// `ImplementationSpecific` (and anything unknown).
    ImplementationSpecific,
}

impl PathKind {
    /// Reads `pathType`.
    pub(crate) fn parse(path_type: &str) -> PathKind {
        match path_type {
            "Exact" => PathKind::Exact,
            "Prefix" => PathKind::Prefix,
            _ => PathKind::ImplementationSpecific,
        }
    }
}

/// How one path matches a request path.
#[derive(Debug, Clone)]
pub(crate) enum PathMatcher {
    /// The request path equals this.
    Exact(String),
    /// Element-wise prefix; held without trailing `/` (so `/` is held as the empty string and
    /// matches everything).
    Prefix(String),
    /// Plain string prefix.
    Plain(String),
    /// Case-insensitive, anchored at the start; the pattern as written is kept for ordering.
    Regex { regex: Regex, written: String },
}

impl PathMatcher {
    /// The matcher for a path of kind `kind`; `regex` when the host uses regular expressions
    /// (then every kind is a regex, as ingress-nginx enforces).
    pub(crate) fn new(kind: PathKind, path: &str, regex: bool) -> Result<PathMatcher, String> {
        if regex {
            let regex = RegexBuilder::new(&format!("^(?:{path})"))
                .case_insensitive(true)
                .build()
                .map_err(|error| error.to_string())?;
            return Ok(PathMatcher::Regex {
                regex,
                written: path.to_string(),
            });
        }
        Ok(match kind {
            PathKind::Exact => PathMatcher::Exact(path.to_string()),
            PathKind::Prefix => PathMatcher::Prefix(path.trim_end_matches('/').to_string()),
            PathKind::ImplementationSpecific => PathMatcher::Plain(path.to_string()),
        })
    }

    /// `Some(captures)` when `path` matches (`captures[0]` is `$1`; empty unless regex).
    pub(crate) fn matches(&self, path: &str) -> Option<Vec<String>> {
        let matched = match self {
            PathMatcher::Exact(exact) => path == exact,
            PathMatcher::Prefix(prefix) => path
                .strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
            PathMatcher::Plain(prefix) => path.starts_with(prefix.as_str()),
            PathMatcher::Regex { regex, .. } => {
                let captures = regex.captures(path)?;
                return Some(
                    captures
                        .iter()
                        .skip(1)
                        .map(|group| group.map_or_else(String::new, |g| g.as_str().to_string()))
                        .collect(),
                );
            }
        };
        matched.then(Vec::new)
    }

    /// The order paths are tried in: longest first, Exact before Prefix before
    /// ImplementationSpecific at equal length. Regex paths by the length of the pattern as
    /// written (ingress-nginx sorts its regex locations so, nginx then takes the first match).
    fn order(&self) -> (Reverse<usize>, u8) {
        match self {
            PathMatcher::Exact(path) => (Reverse(path.len()), 0),
            PathMatcher::Prefix(path) => (Reverse(path.len()), 1),
            PathMatcher::Plain(path) => (Reverse(path.len()), 2),
            PathMatcher::Regex { written, .. } => (Reverse(written.len()), 0),
        }
    }
}

impl PathMatcher {
    /// How the path is read: `Exact`, `Prefix`, `ImplementationSpecific` or `Regex ~*`.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            PathMatcher::Exact(_) => "Exact",
            PathMatcher::Prefix(_) => "Prefix",
            PathMatcher::Plain(_) => "ImplementationSpecific",
            PathMatcher::Regex { .. } => "Regex ~*",
        }
    }
}

impl fmt::Display for PathMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathMatcher::Exact(path) => write!(f, "Exact {path}"),
            PathMatcher::Prefix(path) if path.is_empty() => write!(f, "Prefix /"),
            PathMatcher::Prefix(path) => write!(f, "Prefix {path}"),
            PathMatcher::Plain(path) => write!(f, "ImplementationSpecific {path}"),
            PathMatcher::Regex { written, .. } => write!(f, "Regex ~* ^{written}"),
        }
    }
}

/// A path and where it sends requests.
#[derive(Debug, Clone)]
pub(crate) struct PathRoute {
    /// How it matches.
    pub(crate) matcher: PathMatcher,
    /// Where to.
    pub(crate) route: Route,
}

/// Puts a server's paths in the order they are tried. Stable: among equals, the order given
/// (oldest Ingress first, then rule and path order) decides, so the oldest Ingress wins a
/// conflict.
pub(crate) fn sort(paths: &mut [PathRoute]) {
    paths.sort_by_key(|path| path.matcher.order());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(kind: PathKind, path: &str) -> PathMatcher {
        PathMatcher::new(kind, path, false).unwrap()
    }

    fn hit(matcher: &PathMatcher, path: &str) -> bool {
        matcher.matches(path).is_some()
    }

    #[test]
    fn exact_is_the_whole_path_case_sensitive() {
        let exact = matcher(PathKind::Exact, "/foo");
        assert!(hit(&exact, "/foo"));
        assert!(!hit(&exact, "/foo/"));
        assert!(!hit(&exact, "/Foo"));
        assert!(!hit(&exact, "/foo/bar"));
    }

    #[test]
    fn prefix_is_element_wise() {
        let prefix = matcher(PathKind::Prefix, "/foo");
        for path in ["/foo", "/foo/", "/foo/bar"] {
            assert!(hit(&prefix, path), "{path}");
        }
        assert!(!hit(&prefix, "/foobar"));
        assert!(!hit(&prefix, "/fo"));
        let trailing = matcher(PathKind::Prefix, "/foo/");
        assert!(
            hit(&trailing, "/foo"),
            "the rule's trailing slash is ignored"
        );
        assert!(!hit(&trailing, "/foobar"));
        let root = matcher(PathKind::Prefix, "/");
        assert!(hit(&root, "/"));
        assert!(hit(&root, "/anything/at/all"));
        let nested = matcher(PathKind::Prefix, "/aaa/bb");
        assert!(!hit(&nested, "/aaa/bbb"));
        assert!(hit(&nested, "/aaa/bb/ccc"));
    }

    #[test]
    fn implementation_specific_is_a_string_prefix() {
        let plain = matcher(PathKind::ImplementationSpecific, "/foo");
        assert!(hit(&plain, "/foobar"));
        assert!(hit(&plain, "/foo/bar"));
        assert!(!hit(&plain, "/fo"));
    }

    #[test]
    fn regex_is_anchored_case_insensitive_prefix_with_captures() {
        let regex = PathMatcher::new(PathKind::Prefix, "/something(/|$)(.*)", true).unwrap();
        assert_eq!(
            regex.matches("/SOMETHING/new").unwrap(),
            vec!["/".to_string(), "new".to_string()]
        );
        assert_eq!(
            regex.matches("/something").unwrap(),
            vec![String::new(), String::new()]
        );
        assert!(regex.matches("/x/something/new").is_none(), "anchored");
        let upper = PathMatcher::new(PathKind::Exact, "/[A-Z]{3}", true).unwrap();
        assert!(
            upper.matches("/uuid").is_some(),
            "prefix and case-insensitive"
        );
        assert!(PathMatcher::new(PathKind::Prefix, "/(", true).is_err());
    }

    #[test]
    fn order_longest_first_exact_before_prefix() {
        let mut kinds: Vec<_> = [
            (PathKind::Prefix, "/"),
            (PathKind::ImplementationSpecific, "/foo"),
            (PathKind::Prefix, "/foo"),
            (PathKind::Exact, "/foo"),
            (PathKind::Prefix, "/foo/bar"),
        ]
        .into_iter()
        .map(|(kind, path)| matcher(kind, path))
        .collect();
        kinds.sort_by_key(PathMatcher::order);
        let rendered: Vec<String> = kinds.iter().map(ToString::to_string).collect();
        assert_eq!(
            rendered,
            [
                "Prefix /foo/bar",
                "Exact /foo",
                "Prefix /foo",
                "ImplementationSpecific /foo",
                "Prefix /"
            ]
        );
    }
}
