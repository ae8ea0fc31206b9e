//! `core/v1` kinds other than pods: Secret, ConfigMap, Namespace, ServiceAccount, Service, and
//! the references they share.

use super::meta::{CONDITION, OBJECT_META};
use super::Kind::*;
use super::Shape::*;
use super::{f, Message};

/// `Secret`: `data` holds bytes, written as base64.
pub(crate) static SECRET: Message = Message {
    name: "Secret",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META), ValOmit),
        f(5, "immutable", Bool, PtrOmit),
        f(2, "data", Bytes, MapOmit),
        f(4, "stringData", Str, MapOmit),
        f(3, "type", Str, ValOmit),
    ],
};

/// `ConfigMap`.
pub(crate) static CONFIG_MAP: Message = Message {
    name: "ConfigMap",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META), ValOmit),
        f(4, "immutable", Bool, PtrOmit),
        f(2, "data", Str, MapOmit),
        f(3, "binaryData", Bytes, MapOmit),
    ],
};

/// `Namespace`.
pub(crate) static NAMESPACE: Message = Message {
    name: "Namespace",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META), ValOmit),
        f(2, "spec", Msg(&NAMESPACE_SPEC), ValOmit),
        f(3, "status", Msg(&NAMESPACE_STATUS), ValOmit),
    ],
};

static NAMESPACE_SPEC: Message = Message {
    name: "NamespaceSpec",
    fields: &[f(1, "finalizers", Str, ListOmit)],
};

static NAMESPACE_STATUS: Message = Message {
    name: "NamespaceStatus",
    fields: &[
        f(1, "phase", Str, ValOmit),
        f(2, "conditions", Msg(&NAMESPACE_CONDITION), ListOmit),
    ],
};

static NAMESPACE_CONDITION: Message = Message {
    name: "NamespaceCondition",
    fields: &[
        f(1, "type", Str, Val),
        f(2, "status", Str, Val),
        f(4, "lastTransitionTime", Time, ValOmit),
        f(5, "reason", Str, ValOmit),
        f(6, "message", Str, ValOmit),
    ],
};

/// `ServiceAccount`.
pub(crate) static SERVICE_ACCOUNT: Message = Message {
    name: "ServiceAccount",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META), ValOmit),
        f(2, "secrets", Msg(&OBJECT_REFERENCE), ListOmit),
        f(
            3,
            "imagePullSecrets",
            Msg(&LOCAL_OBJECT_REFERENCE),
            ListOmit,
        ),
        f(4, "automountServiceAccountToken", Bool, PtrOmit),
    ],
};

/// `ObjectReference`.
pub(crate) static OBJECT_REFERENCE: Message = Message {
    name: "ObjectReference",
    fields: &[
        f(1, "kind", Str, ValOmit),
        f(2, "namespace", Str, ValOmit),
        f(3, "name", Str, ValOmit),
        f(4, "uid", Str, ValOmit),
        f(5, "apiVersion", Str, ValOmit),
        f(6, "resourceVersion", Str, ValOmit),
        f(7, "fieldPath", Str, ValOmit),
    ],
};

/// `LocalObjectReference`, also inlined into key selectors and volume sources.
pub(crate) static LOCAL_OBJECT_REFERENCE: Message = Message {
    name: "LocalObjectReference",
    fields: &[f(1, "name", Str, ValOmit)],
};

/// `TypedLocalObjectReference`: `apiGroup` is a pointer written as null when absent.
pub(crate) static TYPED_LOCAL_OBJECT_REFERENCE: Message = Message {
    name: "TypedLocalObjectReference",
    fields: &[
        f(1, "apiGroup", Str, Ptr),
        f(2, "kind", Str, Val),
        f(3, "name", Str, Val),
    ],
};

/// `Service`.
pub(crate) static SERVICE: Message = Message {
    name: "Service",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META), ValOmit),
        f(2, "spec", Msg(&SERVICE_SPEC), ValOmit),
        f(3, "status", Msg(&SERVICE_STATUS), ValOmit),
    ],
};

static SERVICE_SPEC: Message = Message {
    name: "ServiceSpec",
    fields: &[
        f(1, "ports", Msg(&SERVICE_PORT), ListOmit),
        f(2, "selector", Str, MapOmit),
        f(3, "clusterIP", Str, ValOmit),
        f(18, "clusterIPs", Str, ListOmit),
        f(4, "type", Str, ValOmit),
        f(5, "externalIPs", Str, ListOmit),
        f(7, "sessionAffinity", Str, ValOmit),
        f(8, "loadBalancerIP", Str, ValOmit),
        f(9, "loadBalancerSourceRanges", Str, ListOmit),
        f(10, "externalName", Str, ValOmit),
        f(11, "externalTrafficPolicy", Str, ValOmit),
        f(12, "healthCheckNodePort", I32, ValOmit),
        f(13, "publishNotReadyAddresses", Bool, ValOmit),
        f(
            14,
            "sessionAffinityConfig",
            Msg(&SESSION_AFFINITY_CONFIG),
            PtrOmit,
        ),
        f(19, "ipFamilies", Str, ListOmit),
        f(17, "ipFamilyPolicy", Str, PtrOmit),
        f(20, "allocateLoadBalancerNodePorts", Bool, PtrOmit),
        f(21, "loadBalancerClass", Str, PtrOmit),
        f(22, "internalTrafficPolicy", Str, PtrOmit),
        f(23, "trafficDistribution", Str, PtrOmit),
    ],
};

static SERVICE_PORT: Message = Message {
    name: "ServicePort",
    fields: &[
        f(1, "name", Str, ValOmit),
        f(2, "protocol", Str, ValOmit),
        f(6, "appProtocol", Str, PtrOmit),
        f(3, "port", I32, Val),
        f(4, "targetPort", IntOrString, ValOmit),
        f(5, "nodePort", I32, ValOmit),
    ],
};

static SESSION_AFFINITY_CONFIG: Message = Message {
    name: "SessionAffinityConfig",
    fields: &[f(1, "clientIP", Msg(&CLIENT_IP_CONFIG), PtrOmit)],
};

static CLIENT_IP_CONFIG: Message = Message {
    name: "ClientIPConfig",
    fields: &[f(1, "timeoutSeconds", I32, PtrOmit)],
};

static SERVICE_STATUS: Message = Message {
    name: "ServiceStatus",
    fields: &[
        f(1, "loadBalancer", Msg(&LOAD_BALANCER_STATUS), ValOmit),
        f(2, "conditions", Msg(&CONDITION), ListOmit),
    ],
};

static LOAD_BALANCER_STATUS: Message = Message {
    name: "LoadBalancerStatus",
    fields: &[f(1, "ingress", Msg(&LOAD_BALANCER_INGRESS), ListOmit)],
};

static LOAD_BALANCER_INGRESS: Message = Message {
    name: "LoadBalancerIngress",
    fields: &[
        f(1, "ip", Str, ValOmit),
        f(2, "hostname", Str, ValOmit),
        f(3, "ipMode", Str, PtrOmit),
        f(4, "ports", Msg(&PORT_STATUS), ListOmit),
    ],
};

static PORT_STATUS: Message = Message {
    name: "PortStatus",
    fields: &[
        f(1, "port", I32, Val),
        f(2, "protocol", Str, Val),
        f(3, "error", Str, PtrOmit),
    ],
};
