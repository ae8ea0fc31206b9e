//! Apply: create, re-apply, conflicts, force, errors, body parsing.

use serde_json::{json, Value};

use super::{entry, fields, managers, T0, T1, T2};
use crate::{apply, parse_apply_body, record_update, ApplyError};

fn service(labels: Value, ports: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default", "labels": labels},
        "spec": {"selector": {"app": "web"}, "ports": ports}})
}

fn deployment(replicas: i64, image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx", "namespace": "default"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "nginx"}},
            "template": {"metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [{"name": "nginx", "image": image}]}}}})
}

#[test]
fn apply_creates_the_object_with_one_apply_entry() {
    let config = service(
        json!({"app": "web"}),
        json!([{"port": 80, "targetPort": 8080}]),
    );
    let outcome = apply(None, &config, "kubectl", false, T0).unwrap();
    assert!(outcome.changed);
    let mut expected = config.clone();
    expected["metadata"]["managedFields"] = json!([{
        "manager": "kubectl", "operation": "Apply", "apiVersion": "v1", "time": T0,
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {"f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {
                ".": {}, "f:port": {}, "f:targetPort": {}}},
                "f:selector": {}}}}]);
    assert_eq!(outcome.object, expected);
}

#[test]
fn reapplying_without_a_field_removes_it() {
    struct Case {
        name: &'static str,
        first: Value,
        second: Value,
        /// The live object between the two applies gets these extra fields, set by the server.
        server_set: Value,
        want_spec: Value,
        want_labels: Value,
    }
    let web = json!({"app": "web"});
    let cases = [
        Case {
            name: "a label",
            first: service(
                json!({"app": "web", "tier": "front"}),
                json!([{"port": 80}]),
            ),
            second: service(web.clone(), json!([{"port": 80}])),
            server_set: json!({}),
            want_spec: json!({"selector": {"app": "web"}, "ports": [{"port": 80}]}),
            want_labels: web.clone(),
        },
        Case {
            name: "a port",
            first: service(web.clone(), json!([{"port": 80}, {"port": 443}])),
            second: service(web.clone(), json!([{"port": 80}])),
            server_set: json!({}),
            want_spec: json!({"selector": {"app": "web"}, "ports": [{"port": 80}]}),
            want_labels: web.clone(),
        },
        Case {
            name: "a field of a port",
            first: service(web.clone(), json!([{"port": 80, "targetPort": 8080}])),
            second: service(web.clone(), json!([{"port": 80}])),
            server_set: json!({}),
            want_spec: json!({"selector": {"app": "web"}, "ports": [{"port": 80}]}),
            want_labels: web.clone(),
        },
        Case {
            name: "a struct, with the fields nobody owns in it",
            first: {
                let mut s = service(web.clone(), json!([{"port": 80}]));
                s["spec"]["sessionAffinityConfig"] = json!({"clientIP": {"timeoutSeconds": 60}});
                s
            },
            second: service(web.clone(), json!([{"port": 80}])),
            server_set: json!({"clusterIP": "10.96.0.10"}),
            want_spec: json!({"selector": {"app": "web"}, "ports": [{"port": 80}],
                "clusterIP": "10.96.0.10"}),
            want_labels: web.clone(),
        },
    ];
    for case in cases {
        let created = apply(None, &case.first, "kubectl", false, T0)
            .unwrap()
            .object;
        let mut live = created.clone();
        for (k, v) in case.server_set.as_object().unwrap() {
            live["spec"][k] = v.clone();
        }
        let outcome = apply(Some(&live), &case.second, "kubectl", false, T1).unwrap();
        assert!(outcome.changed, "{}", case.name);
        let mut spec = outcome.object["spec"].clone();
        assert_eq!(spec.take(), case.want_spec, "{}", case.name);
        assert_eq!(
            outcome.object["metadata"]["labels"], case.want_labels,
            "{}",
            case.name
        );
        let second_apply = apply(None, &case.second, "kubectl", false, T1)
            .unwrap()
            .object;
        assert_eq!(
            fields(&outcome.object, "kubectl", "Apply"),
            fields(&second_apply, "kubectl", "Apply"),
            "{}: the entry lists what the last configuration names",
            case.name
        );
    }
}

#[test]
fn a_removed_field_another_manager_owns_stays() {
    let first = service(
        json!({"app": "web", "tier": "front"}),
        json!([{"port": 80}]),
    );
    let live = apply(None, &first, "kubectl", false, T0).unwrap().object;
    // `kubectl label service web tier=back --overwrite`
    let mut labelled = live.clone();
    labelled["metadata"]["labels"]["tier"] = json!("back");
    record_update(Some(&live), &mut labelled, "kubectl-label", T1);
    assert_eq!(
        fields(&labelled, "kubectl-label", "Update"),
        json!({"f:metadata": {"f:labels": {"f:tier": {}}}})
    );
    assert_eq!(
        fields(&labelled, "kubectl", "Apply")["f:metadata"],
        json!({"f:labels": {"f:app": {}}}),
        "the label update took the field from the applier"
    );
    let second = service(json!({"app": "web"}), json!([{"port": 80}]));
    let out = apply(Some(&labelled), &second, "kubectl", false, T2)
        .unwrap()
        .object;
    assert_eq!(
        out["metadata"]["labels"],
        json!({"app": "web", "tier": "back"})
    );
}

#[test]
fn conflicts_force_and_shared_ownership() {
    struct Case {
        name: &'static str,
        second: Value,
        force: bool,
        want: Result<i64, &'static str>,
        /// Whether alice still owns `.spec.replicas` afterwards.
        alice_keeps_replicas: bool,
    }
    let cases = [
        Case {
            name: "same value: shared",
            second: deployment(3, "nginx:1.25"),
            force: false,
            want: Ok(3),
            alice_keeps_replicas: true,
        },
        Case {
            name: "different value",
            second: deployment(5, "nginx:1.25"),
            force: false,
            want: Err("Apply failed with 1 conflict: conflict with \"alice\": .spec.replicas"),
            alice_keeps_replicas: true,
        },
        Case {
            name: "two different values",
            second: deployment(5, "nginx:1.26"),
            force: false,
            want: Err("Apply failed with 2 conflicts: conflicts with \"alice\":\n- .spec.replicas\n- .spec.template.spec.containers[name=\"nginx\"].image"),
            alice_keeps_replicas: true,
        },
        Case {
            name: "different value, forced",
            second: deployment(5, "nginx:1.25"),
            force: true,
            want: Ok(5),
            alice_keeps_replicas: false,
        },
    ];
    for case in cases {
        let live = apply(None, &deployment(3, "nginx:1.25"), "alice", false, T0)
            .unwrap()
            .object;
        match (
            apply(Some(&live), &case.second, "bob", case.force, T1),
            case.want,
        ) {
            (Ok(outcome), Ok(replicas)) => {
                let object = outcome.object;
                assert_eq!(object["spec"]["replicas"], replicas, "{}", case.name);
                let alice = fields(&object, "alice", "Apply");
                assert_eq!(
                    alice["f:spec"].get("f:replicas").is_some(),
                    case.alice_keeps_replicas,
                    "{}: {alice}",
                    case.name
                );
                assert!(fields(&object, "bob", "Apply")["f:spec"]
                    .get("f:replicas")
                    .is_some());
            }
            (Err(ApplyError::Conflicts(conflicts)), Err(message)) => {
                let error = ApplyError::Conflicts(conflicts.clone());
                assert_eq!(error.to_string(), message, "{}", case.name);
                assert_eq!(error.http_status(), 409);
                assert_eq!(conflicts[0].manager, "alice");
                assert_eq!(conflicts[0].field, ".spec.replicas");
                assert_eq!(conflicts[0].message, "conflict with \"alice\"");
            }
            (got, want) => panic!("{}: got {got:?}, want {want:?}", case.name),
        }
    }
}

#[test]
fn conflicts_with_an_update_manager_name_its_api_version() {
    let live = apply(None, &deployment(3, "nginx:1.25"), "kubectl", false, T0)
        .unwrap()
        .object;
    // `kubectl scale deployment nginx --replicas=4`
    let mut scaled = live.clone();
    scaled["spec"]["replicas"] = json!(4);
    record_update(Some(&live), &mut scaled, "kubectl-scale", T1);
    let err = apply(
        Some(&scaled),
        &deployment(3, "nginx:1.25"),
        "kubectl",
        false,
        T2,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl-scale\" using apps/v1: .spec.replicas"
    );
}

#[test]
fn reapplying_the_same_configuration_changes_nothing() {
    let config = deployment(2, "nginx:1.25");
    let live = apply(None, &config, "kubectl", false, T0).unwrap().object;
    let again = apply(Some(&live), &config, "kubectl", false, T1).unwrap();
    assert!(!again.changed);
    assert_eq!(again.object, live);
    assert_eq!(
        entry(&again.object, "kubectl", "Apply").unwrap()["time"],
        T0
    );
}

#[test]
fn status_and_server_fields_are_not_owned_by_apply() {
    let mut config = service(json!({"app": "web"}), json!([{"port": 80}]));
    config["status"] = json!({"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}});
    config["metadata"]["resourceVersion"] = json!("12");
    let mut live = apply(
        None,
        &service(json!({"app": "web"}), json!([{"port": 80}])),
        "x",
        false,
        T0,
    )
    .unwrap()
    .object;
    live["status"] = json!({"loadBalancer": {}});
    let out = apply(Some(&live), &config, "kubectl", false, T1)
        .unwrap()
        .object;
    assert_eq!(out["status"], json!({"loadBalancer": {}}));
    let owned = fields(&out, "kubectl", "Apply");
    assert_eq!(owned.get("f:status"), None);
    assert_eq!(owned["f:metadata"], json!({"f:labels": {"f:app": {}}}));
    // Both own what they applied with the same values; entries are sorted by time.
    assert_eq!(
        managers(&out),
        [
            ("x".into(), "Apply".into()),
            ("kubectl".into(), "Apply".into())
        ]
    );
}

#[test]
fn invalid_applies_are_bad_requests() {
    let cases = [
        (json!({"kind": "Service"}), "invalid object type: /, Kind=Service"),
        (
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"managedFields": []}}),
            "metadata.managedFields must be nil",
        ),
        (
            json!({"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"name": "x"}]}}),
            ".spec.ports: element 0: associative list with keys has an element that omits key field \"port\" (and doesn't have default value)",
        ),
    ];
    for (config, message) in cases {
        let err = apply(None, &config, "kubectl", false, T0).unwrap_err();
        assert_eq!(err.to_string(), message);
        assert_eq!(err.http_status(), 400);
    }
    let live = deployment(1, "nginx");
    let err = apply(
        Some(&live),
        &json!({"apiVersion": "apps/v1", "kind": "StatefulSet"}),
        "k",
        false,
        T0,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid object type: apps/v1, Kind=StatefulSet"
    );
}

#[test]
fn apply_bodies_may_be_json_or_yaml() {
    let json_body =
        br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1"}}"#;
    let yaml_body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: \"1\"\n";
    assert_eq!(
        parse_apply_body(json_body).unwrap(),
        parse_apply_body(yaml_body).unwrap()
    );
    assert!(parse_apply_body(b"- a\n- b\n").is_err());
    assert!(parse_apply_body(b"{unclosed: [").is_err());
    assert_eq!(parse_apply_body(b"[]").unwrap_err().http_status(), 400);
}

#[test]
fn what_an_unmanaged_object_holds_belongs_to_before_first_apply() {
    // An object stored without managedFields, e.g. created before tracking started.
    let live = deployment(3, "nginx:1.25");
    let err = apply(Some(&live), &deployment(5, "nginx:1.25"), "ci", false, T1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"before-first-apply\" using apps/v1: .spec.replicas"
    );
    let shared = apply(Some(&live), &deployment(3, "nginx:1.25"), "ci", false, T1)
        .unwrap()
        .object;
    assert_eq!(
        managers(&shared),
        [
            ("ci".into(), "Apply".into()),
            ("before-first-apply".into(), "Update".into())
        ]
    );
    // Ordinary updates of an untracked object stay untracked.
    let mut updated = live.clone();
    updated["spec"]["replicas"] = json!(4);
    record_update(Some(&live), &mut updated, "kubectl-scale", T1);
    assert_eq!(updated["metadata"].get("managedFields"), None);
}

#[test]
fn live_objects_stored_without_their_type_still_apply() {
    let config = deployment(2, "nginx:1.25");
    let mut live = apply(None, &config, "kubectl", false, T0).unwrap().object;
    let body = live.as_object_mut().unwrap();
    body.remove("apiVersion");
    body.remove("kind");
    let again = apply(Some(&live), &config, "kubectl", false, T1).unwrap();
    assert!(!again.changed);
}
