//! `kubectl expose`, as the notes use it: a ReplicationController (`kubectl expose rc kubia`), a
//! Deployment, a pod made with `kubectl run`, `--type=LoadBalancer` and
//! `--session-affinity=ClientIP` (the server defaults the ClientIP timeout to 10800 s).

use crate::harness::Cluster;
use crate::support::{
    apply_file, assert_has, fails, fixture_path, in_service_cidr, node_port_of, Table,
};

#[test]
fn expose_rc_uses_its_selector() {
    let c = Cluster::start();
    let r = apply_file(&c, &fixture_path("kubia-rc.yaml"));
    assert!(r.ok, "{}", r.stderr);
    let out = c.ok(&["expose", "rc", "kubia", "--port=80", "--target-port=8080"]);
    assert_eq!(out.trim(), "service/kubia exposed");
    let t = Table::parse(&c.ok(&["get", "svc", "kubia", "-o", "wide"]));
    assert_eq!(t.cell("kubia", "TYPE"), "ClusterIP");
    assert!(in_service_cidr(&t.cell("kubia", "CLUSTER-IP")));
    assert_eq!(t.cell("kubia", "PORT(S)"), "80/TCP");
    assert_eq!(t.cell("kubia", "SELECTOR"), "app=kubia");
    let svc = c.get_json(&["svc", "kubia"]);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8080);
    assert_eq!(svc["spec"]["ports"][0]["protocol"], "TCP");
    assert_eq!(svc["spec"]["sessionAffinity"], "None");
    // The RC's labels (defaulted from its template) are copied to the service.
    assert_eq!(svc["metadata"]["labels"]["app"], "kubia");
    // Exposing again under the same name is refused by the server.
    let err = fails(c.kubectl(&["expose", "rc", "kubia", "--port=80", "--target-port=8080"]));
    assert_has(&err, "Error from server (AlreadyExists)");
    assert_has(&err, "services \"kubia\" already exists");
}

#[test]
fn expose_deployment_made_with_create_deployment() {
    let c = Cluster::start();
    let out = c.ok(&[
        "create",
        "deployment",
        "web",
        "--image=luksa/kubia",
        "--replicas=2",
    ]);
    assert_eq!(out.trim(), "deployment.apps/web created");
    let out = c.ok(&[
        "expose",
        "deployment",
        "web",
        "--port=80",
        "--target-port=8080",
        "--name=web-svc",
    ]);
    assert_eq!(out.trim(), "service/web-svc exposed");
    let t = Table::parse(&c.ok(&["get", "svc", "web-svc", "-o", "wide"]));
    assert_eq!(t.cell("web-svc", "SELECTOR"), "app=web");
    assert_eq!(t.cell("web-svc", "PORT(S)"), "80/TCP");
    // A NodePort via expose gets a port from the range.
    let out = c.ok(&[
        "expose",
        "deploy/web",
        "--port=8080",
        "--type=NodePort",
        "--name=web-np",
    ]);
    assert_eq!(out.trim(), "service/web-np exposed");
    let t = Table::parse(&c.ok(&["get", "svc", "web-np"]));
    let np = node_port_of(&t.cell("web-np", "PORT(S)"), 8080);
    assert!((30000..=32767).contains(&np));
}

#[test]
fn expose_pod_as_load_balancer_with_session_affinity() {
    let c = Cluster::start();
    let out = c.ok(&[
        "run",
        "sample",
        "--image=luksa/kubia",
        "--labels=svc=sample",
        "--port=8080",
    ]);
    assert_eq!(out.trim(), "pod/sample created");
    // 004: kubectl expose pod sample --type=LoadBalancer --name sample-http \
    //        --port=8080 --target-port=8080 --selector='svc=sample'
    let out = c.ok(&[
        "expose",
        "pod",
        "sample",
        "--type=LoadBalancer",
        "--name",
        "sample-http",
        "--port=8080",
        "--target-port=8080",
        "--selector=svc=sample",
    ]);
    assert_eq!(out.trim(), "service/sample-http exposed");
    let t = Table::parse(&c.ok(&["get", "svc", "sample-http", "-o", "wide"]));
    assert_eq!(t.cell("sample-http", "TYPE"), "LoadBalancer");
    let http_ip = crate::ctl_lb::pool_address(&c, "sample-http");
    assert_eq!(t.cell("sample-http", "SELECTOR"), "svc=sample");
    let np = node_port_of(&t.cell("sample-http", "PORT(S)"), 8080);
    assert!((30000..=32767).contains(&np));
    let svc = c.get_json(&["svc", "sample-http"]);
    assert_eq!(svc["spec"]["externalTrafficPolicy"], "Cluster");
    assert_eq!(svc["spec"]["allocateLoadBalancerNodePorts"], true);

    // 004's second command reuses the name: the server refuses it.
    let err = fails(c.kubectl(&[
        "expose",
        "pod",
        "sample",
        "--type=LoadBalancer",
        "--name",
        "sample-http",
        "--session-affinity=ClientIP",
    ]));
    assert_has(&err, "services \"sample-http\" already exists");

    // Under a new name; the port comes from the pod's containerPort.
    let out = c.ok(&[
        "expose",
        "pod",
        "sample",
        "--type=LoadBalancer",
        "--name",
        "sample-sticky",
        "--session-affinity=ClientIP",
    ]);
    assert_eq!(out.trim(), "service/sample-sticky exposed");
    let svc = c.get_json(&["svc", "sample-sticky"]);
    assert_eq!(svc["spec"]["sessionAffinity"], "ClientIP");
    assert_eq!(
        svc["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"],
        10800
    );
    assert_eq!(svc["spec"]["ports"][0]["port"], 8080);
    // A pod exposed without --selector uses the pod's labels.
    assert_eq!(svc["spec"]["selector"]["svc"], "sample");
    let t = Table::parse(&c.ok(&["get", "svc", "sample-sticky"]));
    assert_ne!(crate::ctl_lb::pool_address(&c, "sample-sticky"), http_ip);
    let other = node_port_of(&t.cell("sample-sticky", "PORT(S)"), 8080);
    assert_ne!(np, other, "two services got the same node port");
}

#[test]
fn expose_pod_without_a_port_fails_in_kubectl() {
    let c = Cluster::start();
    c.ok(&["run", "bare", "--image=luksa/kubia"]);
    let err = fails(c.kubectl(&["expose", "pod", "bare", "--name=bare"]));
    assert_has(&err, "couldn't find port via --port flag or introspection");
    let r = c.kubectl(&["get", "svc", "bare"]);
    assert!(!r.ok, "a service was created anyway");
}

#[test]
fn session_affinity_client_ip_from_a_manifest_gets_the_default_timeout() {
    let c = Cluster::start();
    let text = std::fs::read_to_string(crate::support::seed("000-kubia.yaml"))
        .unwrap()
        .replace("spec:\n", "spec:\n  sessionAffinity: ClientIP\n");
    c.apply(&text);
    let svc = c.get_json(&["svc", "kubia"]);
    assert_eq!(
        svc["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"],
        10800
    );
    // With affinity None there is no sessionAffinityConfig.
    let plain = c.get_json(&["svc", "kubernetes"]);
    assert!(plain["spec"]["sessionAffinityConfig"].is_null(), "{plain}");
}

#[test]
fn kubectl_run_generator_flag_from_note_003_is_gone() {
    let c = Cluster::start();
    // 003: kubectl run dnsutils --image=tutum/dnsutils --generator=run-pod/v1 --command -- sleep infinity
    let err = fails(c.kubectl(&[
        "run",
        "dnsutils",
        "--image=tutum/dnsutils",
        "--generator=run-pod/v1",
        "--command",
        "--",
        "sleep",
        "infinity",
    ]));
    assert_has(&err, "unknown flag: --generator");
    // Without the flag it creates a bare pod (no controller), labelled run=dnsutils.
    let out = c.ok(&[
        "run",
        "dnsutils",
        "--image=tutum/dnsutils",
        "--command",
        "--",
        "sleep",
        "infinity",
    ]);
    assert_eq!(out.trim(), "pod/dnsutils created");
    let pod = c.get_json(&["pod", "dnsutils"]);
    assert_eq!(pod["metadata"]["labels"]["run"], "dnsutils");
    assert_eq!(
        pod["spec"]["containers"][0]["command"],
        serde_json::json!(["sleep", "infinity"])
    );
    assert_eq!(pod["spec"]["restartPolicy"], "Always");
}
