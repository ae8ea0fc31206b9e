//! Ingress objects written in the old versions: converted to v1 and validated there, with
//! causes that name the fields as the old version spells them (Kubernetes 1.21's behaviour).

use serde_json::{json, Value};

use super::*;
use crate::convert::to_storage;
use crate::registry::by_kind;

fn check_old(api_version: &str, spec: Value) -> Vec<(String, String)> {
    let res = by_kind(api_version, "Ingress").copied().unwrap();
    let obj = json!({"apiVersion": api_version, "kind": "Ingress",
        "metadata": {"name": "kubia", "namespace": "default"}, "spec": spec});
    let v1 = to_storage(&res, obj);
    validate(&res, &v1, None)
        .into_iter()
        .map(|c| (c.field, c.message))
        .collect()
}

fn one_path(backend: Value) -> Value {
    json!({"rules": [{"host": "kubia.example.com", "http": {"paths": [{"path": "/", "backend": backend}]}}]})
}

#[test]
fn the_notes_ingress_is_valid_in_both_old_versions() {
    for av in ["extensions/v1beta1", "networking.k8s.io/v1beta1"] {
        let spec = one_path(json!({"serviceName": "kubia-nodeport", "servicePort": 80}));
        assert_eq!(check_old(av, spec), vec![]);
    }
}

#[test]
fn old_field_names_in_causes() {
    let av = "extensions/v1beta1";
    assert_eq!(
        check_old(
            av,
            one_path(json!({"serviceName": "kubia", "servicePort": 70000}))
        ),
        vec![(
            "spec.rules[0].http.paths[0].backend.servicePort".into(),
            "Invalid value: 70000: must be between 1 and 65535, inclusive".into()
        )]
    );
    assert_eq!(
        check_old(av, one_path(json!({"servicePort": 80}))),
        vec![(
            "spec.rules[0].http.paths[0].backend.serviceName".into(),
            "Required value".into()
        )]
    );
    let causes = check_old(
        av,
        json!({"backend": {"serviceName": "Kubia_1", "servicePort": "http"}}),
    );
    assert_eq!(causes.len(), 1);
    assert_eq!(causes[0].0, "spec.backend.serviceName");
    assert!(causes[0]
        .1
        .starts_with("Invalid value: \"Kubia_1\": a DNS-1035 label"));
    assert_eq!(
        check_old(av, json!({})),
        vec![(
            "spec".into(),
            "Invalid value: []networking.IngressRule(nil): either `backend` or `rules` must be specified".into()
        )]
    );
    let causes = check_old(
        av,
        one_path(json!({"serviceName": "kubia", "servicePort": "no_such"})),
    );
    assert_eq!(
        causes[0].0,
        "spec.rules[0].http.paths[0].backend.servicePort"
    );
}

#[test]
fn old_versions_keep_their_leniencies() {
    let av = "networking.k8s.io/v1beta1";
    // Any TLS secret name.
    let spec = json!({"tls": [{"secretName": "Not_A_Name"}], "backend": {"serviceName": "a", "servicePort": 80}});
    assert_eq!(check_old(av, spec), vec![]);
    // Rules under wildcard hosts are not checked.
    let spec = json!({"rules": [{"host": "*.example.com", "http": {"paths": [{"path": "relative", "backend": {"serviceName": "a", "servicePort": 80}}]}}]});
    assert_eq!(check_old(av, spec), vec![]);
    // The class annotation and field exclude each other.
    let res = by_kind(av, "Ingress").copied().unwrap();
    let obj = json!({"apiVersion": av, "kind": "Ingress",
        "metadata": {"name": "kubia", "namespace": "default", "annotations": {"kubernetes.io/ingress.class": "nginx"}},
        "spec": {"ingressClassName": "nginx", "backend": {"serviceName": "a", "servicePort": 80}}});
    let causes = validate(&res, &to_storage(&res, obj), None);
    assert_eq!(causes.len(), 1);
    assert_eq!(causes[0].field, "annotations.kubernetes.io/ingress.class");
    assert_eq!(
        causes[0].message,
        "Invalid value: \"nginx\": can not be set when the class field is also set"
    );
}
