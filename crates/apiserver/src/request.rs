//! Parsing a request path into what it addresses (Kubernetes' `RequestInfo`).

use std::collections::HashMap;

use portico_api::registry::{self, ResourceInfo};

/// What a request path addresses.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// `/api`: the core group's versions.
    CoreVersions,
    /// `/apis`: every group.
    Groups,
    /// `/apis/<group>`: one group.
    Group(String),
    /// `/api/v1` or `/apis/<group>/<version>`: the resources of a group version.
    GroupVersion {
        /// Group ("" for core).
        group: String,
        /// Version.
        version: String,
    },
    /// A resource collection, object or subresource.
    Resource(ResourceRequest),
}

/// A request for a collection, an object or a subresource of a known resource.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceRequest {
    /// The resource.
    pub info: &'static ResourceInfo,
    /// The namespace, for namespaced requests (`/namespaces/<ns>/...`).
    pub namespace: Option<String>,
    /// The object name, if one.
    pub name: Option<String>,
    /// The subresource (`status`, `scale`, `log`, ...), if one.
    pub subresource: Option<String>,
    /// The legacy `/watch/` path prefix was used.
    pub legacy_watch: bool,
}

impl ResourceRequest {
    /// The group-qualified resource name used in messages: `services`, `deployments.apps`.
    pub fn qualified(&self) -> String {
        qualified(self.info)
    }
}

/// The group-qualified resource name used in messages: `services`, `deployments.apps`.
pub fn qualified(info: &ResourceInfo) -> String {
    if info.gvk.group.is_empty() {
        info.plural.to_string()
    } else {
        format!("{}.{}", info.plural, info.gvk.group)
    }
}

/// Why a path does not address anything.
#[derive(Debug, PartialEq)]
pub enum PathError {
    /// Nothing is served there.
    NotFound,
}

/// Parses an API path (without the query). `legacy` says whether the older served versions
/// ([`registry::LEGACY`]) are on; when off their paths are not served.
pub fn parse(path: &str, legacy: bool) -> Result<Target, PathError> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest): (&str, &str, &[&str]) = match parts.as_slice() {
        ["api"] => return Ok(Target::CoreVersions),
        ["apis"] => return Ok(Target::Groups),
        ["apis", g] => {
            return if registry::served_groups(legacy).contains(g) {
                Ok(Target::Group(g.to_string()))
            } else {
                Err(PathError::NotFound)
            }
        }
        ["api", v, rest @ ..] => ("", v, rest),
        ["apis", g, v, rest @ ..] => (g, v, rest),
        _ => return Err(PathError::NotFound),
    };
    if !registry::served(legacy).any(|r| r.gvk.group == group && r.gvk.version == version) {
        return Err(PathError::NotFound);
    }
    let (legacy_watch, rest) = match rest {
        ["watch", tail @ ..] => (true, tail),
        _ => (false, rest),
    };
    if rest.is_empty() {
        return if legacy_watch {
            Err(PathError::NotFound)
        } else {
            Ok(Target::GroupVersion {
                group: group.into(),
                version: version.into(),
            })
        };
    }
    // `/namespaces/<ns>/<resource>...`, unless it is the namespace object itself or one of
    // its subresources (`status`, `finalize`), as Kubernetes' RequestInfoFactory decides.
    let (namespace, rest) = match rest {
        ["namespaces", ns, next, ..] if *next != "status" && *next != "finalize" => {
            (Some(ns.to_string()), &rest[2..])
        }
        _ => (None, rest),
    };
    let lookup = |plural: &str| registry::by_plural_served(group, version, plural, legacy);
    let req = match rest {
        [res] => ResourceRequest {
            info: lookup(res).ok_or(PathError::NotFound)?,
            namespace,
            name: None,
            subresource: None,
            legacy_watch,
        },
        [res, name] => ResourceRequest {
            info: lookup(res).ok_or(PathError::NotFound)?,
            namespace,
            name: Some(name.to_string()),
            subresource: None,
            legacy_watch,
        },
        [res, name, sub] => {
            let info = lookup(res).ok_or(PathError::NotFound)?;
            if !info.subresources.contains(sub) {
                return Err(PathError::NotFound);
            }
            ResourceRequest {
                info,
                namespace,
                name: Some(name.to_string()),
                subresource: Some(sub.to_string()),
                legacy_watch,
            }
        }
        // `.../<name>/proxy/<path...>`: the rest of the path belongs to the proxied request.
        [res, name, "proxy", _, ..] => {
            let info = lookup(res).ok_or(PathError::NotFound)?;
            if !info.subresources.contains(&"proxy") {
                return Err(PathError::NotFound);
            }
            ResourceRequest {
                info,
                namespace,
                name: Some(name.to_string()),
                subresource: Some("proxy".to_string()),
                legacy_watch,
            }
        }
        _ => return Err(PathError::NotFound),
    };
    // A namespaced path for a cluster-scoped resource is not served, and vice versa for
    // object paths (collections of namespaced resources may be listed across namespaces).
    if req.namespace.is_some() && !req.info.namespaced {
        return Err(PathError::NotFound);
    }
    if req.namespace.is_none() && req.info.namespaced && req.name.is_some() {
        return Err(PathError::NotFound);
    }
    Ok(Target::Resource(req))
}

/// Decodes a query string into a multimap (repeated keys keep every value, in order).
pub fn query(q: Option<&str>) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.entry(percent_decode(k))
            .or_default()
            .push(percent_decode(v));
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(path: &str) -> Result<Target, PathError> {
        super::parse(path, true)
    }

    fn res(path: &str) -> ResourceRequest {
        match parse(path) {
            Ok(Target::Resource(r)) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn paths() {
        assert_eq!(parse("/api"), Ok(Target::CoreVersions));
        assert_eq!(parse("/apis"), Ok(Target::Groups));
        assert_eq!(parse("/apis/apps"), Ok(Target::Group("apps".into())));
        assert!(matches!(parse("/api/v1"), Ok(Target::GroupVersion { .. })));
        let r = res("/api/v1/namespaces/default/services/web");
        assert_eq!(r.info.plural, "services");
        assert_eq!(r.namespace.as_deref(), Some("default"));
        assert_eq!(r.name.as_deref(), Some("web"));
        let r = res("/api/v1/namespaces/kube-system");
        assert_eq!(r.info.plural, "namespaces");
        assert_eq!(r.name.as_deref(), Some("kube-system"));
        assert_eq!(r.namespace, None);
        let r = res("/api/v1/namespaces/kube-system/status");
        assert_eq!(r.subresource.as_deref(), Some("status"));
        let r = res("/api/v1/services");
        assert_eq!(r.namespace, None);
        let r = res("/apis/apps/v1/namespaces/a/deployments/b/scale");
        assert_eq!(r.subresource.as_deref(), Some("scale"));
        let r = res("/api/v1/watch/namespaces/default/pods");
        assert!(r.legacy_watch);
        assert_eq!(r.namespace.as_deref(), Some("default"));
        assert_eq!(
            parse("/api/v1/namespaces/default/foos"),
            Err(PathError::NotFound)
        );
        let r = res("/api/v1/namespaces/a/pods/http:web:8080/proxy/some/path/");
        assert_eq!(r.subresource.as_deref(), Some("proxy"));
        assert_eq!(r.name.as_deref(), Some("http:web:8080"));
        let r = res("/api/v1/nodes/n1/proxy");
        assert_eq!(r.subresource.as_deref(), Some("proxy"));
        assert_eq!(
            parse("/api/v1/namespaces/a/configmaps/c/proxy/x"),
            Err(PathError::NotFound)
        );
        assert_eq!(parse("/apis/nope/v1"), Err(PathError::NotFound));
        assert_eq!(parse("/api/v1/services/web"), Err(PathError::NotFound));
        assert_eq!(
            parse("/api/v1/namespaces/default/nodes/n1"),
            Err(PathError::NotFound)
        );
    }

    #[test]
    fn old_ingress_paths_follow_the_switch() {
        let r = res("/apis/extensions/v1beta1/namespaces/default/ingresses/kubia");
        assert_eq!(r.info.gvk.group, "extensions");
        assert_eq!(r.info.gvk.version, "v1beta1");
        let r = res("/apis/networking.k8s.io/v1beta1/ingresses");
        assert_eq!(r.info.gvk.version, "v1beta1");
        assert_eq!(r.qualified(), "ingresses.networking.k8s.io");
        assert_eq!(
            super::parse(
                "/apis/extensions/v1beta1/namespaces/default/ingresses",
                false
            ),
            Err(PathError::NotFound)
        );
        assert_eq!(
            super::parse("/apis/extensions", false),
            Err(PathError::NotFound)
        );
        assert_eq!(
            parse("/apis/networking.k8s.io/v1beta1/ingressclasses"),
            Err(PathError::NotFound)
        );
    }

    #[test]
    fn queries() {
        let q = query(Some(
            "labelSelector=app%3Dweb&command=echo&command=hi+there&x",
        ));
        assert_eq!(q["labelSelector"], vec!["app=web"]);
        assert_eq!(q["command"], vec!["echo", "hi there"]);
        assert_eq!(q["x"], vec![""]);
        assert_eq!(query(Some("a=%zz%4"))["a"], vec!["%zz%4"]);
    }
}
