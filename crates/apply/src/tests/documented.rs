//! fieldsV1 encodings compared with entries Kubernetes wrote, as shown by
//! `kubectl get -o json --show-managed-fields` in published examples.

use serde_json::json;

use super::{fields, T0, T1};
use crate::{apply, record_subresource_update, record_update};

/// A Pod created by the ReplicaSet controller (published in an admission review example), as the
/// field manager sees it: defaulted, before admission adds the service account volume,
/// tolerations and priority.
#[test]
fn pod_created_by_a_controller() {
    let mut pod = json!({"kind": "Pod", "apiVersion": "v1",
        "metadata": {"generateName": "nginx-6fc77dcb7c-", "creationTimestamp": null,
            "labels": {"app": "nginx", "pod-template-hash": "6fc77dcb7c"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": "nginx-6fc77dcb7c", "uid": "932f1aea-0723-4eb1-ba49-76e36fcd7a5d",
                "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.21",
                "ports": [{"containerPort": 80, "protocol": "TCP"}], "resources": {},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent"}],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst", "securityContext": {},
            "schedulerName": "default-scheduler", "enableServiceLinks": true},
        "status": {}});
    record_update(
        None,
        &mut pod,
        "kube-controller-manager",
        "2021-12-12T15:26:53Z",
    );
    let uid = "k:{\"uid\":\"932f1aea-0723-4eb1-ba49-76e36fcd7a5d\"}";
    let expected = json!({
        "f:metadata": {"f:generateName": {},
            "f:labels": {".": {}, "f:app": {}, "f:pod-template-hash": {}},
            "f:ownerReferences": {".": {}, uid: {".": {}, "f:apiVersion": {},
                "f:blockOwnerDeletion": {}, "f:controller": {}, "f:kind": {}, "f:name": {},
                "f:uid": {}}}},
        "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {".": {}, "f:image": {},
                "f:imagePullPolicy": {}, "f:name": {},
                "f:ports": {".": {}, "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                    ".": {}, "f:containerPort": {}, "f:protocol": {}}},
                "f:resources": {}, "f:terminationMessagePath": {},
                "f:terminationMessagePolicy": {}}},
            "f:dnsPolicy": {}, "f:enableServiceLinks": {}, "f:restartPolicy": {},
            "f:schedulerName": {}, "f:securityContext": {},
            "f:terminationGracePeriodSeconds": {}}});
    assert_eq!(fields(&pod, "kube-controller-manager", "Update"), expected);
    assert_eq!(
        pod["metadata"]["managedFields"][0]["time"],
        "2021-12-12T15:26:53Z"
    );
    assert_eq!(pod["metadata"]["managedFields"][0]["apiVersion"], "v1");
}

/// A NodePort Service created by Helm (published `kubectl get svc -o json` output), without the
/// fields the Service registry allocates after the field manager runs (clusterIP, ipFamilies).
#[test]
fn service_created_by_helm() {
    let mut svc = json!({"kind": "Service", "apiVersion": "v1",
        "metadata": {"name": "ks-console", "namespace": "kubesphere-system",
            "labels": {"app": "ks-console", "app.kubernetes.io/managed-by": "Helm",
                "tier": "frontend", "version": "v4.1.1"},
            "annotations": {"meta.helm.sh/release-name": "ks-core",
                "meta.helm.sh/release-namespace": "kubesphere-system"}},
        "spec": {"ports": [{"name": "nginx", "protocol": "TCP", "port": 80, "targetPort": 8000,
                "nodePort": 30880}],
            "selector": {"app": "ks-console", "tier": "frontend"}, "type": "NodePort",
            "sessionAffinity": "None", "externalTrafficPolicy": "Cluster",
            "internalTrafficPolicy": "Cluster"},
        "status": {"loadBalancer": {}}});
    record_update(None, &mut svc, "helm", "2024-07-09T07:00:31Z");
    let expected = json!({
        "f:metadata": {
            "f:annotations": {".": {}, "f:meta.helm.sh/release-name": {},
                "f:meta.helm.sh/release-namespace": {}},
            "f:labels": {".": {}, "f:app": {}, "f:app.kubernetes.io/managed-by": {},
                "f:tier": {}, "f:version": {}}},
        "f:spec": {"f:externalTrafficPolicy": {}, "f:internalTrafficPolicy": {},
            "f:ports": {".": {}, "k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:name": {},
                "f:nodePort": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}}},
            "f:selector": {}, "f:sessionAffinity": {}, "f:type": {}}});
    assert_eq!(fields(&svc, "helm", "Update"), expected);
}

/// A Service applied server-side by Argo CD (published managedFields of an `Apply` entry).
#[test]
fn service_applied_server_side() {
    let labels = json!({"app.kubernetes.io/component": "server",
        "app.kubernetes.io/instance": "edp", "app.kubernetes.io/managed-by": "Helm",
        "app.kubernetes.io/name": "x", "app.kubernetes.io/part-of": "x",
        "app.kubernetes.io/version": "1", "argocd.argoproj.io/instance-edp": "edp",
        "helm.sh/chart": "x-1"});
    let config = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "x", "namespace": "edp", "labels": labels},
        "spec": {"type": "ClusterIP", "sessionAffinity": "None",
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
                      {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443}],
            "selector": {"app.kubernetes.io/name": "x"}}});
    let object = apply(
        None,
        &config,
        "argocd-controller",
        false,
        "2025-08-01T14:44:31Z",
    )
    .unwrap()
    .object;
    let port = json!({".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}});
    let expected = json!({
        "f:metadata": {"f:labels": {"f:app.kubernetes.io/component": {},
            "f:app.kubernetes.io/instance": {}, "f:app.kubernetes.io/managed-by": {},
            "f:app.kubernetes.io/name": {}, "f:app.kubernetes.io/part-of": {},
            "f:app.kubernetes.io/version": {}, "f:argocd.argoproj.io/instance-edp": {},
            "f:helm.sh/chart": {}}},
        "f:spec": {"f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": port.clone(),
                "k:{\"port\":443,\"protocol\":\"TCP\"}": port},
            "f:selector": {}, "f:sessionAffinity": {}, "f:type": {}}});
    assert_eq!(fields(&object, "argocd-controller", "Apply"), expected);
}

/// A Deployment applied server-side: containers and their ports by key, defaulted protocol in
/// the key but not owned, struct fields without `"."`.
#[test]
fn deployment_applied_server_side() {
    let config = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx-deployment", "labels": {"app": "nginx"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "nginx"}},
            "template": {"metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.14.2",
                    "ports": [{"containerPort": 80}]}]}}}});
    let object = apply(None, &config, "kubectl", false, T0).unwrap().object;
    let expected = json!({
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {"f:replicas": {}, "f:selector": {},
            "f:template": {"f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {".": {}, "f:image": {},
                    "f:name": {}, "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                        ".": {}, "f:containerPort": {}}}}}}}}});
    assert_eq!(fields(&object, "kubectl", "Apply"), expected);
}

/// A Deployment created with `kubectl create`, defaulted: the value structs (`spec`,
/// `strategy`, `template`) and the always-serialized `containers` list carry no `"."`, pointer
/// structs (`rollingUpdate`) and `omitempty` lists (`ports`) do.
#[test]
fn deployment_created_and_defaulted() {
    let mut deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}], "resources": {}}],
                    "restartPolicy": "Always"}}}});
    record_update(None, &mut deployment, "kubectl-create", T0);
    let expected = json!({
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {"f:replicas": {}, "f:selector": {},
            "f:strategy": {"f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}},
                "f:type": {}},
            "f:template": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {},
                    "f:name": {}, "f:ports": {".": {},
                        "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {},
                            "f:containerPort": {}, "f:protocol": {}}},
                    "f:resources": {}}},
                    "f:restartPolicy": {}}}}});
    assert_eq!(fields(&deployment, "kubectl-create", "Update"), expected);
}

/// A status write through the status subresource owns status fields only, in an entry that
/// names the subresource.
#[test]
fn status_writes_are_recorded_with_their_subresource() {
    let mut svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb"},
        "spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {}}});
    record_update(None, &mut svc, "kubectl-create", T0);
    let mut updated = svc.clone();
    updated["status"]["loadBalancer"]["ingress"] = json!([{"ip": "192.0.2.10"}]);
    record_subresource_update(Some(&svc), &mut updated, "portico-lb", "status", T1);
    let entry = super::entry(&updated, "portico-lb", "Update").unwrap();
    assert_eq!(entry["subresource"], "status");
    assert_eq!(
        entry["fieldsV1"],
        json!({"f:status": {"f:loadBalancer": {"f:ingress": {}}}})
    );
    // The same change through the main resource is not owned (its strategy resets status).
    let mut through_main = svc.clone();
    through_main["status"]["loadBalancer"]["ingress"] = json!([{"ip": "192.0.2.10"}]);
    record_update(Some(&svc), &mut through_main, "someone", T1);
    assert_eq!(
        through_main["metadata"]["managedFields"],
        svc["metadata"]["managedFields"]
    );
}
