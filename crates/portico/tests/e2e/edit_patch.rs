//! Changing objects in place: `kubectl edit` (the notes' `kubectl edit rc kubia`, with EDITOR set
//! to a script), `scale`, `label`, `annotate`, `patch` (strategic, merge, json), `replace` with a
//! stale resourceVersion, and `delete`.

use crate::harness::Cluster;
use crate::support::{apply_file, assert_has, fails, fixture_path, seed, Table};

fn editor_script(c: &Cluster, name: &str, body: &str) -> String {
    let path = c.data_dir().parent().unwrap().join(name);
    std::fs::write(&path, format!("#!/bin/sh\nset -e\n{body}\n")).unwrap();
    let mut perm = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&path, perm).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn edit_rc_adds_the_readiness_probe_from_the_notes() {
    let c = Cluster::start();
    assert!(apply_file(&c, &fixture_path("kubia-rc.yaml")).ok);
    // 003 / 004: `kubectl edit rc kubia`, adding readinessProbe.exec.command [ls, /var/ready]
    // to the container. The script inserts it after the container's `- image:` line.
    let script = editor_script(
        &c,
        "add-probe.sh",
        r#"sed -i 's|^\( *\)- image: luksa/kubia$|&\n\1  readinessProbe:\n\1    exec:\n\1      command:\n\1      - ls\n\1      - /var/ready|' "$1"
grep -q readinessProbe "$1""#,
    );
    let r = c.kubectl_env(
        &["edit", "rc", "kubia"],
        &[("EDITOR", &script), ("KUBE_EDITOR", &script)],
    );
    assert!(r.ok, "kubectl edit failed:\n{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout.trim(), "replicationcontroller/kubia edited");
    let rc = c.get_json(&["rc", "kubia"]);
    let probe = &rc["spec"]["template"]["spec"]["containers"][0]["readinessProbe"];
    assert_eq!(
        probe["exec"]["command"],
        serde_json::json!(["ls", "/var/ready"])
    );
    // Probe defaults filled in by the server.
    assert_eq!(probe["periodSeconds"], 10);
    assert_eq!(probe["timeoutSeconds"], 1);
    assert_eq!(probe["successThreshold"], 1);
    assert_eq!(probe["failureThreshold"], 3);
    assert_eq!(rc["metadata"]["generation"], 2);

    // An editor that changes nothing: kubectl says so and the object is untouched.
    let noop = editor_script(&c, "noop.sh", "true");
    let r = c.kubectl_env(
        &["edit", "rc", "kubia"],
        &[("EDITOR", &noop), ("KUBE_EDITOR", &noop)],
    );
    assert!(r.ok, "{}", r.stderr);
    assert_has(
        &format!("{}{}", r.stdout, r.stderr),
        "Edit cancelled, no changes made.",
    );
    assert_eq!(c.get_json(&["rc", "kubia"])["metadata"]["generation"], 2);
}

#[test]
fn edit_service_into_an_invalid_state_is_rejected() {
    let c = Cluster::start();
    assert!(apply_file(&c, &seed("000-kubia-nodeport.yaml")).ok);
    // The script keeps a copy of every buffer kubectl hands it: after a rejected edit kubectl
    // reopens the editor with the server's errors as comments at the top.
    let log = c.data_dir().parent().unwrap().join("edit-buffers.log");
    let bad = editor_script(
        &c,
        "bad.sh",
        &format!(
            r#"cat "$1" >> {log}
sed -i 's/nodePort: 30123/nodePort: 80/' "$1""#,
            log = log.display()
        ),
    );
    let r = c.kubectl_env(
        &["edit", "svc", "kubia-nodeport"],
        &[("EDITOR", &bad), ("KUBE_EDITOR", &bad)],
    );
    let err = fails(r);
    assert_has(&err, "services \"kubia-nodeport\" is invalid");
    assert_has(&err, "Edit cancelled, no valid changes were saved.");
    let buffers = std::fs::read_to_string(&log).unwrap();
    assert_has(&buffers, "# services \"kubia-nodeport\" was not valid:");
    assert_has(&buffers, "# * spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767");
    let t = Table::parse(&c.ok(&["get", "svc", "kubia-nodeport"]));
    assert_eq!(t.cell("kubia-nodeport", "PORT(S)"), "80:30123/TCP");
}

#[test]
fn scale_rc_rs_and_deployment() {
    let c = Cluster::start();
    assert!(apply_file(&c, &fixture_path("kubia-rc.yaml")).ok);
    assert!(apply_file(&c, &fixture_path("kubia-rs.yaml")).ok);
    assert!(apply_file(&c, &seed("001-hostname-server.yaml")).ok);
    assert_eq!(
        c.ok(&["scale", "rc", "kubia", "--replicas=5"]).trim(),
        "replicationcontroller/kubia scaled"
    );
    assert_eq!(
        c.ok(&["scale", "rs/kubia", "--replicas=1"]).trim(),
        "replicaset.apps/kubia scaled"
    );
    assert_eq!(
        c.ok(&["scale", "deployment", "hostname-server", "--replicas=4"])
            .trim(),
        "deployment.apps/hostname-server scaled"
    );
    assert_eq!(
        Table::parse(&c.ok(&["get", "rc", "kubia"])).cell("kubia", "DESIRED"),
        "5"
    );
    assert_eq!(
        Table::parse(&c.ok(&["get", "rs", "kubia"])).cell("kubia", "DESIRED"),
        "1"
    );
    assert_eq!(
        Table::parse(&c.ok(&["get", "deploy"])).cell("hostname-server", "READY"),
        "0/4"
    );
    // The scale subresource itself.
    let scale = c.ok(&[
        "get",
        "--raw",
        "/apis/apps/v1/namespaces/default/deployments/hostname-server/scale",
    ]);
    let scale: serde_json::Value = serde_json::from_str(&scale).unwrap();
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"]["replicas"], 4);
    // Negative replicas are invalid.
    let err = fails(c.kubectl(&["patch", "rc", "kubia", "-p", r#"{"spec":{"replicas":-1}}"#]));
    assert_has(
        &err,
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
    );
}

#[test]
fn label_and_annotate_a_service() {
    let c = Cluster::start();
    assert!(apply_file(&c, &seed("000-kubia.yaml")).ok);
    assert!(apply_file(&c, &seed("000-kubia-nodeport.yaml")).ok);
    assert_eq!(
        c.ok(&["label", "svc", "kubia", "tier=web"]).trim(),
        "service/kubia labeled"
    );
    let err = fails(c.kubectl(&["label", "svc", "kubia", "tier=db"]));
    assert_has(
        &err,
        "'tier' already has a value (web), and --overwrite is false",
    );
    assert_eq!(
        c.ok(&["label", "svc", "kubia", "tier=db", "--overwrite"])
            .trim(),
        "service/kubia labeled"
    );
    // Label selectors are evaluated by the server.
    let t = Table::parse(&c.ok(&["get", "svc", "-l", "tier=db", "--show-labels"]));
    assert_eq!(t.rows.len(), 1);
    assert_eq!(t.cell("kubia", "LABELS"), "tier=db");
    let r = c.kubectl(&["get", "svc", "-l", "tier=web"]);
    assert!(r.ok && r.stdout.is_empty(), "{}{}", r.stdout, r.stderr);
    assert_has(&r.stderr, "No resources found in default namespace.");
    assert_eq!(
        c.ok(&["label", "svc", "kubia", "tier-"]).trim(),
        "service/kubia unlabeled"
    );
    assert_eq!(
        c.ok(&["get", "svc", "kubia", "-o", "jsonpath={.metadata.labels}"]),
        ""
    );

    assert_eq!(
        c.ok(&[
            "annotate",
            "svc",
            "kubia",
            "description=the kubia front end"
        ])
        .trim(),
        "service/kubia annotated"
    );
    let ann = c.ok(&[
        "get",
        "svc",
        "kubia",
        "-o",
        "jsonpath={.metadata.annotations.description}",
    ]);
    assert_eq!(ann, "the kubia front end");
    let out = c.ok(&["describe", "svc", "kubia"]);
    assert_has(&out, "description: the kubia front end");
    // Both services at once.
    let out = c.ok(&["label", "svc", "kubia", "kubia-nodeport", "book=kia"]);
    assert_eq!(
        out.trim(),
        "service/kubia labeled\nservice/kubia-nodeport labeled"
    );
    let t = Table::parse(&c.ok(&["get", "svc", "-l", "book=kia"]));
    assert_eq!(t.rows.len(), 2);
}

#[test]
fn patch_strategic_merge_and_json() {
    let c = Cluster::start();
    assert!(apply_file(&c, &seed("000-kubia-nodeport.yaml")).ok);
    // Strategic merge: the ports list merges by port, so the node port and protocol stay.
    let out = c.ok(&[
        "patch",
        "svc",
        "kubia-nodeport",
        "-p",
        r#"{"spec":{"ports":[{"port":80,"targetPort":9090}]}}"#,
    ]);
    assert_eq!(out.trim(), "service/kubia-nodeport patched");
    let svc = c.get_json(&["svc", "kubia-nodeport"]);
    assert_eq!(svc["spec"]["ports"].as_array().unwrap().len(), 1);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 9090);
    assert_eq!(svc["spec"]["ports"][0]["nodePort"], 30123);
    // Strategic merge of a map: the selector gains a key.
    c.ok(&[
        "patch",
        "svc",
        "kubia-nodeport",
        "--type=strategic",
        "-p",
        r#"{"spec":{"selector":{"tier":"web"}}}"#,
    ]);
    let wide = Table::parse(&c.ok(&["get", "svc", "kubia-nodeport", "-o", "wide"]));
    assert_eq!(
        wide.cell("kubia-nodeport", "SELECTOR"),
        "app=kubia,tier=web"
    );
    // The same patch again changes nothing.
    let out = c.ok(&[
        "patch",
        "svc",
        "kubia-nodeport",
        "-p",
        r#"{"spec":{"selector":{"tier":"web"}}}"#,
    ]);
    assert_eq!(out.trim(), "service/kubia-nodeport patched (no change)");
    // JSON merge patch: null deletes a key.
    let out = c.ok(&[
        "patch",
        "svc",
        "kubia-nodeport",
        "--type=merge",
        "-p",
        r#"{"spec":{"selector":{"tier":null}}}"#,
    ]);
    assert_eq!(out.trim(), "service/kubia-nodeport patched");
    let wide = Table::parse(&c.ok(&["get", "svc", "kubia-nodeport", "-o", "wide"]));
    assert_eq!(wide.cell("kubia-nodeport", "SELECTOR"), "app=kubia");
    // JSON patch.
    let out = c.ok(&[
        "patch",
        "svc",
        "kubia-nodeport",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/ports/0/targetPort","value":8080},{"op":"add","path":"/metadata/labels","value":{"app":"kubia"}}]"#,
    ]);
    assert_eq!(out.trim(), "service/kubia-nodeport patched");
    let svc = c.get_json(&["svc", "kubia-nodeport"]);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8080);
    assert_eq!(svc["metadata"]["labels"]["app"], "kubia");
    // A strategic patch adding a second, unnamed port makes the service invalid.
    let err = fails(c.kubectl(&[
        "patch",
        "svc",
        "kubia-nodeport",
        "-p",
        r#"{"spec":{"ports":[{"port":443,"targetPort":8443}]}}"#,
    ]));
    assert_has(&err, "spec.ports[0].name: Required value");
    assert_has(&err, "spec.ports[1].name: Required value");
    // A JSON patch whose test fails changes nothing.
    let r = c.kubectl(&[
        "patch",
        "svc",
        "kubia-nodeport",
        "--type=json",
        "-p",
        r#"[{"op":"test","path":"/spec/type","value":"ClusterIP"},{"op":"replace","path":"/spec/type","value":"ClusterIP"}]"#,
    ]);
    fails(r);
    assert_eq!(
        Table::parse(&c.ok(&["get", "svc"])).cell("kubia-nodeport", "TYPE"),
        "NodePort"
    );
    // Changing the type to ClusterIP with a strategic patch releases the node port...
    c.ok(&[
        "patch",
        "svc",
        "kubia-nodeport",
        "-p",
        r#"{"spec":{"type":"ClusterIP","ports":[{"port":80,"nodePort":null}]}}"#,
    ]);
    let t = Table::parse(&c.ok(&["get", "svc", "kubia-nodeport"]));
    assert_eq!(t.cell("kubia-nodeport", "PORT(S)"), "80/TCP");
    // ...so another service can take it.
    assert!(apply_file(&c, &seed("004-sample-http.yaml")).ok);
}

#[test]
fn replace_with_a_stale_resource_version_conflicts() {
    let c = Cluster::start();
    assert!(apply_file(&c, &seed("000-kubia.yaml")).ok);
    let stale = c.ok(&["get", "svc", "kubia", "-o", "yaml"]);
    let first = stale.replace("targetPort: 8080", "targetPort: 9090");
    let r = c.kubectl_stdin(&["replace", "-f", "-"], &first);
    assert!(r.ok, "{}", r.stderr);
    assert_eq!(r.stdout.trim(), "service/kubia replaced");
    let second = stale.replace("targetPort: 8080", "targetPort: 7070");
    let err = fails(c.kubectl_stdin(&["replace", "-f", "-"], &second));
    assert_has(&err, "Error from server (Conflict)");
    assert_has(
        &err,
        "Operation cannot be fulfilled on services \"kubia\": the object has been modified; please apply your changes to the latest version and try again",
    );
    assert_eq!(
        c.ok(&[
            "get",
            "svc",
            "kubia",
            "-o",
            "jsonpath={.spec.ports[0].targetPort}"
        ]),
        "9090"
    );
    // Changing the cluster IP is not allowed.
    let current = c.ok(&["get", "svc", "kubia", "-o", "json"]);
    let mut v: serde_json::Value = serde_json::from_str(&current).unwrap();
    v["spec"]["clusterIP"] = "10.96.200.200".into();
    v["spec"]["clusterIPs"] = serde_json::json!(["10.96.200.200"]);
    let err = fails(c.kubectl_stdin(&["replace", "-f", "-"], &v.to_string()));
    assert_has(
        &err,
        "spec.clusterIPs[0]: Invalid value: []string{\"10.96.200.200\"}: may not change once set",
    );
}

#[test]
fn delete_services_and_reuse_their_names_and_ports() {
    let c = Cluster::start();
    assert!(apply_file(&c, &seed("000-kubia-nodeport.yaml")).ok);
    assert!(apply_file(&c, &seed("000-kubia.yaml")).ok);
    let ip = c.ok(&["get", "svc", "kubia", "-o", "jsonpath={.spec.clusterIP}"]);
    let out = c.ok(&["delete", "svc", "kubia", "kubia-nodeport"]);
    assert_eq!(
        out.trim(),
        "service \"kubia\" deleted\nservice \"kubia-nodeport\" deleted"
    );
    let err = fails(c.kubectl(&["get", "svc", "kubia"]));
    assert_has(
        &err,
        "Error from server (NotFound): services \"kubia\" not found",
    );
    let err = fails(c.kubectl(&["delete", "svc", "kubia"]));
    assert_has(
        &err,
        "Error from server (NotFound): services \"kubia\" not found",
    );
    assert!(
        c.kubectl(&["delete", "svc", "kubia", "--ignore-not-found"])
            .ok
    );
    // Node port 30123 and the old cluster IP are free again.
    assert!(apply_file(&c, &seed("004-sample-http.yaml")).ok);
    let text = std::fs::read_to_string(seed("000-kubia.yaml"))
        .unwrap()
        .replace("spec:\n", &format!("spec:\n  clusterIP: {ip}\n"));
    assert_eq!(c.apply(&text).trim(), "service/kubia created");
    // delete -f with the manifest.
    let out = c.ok(&["delete", "-f", &seed("004-sample-http.yaml")]);
    assert_eq!(out.trim(), "service \"sample-http\" deleted");
    // The kubernetes service survives a label-selected delete of everything else.
    c.ok(&[
        "delete",
        "svc",
        "-l",
        "app!=nothing",
        "--field-selector=metadata.name!=kubernetes",
    ]);
    let t = Table::parse(&c.ok(&["get", "svc"]));
    assert_eq!(t.rows.len(), 1, "{:?}", t.rows);
    assert!(t.has("kubernetes"));
}
