//! Cluster IP and node port allocation: the seeds ask for node ports 30123 (twice, in notes 000,
//! 003 and 004), 30080 and 31111; explicit ports are honoured, a taken one is refused with
//! Kubernetes' message, out-of-range ports are invalid, `clusterIP: None` stays headless.

use crate::harness::Cluster;
use crate::support::{apply_file, assert_has, fails, in_service_cidr, node_port_of, seed, Table};

#[test]
fn explicit_node_ports_from_the_seeds_are_honoured() {
    let c = Cluster::start();
    for f in [
        "000-kubia-nodeport.yaml",
        "001-nodeport-hostname-service.yaml",
        "002-my-svc-np.yaml",
    ] {
        assert!(apply_file(&c, &seed(f)).ok, "{f}");
    }
    let t = Table::parse(&c.ok(&["get", "svc"]));
    assert_eq!(t.cell("kubia-nodeport", "PORT(S)"), "80:30123/TCP");
    assert_eq!(
        t.cell("nodeport-hostname-service", "PORT(S)"),
        "80:30080/TCP"
    );
    assert_eq!(t.cell("my-svc-np", "PORT(S)"), "80:31111/TCP");
}

#[test]
fn a_taken_node_port_is_refused_and_nothing_is_created() {
    let c = Cluster::start();
    assert!(apply_file(&c, &seed("000-kubia-nodeport.yaml")).ok);
    // Note 004's sample-http asks for the same node port as note 000's kubia-nodeport.
    let err = fails(apply_file(&c, &seed("004-sample-http.yaml")));
    assert_has(
        &err,
        "The Service \"sample-http\" is invalid: spec.ports[0].nodePort: Invalid value: 30123: provided port is already allocated",
    );
    assert!(!Table::parse(&c.ok(&["get", "svc"])).has("sample-http"));
    // Server-side apply is refused the same way.
    let err = fails(c.kubectl(&[
        "apply",
        "--server-side",
        "-f",
        &seed("004-sample-http.yaml"),
    ]));
    assert_has(&err, "provided port is already allocated");
    // In another namespace too: node ports are cluster-wide.
    c.ok(&["create", "ns", "other"]);
    let err = fails(c.kubectl(&["apply", "-n", "other", "-f", &seed("004-sample-http.yaml")]));
    assert_has(&err, "provided port is already allocated");
    // A failed create must not leak a cluster IP or the port: after deleting the owner the
    // port is free.
    c.ok(&["delete", "svc", "kubia-nodeport"]);
    let r = apply_file(&c, &seed("004-sample-http.yaml"));
    assert!(r.ok, "{}", r.stderr);
    // Updating another service to take the port fails too.
    assert!(apply_file(&c, &seed("001-nodeport-hostname-service.yaml")).ok);
    let err = fails(c.kubectl(&[
        "patch",
        "svc",
        "nodeport-hostname-service",
        "-p",
        r#"{"spec":{"ports":[{"port":80,"nodePort":30123}]}}"#,
    ]));
    assert_has(
        &err,
        "spec.ports[0].nodePort: Invalid value: 30123: provided port is already allocated",
    );
    let t = Table::parse(&c.ok(&["get", "svc", "nodeport-hostname-service"]));
    assert_eq!(
        t.cell("nodeport-hostname-service", "PORT(S)"),
        "80:30080/TCP"
    );
}

#[test]
fn out_of_range_node_port_is_invalid() {
    let c = Cluster::start();
    for (port, name) in [("8080", "low"), ("40000", "high")] {
        let text = std::fs::read_to_string(seed("000-kubia-nodeport.yaml"))
            .unwrap()
            .replace("nodePort: 30123", &format!("nodePort: {port}"))
            .replace("name: kubia-nodeport", &format!("name: {name}"));
        let err = fails(c.kubectl_stdin(&["apply", "-f", "-"], &text));
        assert_has(
            &err,
            &format!(
                "spec.ports[0].nodePort: Invalid value: {port}: provided port is not in the valid range. The range of valid ports is 30000-32767"
            ),
        );
    }
    let t = Table::parse(&c.ok(&["get", "svc"]));
    assert_eq!(t.rows.len(), 1, "only kubernetes: {:?}", t.rows);
}

#[test]
fn automatic_node_ports_are_distinct_and_in_range() {
    let c = Cluster::start();
    let mut seen = Vec::new();
    for i in 0..12 {
        let name = format!("np{i}");
        c.ok(&["create", "service", "nodeport", &name, "--tcp=80:8080"]);
        let t = Table::parse(&c.ok(&["get", "svc", &name]));
        let p = node_port_of(&t.cell(&name, "PORT(S)"), 80);
        assert!((30000..=32767).contains(&p), "{p}");
        assert!(!seen.contains(&p), "node port {p} handed out twice");
        seen.push(p);
    }
    // A two-port NodePort service gets two ports.
    let text = "apiVersion: v1\nkind: Service\nmetadata:\n  name: two\nspec:\n  type: NodePort\n  selector:\n    app: kubia\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n  - name: https\n    port: 443\n    targetPort: 8443\n";
    c.apply(text);
    let t = Table::parse(&c.ok(&["get", "svc", "two"]));
    let cell = t.cell("two", "PORT(S)");
    let (a, b) = (node_port_of(&cell, 80), node_port_of(&cell, 443));
    assert_ne!(a, b, "{cell}");
    assert!(!seen.contains(&a) && !seen.contains(&b));
}

#[test]
fn cluster_ips_explicit_taken_headless_and_out_of_range() {
    let c = Cluster::start();
    let with_ip = |name: &str, ip: &str| {
        std::fs::read_to_string(seed("000-kubia.yaml"))
            .unwrap()
            .replace("name: kubia", &format!("name: {name}"))
            .replace("spec:\n", &format!("spec:\n  clusterIP: {ip}\n"))
    };
    assert_eq!(
        c.apply(&with_ip("fixed", "10.96.100.100")).trim(),
        "service/fixed created"
    );
    let t = Table::parse(&c.ok(&["get", "svc", "fixed"]));
    assert_eq!(t.cell("fixed", "CLUSTER-IP"), "10.96.100.100");
    let err = fails(c.kubectl_stdin(&["apply", "-f", "-"], &with_ip("again", "10.96.100.100")));
    assert_has(&err, "spec.clusterIPs");
    assert_has(&err, "provided IP is already allocated");
    let err = fails(c.kubectl_stdin(&["apply", "-f", "-"], &with_ip("outside", "192.168.1.10")));
    assert_has(&err, "spec.clusterIPs");
    assert_has(&err, "not in the valid range");
    let err = fails(c.kubectl_stdin(&["apply", "-f", "-"], &with_ip("api", "10.96.0.1")));
    assert_has(&err, "provided IP is already allocated");
    let t = Table::parse(&c.ok(&["get", "svc"]));
    assert_eq!(t.rows.len(), 2, "{:?}", t.rows);

    // Headless seeds: no IP, CLUSTER-IP None, and clusterIPs [None].
    for f in [
        "002-myapp-svc-headless.yaml",
        "003-kubia-headless.yaml",
        "004-sample-headless-service.yaml",
    ] {
        assert!(apply_file(&c, &seed(f)).ok, "{f}");
    }
    let t = Table::parse(&c.ok(&["get", "svc"]));
    for n in [
        "myapp-svc-headless",
        "kubia-headless",
        "sample-headless-service",
    ] {
        assert_eq!(t.cell(n, "CLUSTER-IP"), "None", "{n}");
    }
    let h = c.get_json(&["svc", "kubia-headless"]);
    assert_eq!(h["spec"]["clusterIPs"], serde_json::json!(["None"]));
    // An ordinary service gets an address from 10.96.0.0/12.
    assert!(apply_file(&c, &seed("002-myapp-svc.yaml")).ok);
    let ip = c.ok(&[
        "get",
        "svc",
        "myapp-svc",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    assert!(in_service_cidr(&ip), "{ip}");
}
