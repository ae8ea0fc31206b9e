//! Every seed manifest applied the way the notes' readers would: `kubectl apply -f` (client-side,
//! three-way merge with the last-applied annotation) and `kubectl apply --server-side -f`, in the
//! order the note shows them, then re-applied. Objects the notes redefine under the same name
//! (Service `kubia`, Ingress `kubia`, ...) are updates: kubectl prints "configured".

use crate::harness::Cluster;
use crate::support::{apply_file, apply_ss, assert_has, seed, Table};

/// (fixture, what `kubectl apply` prints the first time in note order).
type Step = (&'static str, &'static str);

const NOTE_000: &[Step] = &[
    ("000-kubia.yaml", "service/kubia created"),
    (
        "000-external-service-endpoints.yaml",
        "endpoints/external-service created",
    ),
    ("000-kubia-nodeport.yaml", "service/kubia-nodeport created"),
];

const NOTE_001: &[Step] = &[
    (
        "001-hostname-server.yaml",
        "deployment.apps/hostname-server created",
    ),
    (
        "001-clusterip-hostname-service.yaml",
        "service/clusterip-hostname-service created",
    ),
    (
        "001-nodeport-hostname-service.yaml",
        "service/nodeport-hostname-service created",
    ),
];

const NOTE_002: &[Step] = &[
    ("002-myapp-svc.yaml", "service/myapp-svc created"),
    ("002-my-svc-np.yaml", "service/my-svc-np created"),
    (
        "002-myapp-svc-headless.yaml",
        "service/myapp-svc-headless created",
    ),
    (
        "002-myapp-ing.yaml",
        "ingress.networking.k8s.io/myapp-ing created",
    ),
    (
        "002-myapp-ing-host.yaml",
        "ingress.networking.k8s.io/myapp-ing configured",
    ),
];

const NOTE_003: &[Step] = &[
    ("003-kubia.yaml", "service/kubia created"),
    ("003-kubia-multiport.yaml", "service/kubia configured"),
    (
        "003-external-service.yaml",
        "service/external-service created",
    ),
    (
        "003-external-service-endpoints.yaml",
        "endpoints/external-service created",
    ),
    (
        "003-external-service-externalname.yaml",
        "service/external-service configured",
    ),
    ("003-kubia-nodeport.yaml", "service/kubia-nodeport created"),
    (
        "003-kubia-nodeport-loadbalancer.yaml",
        "service/kubia-nodeport configured",
    ),
    (
        "003-kubia-ingress.yaml",
        "ingress.networking.k8s.io/kubia created",
    ),
    (
        "003-kubia-ingress-multipath.yaml",
        "ingress.networking.k8s.io/kubia configured",
    ),
    (
        "003-kubia-ingress-multihost.yaml",
        "ingress.networking.k8s.io/kubia configured",
    ),
    (
        "003-kubia-ingress-tls.yaml",
        "ingress.networking.k8s.io/kubia configured",
    ),
    ("003-kubia-headless.yaml", "service/kubia-headless created"),
];

const NOTE_004: &[Step] = &[
    (
        "004-external-service-externalname.yaml",
        "service/external-service created",
    ),
    (
        "004-external-service-endpoints.yaml",
        "endpoints/external-service created",
    ),
    ("004-sample-http.yaml", "service/sample-http created"),
    (
        "004-sample-ingress.yaml",
        "ingress.networking.k8s.io/sample-ingress created",
    ),
    (
        "004-sample-headless-service.yaml",
        "service/sample-headless-service created",
    ),
];

/// The ReplicationController and ReplicaSet the notes refer to (not shown in full there).
const WORKLOADS: &[Step] = &[
    ("../kubia-rc.yaml", "replicationcontroller/kubia created"),
    ("../kubia-rs.yaml", "replicaset.apps/kubia created"),
];

/// The last file of each object name: re-applying these changes nothing.
fn finals(steps: &[Step]) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    for s in steps {
        let obj = s.1.split(' ').next().unwrap_or_default();
        out.retain(|o| o.1.split(' ').next() != Some(obj));
        out.push(*s);
    }
    out
}

fn client_side(steps: &[Step]) -> Cluster {
    let c = Cluster::start();
    for (file, expect) in steps {
        let r = apply_file(&c, &seed(file));
        assert!(
            r.ok,
            "kubectl apply -f {file} failed:\n{}{}",
            r.stdout, r.stderr
        );
        assert_eq!(
            r.stdout.trim(),
            *expect,
            "kubectl apply -f {file}; stderr: {}",
            r.stderr
        );
    }
    for (file, expect) in finals(steps) {
        let r = apply_file(&c, &seed(file));
        let obj = expect.split(' ').next().unwrap();
        assert!(r.ok, "re-apply {file}: {}", r.stderr);
        // Endpoints' `subsets` is an atomic list and the server defaults `protocol: TCP` inside
        // it, so kubectl's three-way diff (live vs manifest) always differs and it re-sends the
        // list: "configured", as against a real API server. Everything else is "unchanged".
        let again = if obj.starts_with("endpoints/") {
            "configured"
        } else {
            "unchanged"
        };
        assert_eq!(r.stdout.trim(), format!("{obj} {again}"), "re-apply {file}");
        let ann = c.ok(&[
            "get",
            obj,
            "-o",
            r#"jsonpath={.metadata.annotations.kubectl\.kubernetes\.io/last-applied-configuration}"#,
        ]);
        assert!(
            ann.starts_with('{'),
            "{obj} has no last-applied-configuration: {ann:?}"
        );
    }
    c
}

fn server_side(steps: &[Step]) -> Cluster {
    let c = Cluster::start();
    for pass in 0..2 {
        for (file, expect) in steps {
            let r = apply_ss(&c, &seed(file));
            assert!(
                r.ok,
                "pass {pass}: kubectl apply --server-side -f {file} failed:\n{}{}",
                r.stdout, r.stderr
            );
            let obj = expect.split(' ').next().unwrap();
            assert_eq!(
                r.stdout.trim(),
                format!("{obj} serverside-applied"),
                "pass {pass}, {file}"
            );
        }
    }
    for (_, expect) in finals(steps) {
        let obj = expect.split(' ').next().unwrap();
        let managers = c.ok(&[
            "get",
            obj,
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.managedFields[*].manager}",
        ]);
        assert!(
            managers.split(' ').any(|m| m == "kubectl"),
            "{obj} managers: {managers:?}"
        );
        let ops = c.ok(&[
            "get",
            obj,
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.managedFields[*].operation}",
        ]);
        assert!(
            ops.contains("Apply"),
            "{obj} managedFields operations: {ops:?}"
        );
    }
    c
}

/// After either kind of apply the stored objects are the notes' final versions.
fn check_003(c: &Cluster) {
    let svc = Table::parse(&c.ok(&["get", "svc"]));
    // Service kubia now has both named ports.
    assert_eq!(svc.cell("kubia", "PORT(S)"), "80/TCP,443/TCP");
    // external-service turned into ExternalName: no cluster IP any more.
    assert_eq!(svc.cell("external-service", "TYPE"), "ExternalName");
    assert_eq!(svc.cell("external-service", "CLUSTER-IP"), "<none>");
    assert_eq!(
        svc.cell("external-service", "EXTERNAL-IP"),
        "someapi.somecompany.com"
    );
    let ip = c.ok(&[
        "get",
        "svc",
        "external-service",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    assert_eq!(ip, "", "ExternalName service kept a cluster IP");
    // kubia-nodeport: NodePort -> LoadBalancer keeps its node port (same port and protocol).
    assert_eq!(svc.cell("kubia-nodeport", "TYPE"), "LoadBalancer");
    crate::ctl_lb::pool_address(c, "kubia-nodeport");
    assert_eq!(svc.cell("kubia-nodeport", "PORT(S)"), "80:30123/TCP");
    assert_eq!(svc.cell("kubia-headless", "CLUSTER-IP"), "None");
    let ing = Table::parse(&c.ok(&["get", "ing"]));
    assert_eq!(ing.cell("kubia", "HOSTS"), "kubia.example.com");
    assert_eq!(ing.cell("kubia", "PORTS"), "80, 443");
    let paths = c.ok(&[
        "get",
        "ing",
        "kubia",
        "-o",
        "jsonpath={.spec.rules[*].http.paths[*].path}",
    ]);
    assert_eq!(
        paths, "/kubia",
        "the TLS version has one rule with one path"
    );
}

#[test]
fn note_000_client_side_apply() {
    let c = client_side(NOTE_000);
    let ep = Table::parse(&c.ok(&["get", "endpoints", "external-service"]));
    assert_eq!(
        ep.cell("external-service", "ENDPOINTS"),
        "11.11.11.11:80,22.22.22.22:80"
    );
}

#[test]
fn note_000_server_side_apply() {
    let c = server_side(NOTE_000);
    let svc = Table::parse(&c.ok(&["get", "svc", "kubia-nodeport"]));
    assert_eq!(svc.cell("kubia-nodeport", "PORT(S)"), "80:30123/TCP");
}

#[test]
fn note_001_client_side_apply() {
    let c = client_side(NOTE_001);
    let d = Table::parse(&c.ok(&["get", "deploy", "hostname-server"]));
    // No deployment controller: nothing is ready or up to date.
    assert_eq!(d.cell("hostname-server", "READY"), "0/2");
}

#[test]
fn note_001_server_side_apply() {
    let c = server_side(NOTE_001);
    let svc = Table::parse(&c.ok(&["get", "svc", "nodeport-hostname-service"]));
    assert_eq!(
        svc.cell("nodeport-hostname-service", "PORT(S)"),
        "80:30080/TCP"
    );
}

#[test]
fn note_002_client_side_apply() {
    let c = client_side(NOTE_002);
    let ing = Table::parse(&c.ok(&["get", "ing", "myapp-ing"]));
    assert_eq!(ing.cell("myapp-ing", "HOSTS"), "www.example.com");
}

#[test]
fn note_002_server_side_apply() {
    let c = server_side(NOTE_002);
    let ing = Table::parse(&c.ok(&["get", "ing", "myapp-ing"]));
    assert_eq!(ing.cell("myapp-ing", "HOSTS"), "www.example.com");
}

#[test]
fn note_003_client_side_apply() {
    let c = client_side(NOTE_003);
    check_003(&c);
}

#[test]
fn note_003_server_side_apply() {
    let c = server_side(NOTE_003);
    check_003(&c);
}

#[test]
fn note_004_client_side_apply() {
    let c = client_side(NOTE_004);
    let svc = Table::parse(&c.ok(&["get", "svc"]));
    assert_eq!(svc.cell("external-service", "EXTERNAL-IP"), "external.com");
    assert_eq!(svc.cell("external-service", "PORT(S)"), "1234/TCP");
}

#[test]
fn note_004_server_side_apply() {
    let c = server_side(NOTE_004);
    let ep = Table::parse(&c.ok(&["get", "ep"]));
    assert_eq!(
        ep.cell("external-service", "ENDPOINTS"),
        "10.0.2.21:1234,10.0.2.22:1234"
    );
}

#[test]
fn workloads_client_and_server_side_apply() {
    let c = client_side(WORKLOADS);
    let rc = Table::parse(&c.ok(&["get", "rc", "kubia"]));
    assert_eq!(rc.cell("kubia", "DESIRED"), "3");
    server_side(WORKLOADS);
}

#[test]
fn changed_manifest_is_configured_and_the_change_is_stored() {
    let c = Cluster::start();
    let text = std::fs::read_to_string(seed("000-kubia.yaml")).unwrap();
    assert_eq!(c.apply(&text).trim(), "service/kubia created");
    assert_eq!(c.apply(&text).trim(), "service/kubia unchanged");
    let changed = text.replace("targetPort: 8080", "targetPort: 9090");
    assert_eq!(c.apply(&changed).trim(), "service/kubia configured");
    let tp = c.ok(&[
        "get",
        "svc",
        "kubia",
        "-o",
        "jsonpath={.spec.ports[0].targetPort}",
    ]);
    assert_eq!(tp, "9090");
    // Removing a field from the manifest removes it from the object (three-way merge).
    let no_selector = text.replace("  selector:\n    app: kubia\n", "");
    assert_eq!(c.apply(&no_selector).trim(), "service/kubia configured");
    let wide = Table::parse(&c.ok(&["get", "svc", "kubia", "-o", "wide"]));
    assert_eq!(wide.cell("kubia", "SELECTOR"), "<none>");
}

#[test]
fn server_side_apply_conflicts_with_another_manager() {
    let c = Cluster::start();
    let r = apply_ss(&c, &seed("000-kubia.yaml"));
    assert!(r.ok, "{}", r.stderr);
    let text = std::fs::read_to_string(seed("000-kubia.yaml")).unwrap();
    let changed = text.replace("targetPort: 8080", "targetPort: 9090");
    let r = c.kubectl_stdin(
        &["apply", "--server-side", "--field-manager=other", "-f", "-"],
        &changed,
    );
    let err = crate::support::fails(r);
    assert_has(&err, "conflict with \"kubectl\"");
    assert_has(&err, ".spec.ports[port=80,protocol=\"TCP\"].targetPort");
    let tp = c.ok(&[
        "get",
        "svc",
        "kubia",
        "-o",
        "jsonpath={.spec.ports[0].targetPort}",
    ]);
    assert_eq!(tp, "8080", "a conflicting apply changed the object");
    // --force-conflicts takes the field over.
    let r = c.kubectl_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager=other",
            "--force-conflicts",
            "-f",
            "-",
        ],
        &changed,
    );
    assert!(r.ok, "{}", r.stderr);
    assert_eq!(r.stdout.trim(), "service/kubia serverside-applied");
    let tp = c.ok(&[
        "get",
        "svc",
        "kubia",
        "-o",
        "jsonpath={.spec.ports[0].targetPort}",
    ]);
    assert_eq!(tp, "9090");
}
