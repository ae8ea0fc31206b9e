//! Validation tables for Services, Pods, Endpoints and the small core kinds: valid objects from
//! the Kubernetes docs pass; invalid ones give Kubernetes' exact causes.

use serde_json::{json, Value};

use super::*;
use crate::defaults::apply_defaults;
use crate::registry::by_kind;

/// Causes as `(field, reason, message)` triples.
pub(super) type Causes = Vec<(String, String, String)>;

/// Defaults then validates, as the API server does; returns `(field, reason, message)`.
pub(super) fn check(
    api_version: &str,
    kind: &str,
    obj: Value,
    old: Option<Value>,
) -> Vec<(String, String, String)> {
    let Some(res) = by_kind(api_version, kind).copied() else {
        return vec![("?".into(), "unknown kind".into(), kind.into())];
    };
    let mut obj = obj;
    apply_defaults(&res, &mut obj);
    let old = old.map(|mut o| {
        apply_defaults(&res, &mut o);
        o
    });
    validate(&res, &obj, old.as_ref())
        .into_iter()
        .map(|c| (c.field, c.reason, c.message))
        .collect()
}

pub(super) fn one(field: &str, reason: &str, message: &str) -> Causes {
    vec![(field.into(), reason.into(), message.into())]
}

const DNS1035: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

fn svc(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "my-service", "namespace": "default"}, "spec": spec})
}

#[test]
fn docs_services_are_valid() {
    let specs = [
        json!({"selector": {"app.kubernetes.io/name": "MyApp"}, "ports": [{"protocol": "TCP", "port": 80, "targetPort": 9376}]}),
        json!({"selector": {"app": "MyApp"}, "ports": [{"name": "http", "port": 80, "targetPort": 9376}, {"name": "https", "port": 443, "targetPort": 9377}]}),
        json!({"type": "NodePort", "selector": {"app": "MyApp"}, "ports": [{"port": 80, "targetPort": 80, "nodePort": 30007}]}),
        json!({"type": "LoadBalancer", "selector": {"app": "MyApp"}, "ports": [{"port": 80, "targetPort": 9376}], "clusterIP": "10.0.171.239"}),
        json!({"type": "ExternalName", "externalName": "my.database.example.com"}),
        json!({"clusterIP": "None", "selector": {"app": "nginx"}, "ports": [{"port": 80, "name": "web"}]}),
        json!({"clusterIP": "None"}),
        json!({"selector": {"app": "MyApp"}, "ports": [{"port": 80}], "sessionAffinity": "ClientIP"}),
        json!({"selector": {"app": "MyApp"}, "ports": [{"port": 80}], "externalIPs": ["198.51.100.32"]}),
    ];
    for spec in specs {
        assert_eq!(
            check("v1", "Service", svc(spec.clone()), None),
            vec![],
            "{spec}"
        );
    }
}

#[test]
fn invalid_services() {
    let table: Vec<(Value, Causes)> = vec![
        (svc(json!({"selector": {"a": "b"}})), one("spec.ports", "FieldValueRequired", "Required value")),
        (
            svc(json!({"ports": [{"port": 80, "protocol": "tcp"}]})),
            one("spec.ports[0].protocol", "FieldValueNotSupported", "Unsupported value: \"tcp\": supported values: \"SCTP\", \"TCP\", \"UDP\""),
        ),
        (
            svc(json!({"ports": [{"port": 70000}]})),
            vec![
                ("spec.ports[0].port".into(), "FieldValueInvalid".into(), "Invalid value: 70000: must be between 1 and 65535, inclusive".into()),
                ("spec.ports[0].targetPort".into(), "FieldValueInvalid".into(), "Invalid value: 70000: must be between 1 and 65535, inclusive".into()),
            ],
        ),
        (
            svc(json!({"ports": [{"port": 80}, {"port": 81}]})),
            vec![
                ("spec.ports[0].name".into(), "FieldValueRequired".into(), "Required value".into()),
                ("spec.ports[1].name".into(), "FieldValueRequired".into(), "Required value".into()),
            ],
        ),
        (
            svc(json!({"ports": [{"name": "a", "port": 80}, {"name": "a", "port": 80}]})),
            vec![
                ("spec.ports[1].name".into(), "FieldValueDuplicate".into(), "Duplicate value: \"a\"".into()),
                ("spec.ports[1]".into(), "FieldValueDuplicate".into(), "Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}".into()),
            ],
        ),
        (
            svc(json!({"ports": [{"port": 80, "targetPort": "HTTP"}]})),
            vec![
                ("spec.ports[0].targetPort".into(), "FieldValueInvalid".into(), "Invalid value: \"HTTP\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into()),
                ("spec.ports[0].targetPort".into(), "FieldValueInvalid".into(), "Invalid value: \"HTTP\": must contain at least one letter (a-z)".into()),
            ],
        ),
        (
            svc(json!({"type": "Foo", "ports": [{"port": 80}]})),
            one("spec.type", "FieldValueNotSupported", "Unsupported value: \"Foo\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""),
        ),
        (
            svc(json!({"ports": [{"port": 80, "nodePort": 30000}]})),
            one("spec.ports[0].nodePort", "FieldValueForbidden", "Forbidden: may not be used when `type` is 'ClusterIP'"),
        ),
        (
            svc(json!({"type": "NodePort", "clusterIP": "None", "ports": [{"port": 80}]})),
            one("spec.clusterIPs[0]", "FieldValueInvalid", "Invalid value: \"None\": may not be set to 'None' for NodePort services"),
        ),
        (
            svc(json!({"clusterIP": "10.0.0.300", "ports": [{"port": 80}]})),
            one("spec.clusterIPs[0]", "FieldValueInvalid", "Invalid value: \"10.0.0.300\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"),
        ),
        (svc(json!({"type": "ExternalName"})), one("spec.externalName", "FieldValueRequired", "Required value")),
        (
            svc(json!({"type": "ExternalName", "externalName": "foo.com", "clusterIP": "10.0.0.1"})),
            one("spec.clusterIPs", "FieldValueForbidden", "Forbidden: may not be set for ExternalName services"),
        ),
        (
            svc(json!({"ports": [{"port": 80}], "sessionAffinity": "Sticky"})),
            one("spec.sessionAffinity", "FieldValueNotSupported", "Unsupported value: \"Sticky\": supported values: \"ClientIP\", \"None\""),
        ),
        (
            svc(json!({"ports": [{"port": 80}], "sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 86401}}})),
            one("spec.sessionAffinityConfig.clientIP.timeoutSeconds", "FieldValueInvalid", "Invalid value: 86401: must be greater than 0 and less than 86400"),
        ),
        (
            svc(json!({"ports": [{"port": 80}], "externalTrafficPolicy": "Local"})),
            one("spec.externalTrafficPolicy", "FieldValueInvalid", "Invalid value: \"Local\": may only be set for externally-accessible services"),
        ),
        (
            svc(json!({"ports": [{"port": 80}], "externalIPs": ["127.0.0.1"]})),
            one("spec.externalIPs[0]", "FieldValueInvalid", "Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)"),
        ),
    ];
    for (obj, want) in table {
        assert_eq!(check("v1", "Service", obj.clone(), None), want, "{obj}");
    }
}

#[test]
fn service_name_is_a_dns1035_label() {
    let obj = json!({"metadata": {"name": "1web", "namespace": "default"}, "spec": {"ports": [{"port": 80}]}});
    let want = one(
        "metadata.name",
        "FieldValueInvalid",
        &format!("Invalid value: \"1web\": {DNS1035}"),
    );
    assert_eq!(check("v1", "Service", obj, None), want);
}

#[test]
fn cluster_ip_is_immutable() {
    let old = json!({"metadata": {"name": "web", "namespace": "default", "resourceVersion": "1"},
        "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}});
    let mut new = old.clone();
    new["spec"]["clusterIP"] = json!("10.96.0.11");
    new["spec"]["clusterIPs"] = json!(["10.96.0.11"]);
    assert_eq!(
        check("v1", "Service", new, Some(old.clone())),
        one(
            "spec.clusterIPs[0]",
            "FieldValueInvalid",
            "Invalid value: []string{\"10.96.0.11\"}: may not change once set"
        )
    );
    let mut to_external = old.clone();
    to_external["spec"] = json!({"type": "ExternalName", "externalName": "example.com"});
    assert_eq!(check("v1", "Service", to_external, Some(old)), vec![]);
}

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nginx", "namespace": "default"}, "spec": spec})
}

#[test]
fn docs_pods_are_valid() {
    let specs = [
        json!({"containers": [{"name": "nginx", "image": "nginx:1.14.2", "ports": [{"containerPort": 80}]}]}),
        json!({"containers": [{"name": "liveness", "image": "registry.k8s.io/busybox", "args": ["/bin/sh", "-c", "sleep 600"],
            "livenessProbe": {"exec": {"command": ["cat", "/tmp/healthy"]}, "initialDelaySeconds": 5, "periodSeconds": 5}}]}),
        json!({"containers": [{"name": "app", "image": "app:1", "env": [{"name": "MY_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}], "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}}}],
            "volumes": [{"name": "cfg", "configMap": {"name": "app-config"}}]}),
        json!({"initContainers": [{"name": "init", "image": "busybox:1.28", "command": ["sh", "-c", "true"]}], "containers": [{"name": "main", "image": "busybox:1.28"}]}),
    ];
    for spec in specs {
        assert_eq!(
            check("v1", "Pod", pod(spec.clone()), None),
            vec![],
            "{spec}"
        );
    }
}

#[test]
fn invalid_pods() {
    let table: Vec<(Value, Causes)> = vec![
        (pod(json!({"containers": []})), one("spec.containers", "FieldValueRequired", "Required value")),
        (pod(json!({"containers": [{"name": "web"}]})), one("spec.containers[0].image", "FieldValueRequired", "Required value")),
        (
            pod(json!({"containers": [{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]})),
            one("spec.containers[1].name", "FieldValueDuplicate", "Duplicate value: \"a\""),
        ),
        (
            pod(json!({"containers": [{"name": "a", "image": "x"}], "restartPolicy": "Sometimes"})),
            one("spec.restartPolicy", "FieldValueNotSupported", "Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""),
        ),
        (
            pod(json!({"containers": [{"name": "a", "image": "x", "readinessProbe": {"periodSeconds": 3}}]})),
            one("spec.containers[0].readinessProbe", "FieldValueRequired", "Required value: must specify a handler type"),
        ),
        (
            pod(json!({"containers": [{"name": "a", "image": "x", "livenessProbe": {"exec": {"command": ["true"]}, "tcpSocket": {"port": 80}}}]})),
            one("spec.containers[0].livenessProbe.tcpSocket", "FieldValueForbidden", "Forbidden: may not specify more than 1 handler type"),
        ),
        (
            pod(json!({"containers": [{"name": "a", "image": "x", "env": [{"name": "A=B", "value": "1"}]}]})),
            one("spec.containers[0].env[0].name", "FieldValueInvalid", "Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='"),
        ),
        (
            pod(json!({"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 0}]}]})),
            one("spec.containers[0].ports[0].containerPort", "FieldValueRequired", "Required value"),
        ),
        (
            pod(json!({"containers": [{"name": "a", "image": "x", "volumeMounts": [{"name": "data", "mountPath": "/d"}]}]})),
            one("spec.containers[0].volumeMounts[0].name", "FieldValueNotFound", "Not found: \"data\""),
        ),
        (
            pod(json!({"containers": [{"name": "a", "image": "x", "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}]})),
            one("spec.containers[0].resources.requests", "FieldValueInvalid", "Invalid value: \"2\": must be less than or equal to cpu limit of 1"),
        ),
    ];
    for (obj, want) in table {
        assert_eq!(check("v1", "Pod", obj.clone(), None), want, "{obj}");
    }
}

#[test]
fn pod_updates_only_change_images() {
    let old = pod(json!({"containers": [{"name": "a", "image": "nginx:1"}]}));
    let mut old = old;
    old["metadata"]["resourceVersion"] = json!("3");
    let mut new = old.clone();
    new["spec"]["containers"][0]["image"] = json!("nginx:2");
    assert_eq!(check("v1", "Pod", new, Some(old.clone())), vec![]);
    let mut new = old.clone();
    new["spec"]["restartPolicy"] = json!("Never");
    let causes = check("v1", "Pod", new, Some(old));
    assert_eq!(causes.len(), 1);
    assert_eq!(causes[0].0, "spec");
    assert!(causes[0].2.starts_with(
        "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
    ));
}

#[test]
fn endpoints_reject_special_addresses() {
    let obj = json!({"metadata": {"name": "web", "namespace": "default"},
        "subsets": [{"addresses": [{"ip": "127.0.0.1"}, {"ip": "10.1.2.3"}], "ports": [{"port": 80}, {"name": "b", "port": 0}]}]});
    assert_eq!(
        check("v1", "Endpoints", obj, None),
        vec![
            ("subsets[0].addresses[0].ip".into(), "FieldValueInvalid".into(), "Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)".into()),
            ("subsets[0].ports[0].name".into(), "FieldValueRequired".into(), "Required value".into()),
            ("subsets[0].ports[1].port".into(), "FieldValueInvalid".into(), "Invalid value: 0: must be between 1 and 65535, inclusive".into()),
        ]
    );
}

#[test]
fn secrets_and_configmaps() {
    let tls = json!({"metadata": {"name": "tls", "namespace": "default"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "YQ=="}});
    assert_eq!(
        check("v1", "Secret", tls, None),
        one("data[tls.key]", "FieldValueRequired", "Required value")
    );
    let bad_key =
        json!({"metadata": {"name": "s", "namespace": "default"}, "data": {"a b": "YQ=="}});
    assert_eq!(
        check("v1", "Secret", bad_key, None),
        one("data[a b]", "FieldValueInvalid", "Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")
    );
    let old = json!({"metadata": {"name": "s", "namespace": "default", "resourceVersion": "1"}, "immutable": true, "data": {"a": "YQ=="}});
    let mut new = old.clone();
    new["data"]["a"] = json!("Yg==");
    assert_eq!(
        check("v1", "Secret", new, Some(old)),
        one(
            "data",
            "FieldValueForbidden",
            "Forbidden: field is immutable when `immutable` is set"
        )
    );
    let cm = json!({"metadata": {"name": "game-demo", "namespace": "default"}, "data": {"player_initial_lives": "3", "game.properties": "enemy.types=aliens"}});
    assert_eq!(check("v1", "ConfigMap", cm, None), vec![]);
}

#[test]
fn namespaces_and_metadata() {
    assert_eq!(
        check(
            "v1",
            "Namespace",
            json!({"metadata": {"name": "dev"}}),
            None
        ),
        vec![]
    );
    let bad = check(
        "v1",
        "Namespace",
        json!({"metadata": {"name": "Dev.Team"}}),
        None,
    );
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].0, "metadata.name");
    let no_ns = check("v1", "ConfigMap", json!({"metadata": {"name": "x"}}), None);
    assert_eq!(
        no_ns,
        one("metadata.namespace", "FieldValueRequired", "Required value")
    );
    let big = "x".repeat(256 * 1024);
    let too_big = check(
        "v1",
        "ConfigMap",
        json!({"metadata": {"name": "x", "namespace": "a", "annotations": {"a": big}}}),
        None,
    );
    assert_eq!(
        too_big,
        one(
            "metadata.annotations",
            "FieldValueTooLong",
            "Too long: may not be more than 262144 bytes"
        )
    );
}
