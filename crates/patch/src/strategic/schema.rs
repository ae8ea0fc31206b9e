//! Which lists merge, and by which key, for every kind Portico serves.
//!
//! Kubernetes reads this from the `patchStrategy:"merge"` and `patchMergeKey` struct tags of the
//! Go API types (k8s.io/api). Here it is one table: for each kind, the dotted paths of the lists
//! that merge (list elements add no path segment), with the merge key for lists of objects and
//! no key for lists of primitives (which are unioned). Every other list is replaced whole.
//! Shared types (ObjectMeta, PodSpec, PodTemplateSpec, Container) are written once and mounted
//! under a prefix.

use std::collections::HashMap;

/// How one list field merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListStrategy {
    /// Replace the whole list with the patch's list (no patch strategy).
    Replace,
    /// Merge lists of objects by the value of this key.
    MergeByKey(&'static str),
    /// Union lists of primitives (e.g. `metadata.finalizers`).
    MergePrimitives,
}

/// A merging list: path relative to the type it belongs to, and its merge key (`None` for
/// lists of primitives).
type Entry = (&'static str, Option<&'static str>);

/// `metav1.ObjectMeta`.
const OBJECT_META: &[Entry] = &[("ownerReferences", Some("uid")), ("finalizers", None)];

/// `core/v1.Container` and `EphemeralContainerCommon`.
const CONTAINER: &[Entry] = &[
    ("ports", Some("containerPort")),
    ("env", Some("name")),
    ("volumeMounts", Some("mountPath")),
    ("volumeDevices", Some("devicePath")),
];

/// `core/v1.PodSpec`, without the container lists (mounted separately with [`CONTAINER`]).
const POD_SPEC: &[Entry] = &[
    ("volumes", Some("name")),
    ("initContainers", Some("name")),
    ("containers", Some("name")),
    ("ephemeralContainers", Some("name")),
    ("imagePullSecrets", Some("name")),
    ("hostAliases", Some("ip")),
    ("topologySpreadConstraints", Some("topologyKey")),
    ("schedulingGates", Some("name")),
    ("resourceClaims", Some("name")),
];

/// The container lists of a PodSpec, each holding [`CONTAINER`]s.
const POD_SPEC_CONTAINER_LISTS: &[&str] = &["initContainers", "containers", "ephemeralContainers"];

/// `core/v1.ContainerStatus`.
const CONTAINER_STATUS: &[Entry] = &[
    ("volumeMounts", Some("mountPath")),
    ("allocatedResourcesStatus", Some("name")),
];

/// `core/v1.PodStatus`, without the container status lists.
const POD_STATUS: &[Entry] = &[
    ("conditions", Some("type")),
    ("hostIPs", Some("ip")),
    ("podIPs", Some("ip")),
    ("resourceClaimStatuses", Some("name")),
];

/// The container status lists of a PodStatus, each holding [`CONTAINER_STATUS`]es.
const POD_STATUS_CONTAINER_LISTS: &[&str] = &[
    "initContainerStatuses",
    "containerStatuses",
    "ephemeralContainerStatuses",
];

/// Status types whose only merging list is `conditions` keyed by `type`.
const CONDITIONS: &[Entry] = &[("conditions", Some("type"))];

/// The merge table of one kind.
#[derive(Debug, Default)]
pub(crate) struct Schema {
    lists: HashMap<String, ListStrategy>,
}

impl Schema {
    /// The schema of `apiVersion`/`kind`, or `None` when Portico has no type information for it
    /// (Kubernetes refuses strategic merge patches for such objects too, e.g. custom resources).
    pub(crate) fn for_kind(api_version: &str, kind: &str) -> Option<Schema> {
        let mut s = Schema::default();
        s.mount("metadata", OBJECT_META);
        match (api_version, kind) {
            ("v1", "Pod") => {
                s.pod_spec("spec");
                s.pod_status("status");
            }
            ("v1", "PodTemplate") => s.pod_template("template"),
            ("v1", "Service") => {
                s.mount("spec", &[("ports", Some("port"))]);
                s.mount("status", CONDITIONS);
            }
            ("v1", "Node") => {
                s.mount("spec", &[("podCIDRs", None)]);
                s.mount(
                    "status",
                    &[("conditions", Some("type")), ("addresses", Some("type"))],
                );
            }
            ("v1", "Namespace") => s.mount("status", CONDITIONS),
            ("v1", "ServiceAccount") => s.mount("", &[("secrets", Some("name"))]),
            ("v1", "ReplicationController")
            | ("apps/v1", "Deployment")
            | ("apps/v1", "ReplicaSet")
            | ("apps/v1", "DaemonSet") => {
                s.pod_template("spec.template");
                s.mount("status", CONDITIONS);
            }
            ("apps/v1", "StatefulSet") => {
                s.pod_template("spec.template");
                s.mount("spec.volumeClaimTemplates.metadata", OBJECT_META);
                s.mount("spec.volumeClaimTemplates.status", CONDITIONS);
                s.mount("status", CONDITIONS);
            }
            // Kinds whose only merging lists are in metadata (Endpoints subsets, Ingress rules,
            // EndpointSlice endpoints and the like are atomic).
            ("v1", "Endpoints" | "Secret" | "ConfigMap" | "Event")
            | ("discovery.k8s.io/v1", "EndpointSlice")
            | ("networking.k8s.io/v1", "Ingress" | "IngressClass")
            | ("coordination.k8s.io/v1", "Lease") => {}
            _ => return None,
        }
        Some(s)
    }

    /// The strategy of the list at `path` (dotted, list elements add no segment).
    pub(crate) fn list(&self, path: &str) -> ListStrategy {
        self.lists
            .get(path)
            .copied()
            .unwrap_or(ListStrategy::Replace)
    }

    fn mount(&mut self, prefix: &str, entries: &[Entry]) {
        for (path, key) in entries {
            let full = join(prefix, path);
            let strategy = match key {
                Some(k) => ListStrategy::MergeByKey(k),
                None => ListStrategy::MergePrimitives,
            };
            self.lists.insert(full, strategy);
        }
    }

    fn pod_template(&mut self, prefix: &str) {
        self.mount(&join(prefix, "metadata"), OBJECT_META);
        self.pod_spec(&join(prefix, "spec"));
    }

    fn pod_spec(&mut self, prefix: &str) {
        self.mount(prefix, POD_SPEC);
        for list in POD_SPEC_CONTAINER_LISTS {
            self.mount(&join(prefix, list), CONTAINER);
        }
    }

    fn pod_status(&mut self, prefix: &str) {
        self.mount(prefix, POD_STATUS);
        for list in POD_STATUS_CONTAINER_LISTS {
            self.mount(&join(prefix, list), CONTAINER_STATUS);
        }
    }
}

/// Joins two dotted paths.
pub(crate) fn join(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_string()
    } else {
        format!("{prefix}.{field}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_template_paths_are_shared_by_workloads() {
        for (av, kind) in [
            ("apps/v1", "Deployment"),
            ("apps/v1", "ReplicaSet"),
            ("apps/v1", "StatefulSet"),
            ("v1", "ReplicationController"),
        ] {
            let s = Schema::for_kind(av, kind).unwrap();
            assert_eq!(
                s.list("spec.template.spec.containers"),
                ListStrategy::MergeByKey("name"),
                "{kind}"
            );
            assert_eq!(
                s.list("spec.template.spec.containers.ports"),
                ListStrategy::MergeByKey("containerPort")
            );
            assert_eq!(
                s.list("spec.template.spec.initContainers.env"),
                ListStrategy::MergeByKey("name")
            );
            assert_eq!(
                s.list("spec.template.spec.tolerations"),
                ListStrategy::Replace
            );
            assert_eq!(
                s.list("status.conditions"),
                ListStrategy::MergeByKey("type")
            );
        }
    }

    #[test]
    fn service_ports_merge_by_port_and_metadata_everywhere() {
        let s = Schema::for_kind("v1", "Service").unwrap();
        assert_eq!(s.list("spec.ports"), ListStrategy::MergeByKey("port"));
        assert_eq!(s.list("metadata.finalizers"), ListStrategy::MergePrimitives);
        assert_eq!(
            s.list("metadata.ownerReferences"),
            ListStrategy::MergeByKey("uid")
        );
        let ep = Schema::for_kind("v1", "Endpoints").unwrap();
        assert_eq!(ep.list("subsets"), ListStrategy::Replace);
        assert!(Schema::for_kind("example.com/v1", "Widget").is_none());
    }
}
