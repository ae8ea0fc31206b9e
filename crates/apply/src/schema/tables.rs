//! The per-kind list and map types, from the Kubernetes API's `+listType`, `+listMapKey`,
//! `+mapType` and `+structType` markers. Shared pieces (object metadata, pod template, pod spec,
//! container) are written once and mounted where each kind holds them.

use super::{ListKey, Node, Schema, Shape};

const fn key(name: &'static str) -> ListKey {
    ListKey {
        name,
        default: None,
    }
}

const BY_NAME: &[ListKey] = &[key("name")];
const BY_TYPE: &[ListKey] = &[key("type")];
const BY_UID: &[ListKey] = &[key("uid")];
const BY_IP: &[ListKey] = &[key("ip")];
const BY_MOUNT_PATH: &[ListKey] = &[key("mountPath")];
const BY_DEVICE_PATH: &[ListKey] = &[key("devicePath")];
const CONTAINER_PORT: &[ListKey] = &[
    key("containerPort"),
    ListKey {
        name: "protocol",
        default: Some("TCP"),
    },
];
const SERVICE_PORT: &[ListKey] = &[
    key("port"),
    ListKey {
        name: "protocol",
        default: Some("TCP"),
    },
];
const TOPOLOGY_SPREAD: &[ListKey] = &[key("topologyKey"), key("whenUnsatisfiable")];

/// A struct the Go type holds by value: always present.
const VALUE_STRUCT: Node = Node {
    shape: Shape::Struct,
    always: true,
};
const MAP: Node = Node {
    shape: Shape::Map,
    always: false,
};
const ATOMIC: Node = Node {
    shape: Shape::Atomic,
    always: false,
};
const SET: Node = Node {
    shape: Shape::Set,
    always: false,
};

const fn assoc(keys: &'static [ListKey]) -> Node {
    Node {
        shape: Shape::Assoc(keys),
        always: false,
    }
}

const fn assoc_always(keys: &'static [ListKey]) -> Node {
    Node {
        shape: Shape::Assoc(keys),
        always: true,
    }
}

/// `ObjectMeta`, wherever it appears.
const OBJECT_META: &[(&str, Node)] = &[
    ("", VALUE_STRUCT),
    ("labels", MAP),
    ("annotations", MAP),
    ("finalizers", SET),
    ("ownerReferences", assoc(BY_UID)),
    ("managedFields", ATOMIC),
];

/// `Container` (also used for init and ephemeral containers).
const CONTAINER: &[(&str, Node)] = &[
    ("ports", assoc(CONTAINER_PORT)),
    ("env", assoc(BY_NAME)),
    ("volumeMounts", assoc(BY_MOUNT_PATH)),
    ("volumeDevices", assoc(BY_DEVICE_PATH)),
    ("resources", VALUE_STRUCT),
    ("resources.limits", MAP),
    ("resources.requests", MAP),
    ("resources.claims", assoc(BY_NAME)),
];

/// `PodSpec`.
const POD_SPEC: &[(&str, Node)] = &[
    ("", VALUE_STRUCT),
    ("containers", assoc_always(BY_NAME)),
    ("initContainers", assoc(BY_NAME)),
    ("ephemeralContainers", assoc(BY_NAME)),
    ("volumes", assoc(BY_NAME)),
    ("nodeSelector", ATOMIC),
    ("imagePullSecrets", assoc(BY_NAME)),
    ("hostAliases", assoc(BY_IP)),
    ("topologySpreadConstraints", assoc(TOPOLOGY_SPREAD)),
    ("resourceClaims", assoc(BY_NAME)),
    ("schedulingGates", assoc(BY_NAME)),
    ("overhead", MAP),
];

/// `PodStatus`.
const POD_STATUS: &[(&str, Node)] = &[
    ("", VALUE_STRUCT),
    ("conditions", assoc(BY_TYPE)),
    ("podIPs", assoc(BY_IP)),
    ("hostIPs", assoc(BY_IP)),
];

/// A `status` holding only `conditions` keyed by type.
const CONDITIONS_STATUS: &[(&str, Node)] = &[("", VALUE_STRUCT), ("conditions", assoc(BY_TYPE))];

/// A `status` without associative lists.
const PLAIN_STATUS: &[(&str, Node)] = &[("", VALUE_STRUCT)];

const SERVICE: &[(&str, Node)] = &[
    ("spec", VALUE_STRUCT),
    ("spec.ports", assoc(SERVICE_PORT)),
    ("spec.selector", ATOMIC),
    ("status", VALUE_STRUCT),
    ("status.loadBalancer", VALUE_STRUCT),
    ("status.conditions", assoc(BY_TYPE)),
];

const CONFIG_MAP: &[(&str, Node)] = &[("data", MAP), ("binaryData", MAP)];
const SECRET: &[(&str, Node)] = &[("data", MAP), ("stringData", MAP)];
const SERVICE_ACCOUNT: &[(&str, Node)] = &[("secrets", assoc(BY_NAME))];

const NODE: &[(&str, Node)] = &[
    ("spec", VALUE_STRUCT),
    ("spec.podCIDRs", SET),
    ("status", VALUE_STRUCT),
    ("status.conditions", assoc(BY_TYPE)),
    ("status.capacity", MAP),
    ("status.allocatable", MAP),
];

const PERSISTENT_VOLUME_CLAIM: &[(&str, Node)] = &[
    ("spec", VALUE_STRUCT),
    ("spec.resources", VALUE_STRUCT),
    ("spec.resources.requests", MAP),
    ("spec.resources.limits", MAP),
    ("status", VALUE_STRUCT),
    ("status.capacity", MAP),
    ("status.conditions", assoc(BY_TYPE)),
];

const INGRESS: &[(&str, Node)] = &[
    ("spec", VALUE_STRUCT),
    ("status", VALUE_STRUCT),
    ("status.loadBalancer", VALUE_STRUCT),
];

const NETWORK_POLICY: &[(&str, Node)] = &[("spec", VALUE_STRUCT), ("spec.podSelector", ATOMIC)];

const SPEC_ONLY: &[(&str, Node)] = &[("spec", VALUE_STRUCT)];

/// Workloads with a `selector` (a `LabelSelector`, which is atomic) and a pod `template`.
const WORKLOAD: &[(&str, Node)] = &[("spec", VALUE_STRUCT), ("spec.selector", ATOMIC)];

const HPA: &[(&str, Node)] = &[
    ("spec", VALUE_STRUCT),
    ("spec.scaleTargetRef", VALUE_STRUCT),
    ("status", VALUE_STRUCT),
    ("status.conditions", assoc(BY_TYPE)),
];

const PDB: &[(&str, Node)] = &[
    ("spec", VALUE_STRUCT),
    ("spec.selector", ATOMIC),
    ("status", VALUE_STRUCT),
    ("status.conditions", assoc(BY_TYPE)),
    ("status.disruptedPods", MAP),
];

/// Mounts a pod spec (and its containers) at `prefix`.
fn mount_pod_spec(schema: &mut Schema, prefix: &str) {
    schema.mount(prefix, POD_SPEC);
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        schema.mount(&super::join(prefix, list), CONTAINER);
    }
}

/// Mounts a `PodTemplateSpec` at `prefix`.
fn mount_pod_template(schema: &mut Schema, prefix: &str) {
    schema.mount(prefix, &[("", VALUE_STRUCT)]);
    schema.mount(&super::join(prefix, "metadata"), OBJECT_META);
    mount_pod_spec(schema, &super::join(prefix, "spec"));
}

/// Fills `schema` for `(apiVersion, kind)`.
pub(super) fn build(schema: &mut Schema, api_version: &str, kind: &str) {
    schema.mount("metadata", OBJECT_META);
    match (api_version, kind) {
        ("v1", "Pod") => {
            mount_pod_spec(schema, "spec");
            schema.mount("status", POD_STATUS);
        }
        ("v1", "PodTemplate") => mount_pod_template(schema, "template"),
        ("v1", "ReplicationController") => {
            schema.mount("", &[("spec", VALUE_STRUCT), ("spec.selector", ATOMIC)]);
            mount_pod_template(schema, "spec.template");
            schema.mount("status", CONDITIONS_STATUS);
        }
        ("v1", "Service") => schema.mount("", SERVICE),
        ("v1", "ConfigMap") => schema.mount("", CONFIG_MAP),
        ("v1", "Secret") => schema.mount("", SECRET),
        ("v1", "ServiceAccount") => schema.mount("", SERVICE_ACCOUNT),
        ("v1", "Namespace") => {
            schema.mount("", SPEC_ONLY);
            schema.mount("status", CONDITIONS_STATUS);
        }
        ("v1", "Node") => schema.mount("", NODE),
        ("v1", "PersistentVolumeClaim") => schema.mount("", PERSISTENT_VOLUME_CLAIM),
        // Endpoints subsets and EndpointSlice endpoints and ports are atomic lists: the fallback.
        ("v1", "Endpoints") | ("discovery.k8s.io/v1", "EndpointSlice") => {}
        ("apps/v1", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => {
            schema.mount("", WORKLOAD);
            mount_pod_template(schema, "spec.template");
            schema.mount("status", CONDITIONS_STATUS);
            match kind {
                "Deployment" => schema.mount("spec", &[("strategy", VALUE_STRUCT)]),
                "StatefulSet" | "DaemonSet" => {
                    schema.mount("spec", &[("updateStrategy", VALUE_STRUCT)]);
                }
                _ => {}
            }
        }
        ("batch/v1", "Job") => {
            schema.mount("", WORKLOAD);
            mount_pod_template(schema, "spec.template");
            schema.mount("status", PLAIN_STATUS);
        }
        ("batch/v1", "CronJob") => {
            schema.mount("", SPEC_ONLY);
            schema.mount("spec.jobTemplate", &[("", VALUE_STRUCT)]);
            schema.mount("spec.jobTemplate.metadata", OBJECT_META);
            schema.mount("spec.jobTemplate", WORKLOAD);
            mount_pod_template(schema, "spec.jobTemplate.spec.template");
            schema.mount("status", PLAIN_STATUS);
        }
        // Ingress lists (rules, paths, tls) are atomic: the fallback.
        ("networking.k8s.io/v1", "Ingress") => schema.mount("", INGRESS),
        ("networking.k8s.io/v1", "NetworkPolicy") => schema.mount("", NETWORK_POLICY),
        ("coordination.k8s.io/v1", "Lease") => schema.mount("", SPEC_ONLY),
        ("autoscaling/v2" | "autoscaling/v1", "HorizontalPodAutoscaler") => {
            schema.mount("", HPA);
        }
        ("policy/v1", "PodDisruptionBudget") => schema.mount("", PDB),
        _ => {}
    }
}
