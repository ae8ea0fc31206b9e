//! Defaulting tests: the fields `kubectl get -o yaml` shows on a freshly created object.

use serde_json::{json, Value};

use super::*;
use crate::registry::by_kind;

fn defaulted(api_version: &str, kind: &str, mut obj: Value) -> Value {
    let res = by_kind(api_version, kind).copied();
    assert!(res.is_some(), "unknown kind {kind}");
    if let Some(res) = res {
        apply_defaults(&res, &mut obj);
    }
    obj
}

#[test]
fn service_defaults() {
    let svc = defaulted(
        "v1",
        "Service",
        json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
    );
    assert_eq!(
        svc["spec"],
        json!({
            "selector": {"app": "web"},
            "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
            "type": "ClusterIP",
            "sessionAffinity": "None",
            "internalTrafficPolicy": "Cluster",
            "ipFamilyPolicy": "SingleStack",
            "ipFamilies": ["IPv4"]
        })
    );
    assert_eq!(svc["status"], json!({"loadBalancer": {}}));
}

#[test]
fn load_balancer_and_client_ip_defaults() {
    let svc = defaulted(
        "v1",
        "Service",
        json!({"spec": {"type": "LoadBalancer", "sessionAffinity": "ClientIP", "ports": [{"port": 443, "targetPort": "https"}]}}),
    );
    let spec = &svc["spec"];
    assert_eq!(spec["externalTrafficPolicy"], "Cluster");
    assert_eq!(spec["allocateLoadBalancerNodePorts"], true);
    assert_eq!(
        spec["sessionAffinityConfig"],
        json!({"clientIP": {"timeoutSeconds": 10800}})
    );
    assert_eq!(spec["ports"][0]["targetPort"], "https");
}

#[test]
fn no_session_affinity_drops_its_configuration() {
    // A client that turns ClientIP off but sends the old timeout back (client-go's
    // read-modify-write) is not refused for it: SetDefaults_Service clears the config.
    let svc = defaulted(
        "v1",
        "Service",
        json!({"spec": {"sessionAffinity": "None", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}}, "ports": [{"port": 80}]}}),
    );
    assert_eq!(svc["spec"]["sessionAffinity"], "None");
    assert!(svc["spec"].get("sessionAffinityConfig").is_none(), "{svc}");
}

#[test]
fn external_name_and_headless_families() {
    let ext = defaulted(
        "v1",
        "Service",
        json!({"spec": {"type": "ExternalName", "externalName": "example.com"}}),
    );
    assert!(ext["spec"].get("ipFamilies").is_none());
    assert!(ext["spec"].get("ipFamilyPolicy").is_none());
    assert!(ext["spec"].get("internalTrafficPolicy").is_none());

    let headless = defaulted(
        "v1",
        "Service",
        json!({"spec": {"clusterIP": "None", "ports": [{"port": 80}]}}),
    );
    assert_eq!(headless["spec"]["clusterIPs"], json!(["None"]));
    assert_eq!(headless["spec"]["ipFamilyPolicy"], "RequireDualStack");
    assert_eq!(headless["spec"]["ipFamilies"], json!(["IPv4"]));

    let with_selector = defaulted(
        "v1",
        "Service",
        json!({"spec": {"clusterIP": "None", "selector": {"a": "b"}}}),
    );
    assert_eq!(with_selector["spec"]["ipFamilyPolicy"], "SingleStack");
}

#[test]
fn pod_defaults_and_admission() {
    let pod = defaulted(
        "v1",
        "Pod",
        json!({"metadata": {"name": "p", "namespace": "default"}, "spec": {"containers": [{
            "name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}],
            "readinessProbe": {"httpGet": {"port": 80}},
            "resources": {"limits": {"cpu": "1", "memory": "64Mi"}}
        }]}}),
    );
    let spec = &pod["spec"];
    assert_eq!(spec["restartPolicy"], "Always");
    assert_eq!(spec["dnsPolicy"], "ClusterFirst");
    assert_eq!(spec["schedulerName"], "default-scheduler");
    assert_eq!(spec["terminationGracePeriodSeconds"], 30);
    assert_eq!(spec["securityContext"], json!({}));
    assert_eq!(spec["enableServiceLinks"], true);
    assert_eq!(spec["serviceAccountName"], "default");
    assert_eq!(spec["serviceAccount"], "default");
    assert_eq!(spec["priority"], 0);
    assert_eq!(spec["preemptionPolicy"], "PreemptLowerPriority");
    assert_eq!(
        spec["tolerations"],
        json!([
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
        ])
    );
    let c = &spec["containers"][0];
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c["terminationMessagePolicy"], "File");
    assert_eq!(c["ports"][0]["protocol"], "TCP");
    assert_eq!(
        c["readinessProbe"],
        json!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
    );
    assert_eq!(
        c["resources"]["requests"],
        json!({"cpu": "1", "memory": "64Mi"})
    );
    assert_eq!(
        pod["status"],
        json!({"phase": "Pending", "qosClass": "Guaranteed"})
    );
}

#[test]
fn defaulting_is_idempotent() {
    let once = defaulted(
        "v1",
        "Pod",
        json!({"spec": {"containers": [{"name": "a", "image": "busybox"}]}}),
    );
    let twice = defaulted("v1", "Pod", once.clone());
    assert_eq!(once, twice);
    assert_eq!(
        once["spec"]["tolerations"].as_array().map(Vec::len),
        Some(2)
    );
}

#[test]
fn deployment_defaults_template_but_not_admission() {
    let d = defaulted(
        "apps/v1",
        "Deployment",
        json!({"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}}),
    );
    let spec = &d["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(
        spec["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    );
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    let tspec = &spec["template"]["spec"];
    assert_eq!(tspec["containers"][0]["imagePullPolicy"], "Always");
    assert_eq!(tspec["restartPolicy"], "Always");
    assert!(tspec.get("enableServiceLinks").is_none());
    assert!(tspec.get("tolerations").is_none());
    assert!(tspec.get("serviceAccountName").is_none());
    assert_eq!(
        spec["template"]["metadata"]["creationTimestamp"],
        Value::Null
    );
}

#[test]
fn statefulset_and_rc_defaults() {
    let s = defaulted(
        "apps/v1",
        "StatefulSet",
        json!({"spec": {"template": {"spec": {"containers": []}}}}),
    );
    assert_eq!(s["spec"]["podManagementPolicy"], "OrderedReady");
    assert_eq!(
        s["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    );
    assert_eq!(
        s["spec"]["persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
    );
    assert_eq!(s["spec"]["revisionHistoryLimit"], 10);

    let rc = defaulted(
        "v1",
        "ReplicationController",
        json!({"metadata": {"name": "rc"}, "spec": {"template": {"metadata": {"labels": {"app": "x"}}}}}),
    );
    assert_eq!(rc["spec"]["selector"], json!({"app": "x"}));
    assert_eq!(rc["metadata"]["labels"], json!({"app": "x"}));
    assert_eq!(rc["spec"]["replicas"], 1);
}

#[test]
fn small_kinds() {
    let sec = defaulted("v1", "Secret", json!({"stringData": {"user": "admin"}}));
    assert_eq!(sec["type"], "Opaque");
    assert_eq!(sec["data"], json!({"user": "YWRtaW4="}));
    assert!(sec.get("stringData").is_none());

    let ns = defaulted(
        "v1",
        "Namespace",
        json!({"metadata": {"name": "dev", "namespace": "x"}}),
    );
    assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
    assert_eq!(ns["status"]["phase"], "Active");
    assert_eq!(
        ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "dev"
    );
    assert!(ns["metadata"].get("namespace").is_none());

    let ep = defaulted(
        "v1",
        "Endpoints",
        json!({"subsets": [{"ports": [{"port": 80}]}]}),
    );
    assert_eq!(ep["subsets"][0]["ports"][0]["protocol"], "TCP");

    let eps = defaulted(
        "discovery.k8s.io/v1",
        "EndpointSlice",
        json!({"ports": [{"port": 80}]}),
    );
    assert_eq!(
        eps["ports"][0],
        json!({"port": 80, "name": "", "protocol": "TCP"})
    );
}

#[test]
fn update_keeps_allocated_values() {
    let old = json!({"spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
        "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}]}});
    let mut new = json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP"}]}});
    carry_over_allocated(&mut new, &old);
    assert_eq!(new["spec"]["clusterIP"], "10.96.0.10");
    assert_eq!(new["spec"]["clusterIPs"], json!(["10.96.0.10"]));
    assert_eq!(new["spec"]["ports"][0]["nodePort"], 30080);
}
