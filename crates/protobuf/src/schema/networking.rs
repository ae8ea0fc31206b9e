//! `networking.k8s.io/v1` Ingress.

use super::core::TYPED_LOCAL_OBJECT_REFERENCE;
use super::meta::OBJECT_META;
use super::Kind::*;
use super::Shape::*;
use super::{f, Message};

/// `Ingress`.
pub(crate) static INGRESS: Message = Message {
    name: "Ingress",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META), ValOmit),
        f(2, "spec", Msg(&INGRESS_SPEC), ValOmit),
        f(3, "status", Msg(&INGRESS_STATUS), ValOmit),
    ],
};

static INGRESS_SPEC: Message = Message {
    name: "IngressSpec",
    fields: &[
        f(4, "ingressClassName", Str, PtrOmit),
        f(1, "defaultBackend", Msg(&INGRESS_BACKEND), PtrOmit),
        f(2, "tls", Msg(&INGRESS_TLS), ListOmit),
        f(3, "rules", Msg(&INGRESS_RULE), ListOmit),
    ],
};

static INGRESS_BACKEND: Message = Message {
    name: "IngressBackend",
    fields: &[
        f(4, "service", Msg(&INGRESS_SERVICE_BACKEND), PtrOmit),
        f(3, "resource", Msg(&TYPED_LOCAL_OBJECT_REFERENCE), PtrOmit),
    ],
};

static INGRESS_SERVICE_BACKEND: Message = Message {
    name: "IngressServiceBackend",
    fields: &[
        f(1, "name", Str, Val),
        f(2, "port", Msg(&SERVICE_BACKEND_PORT), ValOmit),
    ],
};

static SERVICE_BACKEND_PORT: Message = Message {
    name: "ServiceBackendPort",
    fields: &[f(1, "name", Str, ValOmit), f(2, "number", I32, ValOmit)],
};

static INGRESS_TLS: Message = Message {
    name: "IngressTLS",
    fields: &[
        f(1, "hosts", Str, ListOmit),
        f(2, "secretName", Str, ValOmit),
    ],
};

/// `IngressRule`: the rule value (`http`) is inlined.
static INGRESS_RULE: Message = Message {
    name: "IngressRule",
    fields: &[
        f(1, "host", Str, ValOmit),
        f(2, "ingressRuleValue", Msg(&INGRESS_RULE_VALUE), Inline),
    ],
};

static INGRESS_RULE_VALUE: Message = Message {
    name: "IngressRuleValue",
    fields: &[f(1, "http", Msg(&HTTP_INGRESS_RULE_VALUE), PtrOmit)],
};

static HTTP_INGRESS_RULE_VALUE: Message = Message {
    name: "HTTPIngressRuleValue",
    fields: &[f(1, "paths", Msg(&HTTP_INGRESS_PATH), List)],
};

static HTTP_INGRESS_PATH: Message = Message {
    name: "HTTPIngressPath",
    fields: &[
        f(1, "path", Str, ValOmit),
        f(3, "pathType", Str, Ptr),
        f(2, "backend", Msg(&INGRESS_BACKEND), Val),
    ],
};

static INGRESS_STATUS: Message = Message {
    name: "IngressStatus",
    fields: &[f(
        1,
        "loadBalancer",
        Msg(&INGRESS_LOAD_BALANCER_STATUS),
        ValOmit,
    )],
};

static INGRESS_LOAD_BALANCER_STATUS: Message = Message {
    name: "IngressLoadBalancerStatus",
    fields: &[f(
        1,
        "ingress",
        Msg(&INGRESS_LOAD_BALANCER_INGRESS),
        ListOmit,
    )],
};

static INGRESS_LOAD_BALANCER_INGRESS: Message = Message {
    name: "IngressLoadBalancerIngress",
    fields: &[
        f(1, "ip", Str, ValOmit),
        f(2, "hostname", Str, ValOmit),
        f(4, "ports", Msg(&INGRESS_PORT_STATUS), ListOmit),
    ],
};

static INGRESS_PORT_STATUS: Message = Message {
    name: "IngressPortStatus",
    fields: &[
        f(1, "port", I32, Val),
        f(2, "protocol", Str, Val),
        f(3, "error", Str, PtrOmit),
    ],
};
