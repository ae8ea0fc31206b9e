//! The ingress add-on every `portico up` cluster runs, as ingress-nginx's manifests set it up:
//! namespace `ingress-portico`, the default IngressClass `portico`, the controller Deployment
//! (image `portico/ingress-controller`) and its LoadBalancer Service, whose HTTP and HTTPS
//! ports the host side also opens on `LISTEN:--http-port` and `LISTEN:--https-port`.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::networking::v1::IngressClass;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

/// The controller's namespace.
pub const NAMESPACE: &str = "ingress-portico";
/// The controller's Deployment and LoadBalancer Service.
pub const NAME: &str = "ingress-portico-controller";
/// The default IngressClass.
pub const CLASS: &str = "portico";

/// Creates (or updates) the namespace, IngressClass, Deployment and Service.
pub async fn apply(client: &kube::Client) -> anyhow::Result<()> {
    let params = PatchParams::apply("portico-up").force();
    let labels = json!({
        "app.kubernetes.io/name": "ingress-portico",
        "app.kubernetes.io/component": "controller",
    });
    let namespace: Namespace = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": NAMESPACE, "labels": {"app.kubernetes.io/name": "ingress-portico"}},
    }))?;
    Api::<Namespace>::all(client.clone())
        .patch(NAMESPACE, &params, &Patch::Apply(&namespace))
        .await?;
    let class: IngressClass = serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
        "metadata": {
            "name": CLASS,
            "labels": labels,
            "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"},
        },
        "spec": {"controller": "portico.dev/ingress-controller"},
    }))?;
    Api::<IngressClass>::all(client.clone())
        .patch(CLASS, &params, &Patch::Apply(&class))
        .await?;
    let service: Service = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "type": "LoadBalancer",
            "selector": labels,
            "ports": [
                {"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"},
                {"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"},
            ],
        },
    }))?;
    Api::<Service>::namespaced(client.clone(), NAMESPACE)
        .patch(NAME, &params, &Patch::Apply(&service))
        .await?;
    let deployment: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 30,
                    "containers": [{
                        "name": "controller",
                        "image": "portico/ingress-controller",
                        "args": [
                            format!("--publish-service={NAMESPACE}/{NAME}"),
                            format!("--ingress-class={CLASS}"),
                        ],
                        "ports": [
                            {"name": "http", "containerPort": 80, "protocol": "TCP"},
                            {"name": "https", "containerPort": 443, "protocol": "TCP"},
                            {"name": "health", "containerPort": 10254, "protocol": "TCP"},
                        ],
                        "readinessProbe": {
                            "httpGet": {"path": "/healthz", "port": 10254},
                            "periodSeconds": 2,
                        },
                        "livenessProbe": {
                            "httpGet": {"path": "/healthz", "port": 10254},
                            "initialDelaySeconds": 10, "periodSeconds": 10,
                            "timeoutSeconds": 1, "failureThreshold": 5,
                        },
                    }],
                },
            },
        },
    }))?;
    Api::<Deployment>::namespaced(client.clone(), NAMESPACE)
        .patch(NAME, &params, &Patch::Apply(&deployment))
        .await?;
    Ok(())
}
