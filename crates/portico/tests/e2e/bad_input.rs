//! Bad input over raw HTTP (curl): each gets Kubernetes' status code and `Status` body, the
//! server keeps serving, and nothing is stored.

use std::process::Command;

use serde_json::Value;

use crate::harness::Cluster;

/// Sends a request with curl; returns the HTTP code and the parsed body (Null if not JSON).
fn curl(c: &Cluster, method: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
    let dir = tempfile::tempdir().expect("temp dir");
    let body_file = dir.path().join("body");
    std::fs::write(&body_file, body).expect("write body");
    let out = Command::new("curl")
        .args(["-sS", "-o", "-", "-w", "\n%{http_code}", "-X", method])
        .arg("--cacert")
        .arg(c.ca_file())
        .arg("-H")
        .arg(format!("Authorization: Bearer {}", c.token()))
        .arg("-H")
        .arg(format!("Content-Type: {content_type}"))
        .arg("--data-binary")
        .arg(format!("@{}", body_file.display()))
        .arg(format!("https://{}{path}", c.address))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("status line");
    (
        code.trim().parse().expect("code"),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

const SVCS: &str = "/api/v1/namespaces/default/services";

#[test]
fn malformed_and_oversized_bodies_are_rejected_and_change_nothing() {
    let c = Cluster::start();
    let before = c.ok(&["get", "svc", "-o", "name"]);
    let (code, st) = curl(
        &c,
        "POST",
        SVCS,
        "application/json",
        b"{\"apiVersion\": \"v1\", \"kind\": \"Serv",
    );
    assert_eq!(code, 400, "{st}");
    assert_eq!(st["kind"], "Status");
    assert_eq!(st["reason"], "BadRequest");
    // 4 MiB is over Kubernetes' 3 MiB request limit.
    let mut big = b"{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"big\"},\"data\":{\"a\":\"".to_vec();
    big.extend(std::iter::repeat_n(b'x', 4 << 20));
    big.extend_from_slice(b"\"}}");
    let (code, st) = curl(
        &c,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        &big,
    );
    assert_eq!(code, 413, "{st}");
    assert_eq!(st["reason"], "RequestEntityTooLarge");
    let (code, _) = curl(&c, "POST", SVCS, "application/x-nonsense", b"{}");
    assert_eq!(code, 415);
    let (code, st) = curl(
        &c,
        "POST",
        SVCS,
        "application/vnd.kubernetes.protobuf",
        b"k8s\0\x0a\xff\xff",
    );
    assert_eq!(code, 400, "{st}");
    // Wrong kind and version for the path.
    let (code, st) = curl(
        &c,
        "POST",
        SVCS,
        "application/json",
        br#"{"apiVersion":"apps/v1","kind":"Service","metadata":{"name":"x"}}"#,
    );
    assert_eq!(code, 400, "{st}");
    assert!(
        st["message"]
            .as_str()
            .unwrap_or("")
            .contains("does not match the expected API version"),
        "{st}"
    );
    let (code, _) = curl(
        &c,
        "POST",
        "/api/v1/namespaces/default/foos",
        "application/json",
        b"{}",
    );
    assert_eq!(code, 404);
    let (code, st) = curl(&c, "POST", "/api/v1/namespaces/nope/services", "application/json",
        br#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"x"},"spec":{"ports":[{"port":80}]}}"#);
    assert_eq!(code, 404, "{st}");
    assert_eq!(st["message"], "namespaces \"nope\" not found");
    assert_eq!(c.ok(&["get", "svc", "-o", "name"]), before);
}

#[test]
fn invalid_names_and_labels_get_422_with_causes() {
    let c = Cluster::start();
    let (code, st) = curl(&c, "POST", SVCS, "application/json",
        br#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"Bad_Name","labels":{"a":"-x-"}},"spec":{"ports":[{"port":80}]}}"#);
    assert_eq!(code, 422, "{st}");
    assert_eq!(st["reason"], "Invalid");
    let fields: Vec<&str> = st["details"]["causes"]
        .as_array()
        .expect("causes")
        .iter()
        .filter_map(|c| c["field"].as_str())
        .collect();
    assert!(fields.contains(&"metadata.name"), "{st}");
    assert!(fields.contains(&"metadata.labels"), "{st}");
    assert!(
        st["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("Service \"Bad_Name\" is invalid"),
        "{st}"
    );
    let r = c.kubectl(&["get", "svc", "Bad_Name"]);
    assert!(!r.ok);
}

#[test]
fn stale_updates_conflict_and_delete_collection_honours_selectors() {
    let c = Cluster::start();
    for (name, tier) in [("a", "web"), ("b", "web"), ("c", "db")] {
        c.ok(&["create", "service", "clusterip", name, "--tcp=80:8080"]);
        c.ok(&["label", "svc", name, &format!("tier={tier}")]);
    }
    let svc = c.get_json(&["svc", "a"]);
    let mut stale = svc.clone();
    stale["metadata"]["resourceVersion"] = Value::String("1".into());
    let (code, st) = curl(
        &c,
        "PUT",
        &format!("{SVCS}/a"),
        "application/json",
        stale.to_string().as_bytes(),
    );
    assert_eq!(code, 409, "{st}");
    assert_eq!(
        st["message"],
        "Operation cannot be fulfilled on services \"a\": the object has been modified; please apply your changes to the latest version and try again"
    );
    let (code, st) = curl(
        &c,
        "DELETE",
        &format!("{SVCS}?labelSelector=tier%3Dweb"),
        "application/json",
        b"",
    );
    assert_eq!(code, 200, "{st}");
    let left = c.ok(&["get", "svc", "-o", "name"]);
    assert!(
        left.contains("service/c") && !left.contains("service/a") && !left.contains("service/b"),
        "{left}"
    );
    // The released addresses and ports can be taken again.
    let (code, st) = curl(&c, "POST", SVCS, "application/json",
        format!(r#"{{"apiVersion":"v1","kind":"Service","metadata":{{"name":"again"}},"spec":{{"clusterIP":"{}","ports":[{{"port":80}}]}}}}"#,
            svc["spec"]["clusterIP"].as_str().unwrap_or("")).as_bytes());
    assert_eq!(code, 201, "{st}");
}

#[test]
fn events_show_up_in_describe() {
    let c = Cluster::start();
    c.ok(&["create", "service", "clusterip", "web", "--tcp=80:8080"]);
    let uid = c.get_json(&["svc", "web"])["metadata"]["uid"]
        .as_str()
        .unwrap_or("")
        .to_string();
    c.apply(&format!(
        "apiVersion: v1
kind: Event
metadata:
  name: web.1
  namespace: default
involvedObject:
  apiVersion: v1
  kind: Service
  name: web
  namespace: default
  uid: {uid}
reason: EnsuringLoadBalancer
message: Ensuring load balancer
type: Normal
source:
  component: service-controller
count: 1
firstTimestamp: \"2026-01-01T00:00:00Z\"
lastTimestamp: \"2026-01-01T00:00:00Z\"
"
    ));
    let d = c.ok(&["describe", "svc", "web"]);
    assert!(
        d.contains("EnsuringLoadBalancer") && d.contains("Ensuring load balancer"),
        "{d}"
    );
    let ev = c.ok(&["get", "events"]);
    assert!(
        ev.contains("service/web") && ev.contains("EnsuringLoadBalancer"),
        "{ev}"
    );
}

#[test]
fn pod_subresources_answer_clearly_without_a_node() {
    let c = Cluster::start();
    c.ok(&["run", "p", "--image=nginx"]);
    let r = c.kubectl(&["logs", "p"]);
    assert!(!r.ok);
    assert!(
        r.stderr.contains("does not have a host assigned"),
        "{}",
        r.stderr
    );
}
