//! The schema of the old Ingress versions (`extensions/v1beta1`, `networking.k8s.io/v1beta1`,
//! the same shape), which `k8s-openapi` no longer carries: only the field names matter here,
//! for finding the unknown ones.

#![allow(dead_code)]

use k8s_openapi::api::core::v1::TypedLocalObjectReference;
use k8s_openapi::api::networking::v1::{IngressStatus, IngressTLS};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Deserialize;

/// An old-version Ingress.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Ingress {
    api_version: Option<String>,
    kind: Option<String>,
    metadata: Option<ObjectMeta>,
    spec: Option<IngressSpec>,
    status: Option<IngressStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IngressSpec {
    ingress_class_name: Option<String>,
    backend: Option<IngressBackend>,
    tls: Option<Vec<IngressTLS>>,
    rules: Option<Vec<IngressRule>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IngressBackend {
    service_name: Option<String>,
    service_port: Option<IntOrString>,
    resource: Option<TypedLocalObjectReference>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IngressRule {
    host: Option<String>,
    http: Option<HttpIngressRuleValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpIngressRuleValue {
    paths: Option<Vec<HttpIngressPath>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpIngressPath {
    path: Option<String>,
    path_type: Option<String>,
    backend: Option<IngressBackend>,
}
