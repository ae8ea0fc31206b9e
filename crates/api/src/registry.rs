//! The table of resources Portico serves.
//!
//! One row per resource, in the shape of aggregated discovery. Everything that needs to know
//! about a resource (discovery documents, URL routing, storage keys, OpenAPI stubs, Table
//! printers) reads it from here, so adding a resource is one row.
//!
//! [`RESOURCES`] holds the version each resource is stored in. Older versions that are still
//! served (Ingress in `extensions/v1beta1` and `networking.k8s.io/v1beta1`) are rows of their
//! own in [`legacy::LEGACY`]: they share their storage row's keys ([`storage_of`]) and are
//! converted by [`crate::convert`] on the way in and out.

pub mod legacy;

pub use legacy::{deprecation_warning, is_legacy, storage_of, LEGACY};

/// A group, version and kind, as in `apiVersion` + `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupVersionKind {
    /// API group; empty for the core group.
    pub group: &'static str,
    /// API version, e.g. `v1`.
    pub version: &'static str,
    /// Kind, e.g. `Service`.
    pub kind: &'static str,
}

impl GroupVersionKind {
    /// The `apiVersion` string: `v1` for core, `apps/v1` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// One resource served by the API server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceInfo {
    /// Group, version and kind of the objects.
    pub gvk: GroupVersionKind,
    /// Plural resource name used in URLs, e.g. `services`.
    pub plural: &'static str,
    /// Singular name, e.g. `service`.
    pub singular: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names kubectl accepts, e.g. `svc`.
    pub short_names: &'static [&'static str],
    /// Categories, e.g. `all` for `kubectl get all`.
    pub categories: &'static [&'static str],
    /// Subresources, e.g. `status`, `scale`, `log`.
    pub subresources: &'static [&'static str],
}

impl ResourceInfo {
    /// The list kind, e.g. `ServiceList`.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.gvk.kind)
    }

    /// The verbs every resource supports.
    pub fn verbs(&self) -> &'static [&'static str] {
        &[
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }

    /// The prefix of storage keys: `/registry/<group>/<plural>/` (core: `/registry/<plural>/`).
    /// An older served version shares the keys of the version it is stored in.
    pub fn key_prefix(&self) -> String {
        let group = storage_of(self).gvk.group;
        if group.is_empty() {
            format!("/registry/{}/", self.plural)
        } else {
            format!("/registry/{}/{}/", group, self.plural)
        }
    }

    /// The storage key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}{}/{}", self.key_prefix(), ns, name),
            _ => format!("{}{}", self.key_prefix(), name),
        }
    }
}

const fn core(
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    subresources: &'static [&'static str],
) -> ResourceInfo {
    grouped(
        "",
        kind,
        plural,
        singular,
        namespaced,
        short_names,
        categories,
        subresources,
    )
}

#[allow(clippy::too_many_arguments)]
const fn grouped(
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    subresources: &'static [&'static str],
) -> ResourceInfo {
    ResourceInfo {
        gvk: GroupVersionKind {
            group,
            version: "v1",
            kind,
        },
        plural,
        singular,
        namespaced,
        short_names,
        categories,
        subresources,
    }
}

const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];

/// Every resource Portico serves, in discovery order.
pub static RESOURCES: &[ResourceInfo] = &[
    core(
        "Namespace",
        "namespaces",
        "namespace",
        false,
        &["ns"],
        NONE,
        &["status", "finalize"],
    ),
    core(
        "Node",
        "nodes",
        "node",
        false,
        &["no"],
        NONE,
        &["status", "proxy"],
    ),
    core(
        "Pod",
        "pods",
        "pod",
        true,
        &["po"],
        ALL,
        &[
            "status",
            "log",
            "exec",
            "attach",
            "portforward",
            "binding",
            "eviction",
            "proxy",
        ],
    ),
    core(
        "Service",
        "services",
        "service",
        true,
        &["svc"],
        ALL,
        &["status", "proxy"],
    ),
    core(
        "Endpoints",
        "endpoints",
        "endpoints",
        true,
        &["ep"],
        NONE,
        NONE,
    ),
    core("Secret", "secrets", "secret", true, NONE, NONE, NONE),
    core(
        "ConfigMap",
        "configmaps",
        "configmap",
        true,
        &["cm"],
        NONE,
        NONE,
    ),
    core("Event", "events", "event", true, &["ev"], NONE, NONE),
    core(
        "ServiceAccount",
        "serviceaccounts",
        "serviceaccount",
        true,
        &["sa"],
        NONE,
        &["token"],
    ),
    core(
        "ReplicationController",
        "replicationcontrollers",
        "replicationcontroller",
        true,
        &["rc"],
        ALL,
        &["status", "scale"],
    ),
    grouped(
        "apps",
        "Deployment",
        "deployments",
        "deployment",
        true,
        &["deploy"],
        ALL,
        &["status", "scale"],
    ),
    grouped(
        "apps",
        "ReplicaSet",
        "replicasets",
        "replicaset",
        true,
        &["rs"],
        ALL,
        &["status", "scale"],
    ),
    grouped(
        "apps",
        "StatefulSet",
        "statefulsets",
        "statefulset",
        true,
        &["sts"],
        ALL,
        &["status", "scale"],
    ),
    grouped(
        "discovery.k8s.io",
        "EndpointSlice",
        "endpointslices",
        "endpointslice",
        true,
        NONE,
        NONE,
        NONE,
    ),
    grouped(
        "networking.k8s.io",
        "Ingress",
        "ingresses",
        "ingress",
        true,
        &["ing"],
        NONE,
        &["status"],
    ),
    grouped(
        "networking.k8s.io",
        "IngressClass",
        "ingressclasses",
        "ingressclass",
        false,
        NONE,
        NONE,
        NONE,
    ),
    grouped(
        "coordination.k8s.io",
        "Lease",
        "leases",
        "lease",
        true,
        NONE,
        NONE,
        NONE,
    ),
];

/// Every row served: the stored versions, then (with `legacy`) the older served versions.
pub fn served(legacy: bool) -> impl Iterator<Item = &'static ResourceInfo> {
    let old: &'static [ResourceInfo] = if legacy { LEGACY } else { &[] };
    RESOURCES.iter().chain(old.iter())
}

/// The API groups served, in discovery order (core first, as `""`), without the groups that
/// only hold older versions.
pub fn groups() -> Vec<&'static str> {
    served_groups(false)
}

/// The API groups served, in discovery order (core first, as `""`). With `legacy`, groups
/// that only hold older versions (`extensions`) come last, so clients that pick the first
/// group serving a resource name (kubectl's `get ingress`) pick the stored version.
pub fn served_groups(legacy: bool) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for r in served(legacy) {
        if !out.contains(&r.gvk.group) {
            out.push(r.gvk.group);
        }
    }
    out
}

/// The versions served of a group, preferred (stored) version first.
pub fn group_versions(group: &str, legacy: bool) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for r in served(legacy).filter(|r| r.gvk.group == group) {
        if !out.contains(&r.gvk.version) {
            out.push(r.gvk.version);
        }
    }
    out
}

/// Finds a stored resource by group, version and plural name.
pub fn by_plural(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    by_plural_served(group, version, plural, false)
}

/// Finds a served resource by group, version and plural name; with `legacy`, older served
/// versions too.
pub fn by_plural_served(
    group: &str,
    version: &str,
    plural: &str,
    legacy: bool,
) -> Option<&'static ResourceInfo> {
    served(legacy).find(|r| r.gvk.group == group && r.gvk.version == version && r.plural == plural)
}

/// Finds a resource by `apiVersion` and `kind`, older served versions included.
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    served(true).find(|r| r.gvk.group == group && r.gvk.version == version && r.gvk.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_kubernetes_layout() {
        let svc = by_plural("", "v1", "services").expect("services");
        assert_eq!(
            svc.key(Some("default"), "web"),
            "/registry/services/default/web"
        );
        let ns = by_kind("v1", "Namespace").expect("namespaces");
        assert_eq!(
            ns.key(None, "kube-system"),
            "/registry/namespaces/kube-system"
        );
        let deploy = by_kind("apps/v1", "Deployment").expect("deployments");
        assert_eq!(deploy.key(Some("a"), "b"), "/registry/apps/deployments/a/b");
    }

    #[test]
    fn plurals_are_unique_per_group() {
        for (i, a) in RESOURCES.iter().enumerate() {
            for b in &RESOURCES[i + 1..] {
                assert!(!(a.gvk.group == b.gvk.group && a.plural == b.plural));
            }
        }
    }
}
