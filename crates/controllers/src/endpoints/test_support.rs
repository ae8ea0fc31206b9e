//! Builders of Services and pods for the unit tests of the endpoint controllers.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, Pod, PodCondition, PodIP, PodSpec, PodStatus, Service, ServicePort,
    ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A ClusterIP Service `name` selecting `app=<app>` with `ports` (name, port, targetPort).
pub fn service(name: &str, app: &str, ports: &[(&str, i32, IntOrString)]) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(format!("uid-{name}")),
            creation_timestamp: Some(Time("2024-01-01T00:00:00Z".parse().unwrap())),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            selector: Some(map(&[("app", app)])),
            cluster_ip: Some("10.96.0.10".into()),
            ip_families: Some(vec!["IPv4".into()]),
            ports: Some(
                ports
                    .iter()
                    .map(|(n, p, t)| ServicePort {
                        name: (!n.is_empty()).then(|| n.to_string()),
                        port: *p,
                        target_port: Some(t.clone()),
                        protocol: Some("TCP".into()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A pod `name` labelled `app=<app>` on `node-a` with `ip`, readiness `ready`, and container
/// ports (name, number).
pub fn pod(name: &str, app: &str, ip: &str, ready: bool, ports: &[(&str, i32)]) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(format!("uid-{name}")),
            labels: Some(map(&[("app", app)])),
            resource_version: Some("1".into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            node_name: Some("node-a".into()),
            containers: vec![Container {
                name: "c".into(),
                ports: Some(
                    ports
                        .iter()
                        .map(|(n, p)| ContainerPort {
                            name: (!n.is_empty()).then(|| n.to_string()),
                            container_port: *p,
                            protocol: Some("TCP".into()),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some("Running".into()),
            pod_ip: (!ip.is_empty()).then(|| ip.to_string()),
            pod_ips: (!ip.is_empty()).then(|| vec![PodIP { ip: ip.into() }]),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    }
}

/// `IntOrString::Int`.
pub fn num(n: i32) -> IntOrString {
    IntOrString::Int(n)
}

/// `IntOrString::String`.
pub fn named(s: &str) -> IntOrString {
    IntOrString::String(s.into())
}
