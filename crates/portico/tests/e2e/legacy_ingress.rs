//! Ingress in the versions Kubernetes removed in 1.22 (`extensions/v1beta1`,
//! `networking.k8s.io/v1beta1`), as the notes (Kubernetes in Action, ch. 5) write it, driven by
//! the real kubectl: stored once as networking.k8s.io/v1, read back in each version, watched in
//! an old version, deprecation warnings, old field names in validation errors, the
//! DefaultIngressClass admission, and `--legacy-apis=false`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc::channel;
use std::time::Duration;

use crate::harness::{Cluster, KUBECTL};
use crate::support::{assert_has, fails, Table};

const EXT_WARNING: &str = "Warning: extensions/v1beta1 Ingress is deprecated in v1.14+, unavailable in v1.22+; use networking.k8s.io/v1 Ingress";
const NET_WARNING: &str = "Warning: networking.k8s.io/v1beta1 Ingress is deprecated in v1.19+, unavailable in v1.22+; use networking.k8s.io/v1 Ingress";

/// The notes' 5.4.1: one host, `/` to kubia-nodeport:80, exactly as printed (tab-indented).
const NOTES_5_4_1: &str = "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n\tname: kubia\nspec:\n\trules:\n\t- host: kubia.example.com # 인그레스는 kubia.example.com 도메인 이름을 서비스에 매핑한다.\n\t\thttp:\n\t\tpaths:\n\t\t- path: / # 모든 요청은 kubia-nodePort 서비스의 80포트로 전달\n\t\t\tbackend:\n\t\t\t\tserviceName: kubia-nodeport\n\t\t\t\tservicePort: 80\n";

/// The notes' 5.4.3: one host, `/kubia` and `/bar`, exactly as printed (tab-indented).
const NOTES_5_4_3: &str = "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n\tname: kubia\nspec:\n\trules:\n\t- host: kubia.example.com # 인그레스는 kubia.example.com 도메인 이름을 서비스에 매핑한다.\n\t\thttp:\n\t\tpaths:\n\t\t- path: /kubia\n\t\t\tbackend:\n\t\t\t\tserviceName: kubia\n\t\t\t\tservicePort: 80\n\t\t- path: /bar\n\t\t\tbackend:\n\t\t\t\tserviceName: bar\n\t\t\t\tservicePort: 80\n";

/// The notes' 5.4.3: two hosts, exactly as printed (tab-indented).
pub(crate) const NOTES_5_4_3_HOSTS: &str = "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n\tname: kubia\nspec:\n\trules:\n\t- host: kubia.example.com # 인그레스는 kubia.example.com 도메인 이름을 서비스에 매핑한다.\n\t\thttp:\n\t\tpaths:\n\t\t- path: /kubia\n\t\t\tbackend:\n\t\t\t\tserviceName: kubia\n\t\t\t\tservicePort: 80\n\t- host: bar.example.com # 인그레스는 kubia.example.com 도메인 이름을 서비스에 매핑한다.\n\t\thttp:\n\t\tpaths:\n\t\t- path: /bar\n\t\t\tbackend:\n\t\t\t\tserviceName: bar\n\t\t\t\tservicePort: 80\n";

/// The notes' 5.4.4: TLS for kubia.example.com, exactly as printed (tab-indented).
pub(crate) const NOTES_5_4_4: &str = "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n\tname: kubia\nspec:\n\ttls:\n\t- hosts:\n\t\t- kubia.example.com\n\t\tsecretName: tls-secret\n\trules:\n\t\t- host: kubia.example.com # 인그레스는 kubia.example.com 도메인 이름을 서비스에 매핑한다.\n\t\t\thttp:\n\t\t\tpaths:\n\t\t\t- path: /kubia\n\t\t\t\tbackend:\n\t\t\t\t\tserviceName: kubia\n\t\t\t\t\tservicePort: 80\n\t\n";

/// Tabs replaced by two spaces, nothing else changed.
fn as_written(notes: &str) -> String {
    notes.replace('\t', "  ")
}

/// [`as_written`], with the one structural slip of the notes fixed: `paths:` sits beside
/// `http:` instead of inside it, so the lines from `paths:` to the end of the rule move two
/// spaces right.
pub(crate) fn nested(notes: &str) -> String {
    let text = as_written(notes);
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut out = Vec::new();
    let mut shift_from: Option<usize> = None;
    let mut previous = String::new();
    for line in text.lines() {
        let n = indent(line);
        if line.trim() == "paths:" && previous.trim() == "http:" && indent(&previous) == n {
            shift_from = Some(n);
        } else if shift_from
            .is_some_and(|s| n < s || (n == s && line.trim_start().starts_with("- host")))
        {
            shift_from = None;
        }
        if shift_from.is_some() && !line.trim().is_empty() {
            out.push(format!("  {line}"));
        } else {
            out.push(line.to_string());
        }
        previous = line.to_string();
    }
    out.join("\n") + "\n"
}

fn apply(c: &Cluster, manifest: &str) -> crate::harness::Run {
    c.kubectl_stdin(&["apply", "-f", "-"], manifest)
}

#[track_caller]
fn applied(c: &Cluster, manifest: &str) -> String {
    let r = apply(c, manifest);
    assert!(
        r.ok,
        "apply failed:\n{}{}\n---\n{manifest}",
        r.stdout, r.stderr
    );
    r.stderr
}

/// `kubectl get <resource>` as a table without the AGE column (it may tick between calls).
fn table_without_age(c: &Cluster, resource: &str) -> Vec<Vec<String>> {
    let t = Table::parse(&c.ok(&["get", resource]));
    let age = t.columns.iter().position(|col| col == "AGE");
    let mut rows = vec![t.columns.clone()];
    rows.extend(t.rows.clone());
    rows.into_iter()
        .map(|mut r| {
            if let Some(i) = age {
                r.remove(i);
            }
            r
        })
        .collect()
}

#[test]
fn notes_manifests_as_written_are_rejected_by_strict_validation() {
    let c = Cluster::start();
    // Tabs become spaces, but `paths:` stays beside `http:`: an unknown field of the rule,
    // which kubectl's default (strict) validation refuses, as Kubernetes does.
    let err = fails(apply(&c, &as_written(NOTES_5_4_1)));
    assert_has(
        &err,
        "strict decoding error: unknown field \"spec.rules[0].paths\"",
    );
    assert_has(&err, EXT_WARNING);
    assert!(c.ok(&["get", "ing", "-o", "name"]).trim().is_empty());
}

#[test]
fn notes_ingresses_in_extensions_v1beta1() {
    let c = Cluster::start();
    let stderr = applied(&c, &nested(NOTES_5_4_1));
    assert_has(&stderr, EXT_WARNING);

    // `kubectl get ing` reads networking.k8s.io/v1 (the preferred version): no warning at
    // all (neither deprecation nor an ambiguous short name).
    let r = c.kubectl(&["get", "ing"]);
    assert!(r.ok, "{}", r.stderr);
    assert!(!r.stderr.contains("Warning"), "{}", r.stderr);
    let t = Table::parse(&r.stdout);
    assert_eq!(t.cell("kubia", "HOSTS"), "kubia.example.com");
    assert_eq!(t.cell("kubia", "PORTS"), "80");

    // The same table in every version; the old ones warn.
    let v1 = table_without_age(&c, "ingresses.v1.networking.k8s.io");
    assert_eq!(table_without_age(&c, "ingresses.v1beta1.extensions"), v1);
    assert_eq!(
        table_without_age(&c, "ingresses.v1beta1.networking.k8s.io"),
        v1
    );
    let r = c.kubectl(&["get", "ingresses.v1beta1.networking.k8s.io"]);
    assert_has(&r.stderr, NET_WARNING);

    // Stored once, as v1.
    let yaml = c.ok(&["get", "ingress.v1.networking.k8s.io", "kubia", "-o", "yaml"]);
    assert_has(&yaml, "apiVersion: networking.k8s.io/v1\n");
    let v1 = c.get_json(&["ingress.v1.networking.k8s.io", "kubia"]);
    let path = &v1["spec"]["rules"][0]["http"]["paths"][0];
    assert_eq!(path["pathType"], "ImplementationSpecific");
    assert_eq!(path["backend"]["service"]["name"], "kubia-nodeport");
    assert_eq!(path["backend"]["service"]["port"]["number"], 80);
    assert!(path["backend"].get("serviceName").is_none());

    // Read back in the old versions, in their shape.
    let yaml = c.ok(&["get", "ingress.v1beta1.extensions", "kubia", "-o", "yaml"]);
    assert_has(&yaml, "apiVersion: extensions/v1beta1\n");
    assert_has(&yaml, "serviceName: kubia-nodeport\n");
    assert_has(&yaml, "servicePort: 80\n");
    for resource in [
        "ingress.v1beta1.extensions",
        "ingress.v1beta1.networking.k8s.io",
    ] {
        let old = c.get_json(&[resource, "kubia"]);
        let backend = &old["spec"]["rules"][0]["http"]["paths"][0]["backend"];
        assert_eq!(backend["serviceName"], "kubia-nodeport", "{resource}");
        assert_eq!(backend["servicePort"], 80, "{resource}");
        assert!(backend.get("service").is_none(), "{resource}");
    }
    let old = c.get_json(&["ingress.v1beta1.networking.k8s.io", "kubia"]);
    assert_eq!(old["apiVersion"], "networking.k8s.io/v1beta1");
    assert_eq!(old["metadata"]["uid"], v1["metadata"]["uid"]);

    // A watch in an old version sees the update (5.4.3: two paths), in its own shape.
    let mut watch = Command::new(KUBECTL)
        .args([
            "get",
            "ingresses.v1beta1.networking.k8s.io",
            "kubia",
            "-w",
            "-o",
            "jsonpath={.apiVersion} {.spec.rules[0].http.paths[*].backend.serviceName}{\"\\n\"}",
        ])
        .env("KUBECONFIG", &c.kubeconfig)
        .env("HOME", c.data_dir().parent().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start kubectl get -w");
    let out = watch.stdout.take().unwrap();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("initial watch event");
    assert_eq!(first, "networking.k8s.io/v1beta1 kubia-nodeport");
    let stderr = applied(&c, &nested(NOTES_5_4_3));
    assert_has(&stderr, EXT_WARNING);
    let update = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("watch event for the update");
    assert_eq!(update, "networking.k8s.io/v1beta1 kubia bar");
    let _ = watch.kill();
    let _ = watch.wait();

    // The two-host variant and the TLS one (5.4.4) apply over it too.
    applied(&c, &nested(NOTES_5_4_3_HOSTS));
    let t = Table::parse(&c.ok(&["get", "ing"]));
    assert_eq!(
        t.cell("kubia", "HOSTS"),
        "kubia.example.com,bar.example.com"
    );
    applied(&c, &nested(NOTES_5_4_4));
    let t = Table::parse(&c.ok(&["get", "ing"]));
    assert_eq!(t.cell("kubia", "HOSTS"), "kubia.example.com");
    assert_eq!(t.cell("kubia", "PORTS"), "80, 443");
    let old = c.get_json(&["ingress.v1beta1.extensions", "kubia"]);
    assert_eq!(old["spec"]["tls"][0]["secretName"], "tls-secret");
    assert_eq!(
        old["spec"]["rules"][0]["http"]["paths"][0]["path"],
        "/kubia"
    );
    // Applying the same manifest again writes nothing. (kubectl still sends a patch: the
    // stored paths carry the defaulted pathType, and `rules` is replaced as a whole.)
    let rv = old["metadata"]["resourceVersion"].clone();
    let r = apply(&c, &nested(NOTES_5_4_4));
    assert!(r.ok, "{}", r.stderr);
    assert_has(&r.stdout, "ingress.extensions/kubia");
    let again = c.get_json(&["ingress.v1beta1.extensions", "kubia"]);
    assert_eq!(again["metadata"]["resourceVersion"], rv);
}

#[test]
fn invalid_old_ingresses_name_the_old_fields() {
    let c = Cluster::start();
    let bad_port = nested(NOTES_5_4_1).replace("servicePort: 80", "servicePort: 70000");
    let err = fails(apply(&c, &bad_port));
    assert_has(&err, "The Ingress \"kubia\" is invalid: spec.rules[0].http.paths[0].backend.servicePort: Invalid value: 70000: must be between 1 and 65535, inclusive");
    let no_name = nested(NOTES_5_4_1).replace("serviceName: kubia-nodeport\n", "");
    let err = fails(apply(&c, &no_name));
    assert_has(
        &err,
        "spec.rules[0].http.paths[0].backend.serviceName: Required value",
    );
    let neither = "apiVersion: networking.k8s.io/v1beta1\nkind: Ingress\nmetadata:\n  name: empty\nspec: {}\n";
    let err = fails(apply(&c, neither));
    assert_has(&err, "either `backend` or `rules` must be specified");
    assert!(c.ok(&["get", "ing", "-o", "name"]).trim().is_empty());
}

#[test]
fn default_ingress_class_is_set_on_create_in_any_version() {
    let c = Cluster::start();
    let class = |name: &str| {
        format!("apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: {name}\n  annotations:\n    ingressclass.kubernetes.io/is-default-class: \"true\"\nspec:\n  controller: example.com/{name}\n")
    };
    c.apply(&class("older"));
    // Creation timestamps have whole seconds: make the second class clearly newer.
    std::thread::sleep(Duration::from_millis(1100));
    c.apply(&class("newer"));
    applied(&c, &nested(NOTES_5_4_1));
    let v1 = c.get_json(&["ingress.v1.networking.k8s.io", "kubia"]);
    assert_eq!(v1["spec"]["ingressClassName"], "newer");
    let old = c.get_json(&["ingress.v1beta1.extensions", "kubia"]);
    assert_eq!(old["spec"]["ingressClassName"], "newer");
    // The class annotation counts as a class: nothing is defaulted.
    let annotated = nested(NOTES_5_4_1).replace(
        "name: kubia\n",
        "name: annotated\n  annotations:\n    kubernetes.io/ingress.class: nginx\n",
    );
    applied(&c, &annotated);
    let v1 = c.get_json(&["ingress.v1.networking.k8s.io", "annotated"]);
    assert!(v1["spec"].get("ingressClassName").is_none(), "{v1}");
    let t = Table::parse(&c.ok(&["get", "ing"]));
    assert_eq!(t.cell("kubia", "CLASS"), "newer");
}

#[test]
fn legacy_apis_off_serves_exactly_the_v1_surface() {
    let c = Cluster::start_with(&["--legacy-apis=false"]);
    let err = fails(apply(&c, &nested(NOTES_5_4_1)));
    assert_has(
        &err,
        "no matches for kind \"Ingress\" in version \"extensions/v1beta1\"",
    );
    let versions = c.ok(&["api-versions"]);
    assert!(!versions.contains("extensions/v1beta1"), "{versions}");
    assert!(
        !versions.contains("networking.k8s.io/v1beta1"),
        "{versions}"
    );
    assert_has(&versions, "networking.k8s.io/v1\n");
    let on = Cluster::start();
    let versions = on.ok(&["api-versions"]);
    assert_has(&versions, "extensions/v1beta1\n");
    assert_has(&versions, "networking.k8s.io/v1beta1\n");
}
