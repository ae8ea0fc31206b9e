//! Validation tables for workloads, Ingress, IngressClass, EndpointSlice and Lease.

use serde_json::{json, Value};

use super::tests_core::{check, one, Causes};

fn deployment(spec: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx-deployment", "namespace": "default", "labels": {"app": "nginx"}}, "spec": spec})
}

fn nginx_template() -> Value {
    json!({"metadata": {"labels": {"app": "nginx"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx:1.14.2", "ports": [{"containerPort": 80}]}]}})
}

#[test]
fn docs_workloads_are_valid() {
    let d = deployment(
        json!({"replicas": 3, "selector": {"matchLabels": {"app": "nginx"}}, "template": nginx_template()}),
    );
    assert_eq!(check("apps/v1", "Deployment", d, None), vec![]);
    let rs = json!({"metadata": {"name": "frontend", "namespace": "default"}, "spec": {"replicas": 3,
        "selector": {"matchLabels": {"tier": "frontend"}},
        "template": {"metadata": {"labels": {"tier": "frontend"}}, "spec": {"containers": [{"name": "php-redis", "image": "us-docker.pkg.dev/google-samples/containers/gke/gb-frontend:v5"}]}}}});
    assert_eq!(check("apps/v1", "ReplicaSet", rs, None), vec![]);
    let sts = json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"serviceName": "nginx", "replicas": 3, "minReadySeconds": 10,
        "selector": {"matchLabels": {"app": "nginx"}}, "template": nginx_template()}});
    assert_eq!(check("apps/v1", "StatefulSet", sts, None), vec![]);
    let rc = json!({"metadata": {"name": "nginx", "namespace": "default"}, "spec": {"replicas": 3, "selector": {"app": "nginx"}, "template": nginx_template()}});
    assert_eq!(check("v1", "ReplicationController", rc, None), vec![]);
}

#[test]
fn deployment_selector_rules() {
    let mismatch = deployment(
        json!({"selector": {"matchLabels": {"app": "web"}}, "template": nginx_template()}),
    );
    assert_eq!(
        check("apps/v1", "Deployment", mismatch, None),
        one("spec.template.metadata.labels", "FieldValueInvalid", "Invalid value: map[string]string{\"app\":\"nginx\"}: `selector` does not match template `labels`")
    );
    let missing = deployment(json!({"template": nginx_template()}));
    assert_eq!(
        check("apps/v1", "Deployment", missing, None),
        vec![
            ("spec.selector".into(), "FieldValueRequired".into(), "Required value".into()),
            ("spec.template.metadata.labels".into(), "FieldValueInvalid".into(), "Invalid value: map[string]string{\"app\":\"nginx\"}: `selector` does not match template `labels`".into()),
        ]
    );
    let empty = deployment(json!({"selector": {}, "template": nginx_template()}));
    assert_eq!(
        check("apps/v1", "Deployment", empty, None),
        one("spec.selector", "FieldValueInvalid", "Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment")
    );
    let negative = deployment(
        json!({"replicas": -1, "selector": {"matchLabels": {"app": "nginx"}}, "template": nginx_template()}),
    );
    assert_eq!(
        check("apps/v1", "Deployment", negative, None),
        one(
            "spec.replicas",
            "FieldValueInvalid",
            "Invalid value: -1: must be greater than or equal to 0"
        )
    );
}

#[test]
fn deployment_selector_is_immutable() {
    let mut old = deployment(
        json!({"selector": {"matchLabels": {"app": "nginx"}}, "template": nginx_template()}),
    );
    old["metadata"]["resourceVersion"] = json!("7");
    let mut new = old.clone();
    new["spec"]["selector"] = json!({"matchLabels": {"app": "nginx", "tier": "web"}});
    new["spec"]["template"]["metadata"]["labels"]["tier"] = json!("web");
    assert_eq!(
        check("apps/v1", "Deployment", new, Some(old)),
        one("spec.selector", "FieldValueInvalid", "Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"nginx\", \"tier\":\"web\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable")
    );
}

#[test]
fn workload_template_pod_spec_is_validated() {
    let mut template = nginx_template();
    template["spec"]["restartPolicy"] = json!("Never");
    template["spec"]["containers"][0]["name"] = json!("Nginx");
    let d =
        deployment(json!({"selector": {"matchLabels": {"app": "nginx"}}, "template": template}));
    let causes = check("apps/v1", "Deployment", d, None);
    let fields: Vec<&str> = causes.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "spec.template.spec.containers[0].name",
            "spec.template.spec.restartPolicy"
        ]
    );
    assert_eq!(
        causes[1].2,
        "Unsupported value: \"Never\": supported values: \"Always\""
    );
    let mut bad_strategy = deployment(
        json!({"selector": {"matchLabels": {"app": "nginx"}}, "template": nginx_template()}),
    );
    bad_strategy["spec"]["strategy"] =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}});
    assert_eq!(
        check("apps/v1", "Deployment", bad_strategy, None),
        one("spec.strategy.rollingUpdate.maxUnavailable", "FieldValueInvalid", "Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}: may not be 0 when `maxSurge` is 0")
    );
}

#[test]
fn statefulset_update_and_rc() {
    let mut old = json!({"metadata": {"name": "web", "namespace": "default", "resourceVersion": "2"},
        "spec": {"serviceName": "nginx", "selector": {"matchLabels": {"app": "nginx"}}, "template": nginx_template()}});
    let mut new = old.clone();
    new["spec"]["replicas"] = json!(5);
    assert_eq!(
        check("apps/v1", "StatefulSet", new.clone(), Some(old.clone())),
        vec![]
    );
    new["spec"]["serviceName"] = json!("other");
    let causes = check("apps/v1", "StatefulSet", new, Some(old.clone()));
    assert_eq!(causes.len(), 1);
    assert_eq!(causes[0].0, "spec");
    assert_eq!(causes[0].1, "FieldValueForbidden");
    old["spec"]["podManagementPolicy"] = json!("Sometimes");
    old["metadata"]
        .as_object_mut()
        .map(|m| m.remove("resourceVersion"));
    assert_eq!(
        check("apps/v1", "StatefulSet", old, None),
        one(
            "spec.podManagementPolicy",
            "FieldValueInvalid",
            "Invalid value: \"Sometimes\": must be 'OrderedReady' or 'Parallel'"
        )
    );
    let rc = json!({"metadata": {"name": "nginx", "namespace": "default"}, "spec": {"selector": {"app": "web"}, "template": nginx_template()}});
    assert_eq!(
        check("v1", "ReplicationController", rc, None),
        one("spec.template.metadata.labels", "FieldValueInvalid", "Invalid value: map[string]string{\"app\":\"nginx\"}: `selector` does not match template `labels`")
    );
}

fn ingress(spec: Value) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "minimal-ingress", "namespace": "default"}, "spec": spec})
}

fn rule(host: &str, path: &str, path_type: Option<&str>, backend: Value) -> Value {
    let mut p = json!({"path": path, "backend": backend});
    if let Some(pt) = path_type {
        p["pathType"] = json!(pt);
    }
    json!({"host": host, "http": {"paths": [p]}})
}

#[test]
fn docs_ingresses_are_valid() {
    let svc = json!({"service": {"name": "test", "port": {"number": 80}}});
    let specs = [
        json!({"ingressClassName": "nginx-example", "rules": [{"http": {"paths": [{"path": "/testpath", "pathType": "Prefix", "backend": svc}]}}]}),
        json!({"defaultBackend": {"resource": {"apiGroup": "k8s.example.com", "kind": "StorageBucket", "name": "static-assets"}}}),
        json!({"rules": [rule("*.foo.com", "/foo", Some("Prefix"), json!({"service": {"name": "service2", "port": {"name": "http"}}}))]}),
        json!({"tls": [{"hosts": ["https-example.foo.com"], "secretName": "testsecret-tls"}], "rules": [rule("https-example.foo.com", "/", Some("Prefix"), svc.clone())]}),
        json!({"rules": [rule("foo.bar.com", "", Some("ImplementationSpecific"), svc)]}),
    ];
    for spec in specs {
        assert_eq!(
            check(
                "networking.k8s.io/v1",
                "Ingress",
                ingress(spec.clone()),
                None
            ),
            vec![],
            "{spec}"
        );
    }
}

#[test]
fn invalid_ingresses() {
    let svc = json!({"service": {"name": "test", "port": {"number": 80}}});
    let table: Vec<(Value, Causes)> = vec![
        (
            json!({}),
            one("spec", "FieldValueInvalid", "Invalid value: []networking.IngressRule(nil): either `defaultBackend` or `rules` must be specified"),
        ),
        (
            json!({"rules": [rule("foo.com", "/", None, svc.clone())]}),
            one("spec.rules[0].http.paths[0].pathType", "FieldValueRequired", "Required value: pathType must be specified"),
        ),
        (
            json!({"rules": [rule("foo.com", "foo", Some("Exact"), svc.clone())]}),
            one("spec.rules[0].http.paths[0].path", "FieldValueInvalid", "Invalid value: \"foo\": must be an absolute path"),
        ),
        (
            json!({"rules": [rule("foo.com", "/", Some("Regex"), svc.clone())]}),
            one("spec.rules[0].http.paths[0].pathType", "FieldValueNotSupported", "Unsupported value: \"Regex\": supported values: \"Exact\", \"ImplementationSpecific\", \"Prefix\""),
        ),
        (
            json!({"rules": [rule("1.2.3.4", "/", Some("Prefix"), svc.clone())]}),
            one("spec.rules[0].host", "FieldValueInvalid", "Invalid value: \"1.2.3.4\": must be a DNS name, not an IP address"),
        ),
        (
            json!({"rules": [rule("foo.*.com", "/", Some("Prefix"), svc.clone())]}),
            one("spec.rules[0].host", "FieldValueInvalid", "Invalid value: \"foo.*.com\": a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
        ),
        (
            json!({"defaultBackend": {"service": {"name": "test", "port": {}}}}),
            one("spec.defaultBackend", "FieldValueRequired", "Required value: port name or number is required"),
        ),
        (
            json!({"defaultBackend": {"service": {"name": "test", "port": {"number": 80, "name": "http"}}}}),
            one("spec.defaultBackend", "FieldValueInvalid", "Invalid value: \"\": cannot set both port name & port number"),
        ),
        (
            json!({"defaultBackend": {}}),
            one("spec.defaultBackend", "FieldValueInvalid", "Invalid value: \"\": resource or service backend is required"),
        ),
    ];
    for (spec, want) in table {
        assert_eq!(
            check(
                "networking.k8s.io/v1",
                "Ingress",
                ingress(spec.clone()),
                None
            ),
            want,
            "{spec}"
        );
    }
}

#[test]
fn ingress_class_and_lease() {
    let ok = json!({"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}});
    assert_eq!(
        check("networking.k8s.io/v1", "IngressClass", ok.clone(), None),
        vec![]
    );
    let bad = json!({"metadata": {"name": "nginx"}, "spec": {"controller": "nginx"}});
    assert_eq!(
        check("networking.k8s.io/v1", "IngressClass", bad, None),
        one(
            "spec.controller",
            "FieldValueInvalid",
            "Invalid value: \"nginx\": must be a domain-prefixed path (such as \"acme.io/foo\")"
        )
    );
    let mut old = ok;
    old["metadata"]["resourceVersion"] = json!("1");
    let mut new = old.clone();
    new["spec"]["controller"] = json!("example.com/other");
    assert_eq!(
        check("networking.k8s.io/v1", "IngressClass", new, Some(old)),
        one(
            "spec.controller",
            "FieldValueInvalid",
            "Invalid value: \"example.com/other\": field is immutable"
        )
    );
    let lease = json!({"metadata": {"name": "node-1", "namespace": "kube-node-lease"}, "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 0}});
    assert_eq!(
        check("coordination.k8s.io/v1", "Lease", lease, None),
        one(
            "spec.leaseDurationSeconds",
            "FieldValueInvalid",
            "Invalid value: 0: must be greater than 0"
        )
    );
}

#[test]
fn endpoint_slices() {
    let ok = json!({"metadata": {"name": "example-abc", "namespace": "default", "labels": {"kubernetes.io/service-name": "example"}},
        "addressType": "IPv4", "ports": [{"name": "http", "protocol": "TCP", "port": 80}],
        "endpoints": [{"addresses": ["10.1.2.3"], "conditions": {"ready": true}, "hostname": "pod-1", "nodeName": "node-1", "zone": "us-west2-a"}]});
    assert_eq!(
        check("discovery.k8s.io/v1", "EndpointSlice", ok.clone(), None),
        vec![]
    );
    let mut bad = ok.clone();
    bad["endpoints"][0]["addresses"] = json!(["fd00::1"]);
    assert_eq!(
        check("discovery.k8s.io/v1", "EndpointSlice", bad, None),
        one(
            "endpoints[0].addresses[0]",
            "FieldValueInvalid",
            "Invalid value: \"fd00::1\": must be a valid IPv4 address"
        )
    );
    let mut bad = ok.clone();
    bad["addressType"] = json!("IP");
    assert_eq!(
        check("discovery.k8s.io/v1", "EndpointSlice", bad, None),
        one(
            "addressType",
            "FieldValueNotSupported",
            "Unsupported value: \"IP\": supported values: \"FQDN\", \"IPv4\", \"IPv6\""
        )
    );
    let mut bad = ok;
    bad["endpoints"][0]["addresses"] = json!([]);
    bad["ports"][0]["protocol"] = json!("HTTP");
    assert_eq!(
        check("discovery.k8s.io/v1", "EndpointSlice", bad, None),
        vec![
            (
                "endpoints[0].addresses".into(),
                "FieldValueRequired".into(),
                "Required value: must contain at least 1 address".into()
            ),
            (
                "ports[0].protocol".into(),
                "FieldValueNotSupported".into(),
                "Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"".into()
            ),
        ]
    );
}
