//! The imperative `kubectl create ...` commands (kubectl sends these as protobuf): secrets
//! (the notes' TLS secret from openssl), configmaps, deployments, every service type,
//! namespaces and ingresses.

use std::process::Command;

use crate::harness::Cluster;
use crate::support::{assert_has, fails, in_service_cidr, node_port_of, Table};

#[test]
fn create_secret_tls_from_openssl_files() {
    let c = Cluster::start();
    let dir = c.data_dir().parent().unwrap().to_path_buf();
    let key = dir.join("tls.key");
    let cert = dir.join("tls.cert");
    // 003: openssl genrsa + openssl req -new -x509 ... -subj /CN=kubia.example.com
    let o = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "360",
            "-subj",
            "/CN=kubia.example.com",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = c.ok(&[
        "create",
        "secret",
        "tls",
        "tls-secret",
        &format!("--cert={}", cert.display()),
        &format!("--key={}", key.display()),
    ]);
    assert_eq!(out.trim(), "secret/tls-secret created");
    let t = Table::parse(&c.ok(&["get", "secret", "tls-secret"]));
    assert_eq!(t.columns, ["NAME", "TYPE", "DATA", "AGE"]);
    assert_eq!(t.row("tls-secret")[1..3], ["kubernetes.io/tls", "2"]);
    // The stored data decodes back to the files.
    let s = c.get_json(&["secret", "tls-secret"]);
    let stored = decode_b64(s["data"]["tls.crt"].as_str().unwrap());
    assert_eq!(stored, std::fs::read(&cert).unwrap());
    // The TLS ingress of note 003 can now refer to it.
    let r = c.kubectl(&[
        "apply",
        "-f",
        &crate::support::seed("003-kubia-ingress-tls.yaml"),
    ]);
    assert!(r.ok, "{}", r.stderr);
    let err = fails(c.kubectl(&[
        "create",
        "secret",
        "tls",
        "tls-secret",
        &format!("--cert={}", cert.display()),
        &format!("--key={}", key.display()),
    ]));
    // kubectl words this one itself: `error: failed to create secret secrets "..." already exists`.
    assert_has(&err, "secrets \"tls-secret\" already exists");
}

fn decode_b64(s: &str) -> Vec<u8> {
    let o = Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut ch| {
            use std::io::Write;
            ch.stdin.take().unwrap().write_all(s.as_bytes())?;
            ch.wait_with_output()
        })
        .expect("base64");
    o.stdout
}

#[test]
fn create_configmap_and_namespace() {
    let c = Cluster::start();
    assert_eq!(
        c.ok(&["create", "namespace", "kia"]).trim(),
        "namespace/kia created"
    );
    let out = c.ok(&[
        "create",
        "configmap",
        "fortune",
        "-n",
        "kia",
        "--from-literal=interval=25",
        "--from-literal=mode=sleep",
    ]);
    assert_eq!(out.trim(), "configmap/fortune created");
    let t = Table::parse(&c.ok(&["get", "cm", "-n", "kia"]));
    assert_eq!(t.columns, ["NAME", "DATA", "AGE"]);
    assert_eq!(t.cell("fortune", "DATA"), "2");
    let cm = c.get_json(&["configmap", "fortune", "-n", "kia"]);
    assert_eq!(cm["data"]["interval"], "25");
    // Each namespace gets a kube-root-ca.crt configmap in Kubernetes; not asserted here.
    let t = Table::parse(&c.ok(&["get", "ns"]));
    assert_eq!(t.cell("kia", "STATUS"), "Active");
    let err = fails(c.kubectl(&["create", "namespace", "kia"]));
    assert_has(
        &err,
        "Error from server (AlreadyExists): namespaces \"kia\" already exists",
    );
    let err = fails(c.kubectl(&[
        "create",
        "configmap",
        "x",
        "-n",
        "nowhere",
        "--from-literal=a=b",
    ]));
    // kubectl words this one itself: `error: failed to create configmap: namespaces ...`.
    assert_has(&err, "namespaces \"nowhere\" not found");
    let err = fails(c.kubectl(&["create", "namespace", "Bad_Name"]));
    assert_has(&err, "metadata.name: Invalid value: \"Bad_Name\"");
}

#[test]
fn create_deployment_defaults() {
    let c = Cluster::start();
    let out = c.ok(&[
        "create",
        "deployment",
        "kubia",
        "--image=luksa/kubia",
        "--replicas=3",
        "--port=8080",
    ]);
    assert_eq!(out.trim(), "deployment.apps/kubia created");
    // The controllers create 3 pods from the template; they stay Pending (no nodes), so
    // none is ready or available.
    let t = c.eventually(20, || {
        let t = Table::parse(&c.ok(&["get", "deploy", "kubia", "-o", "wide"]));
        (t.row("kubia")[1..4] == ["0/3", "3", "0"]).then_some(t)
    });
    assert_eq!(t.row("kubia")[5..], ["kubia", "luksa/kubia", "app=kubia"]);
    let d = c.get_json(&["deploy", "kubia"]);
    // Server-side defaults of apps/v1 Deployment.
    assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    assert_eq!(
        d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
        "25%"
    );
    assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Always");
    assert_eq!(pod["dnsPolicy"], "ClusterFirst");
    assert_eq!(pod["terminationGracePeriodSeconds"], 30);
    assert_eq!(pod["containers"][0]["imagePullPolicy"], "Always");
    assert_eq!(
        pod["containers"][0]["terminationMessagePath"],
        "/dev/termination-log"
    );
    assert_eq!(pod["containers"][0]["ports"][0]["protocol"], "TCP");
    assert_eq!(d["metadata"]["generation"], 1);
}

#[test]
fn create_service_of_every_type() {
    let c = Cluster::start();
    let created = |args: &[&str], name: &str| {
        let mut a = vec!["create", "service"];
        a.extend_from_slice(args);
        assert_eq!(c.ok(&a).trim(), format!("service/{name} created"));
    };
    created(&["clusterip", "my-cs", "--tcp=5678:8080"], "my-cs");
    created(
        &["clusterip", "my-headless", "--clusterip=None"],
        "my-headless",
    );
    created(
        &["nodeport", "my-np", "--tcp=80:8080", "--node-port=30080"],
        "my-np",
    );
    created(&["nodeport", "my-np2", "--tcp=80:8080"], "my-np2");
    created(&["loadbalancer", "my-lb", "--tcp=80:8080"], "my-lb");
    created(
        &[
            "externalname",
            "my-en",
            "--external-name=someapi.somecompany.com",
        ],
        "my-en",
    );

    let t = Table::parse(&c.ok(&["get", "svc", "-o", "wide"]));
    assert_eq!(t.cell("my-cs", "TYPE"), "ClusterIP");
    assert!(in_service_cidr(&t.cell("my-cs", "CLUSTER-IP")));
    assert_eq!(t.cell("my-cs", "PORT(S)"), "5678/TCP");
    // kubectl create service sets selector app=<name>.
    assert_eq!(t.cell("my-cs", "SELECTOR"), "app=my-cs");
    assert_eq!(t.cell("my-headless", "CLUSTER-IP"), "None");
    assert_eq!(t.cell("my-headless", "PORT(S)"), "<none>");
    assert_eq!(t.cell("my-np", "TYPE"), "NodePort");
    assert_eq!(t.cell("my-np", "PORT(S)"), "80:30080/TCP");
    let np2 = node_port_of(&t.cell("my-np2", "PORT(S)"), 80);
    assert!((30000..=32767).contains(&np2) && np2 != 30080);
    assert_eq!(t.cell("my-lb", "TYPE"), "LoadBalancer");
    // The LoadBalancer allocator gives it an address from the pool.
    crate::ctl_lb::pool_address(&c, "my-lb");
    node_port_of(&t.cell("my-lb", "PORT(S)"), 80);
    assert_eq!(t.cell("my-en", "TYPE"), "ExternalName");
    assert_eq!(t.cell("my-en", "CLUSTER-IP"), "<none>");
    assert_eq!(t.cell("my-en", "EXTERNAL-IP"), "someapi.somecompany.com");
    assert_eq!(t.cell("my-en", "PORT(S)"), "<none>");
    let cs = c.get_json(&["svc", "my-cs"]);
    assert_eq!(cs["spec"]["ports"][0]["name"], "5678-8080");
    assert_eq!(cs["spec"]["ports"][0]["targetPort"], 8080);
    assert_eq!(cs["spec"]["ipFamilies"], serde_json::json!(["IPv4"]));
    assert_eq!(cs["spec"]["ipFamilyPolicy"], "SingleStack");
    assert_eq!(cs["spec"]["internalTrafficPolicy"], "Cluster");
    assert_eq!(cs["spec"]["clusterIPs"][0], cs["spec"]["clusterIP"]);

    // The same node port again.
    let err = fails(c.kubectl(&[
        "create",
        "service",
        "nodeport",
        "clash",
        "--tcp=80:8080",
        "--node-port=30080",
    ]));
    assert_has(
        &err,
        "spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated",
    );
    // An external name that is not a DNS name (refused by kubectl or by the server).
    let err = fails(c.kubectl(&[
        "create",
        "service",
        "externalname",
        "bad-en",
        "--external-name=not_a_name",
    ]));
    assert!(
        err.contains("spec.externalName") || err.contains("invalid service external name"),
        "{err}"
    );
    assert!(!c.kubectl(&["get", "svc", "bad-en"]).ok);
}

#[test]
fn create_ingress_with_rules_and_tls() {
    let c = Cluster::start();
    let out = c.ok(&[
        "create",
        "ingress",
        "kubia",
        "--class=nginx",
        "--rule=kubia.example.com/kubia*=kubia:80,tls=tls-secret",
        "--rule=bar.example.com/bar=bar:80",
    ]);
    assert_eq!(out.trim(), "ingress.networking.k8s.io/kubia created");
    let t = Table::parse(&c.ok(&["get", "ing"]));
    assert_eq!(
        t.row("kubia")[..5],
        [
            "kubia",
            "nginx",
            "kubia.example.com,bar.example.com",
            "",
            "80, 443"
        ]
    );
    let ing = c.get_json(&["ing", "kubia"]);
    let p0 = &ing["spec"]["rules"][0]["http"]["paths"][0];
    assert_eq!(p0["path"], "/kubia");
    assert_eq!(p0["pathType"], "Prefix");
    assert_eq!(p0["backend"]["service"]["name"], "kubia");
    assert_eq!(p0["backend"]["service"]["port"]["number"], 80);
    assert_eq!(
        ing["spec"]["rules"][1]["http"]["paths"][0]["pathType"],
        "Exact"
    );
    assert_eq!(ing["spec"]["tls"][0]["secretName"], "tls-secret");
    assert_eq!(ing["spec"]["tls"][0]["hosts"][0], "kubia.example.com");
    // A default backend only.
    let out = c.ok(&[
        "create",
        "ingress",
        "catch-all",
        "--default-backend=myapp-svc-np:80",
    ]);
    assert_eq!(out.trim(), "ingress.networking.k8s.io/catch-all created");
    let t = Table::parse(&c.ok(&["get", "ing", "catch-all"]));
    assert_eq!(t.cell("catch-all", "HOSTS"), "*");
    assert_eq!(t.cell("catch-all", "CLASS"), "<none>");
    // A wildcard host is valid; an invalid one is not.
    let err = fails(c.kubectl(&["create", "ingress", "bad", "--rule=Bad_Host/=svc:80"]));
    assert_has(&err, "spec.rules[0].host: Invalid value: \"Bad_Host\"");
}
