//! Table-driven strategic merge patch cases, following the behaviour of Kubernetes'
//! strategicpatch tests and the patches kubectl apply / edit send.

use serde_json::{json, Value};

use super::strategic_merge_patch;

struct Case {
    name: &'static str,
    api_version: &'static str,
    kind: &'static str,
    original: Value,
    patch: Value,
    want: Value,
}

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec})
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "maps merge and null deletes",
            api_version: "v1",
            kind: "ConfigMap",
            original: json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "data": {"x": "1"}}),
            patch: json!({"metadata": {"labels": {"b": null, "c": "3"}}, "data": {"y": "2"}}),
            want: json!({"metadata": {"labels": {"a": "1", "c": "3"}}, "data": {"x": "1", "y": "2"}}),
        },
        Case {
            name: "null for a missing key is ignored",
            api_version: "v1",
            kind: "ConfigMap",
            original: json!({"data": {"x": "1"}}),
            patch: json!({"data": {"nope": null}, "binaryData": null}),
            want: json!({"data": {"x": "1"}}),
        },
        Case {
            name: "new subtrees lose their nulls",
            api_version: "v1",
            kind: "ConfigMap",
            original: json!({"metadata": {"name": "c"}}),
            patch: json!({"metadata": {"annotations": {"a": "1", "b": null}}}),
            want: json!({"metadata": {"name": "c", "annotations": {"a": "1"}}}),
        },
        Case {
            name: "containers merge by name, keeping other fields and containers",
            api_version: "v1",
            kind: "Pod",
            original: pod(json!({"containers": [
                {"name": "a", "image": "a:1", "args": ["x"]},
                {"name": "b", "image": "b:1"}]})),
            patch: json!({"spec": {"containers": [{"name": "b", "image": "b:2"}]}}),
            want: pod(json!({"containers": [
                {"name": "a", "image": "a:1", "args": ["x"]},
                {"name": "b", "image": "b:2"}]})),
        },
        Case {
            name: "new container is added; atomic lists inside are replaced",
            api_version: "v1",
            kind: "Pod",
            original: pod(
                json!({"containers": [{"name": "a", "image": "a", "args": ["1", "2"]}],
                                 "tolerations": [{"key": "k1"}, {"key": "k2"}]}),
            ),
            patch: json!({"spec": {"containers": [{"name": "a", "args": ["3"]}, {"name": "c", "image": "c"}],
                                   "tolerations": [{"key": "k3"}]}}),
            want: pod(
                json!({"containers": [{"name": "a", "image": "a", "args": ["3"]}, {"name": "c", "image": "c"}],
                             "tolerations": [{"key": "k3"}]}),
            ),
        },
        Case {
            name: "nested container ports merge by containerPort and env by name",
            api_version: "v1",
            kind: "Pod",
            original: pod(json!({"containers": [{"name": "a",
                "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443}],
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]})),
            patch: json!({"spec": {"containers": [{"name": "a",
                "ports": [{"containerPort": 443, "name": "https"}],
                "env": [{"name": "B", "value": null, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}]}}),
            want: pod(json!({"containers": [{"name": "a",
                "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443, "name": "https"}],
                "env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}]})),
        },
        Case {
            name: "$patch delete removes a list element by key",
            api_version: "v1",
            kind: "Pod",
            original: pod(
                json!({"volumes": [{"name": "v1", "emptyDir": {}}, {"name": "v2", "emptyDir": {}}]}),
            ),
            patch: json!({"spec": {"volumes": [{"name": "v1", "$patch": "delete"}]}}),
            want: pod(json!({"volumes": [{"name": "v2", "emptyDir": {}}]})),
        },
        Case {
            name: "$patch replace on a list replaces it",
            api_version: "v1",
            kind: "Pod",
            original: pod(json!({"containers": [{"name": "a"}, {"name": "b"}]})),
            patch: json!({"spec": {"containers": [{"name": "c", "image": "c"}, {"$patch": "replace"}]}}),
            want: pod(json!({"containers": [{"name": "c", "image": "c"}]})),
        },
        Case {
            name: "$patch replace on a map replaces it",
            api_version: "v1",
            kind: "Pod",
            original: pod(json!({"nodeSelector": {"a": "1", "b": "2"}})),
            patch: json!({"spec": {"nodeSelector": {"c": "3", "$patch": "replace"}}}),
            want: pod(json!({"nodeSelector": {"c": "3"}})),
        },
        Case {
            name: "$patch delete on a map empties it",
            api_version: "v1",
            kind: "ConfigMap",
            original: json!({"data": {"a": "1"}}),
            patch: json!({"data": {"$patch": "delete"}}),
            want: json!({"data": {}}),
        },
        Case {
            name: "finalizers are a merged primitive list",
            api_version: "v1",
            kind: "Service",
            original: json!({"metadata": {"finalizers": ["a", "b"]}}),
            patch: json!({"metadata": {"finalizers": ["b", "c"]}}),
            want: json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
        },
        Case {
            // Without $setElementOrder, values new to the list go before the server's own
            // (Kubernetes interleaves by the old order, and new values have none).
            name: "$deleteFromPrimitiveList removes values",
            api_version: "v1",
            kind: "Service",
            original: json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
            patch: json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"], "finalizers": ["d"]}}),
            want: json!({"metadata": {"finalizers": ["d", "a", "c"]}}),
        },
        Case {
            name: "$setElementOrder orders a primitive list",
            api_version: "v1",
            kind: "Service",
            original: json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
            patch: json!({"metadata": {"$setElementOrder/finalizers": ["c", "b", "a"]}}),
            want: json!({"metadata": {"finalizers": ["c", "b", "a"]}}),
        },
        Case {
            name: "primitive list without a merge strategy is replaced",
            api_version: "v1",
            kind: "Pod",
            original: pod(json!({"containers": [{"name": "a", "command": ["sh", "-c"]}]})),
            patch: json!({"spec": {"containers": [{"name": "a", "command": ["bash"]}]}}),
            want: pod(json!({"containers": [{"name": "a", "command": ["bash"]}]})),
        },
        Case {
            name: "$setElementOrder reorders merged containers and keeps server-only ones",
            api_version: "v1",
            kind: "Pod",
            original: pod(
                json!({"containers": [{"name": "a", "image": "a"}, {"name": "b", "image": "b"}, {"name": "c", "image": "c"}]}),
            ),
            patch: json!({"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}],
                                   "containers": [{"name": "a", "image": "a2"}]}}),
            want: pod(
                json!({"containers": [{"name": "b", "image": "b"}, {"name": "c", "image": "c"}, {"name": "a", "image": "a2"}]}),
            ),
        },
        Case {
            name: "$retainKeys clears fields not listed (deployment strategy)",
            api_version: "apps/v1",
            kind: "Deployment",
            original: json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}),
            patch: json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
            want: json!({"spec": {"strategy": {"type": "Recreate"}}}),
        },
        Case {
            name: "$retainKeys inside a merged volume switches its source",
            api_version: "v1",
            kind: "Pod",
            original: pod(json!({"volumes": [{"name": "v", "emptyDir": {}}]})),
            patch: json!({"spec": {"volumes": [{"name": "v", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/tmp"}}]}}),
            want: pod(json!({"volumes": [{"name": "v", "hostPath": {"path": "/tmp"}}]})),
        },
        Case {
            name: "conditions merge by type; ownerReferences by uid",
            api_version: "apps/v1",
            kind: "ReplicaSet",
            original: json!({"metadata": {"ownerReferences": [{"uid": "u1", "name": "d"}]},
                             "status": {"conditions": [{"type": "A", "status": "True"}]}}),
            patch: json!({"metadata": {"ownerReferences": [{"uid": "u1", "controller": true}]},
                          "status": {"conditions": [{"type": "B", "status": "False"}]}}),
            want: json!({"metadata": {"ownerReferences": [{"uid": "u1", "name": "d", "controller": true}]},
                         "status": {"conditions": [{"type": "B", "status": "False"}, {"type": "A", "status": "True"}]}}),
        },
        Case {
            name: "node addresses merge by type",
            api_version: "v1",
            kind: "Node",
            original: json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": "n"}]}}),
            patch: json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.2"}]}}),
            want: json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.2"}, {"type": "Hostname", "address": "n"}]}}),
        },
        Case {
            name: "endpoints subsets are atomic",
            api_version: "v1",
            kind: "Endpoints",
            original: json!({"subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]}),
            patch: json!({"subsets": [{"addresses": [{"ip": "10.0.0.2"}]}]}),
            want: json!({"subsets": [{"addresses": [{"ip": "10.0.0.2"}]}]}),
        },
        Case {
            name: "a scalar can replace a map and vice versa",
            api_version: "v1",
            kind: "ConfigMap",
            original: json!({"data": {"a": "1"}, "x": "s"}),
            patch: json!({"data": "flat", "x": {"k": "v"}}),
            want: json!({"data": "flat", "x": {"k": "v"}}),
        },
        Case {
            name: "the patch's order wins for the elements it names",
            api_version: "v1",
            kind: "Pod",
            original: pod(
                json!({"containers": [{"name": "1"}, {"name": "2", "image": "b"}, {"name": "3"}]}),
            ),
            patch: json!({"spec": {"containers": [{"name": "3", "image": "c"}, {"name": "1", "image": "a"}, {"name": "2", "args": ["x"]}]}}),
            want: pod(
                json!({"containers": [{"name": "3", "image": "c"}, {"name": "1", "image": "a"}, {"name": "2", "image": "b", "args": ["x"]}]}),
            ),
        },
        Case {
            name: "elements the patch does not name keep their place relative to the old order",
            api_version: "v1",
            kind: "Pod",
            original: pod(
                json!({"containers": [{"name": "1"}, {"name": "2", "image": "b"}, {"name": "3"}]}),
            ),
            patch: json!({"spec": {"containers": [{"name": "3", "image": "c"}, {"name": "1", "image": "a"}]}}),
            want: pod(
                json!({"containers": [{"name": "2", "image": "b"}, {"name": "3", "image": "c"}, {"name": "1", "image": "a"}]}),
            ),
        },
        Case {
            name: "duplicate scalars are merged once",
            api_version: "v1",
            kind: "Node",
            original: json!({"spec": {"podCIDRs": ["10.0.0.0/24", "10.0.1.0/24"]}}),
            patch: json!({"spec": {"podCIDRs": ["10.0.1.0/24", "10.0.2.0/24"]}}),
            want: json!({"spec": {"podCIDRs": ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"]}}),
        },
    ]
}

#[test]
fn strategic_merge_patch_table() {
    for c in cases() {
        let got = strategic_merge_patch(&c.original, &c.patch, c.api_version, c.kind)
            .unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert_eq!(got, c.want, "{}", c.name);
    }
}

fn service() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default",
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"}},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "selector": {"app": "web"},
                 "ports": [
                    {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
                    {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443}]}
    })
}

#[test]
fn kubectl_apply_service_changes_only_target_port() {
    let last = r#"{"apiVersion":"v1","kind":"Service","metadata":{"annotations":{},"name":"web","namespace":"default"},"spec":{"ports":[{"port":80,"targetPort":9090}],"selector":{"app":"web"}}}
"#;
    let patch = json!({
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": last}},
        "spec": {"$setElementOrder/ports": [{"port": 80}], "ports": [{"port": 80, "targetPort": 9090}]}
    });
    let got = strategic_merge_patch(&service(), &patch, "v1", "Service").unwrap();
    assert_eq!(
        got["spec"]["ports"],
        json!([
            {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 9090},
            {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443}
        ])
    );
    assert_eq!(
        got["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
        json!(last)
    );
    assert_eq!(got["spec"]["clusterIP"], json!("10.96.0.10"));
    assert_eq!(got["spec"]["type"], json!("ClusterIP"));
}

#[test]
fn kubectl_apply_service_removes_a_port_and_adds_another() {
    // What apply sends when the file drops port 443 and adds 8081.
    let patch = json!({"spec": {
        "$setElementOrder/ports": [{"port": 80}, {"port": 8081}],
        "ports": [{"port": 8081, "targetPort": 8081}, {"$patch": "delete", "port": 443}]
    }});
    let got = strategic_merge_patch(&service(), &patch, "v1", "Service").unwrap();
    assert_eq!(
        got["spec"]["ports"],
        json!([
            {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
            {"port": 8081, "targetPort": 8081}
        ])
    );
}

#[test]
fn kubectl_edit_deployment_image_and_env() {
    let deploy = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [
                                  {"name": "web", "image": "nginx:1.25", "env": [{"name": "A", "value": "1"}],
                                   "ports": [{"containerPort": 80, "protocol": "TCP"}]},
                                  {"name": "sidecar", "image": "busybox"}]}}}
    });
    // kubectl edit: a two-way patch of what changed, with element orders.
    let patch = json!({"spec": {"replicas": 3, "template": {"spec": {
        "$setElementOrder/containers": [{"name": "web"}, {"name": "sidecar"}],
        "containers": [{"name": "web", "image": "nginx:1.27",
                        "$setElementOrder/env": [{"name": "A"}, {"name": "B"}],
                        "env": [{"name": "B", "value": "2"}]}]}}}});
    let got = strategic_merge_patch(&deploy, &patch, "apps/v1", "Deployment").unwrap();
    let containers = &got["spec"]["template"]["spec"]["containers"];
    assert_eq!(got["spec"]["replicas"], json!(3));
    assert_eq!(containers[0]["image"], json!("nginx:1.27"));
    assert_eq!(
        containers[0]["env"],
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
    );
    assert_eq!(
        containers[0]["ports"],
        json!([{"containerPort": 80, "protocol": "TCP"}])
    );
    assert_eq!(
        containers[1],
        json!({"name": "sidecar", "image": "busybox"})
    );
    assert!(containers[0].get("$setElementOrder/env").is_none());
}

#[test]
fn kubectl_apply_replication_controller_template() {
    let rc = json!({
        "apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "rc"},
        "spec": {"replicas": 1, "selector": {"app": "rc"},
                 "template": {"metadata": {"labels": {"app": "rc"}},
                              "spec": {"containers": [{"name": "c", "image": "i:1",
                                  "volumeMounts": [{"name": "v", "mountPath": "/data"}]}],
                                  "volumes": [{"name": "v", "emptyDir": {}}]}}}
    });
    let patch = json!({"spec": {"replicas": 2, "template": {
        "metadata": {"labels": {"version": "2"}},
        "spec": {"$setElementOrder/containers": [{"name": "c"}],
                 "containers": [{"name": "c", "image": "i:2",
                                 "$setElementOrder/volumeMounts": [{"mountPath": "/data"}, {"mountPath": "/cache"}],
                                 "volumeMounts": [{"name": "cache", "mountPath": "/cache"}]}],
                 "$setElementOrder/volumes": [{"name": "v"}, {"name": "cache"}],
                 "volumes": [{"name": "cache", "emptyDir": {"medium": "Memory"}}]}}}});
    let got = strategic_merge_patch(&rc, &patch, "v1", "ReplicationController").unwrap();
    let spec = &got["spec"]["template"]["spec"];
    assert_eq!(
        got["spec"]["template"]["metadata"]["labels"],
        json!({"app": "rc", "version": "2"})
    );
    assert_eq!(spec["containers"][0]["image"], json!("i:2"));
    assert_eq!(
        spec["containers"][0]["volumeMounts"],
        json!([{"name": "v", "mountPath": "/data"}, {"name": "cache", "mountPath": "/cache"}])
    );
    assert_eq!(
        spec["volumes"],
        json!([{"name": "v", "emptyDir": {}}, {"name": "cache", "emptyDir": {"medium": "Memory"}}])
    );
}

#[test]
fn errors_match_kubernetes() {
    let cases: Vec<(&str, Value, &str, u16)> = vec![
        (
            "patch is not an object",
            json!(["x"]),
            "json: cannot unmarshal array into Go value of type map[string]interface {}",
            400,
        ),
        (
            "unknown $patch in a map",
            json!({"spec": {"selector": {"$patch": "frobnicate"}}}),
            "unknown patch type: frobnicate in map: map[$patch:frobnicate]",
            500,
        ),
        (
            "unknown $patch in a list element",
            json!({"spec": {"ports": [{"port": 80, "$patch": "frobnicate"}]}}),
            "unknown patch type: frobnicate in map: map[$patch:frobnicate port:80]",
            500,
        ),
        (
            "merge key missing",
            json!({"spec": {"ports": [{"targetPort": 1}]}}),
            "map: map[targetPort:1] does not contain declared merge key: port",
            500,
        ),
        (
            "$patch merge in a list",
            json!({"spec": {"ports": [{"$patch": "merge"}]}}),
            "merging lists cannot yet be specified in the patch",
            500,
        ),
        (
            "retainKeys not a list",
            json!({"spec": {"$retainKeys": "ports"}}),
            "invalid patch format of retainKeys",
            400,
        ),
        (
            "patch field missing from retainKeys",
            json!({"spec": {"$retainKeys": ["type"], "clusterIP": "None"}}),
            "invalid patch format of retainKeys",
            400,
        ),
        (
            "deleteFromPrimitiveList without a field",
            json!({"metadata": {"$deleteFromPrimitiveList": ["a"]}}),
            "invalid patch format of primitive list",
            400,
        ),
        (
            "mixed element types",
            json!({"spec": {"ports": [80]}}),
            "list element types are not identical: [[map[name:http port:80 protocol:TCP targetPort:8080] map[name:https port:443 protocol:TCP targetPort:8443]] [80]]",
            500,
        ),
        (
            "patch order disagrees with $setElementOrder",
            json!({"spec": {"$setElementOrder/ports": [{"port": 80}], "ports": [{"port": 443}]}}),
            "The order in patch list:\n[map[port:443]]\n doesn't match $setElementOrder list:\n[map[port:80]]\n",
            500,
        ),
    ];
    for (name, patch, msg, code) in cases {
        let err = strategic_merge_patch(&service(), &patch, "v1", "Service").expect_err(name);
        assert_eq!(err.to_string(), msg, "{name}");
        assert_eq!(err.status_code(), code, "{name}");
    }
}

#[test]
fn lists_of_lists_are_refused() {
    let doc = json!({"metadata": {"finalizers": [["a"]]}});
    let err = strategic_merge_patch(
        &doc,
        &json!({"metadata": {"finalizers": [["b"]]}}),
        "v1",
        "Service",
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "lists of lists are not supported");
    assert_eq!(err.status_code(), 422);
}

#[test]
fn unknown_kinds_are_refused() {
    let err =
        strategic_merge_patch(&json!({}), &json!({}), "example.com/v1", "Widget").unwrap_err();
    assert_eq!(
        err.to_string(),
        "strategic merge patch format is not supported"
    );
}

#[test]
fn input_is_not_modified_and_patch_is_idempotent() {
    let patch = json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}});
    let original = service();
    let once = strategic_merge_patch(&original, &patch, "v1", "Service").unwrap();
    let twice = strategic_merge_patch(&once, &patch, "v1", "Service").unwrap();
    assert_eq!(once, twice);
    assert_eq!(original, service());
}
