//! Deletion that reaches further than one object: a namespace takes its contents (and frees their
//! node ports) with it; deleting a Deployment removes what it owns (background cascade), keeps it
//! with `--cascade=orphan`.

use crate::harness::Cluster;
use crate::support::{apply_file, assert_has, fails, seed, Table};

#[test]
fn deleting_a_namespace_deletes_its_objects() {
    let c = Cluster::start();
    assert_eq!(
        c.ok(&["create", "namespace", "shop"]).trim(),
        "namespace/shop created"
    );
    for f in [
        "000-kubia-nodeport.yaml",
        "003-external-service.yaml",
        "003-external-service-endpoints.yaml",
        "001-hostname-server.yaml",
        "002-myapp-ing.yaml",
    ] {
        let r = c.kubectl(&["apply", "-n", "shop", "-f", &seed(f)]);
        assert!(r.ok, "{f}: {}", r.stderr);
    }
    c.ok(&[
        "create",
        "configmap",
        "cfg",
        "-n",
        "shop",
        "--from-literal=a=b",
    ]);
    // The same names in default are untouched by the namespace's deletion.
    assert!(apply_file(&c, &seed("003-external-service.yaml")).ok);

    // kubectl waits until the namespace is gone (bounded here).
    let out = c.ok(&["delete", "namespace", "shop", "--timeout=30s"]);
    assert_eq!(out.trim(), "namespace \"shop\" deleted");
    // kubectl waited for the namespace to go away.
    let err = fails(c.kubectl(&["get", "ns", "shop"]));
    assert_has(&err, "namespaces \"shop\" not found");
    for kind in ["svc", "ep", "deploy", "ing", "cm"] {
        let r = c.kubectl(&["get", kind, "-n", "shop"]);
        assert!(
            r.stdout.trim().is_empty(),
            "{kind} left in shop:\n{}",
            r.stdout
        );
        assert_has(&r.stderr, "No resources found in shop namespace.");
    }
    // Creating in the deleted namespace fails.
    let err = fails(c.kubectl(&["apply", "-n", "shop", "-f", &seed("000-kubia.yaml")]));
    assert_has(&err, "namespaces \"shop\" not found");
    assert!(Table::parse(&c.ok(&["get", "svc"])).has("external-service"));
    // The node port of the deleted service is free again.
    let r = apply_file(&c, &seed("004-sample-http.yaml"));
    assert!(
        r.ok,
        "node port 30123 still taken after namespace deletion: {}",
        r.stderr
    );
}

#[test]
fn system_namespaces_cannot_be_deleted() {
    let c = Cluster::start();
    let err = fails(c.kubectl(&["delete", "namespace", "default", "--wait=false"]));
    assert_has(&err, "Error from server (Forbidden): namespaces \"default\" is forbidden: this namespace may not be deleted");
    let err = fails(c.kubectl(&["delete", "namespace", "kube-system", "--wait=false"]));
    assert_has(&err, "this namespace may not be deleted");
}

fn owned_rs(c: &Cluster, deploy: &str, rs: &str) {
    let uid = c.ok(&["get", "deploy", deploy, "-o", "jsonpath={.metadata.uid}"]);
    assert!(!uid.is_empty());
    let text = format!(
        "apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: {rs}
  labels:
    app: {deploy}
  ownerReferences:
  - apiVersion: apps/v1
    kind: Deployment
    name: {deploy}
    uid: {uid}
    controller: true
    blockOwnerDeletion: true
spec:
  replicas: 2
  selector:
    matchLabels:
      app: {deploy}
  template:
    metadata:
      labels:
        app: {deploy}
    spec:
      containers:
      - name: {deploy}
        image: takytaky/hostname
"
    );
    assert_eq!(
        c.apply(&text).trim(),
        format!("replicaset.apps/{rs} created")
    );
}

#[test]
fn deleting_a_deployment_deletes_its_replica_set() {
    let c = Cluster::start();
    assert!(apply_file(&c, &seed("001-hostname-server.yaml")).ok);
    owned_rs(&c, "hostname-server", "hostname-server-7c85cc96dc");
    // A replica set that is not owned stays.
    assert!(apply_file(&c, &crate::support::fixture_path("kubia-rs.yaml")).ok);
    let out = c.ok(&["delete", "deploy", "hostname-server"]);
    assert_eq!(out.trim(), "deployment.apps \"hostname-server\" deleted");
    c.eventually(20, || {
        let t = Table::parse(&c.ok(&["get", "rs", "-o", "wide"]));
        (!t.has("hostname-server-7c85cc96dc")).then_some(())
    });
    assert!(Table::parse(&c.ok(&["get", "rs"])).has("kubia"));
}

#[test]
fn foreground_deletion_waits_for_dependents() {
    let c = Cluster::start();
    assert!(apply_file(&c, &seed("001-hostname-server.yaml")).ok);
    owned_rs(&c, "hostname-server", "hostname-server-abc");
    let out = c.ok(&[
        "delete",
        "deploy",
        "hostname-server",
        "--cascade=foreground",
    ]);
    assert_eq!(out.trim(), "deployment.apps \"hostname-server\" deleted");
    // kubectl waits for the deployment itself; by then its dependents are gone.
    c.eventually(20, || {
        let rs = c.kubectl(&["get", "rs", "hostname-server-abc"]);
        let d = c.kubectl(&["get", "deploy", "hostname-server"]);
        (!rs.ok && !d.ok).then_some(())
    });
}

#[test]
fn orphan_deletion_keeps_the_replica_set_and_drops_its_owner() {
    let c = Cluster::start();
    assert!(apply_file(&c, &seed("001-hostname-server.yaml")).ok);
    owned_rs(&c, "hostname-server", "hostname-server-7c85cc96dc");
    let out = c.ok(&["delete", "deploy", "hostname-server", "--cascade=orphan"]);
    assert_eq!(out.trim(), "deployment.apps \"hostname-server\" deleted");
    let refs = c.eventually(20, || {
        let refs = c.ok(&[
            "get",
            "rs",
            "hostname-server-7c85cc96dc",
            "-o",
            "jsonpath={.metadata.ownerReferences}",
        ]);
        (!refs.contains("hostname-server")).then_some(refs)
    });
    // An empty list is omitted from the object, as Kubernetes does (omitempty).
    assert_eq!(refs, "", "ownerReferences left as an empty list");
    let err = fails(c.kubectl(&["get", "deploy", "hostname-server"]));
    assert_has(&err, "deployments.apps \"hostname-server\" not found");
}
