//! What `kubectl get` and `kubectl describe` print for the seeds' objects: the server's Table
//! responses (column names, cluster IPs, `<none>`/`<pending>`/`None`, node ports, endpoints).

use crate::harness::Cluster;
use crate::support::{
    apply_file, describe_field, fixture_path, in_service_cidr, node_port_of, seed, tables, Table,
};

fn apply_all(c: &Cluster, files: &[&str]) {
    for f in files {
        let r = apply_file(c, &seed(f));
        assert!(r.ok, "apply {f}: {}{}", r.stdout, r.stderr);
    }
}

#[test]
fn get_svc_columns_for_every_service_type() {
    let c = Cluster::start();
    apply_all(
        &c,
        &[
            "000-kubia.yaml",
            "000-kubia-nodeport.yaml",
            "002-myapp-svc-headless.yaml",
            "004-external-service-externalname.yaml",
        ],
    );
    let r = c.kubectl_stdin(
        &["apply", "-f", "-"],
        &std::fs::read_to_string(seed("003-kubia-nodeport-loadbalancer.yaml"))
            .unwrap()
            .replace("name: kubia-nodeport", "name: kubia-lb"),
    );
    assert!(r.ok, "{}", r.stderr);

    let out = c.ok(&["get", "svc"]);
    let t = Table::parse(&out);
    assert_eq!(
        t.columns,
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ]
    );
    // Rows are sorted by name, `kubernetes` included.
    let names: Vec<&str> = t.rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        names,
        [
            "external-service",
            "kubernetes",
            "kubia",
            "kubia-lb",
            "kubia-nodeport",
            "myapp-svc-headless"
        ]
    );

    assert_eq!(t.cell("kubia", "TYPE"), "ClusterIP");
    assert_eq!(t.cell("kubia", "EXTERNAL-IP"), "<none>");
    assert_eq!(t.cell("kubia", "PORT(S)"), "80/TCP");
    assert!(in_service_cidr(&t.cell("kubia", "CLUSTER-IP")), "{out}");
    assert_ne!(t.cell("kubia", "CLUSTER-IP"), "10.96.0.1");

    assert_eq!(t.cell("kubia-nodeport", "TYPE"), "NodePort");
    assert_eq!(t.cell("kubia-nodeport", "EXTERNAL-IP"), "<none>");
    assert_eq!(t.cell("kubia-nodeport", "PORT(S)"), "80:30123/TCP");
    assert!(in_service_cidr(&t.cell("kubia-nodeport", "CLUSTER-IP")));

    assert_eq!(t.cell("kubia-lb", "TYPE"), "LoadBalancer");
    crate::ctl_lb::pool_address(&c, "kubia-lb");
    let np = node_port_of(&t.cell("kubia-lb", "PORT(S)"), 80);
    assert!((30000..=32767).contains(&np) && np != 30123, "{out}");

    assert_eq!(t.cell("myapp-svc-headless", "CLUSTER-IP"), "None");
    assert_eq!(t.cell("myapp-svc-headless", "TYPE"), "ClusterIP");

    assert_eq!(t.cell("external-service", "TYPE"), "ExternalName");
    assert_eq!(t.cell("external-service", "CLUSTER-IP"), "<none>");
    assert_eq!(t.cell("external-service", "EXTERNAL-IP"), "external.com");
    assert_eq!(t.cell("external-service", "PORT(S)"), "1234/TCP");

    // Every allocated cluster IP is distinct.
    let mut ips: Vec<String> = t
        .rows
        .iter()
        .map(|r| r[2].clone())
        .filter(|ip| in_service_cidr(ip))
        .collect();
    let n = ips.len();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), n, "duplicate cluster IPs:\n{out}");
    assert_eq!(n, 4, "{out}");

    let wide = Table::parse(&c.ok(&["get", "svc", "-o", "wide"]));
    assert_eq!(
        wide.columns,
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE",
            "SELECTOR"
        ]
    );
    assert_eq!(wide.cell("kubia", "SELECTOR"), "app=kubia");
    assert_eq!(wide.cell("kubia-lb", "SELECTOR"), "app=kubi");
    assert_eq!(wide.cell("external-service", "SELECTOR"), "<none>");
    assert_eq!(wide.cell("kubernetes", "SELECTOR"), "<none>");

    // The seed's own `kubectl get svc kubia-nodeport` (000), with today's TYPE column.
    let one = Table::parse(&c.ok(&["get", "svc", "kubia-nodeport"]));
    assert_eq!(one.rows.len(), 1);
    assert_eq!(one.cell("kubia-nodeport", "PORT(S)"), "80:30123/TCP");

    // Multi-port services list every port.
    apply_all(&c, &["003-kubia-multiport.yaml"]);
    let t = Table::parse(&c.ok(&["get", "svc", "kubia"]));
    assert_eq!(t.cell("kubia", "PORT(S)"), "80/TCP,443/TCP");
}

#[test]
fn get_endpoints_shows_ip_port_pairs() {
    let c = Cluster::start();
    apply_all(
        &c,
        &[
            "003-external-service.yaml",
            "000-external-service-endpoints.yaml",
        ],
    );
    let out = c.ok(&["get", "endpoints"]);
    let t = Table::parse(&out);
    assert_eq!(t.columns, ["NAME", "ENDPOINTS", "AGE"]);
    // The API server keeps the `kubernetes` endpoints pointing at itself (note 002 shows
    // `kubernetes   192.168.56.11:6443`).
    assert_eq!(t.cell("kubernetes", "ENDPOINTS"), c.address);
    assert_eq!(
        t.cell("external-service", "ENDPOINTS"),
        "11.11.11.11:80,22.22.22.22:80"
    );
    // The notes' `kubectl get endpoints kubia` for a service no pod backs yet.
    apply_all(&c, &["000-kubia.yaml"]);
    let r = c.kubectl(&["get", "endpoints", "kubia"]);
    if r.ok {
        // An endpoints controller may have created an empty object.
        assert_eq!(Table::parse(&r.stdout).cell("kubia", "ENDPOINTS"), "<none>");
    } else {
        assert!(
            r.stderr.contains("endpoints \"kubia\" not found"),
            "{}",
            r.stderr
        );
    }
    // An Endpoints object with no addresses prints <none>.
    let empty = "apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: empty\nsubsets: []\n";
    c.apply(empty);
    assert_eq!(
        Table::parse(&c.ok(&["get", "ep", "empty"])).cell("empty", "ENDPOINTS"),
        "<none>"
    );
    // More than three addresses: kubectl shows three and "+ N more...".
    let many = "apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: many\nsubsets:\n- addresses:\n  - ip: 10.1.0.1\n  - ip: 10.1.0.2\n  - ip: 10.1.0.3\n  - ip: 10.1.0.4\n  - ip: 10.1.0.5\n  ports:\n  - port: 8080\n";
    c.apply(many);
    let cell = Table::parse(&c.ok(&["get", "ep", "many"])).cell("many", "ENDPOINTS");
    assert_eq!(
        cell,
        "10.1.0.1:8080,10.1.0.2:8080,10.1.0.3:8080 + 2 more..."
    );
}

#[test]
fn get_ingress_columns() {
    let c = Cluster::start();
    apply_all(&c, &["002-myapp-ing.yaml", "004-sample-ingress.yaml"]);
    let out = c.ok(&["get", "ing"]);
    let t = Table::parse(&out);
    assert_eq!(
        t.columns,
        ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    );
    // The note's `kubectl get ing`, before any ingress controller wrote an address.
    assert_eq!(
        t.row("myapp-ing")[..5],
        ["myapp-ing", "<none>", "*", "", "80"]
    );
    assert_eq!(
        t.row("sample-ingress")[..5],
        ["sample-ingress", "<none>", "*", "", "80"]
    );
    apply_all(
        &c,
        &[
            "002-myapp-ing-host.yaml",
            "003-kubia-ingress-multihost.yaml",
        ],
    );
    let t = Table::parse(&c.ok(&["get", "ingress"]));
    assert_eq!(t.cell("myapp-ing", "HOSTS"), "www.example.com");
    assert_eq!(
        t.cell("kubia", "HOSTS"),
        "kubia.example.com,bar.example.com"
    );
    apply_all(&c, &["003-kubia-ingress-tls.yaml"]);
    let t = Table::parse(&c.ok(&["get", "ingresses.networking.k8s.io", "kubia"]));
    assert_eq!(t.cell("kubia", "PORTS"), "80, 443");
    let wide = Table::parse(&c.ok(&["get", "ing", "-o", "wide"]));
    assert_eq!(
        wide.columns,
        ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    );
}

#[test]
fn get_workloads_with_pending_pods() {
    let c = Cluster::start();
    apply_all(&c, &["001-hostname-server.yaml"]);
    for f in ["kubia-rc.yaml", "kubia-rs.yaml"] {
        let r = apply_file(&c, &fixture_path(f));
        assert!(r.ok, "{}", r.stderr);
    }
    // The controllers create every pod; none becomes ready without nodes. The Deployment's
    // own ReplicaSet is listed too; wait until every status caught up.
    let settled = |out: &str| {
        let ts = tables(out);
        ts.len() == 3
            && ts[0].has("deployment.apps/hostname-server")
            && ts[0].row("deployment.apps/hostname-server")[1..4] == ["0/2", "2", "0"]
            && ts[1].has("replicaset.apps/kubia")
            && ts[1].row("replicaset.apps/kubia")[1..4] == ["3", "3", "0"]
            && ts[2].row("replicationcontroller/kubia")[1..4] == ["3", "3", "0"]
    };
    let out = c.eventually(20, || {
        let out = c.ok(&["get", "deploy,rs,rc"]);
        settled(&out).then_some(out)
    });
    let ts = tables(&out);
    assert_eq!(ts.len(), 3, "{out}");
    assert_eq!(
        ts[0].columns,
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    );
    assert_eq!(
        ts[0].row("deployment.apps/hostname-server")[1..4],
        ["0/2", "2", "0"]
    );
    assert_eq!(
        ts[1].columns,
        ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    );
    assert_eq!(ts[1].row("replicaset.apps/kubia")[1..4], ["3", "3", "0"]);
    assert_eq!(
        ts[1].rows.len(),
        2,
        "kubia and the Deployment's ReplicaSet: {out}"
    );
    assert_eq!(
        ts[2].columns,
        ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    );
    assert_eq!(
        ts[2].row("replicationcontroller/kubia")[1..4],
        ["3", "3", "0"]
    );

    let wide = Table::parse(&c.ok(&["get", "deploy", "-o", "wide"]));
    assert_eq!(
        wide.columns,
        [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    assert_eq!(
        wide.row("hostname-server")[5..],
        [
            "hostname-server",
            "takytaky/hostname",
            "app=hostname-server"
        ]
    );
    let rcw = Table::parse(&c.ok(&["get", "rc", "-o", "wide"]));
    assert_eq!(
        rcw.columns,
        [
            "NAME",
            "DESIRED",
            "CURRENT",
            "READY",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    assert_eq!(rcw.row("kubia")[5..], ["kubia", "luksa/kubia", "app=kubia"]);
}

#[test]
fn get_all_lists_every_kind_in_the_all_category() {
    let c = Cluster::start();
    apply_all(
        &c,
        &[
            "001-hostname-server.yaml",
            "001-clusterip-hostname-service.yaml",
        ],
    );
    let r = apply_file(&c, &fixture_path("kubia-rc.yaml"));
    assert!(r.ok, "{}", r.stderr);
    // The controllers add the pods (2 + 3) and the Deployment's ReplicaSet; wait for them.
    let out = c.eventually(20, || {
        let out = c.ok(&["get", "all"]);
        let ts = tables(&out);
        (ts.len() == 5 && ts[0].rows.len() == 5).then_some(out)
    });
    let ts = tables(&out);
    let firsts: Vec<String> = ts
        .iter()
        .map(|t| t.rows[0][0].split('/').next().unwrap().to_string())
        .collect();
    // Discovery order: core (pods, replicationcontrollers, services) before apps
    // (deployments, replicasets).
    assert_eq!(
        firsts,
        [
            "pod",
            "replicationcontroller",
            "service",
            "deployment.apps",
            "replicaset.apps"
        ],
        "{out}"
    );
    let svc = &ts[2];
    assert_eq!(
        svc.columns,
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ]
    );
    assert_eq!(svc.cell("service/kubernetes", "CLUSTER-IP"), "10.96.0.1");
    assert_eq!(
        svc.cell("service/clusterip-hostname-service", "PORT(S)"),
        "80/TCP"
    );
    assert_eq!(
        ts[3].cell("deployment.apps/hostname-server", "READY"),
        "0/2"
    );
    // Ingresses and endpoints are not in "all".
    apply_all(&c, &["002-myapp-ing.yaml"]);
    let out = c.ok(&["get", "all"]);
    assert!(!out.contains("ingress"), "{out}");
    assert!(!out.contains("endpoints/"), "{out}");
}

#[test]
fn describe_service_shows_type_ip_ports_and_affinity() {
    let c = Cluster::start();
    apply_all(
        &c,
        &[
            "000-kubia-nodeport.yaml",
            "003-external-service.yaml",
            "003-external-service-endpoints.yaml",
        ],
    );
    let out = c.ok(&["describe", "svc", "kubia-nodeport"]);
    let ip = c.ok(&[
        "get",
        "svc",
        "kubia-nodeport",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    assert_eq!(describe_field(&out, "Name"), "kubia-nodeport");
    assert_eq!(describe_field(&out, "Namespace"), "default");
    assert_eq!(describe_field(&out, "Selector"), "app=kubia");
    assert_eq!(describe_field(&out, "Type"), "NodePort");
    assert_eq!(describe_field(&out, "IP Family Policy"), "SingleStack");
    assert_eq!(describe_field(&out, "IP Families"), "IPv4");
    assert_eq!(describe_field(&out, "IP"), ip);
    assert_eq!(describe_field(&out, "IPs"), ip);
    assert_eq!(squash(&describe_field(&out, "Port")), "<unset> 80/TCP");
    assert_eq!(describe_field(&out, "TargetPort"), "8080/TCP");
    assert_eq!(
        squash(&describe_field(&out, "NodePort")),
        "<unset> 30123/TCP"
    );
    assert_eq!(describe_field(&out, "Session Affinity"), "None");
    assert_eq!(describe_field(&out, "External Traffic Policy"), "Cluster");
    assert_eq!(describe_field(&out, "Events"), "<none>");

    let out = c.ok(&["describe", "svc", "external-service"]);
    assert_eq!(describe_field(&out, "Selector"), "<none>");
    assert_eq!(describe_field(&out, "Type"), "ClusterIP");
    assert_eq!(squash(&describe_field(&out, "Port")), "<unset> 80/TCP");
    // targetPort defaults to port.
    assert_eq!(describe_field(&out, "TargetPort"), "80/TCP");

    let r = c.kubectl(&[
        "patch",
        "svc",
        "kubia-nodeport",
        "-p",
        r#"{"spec":{"sessionAffinity":"ClientIP"}}"#,
    ]);
    assert!(r.ok, "{}", r.stderr);
    let out = c.ok(&["describe", "service/kubia-nodeport"]);
    assert_eq!(describe_field(&out, "Session Affinity"), "ClientIP");
}

#[test]
fn get_svc_deploy_pod_as_in_note_001() {
    let c = Cluster::start();
    apply_all(
        &c,
        &[
            "001-hostname-server.yaml",
            "001-clusterip-hostname-service.yaml",
        ],
    );
    // The Deployment's 2 pods appear (Pending: there are no nodes), as in the note.
    let out = c.eventually(20, || {
        let out = c.ok(&["get", "svc,deploy,pod"]);
        let ts = tables(&out);
        (ts.len() == 3
            && ts[2].rows.len() == 2
            && ts[1].row("deployment.apps/hostname-server")[2] == "2")
            .then_some(out)
    });
    let ts = tables(&out);
    assert_eq!(ts.len(), 3, "{out}");
    assert_eq!(
        ts[0].columns,
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ]
    );
    let names: Vec<&str> = ts[0].rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        names,
        ["service/clusterip-hostname-service", "service/kubernetes"]
    );
    assert_eq!(
        ts[0].cell("service/clusterip-hostname-service", "PORT(S)"),
        "80/TCP"
    );
    assert_eq!(
        ts[1].columns,
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    );
    assert_eq!(
        ts[1].row("deployment.apps/hostname-server")[1..4],
        ["0/2", "2", "0"]
    );
    assert_eq!(
        ts[2].columns,
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    );
    for row in &ts[2].rows {
        assert!(row[0].starts_with("pod/hostname-server-"), "{out}");
        assert_eq!(row[1..3], ["0/1", "Pending"], "{out}");
    }
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
