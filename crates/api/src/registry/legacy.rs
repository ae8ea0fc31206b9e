//! Older versions still served beside the stored one: Ingress in `extensions/v1beta1` and
//! `networking.k8s.io/v1beta1`, which Kubernetes removed in 1.22 and which much teaching
//! material still uses.
//!
//! Each is a row of its own (so discovery, URLs, `apiVersion` checks and error messages name
//! the version the client used) whose objects live under the stored row's keys. Every request
//! in one of them carries the deprecation warning Kubernetes sent ([`deprecation_warning`]).

use super::{GroupVersionKind, ResourceInfo, RESOURCES};

const fn ingress(group: &'static str, short_names: &'static [&'static str]) -> ResourceInfo {
    ResourceInfo {
        gvk: GroupVersionKind {
            group,
            version: "v1beta1",
            kind: "Ingress",
        },
        plural: "ingresses",
        singular: "ingress",
        namespaced: true,
        short_names,
        categories: &[],
        subresources: &["status"],
    }
}

/// The older served versions, in discovery order. `extensions` advertises no short name:
/// kubectl 1.32 warns on every `kubectl get ing` when a short name matches resources of two
/// groups ("could also match lower priority resource"), and `ing` already means
/// networking.k8s.io's Ingress.
pub static LEGACY: &[ResourceInfo] = &[
    ingress("networking.k8s.io", &["ing"]),
    ingress("extensions", &[]),
];

/// Whether `info` is an older served version (stored in another one).
pub fn is_legacy(info: &ResourceInfo) -> bool {
    LEGACY.iter().any(|r| r.gvk == info.gvk)
}

/// The row `info`'s objects are stored as: itself for a stored version, the stored version
/// of the same resource for an older served one.
pub fn storage_of(info: &ResourceInfo) -> &ResourceInfo {
    if !is_legacy(info) {
        return info;
    }
    RESOURCES
        .iter()
        .find(|r| r.plural == info.plural && r.gvk.kind == info.gvk.kind)
        .unwrap_or(info)
}

/// When Kubernetes deprecated and removed an older version: `(deprecated, removed)` minor
/// versions of 1.x (from `k8s.io/api`'s prerelease-lifecycle tags).
fn lifecycle(gvk: &GroupVersionKind) -> Option<(u32, u32)> {
    match (gvk.group, gvk.version, gvk.kind) {
        ("extensions", "v1beta1", "Ingress") => Some((14, 22)),
        ("networking.k8s.io", "v1beta1", "Ingress") => Some((19, 22)),
        _ => None,
    }
}

/// The `Warning` Kubernetes' API server attached to every request in a deprecated version,
/// e.g. `extensions/v1beta1 Ingress is deprecated in v1.14+, unavailable in v1.22+; use
/// networking.k8s.io/v1 Ingress`. `None` for versions that are not deprecated.
pub fn deprecation_warning(info: &ResourceInfo) -> Option<String> {
    let (deprecated, removed) = lifecycle(&info.gvk)?;
    let replacement = storage_of(info);
    Some(format!(
        "{} {} is deprecated in v1.{deprecated}+, unavailable in v1.{removed}+; use {} {}",
        info.gvk.api_version(),
        info.gvk.kind,
        replacement.gvk.api_version(),
        replacement.gvk.kind,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::{by_kind, by_plural_served, group_versions, served_groups};
    use super::*;

    #[test]
    fn old_ingress_versions_share_the_stored_keys() {
        let v1 = by_kind("networking.k8s.io/v1", "Ingress").unwrap();
        for av in ["extensions/v1beta1", "networking.k8s.io/v1beta1"] {
            let old = by_kind(av, "Ingress").unwrap();
            assert!(is_legacy(old));
            assert_eq!(storage_of(old).gvk, v1.gvk);
            assert_eq!(
                old.key(Some("default"), "kubia"),
                v1.key(Some("default"), "kubia")
            );
        }
        assert!(!is_legacy(v1));
        assert_eq!(storage_of(v1).gvk, v1.gvk);
    }

    #[test]
    fn warnings_use_kubernetes_wording() {
        let ext = by_kind("extensions/v1beta1", "Ingress").unwrap();
        assert_eq!(
            deprecation_warning(ext).as_deref(),
            Some("extensions/v1beta1 Ingress is deprecated in v1.14+, unavailable in v1.22+; use networking.k8s.io/v1 Ingress")
        );
        let net = by_kind("networking.k8s.io/v1beta1", "Ingress").unwrap();
        assert_eq!(
            deprecation_warning(net).as_deref(),
            Some("networking.k8s.io/v1beta1 Ingress is deprecated in v1.19+, unavailable in v1.22+; use networking.k8s.io/v1 Ingress")
        );
        let v1 = by_kind("networking.k8s.io/v1", "Ingress").unwrap();
        assert_eq!(deprecation_warning(v1), None);
    }

    #[test]
    fn discovery_order_prefers_the_stored_version() {
        assert_eq!(
            group_versions("networking.k8s.io", true),
            vec!["v1", "v1beta1"]
        );
        assert_eq!(group_versions("networking.k8s.io", false), vec!["v1"]);
        let with = served_groups(true);
        assert_eq!(with.last(), Some(&"extensions"));
        assert!(!served_groups(false).contains(&"extensions"));
        assert!(by_plural_served("extensions", "v1beta1", "ingresses", false).is_none());
        assert!(by_plural_served("extensions", "v1beta1", "ingresses", true).is_some());
    }
}
