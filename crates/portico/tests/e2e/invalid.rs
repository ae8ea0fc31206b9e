//! Broken manifests, many of them the seeds as the notes print them (tab indentation, `prots`,
//! extensions/v1beta1 Ingress, a Service without a name): Kubernetes' error text, and nothing
//! stored.

use crate::harness::Cluster;
use crate::support::{assert_has, fails, seed};

/// Objects of `kind` in the default namespace, by name (excluding the `kubernetes` service).
fn names(c: &Cluster, kind: &str) -> Vec<String> {
    c.ok(&["get", kind, "-o", "name"])
        .lines()
        .filter(|l| *l != "service/kubernetes")
        .map(String::from)
        .collect()
}

fn apply_text(c: &Cluster, text: &str) -> String {
    fails(c.kubectl_stdin(&["apply", "-f", "-"], text))
}

const KUBIA: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: kubia\nspec:\n  ports:\n  - port: 80\n    targetPort: 8080\n  selector:\n    app: kubia\n";

#[test]
fn tab_indented_yaml_from_note_003_is_a_parse_error() {
    let c = Cluster::start();
    // Verbatim from the note (tabs).
    let raw = "apiVersion: v1\nkind: Service\nmetadata:\n\tname: kubia\nspec:\n\tports:\n\t- port: 80 # 서비스가 사용할 포트\n\t\ttargetPort: 8080\n\tselector:\n\t\tapp: kubia\n";
    let err = apply_text(&c, raw);
    assert_has(&err, "error converting YAML to JSON");
    assert_has(
        &err,
        "yaml: line 4: found character that cannot start any token",
    );
    assert!(names(&c, "svc").is_empty());
}

#[test]
fn typo_prots_is_an_unknown_field() {
    let c = Cluster::start();
    // 003's external-service with its typo (tabs already fixed).
    let text = std::fs::read_to_string(seed("003-external-service.yaml"))
        .unwrap()
        .replace("  ports:", "  prots:");
    let err = apply_text(&c, &text);
    assert_has(&err, "Error from server (BadRequest)");
    assert_has(
        &err,
        "Service in version \"v1\" cannot be handled as a Service",
    );
    assert_has(&err, "strict decoding error: unknown field \"spec.prots\"");
    // kubectl create and server-side apply are strict as well.
    let err = fails(c.kubectl_stdin(&["create", "-f", "-"], &text));
    assert_has(&err, "strict decoding error: unknown field \"spec.prots\"");
    // (Server-side apply reports it from the typed patch: `.spec.prots: field not declared in schema`.)
    let err = fails(c.kubectl_stdin(&["apply", "--server-side", "-f", "-"], &text));
    assert_has(&err, "spec.prots");
    assert!(names(&c, "svc").is_empty());
    // --validate=false drops the unknown field, and the service without ports is invalid.
    let err = fails(c.kubectl_stdin(&["create", "--validate=false", "-f", "-"], &text));
    assert_has(&err, "spec.ports: Required value");
}

#[test]
fn unknown_field_spec_foo() {
    let c = Cluster::start();
    let text = KUBIA.replace("spec:\n", "spec:\n  foo: bar\n");
    let err = apply_text(&c, &text);
    assert_has(&err, "strict decoding error: unknown field \"spec.foo\"");
    // With --validate=warn the object is created and kubectl shows the server's warning.
    let r = c.kubectl_stdin(&["apply", "--validate=warn", "-f", "-"], &text);
    assert!(r.ok, "{}", r.stderr);
    assert_has(&r.stderr, "Warning: unknown field \"spec.foo\"");
    assert_eq!(r.stdout.trim(), "service/kubia created");
}

#[test]
fn unnamed_services_from_notes_003_and_004() {
    let c = Cluster::start();
    // 004's Service has `metadata.svc` and no name: the server rejects the unknown field.
    let err = fails(c.kubectl(&["create", "-f", &seed("004-sample-unnamed.yaml")]));
    assert_has(
        &err,
        "strict decoding error: unknown field \"metadata.svc\"",
    );
    // `kubectl apply` needs a name before it can talk to the server.
    let err = fails(c.kubectl(&["apply", "-f", &seed("004-sample-unnamed.yaml")]));
    assert_has(&err, "resource name may not be empty");
    // 003's session-affinity excerpt: no name, no ports.
    let err = fails(c.kubectl(&["create", "-f", &seed("003-session-affinity-unnamed.yaml")]));
    assert_has(
        &err,
        "metadata.name: Required value: name or generateName is required",
    );
    assert_has(&err, "spec.ports: Required value");
    assert!(names(&c, "svc").is_empty());
}

/// With `--legacy-apis=false` the old Ingress versions are gone, as in Kubernetes 1.22+.
#[test]
fn extensions_v1beta1_ingress_is_not_served_without_legacy_apis() {
    let c = Cluster::start_with(&["--legacy-apis=false"]);
    let raw = "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n  name: sample-ingress\nspec:\n  rules:\n  - http:\n      paths:\n      - path: /sample\n        backend:\n          serviceName: sample-service\n          servicePort: 8080\n";
    let err = apply_text(&c, raw);
    assert_has(
        &err,
        "no matches for kind \"Ingress\" in version \"extensions/v1beta1\"",
    );
    let err = apply_text(&c, &KUBIA.replace("apiVersion: v1", "apiVersion: v2"));
    assert_has(&err, "no matches for kind \"Service\" in version \"v2\"");
    assert!(names(&c, "ing").is_empty());
}

#[test]
fn service_port_zero_and_two_unnamed_ports() {
    let c = Cluster::start();
    let err = apply_text(&c, &KUBIA.replace("port: 80", "port: 0"));
    assert_has(&err, "The Service \"kubia\" is invalid");
    assert_has(
        &err,
        "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
    );
    let two = KUBIA.replace(
        "  selector:",
        "  - port: 443\n    targetPort: 8443\n  selector:",
    );
    let err = apply_text(&c, &two);
    assert_has(&err, "spec.ports[0].name: Required value");
    assert_has(&err, "spec.ports[1].name: Required value");
    // Duplicate port.
    let dup = KUBIA.replace(
        "  - port: 80\n    targetPort: 8080\n",
        "  - name: a\n    port: 80\n  - name: b\n    port: 80\n",
    );
    let err = apply_text(&c, &dup);
    assert_has(&err, "spec.ports[1]: Duplicate value");
    // Bad protocol, bad type.
    let err = apply_text(
        &c,
        &KUBIA.replace("targetPort: 8080", "targetPort: 8080\n    protocol: HTTP"),
    );
    assert_has(&err, "spec.ports[0].protocol: Unsupported value: \"HTTP\"");
    let err = apply_text(&c, &KUBIA.replace("spec:\n", "spec:\n  type: Cluster\n"));
    assert_has(&err, "spec.type: Unsupported value: \"Cluster\"");
    // nodePort on a ClusterIP service.
    let err = apply_text(
        &c,
        &KUBIA.replace("targetPort: 8080", "targetPort: 8080\n    nodePort: 30500"),
    );
    assert_has(
        &err,
        "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
    );
    // sessionAffinity value.
    let err = apply_text(
        &c,
        &KUBIA.replace("spec:\n", "spec:\n  sessionAffinity: Cookie\n"),
    );
    assert_has(&err, "spec.sessionAffinity: Unsupported value: \"Cookie\"");
    assert!(names(&c, "svc").is_empty());
}

#[test]
fn bad_label_value_and_bad_name() {
    let c = Cluster::start();
    let text = KUBIA.replace(
        "  name: kubia\n",
        "  name: kubia\n  labels:\n    app: \"bad value!\"\n",
    );
    let err = apply_text(&c, &text);
    assert_has(&err, "metadata.labels: Invalid value: \"bad value!\"");
    assert_has(
        &err,
        "a valid label must be an empty string or consist of alphanumeric characters",
    );
    let err = apply_text(&c, &KUBIA.replace("name: kubia", "name: Kubia_Svc"));
    assert_has(&err, "metadata.name: Invalid value: \"Kubia_Svc\"");
    // Selector values are label values too.
    let err = apply_text(&c, &KUBIA.replace("app: kubia", "app: \"-kubia\""));
    assert_has(&err, "spec.selector: Invalid value: \"-kubia\"");
    assert!(names(&c, "svc").is_empty());
}

#[test]
fn ingress_path_without_path_type() {
    let c = Cluster::start();
    let text = std::fs::read_to_string(seed("004-sample-ingress.yaml"))
        .unwrap()
        .replace("        pathType: Prefix\n", "");
    let err = apply_text(&c, &text);
    assert_has(&err, "The Ingress \"sample-ingress\" is invalid");
    assert_has(
        &err,
        "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified",
    );
    // A Prefix path must be absolute.
    let rel = std::fs::read_to_string(seed("004-sample-ingress.yaml"))
        .unwrap()
        .replace("path: /sample", "path: sample");
    let err = apply_text(&c, &rel);
    assert_has(
        &err,
        "spec.rules[0].http.paths[0].path: Invalid value: \"sample\": must be an absolute path",
    );
    // A backend needs a service or a resource.
    let nob = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: nob\nspec:\n  rules:\n  - http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend: {}\n";
    let err = apply_text(&c, nob);
    assert_has(&err, "spec.rules[0].http.paths[0].backend");
    assert!(names(&c, "ing").is_empty());
}

#[test]
fn deployment_selector_must_match_template() {
    let c = Cluster::start();
    let text = std::fs::read_to_string(seed("001-hostname-server.yaml"))
        .unwrap()
        .replace(
            "      labels:\n        app: hostname-server",
            "      labels:\n        app: other",
        );
    let err = apply_text(&c, &text);
    assert_has(&err, "The Deployment \"hostname-server\" is invalid");
    assert_has(
        &err,
        "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`",
    );
    // An empty selector.
    let none = std::fs::read_to_string(seed("001-hostname-server.yaml"))
        .unwrap()
        .replace(
            "  selector:\n    matchLabels:\n      app: hostname-server\n",
            "",
        );
    let err = apply_text(&c, &none);
    assert_has(&err, "spec.selector: Required value");
    // Negative replicas.
    let neg = std::fs::read_to_string(seed("001-hostname-server.yaml"))
        .unwrap()
        .replace("replicas: 2", "replicas: -2");
    let err = apply_text(&c, &neg);
    assert_has(
        &err,
        "spec.replicas: Invalid value: -2: must be greater than or equal to 0",
    );
    assert!(names(&c, "deploy").is_empty());
    // The selector of an existing deployment is immutable.
    assert!(
        c.kubectl(&["apply", "-f", &seed("001-hostname-server.yaml")])
            .ok
    );
    let moved = std::fs::read_to_string(seed("001-hostname-server.yaml"))
        .unwrap()
        .replace("app: hostname-server", "app: moved");
    let err = apply_text(&c, &moved);
    assert_has(&err, "spec.selector: Invalid value");
    assert_has(&err, "field is immutable");
}

#[test]
fn malformed_endpoints() {
    let c = Cluster::start();
    let text = std::fs::read_to_string(seed("000-external-service-endpoints.yaml"))
        .unwrap()
        .replace("ip: 22.22.22.22", "ip: 22.22.22");
    let err = apply_text(&c, &text);
    assert_has(
        &err,
        "subsets[0].addresses[1].ip: Invalid value: \"22.22.22\"",
    );
    let text = std::fs::read_to_string(seed("000-external-service-endpoints.yaml"))
        .unwrap()
        .replace("port: 80", "port: 70000");
    let err = apply_text(&c, &text);
    assert_has(
        &err,
        "subsets[0].ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
    );
    assert!(names(&c, "ep")
        .iter()
        .all(|n| n != "endpoints/external-service"));
}
