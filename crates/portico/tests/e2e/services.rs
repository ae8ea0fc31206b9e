//! Services for real, against `portico up`, on both proxy datapaths: the notes' ClusterIP
//! and NodePort examples, LoadBalancer from the host, session affinity, refusal without
//! endpoints, cluster DNS by short name, headless and across namespaces.

use std::collections::BTreeSet;

use crate::sandbox::Up;
use crate::support::{exec, kubia_deployment, seed};

const MYAPP: &str = "apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: myapp-rs-headless}
spec:
  replicas: 3
  selector: {matchLabels: {app: myapp-rs-headless}}
  template:
    metadata: {labels: {app: myapp-rs-headless}}
    spec:
      containers:
      - name: myapp
        image: ghcr.io/c1t1d0s7/go-myweb
        ports: [{containerPort: 8080}]
";

fn scenario(mode: &str) {
    let c = Up::start_with(2, None, &["--proxy-mode", mode]);
    c.apply(&kubia_deployment(3));
    c.ok(&["apply", "-f", &seed("000-kubia.yaml")]);
    c.ok(&["apply", "-f", &seed("000-kubia-nodeport.yaml")]);
    c.client_pod();
    let pods = c.ready_pods("app=kubia", 3);
    let names: BTreeSet<String> = pods.iter().map(|p| p.0.clone()).collect();
    let ip = c.get_json(&["svc", "kubia"])["spec"]["clusterIP"]
        .as_str()
        .expect("ip")
        .to_string();

    // The notes: curl from a pod to the cluster IP reaches every pod in turn.
    let mut seen = BTreeSet::new();
    for _ in 0..30 {
        let r = exec(
            &c,
            "client",
            &["curl", "-s", "--max-time", "5", &format!("http://{ip}")],
        );
        assert!(r.ok, "{mode}: {}", r.stderr);
        let name = r
            .stdout
            .trim()
            .strip_prefix("You've hit ")
            .expect("kubia answer")
            .to_string();
        seen.insert(name);
    }
    assert_eq!(
        seen, names,
        "{mode}: every pod answers through the cluster IP"
    );

    // The cluster IP is virtual: no ping answer.
    assert!(
        !exec(&c, "client", &["ping", "-c", "1", "-W", "1", &ip]).ok,
        "{mode}: ping answered"
    );

    // NodePort 30123: from the host on the listen address, and from a pod to every node.
    let host = std::process::Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "5",
            &format!("http://{}:30123/", c.listen),
        ])
        .output()
        .expect("curl");
    assert!(
        String::from_utf8_lossy(&host.stdout).starts_with("You've hit kubia-"),
        "{mode}: {host:?}"
    );
    for node_ip in ["172.18.0.2", "172.18.0.3"] {
        let r = exec(
            &c,
            "client",
            &[
                "curl",
                "-s",
                "--max-time",
                "5",
                &format!("http://{node_ip}:30123/"),
            ],
        );
        assert!(
            r.stdout.starts_with("You've hit kubia-"),
            "{mode} {node_ip}: {}{}",
            r.stdout,
            r.stderr
        );
    }

    // Session affinity: one client stays on one pod.
    c.apply(
        "apiVersion: v1
kind: Service
metadata: {name: kubia-sticky}
spec:
  sessionAffinity: ClientIP
  selector: {app: kubia}
  ports: [{port: 80, targetPort: 8080}]
",
    );
    let sticky_ip = c.get_json(&["svc", "kubia-sticky"])["spec"]["clusterIP"]
        .as_str()
        .expect("ip")
        .to_string();
    let sticky_url = format!("http://{sticky_ip}");
    let sticky: BTreeSet<String> = (0..10)
        .map(|_| {
            exec(
                &c,
                "client",
                &["curl", "-s", "--max-time", "5", &sticky_url],
            )
            .stdout
        })
        .collect();
    assert_eq!(sticky.len(), 1, "{mode}: {sticky:?}");

    // LoadBalancer: the EXTERNAL-IP answers from the host.
    c.ok(&[
        "expose",
        "deployment",
        "kubia",
        "--name",
        "kubia-lb",
        "--type",
        "LoadBalancer",
        "--port",
        "8080",
    ]);
    let lb = c.eventually(60, || {
        let s = c.get_json(&["svc", "kubia-lb"]);
        s["status"]["loadBalancer"]["ingress"][0]["ip"]
            .as_str()
            .map(str::to_string)
    });
    let body = c.eventually(30, || {
        let o = std::process::Command::new("curl")
            .args(["-s", "--max-time", "5", &format!("http://{lb}:8080/")])
            .output()
            .ok()?;
        let s = String::from_utf8_lossy(&o.stdout).to_string();
        (!s.is_empty()).then_some(s)
    });
    assert!(body.starts_with("You've hit kubia-"), "{mode}: {body}");

    // No endpoint: connection refused at once (curl's exit code 7).
    c.apply(
        "apiVersion: v1
kind: Service
metadata: {name: nobody-home}
spec:
  selector: {app: nothing-matches}
  ports: [{port: 80}]
",
    );
    let r = exec(
        &c,
        "client",
        &["curl", "-s", "--max-time", "5", "http://nobody-home"],
    );
    assert_eq!(r.code, 7, "{mode}: {}{}", r.stdout, r.stderr);

    // DNS: the short name through the search path, the namespace form, other namespaces.
    let r = exec(
        &c,
        "client",
        &["curl", "-s", "--max-time", "5", "http://kubia.default"],
    );
    assert!(
        r.stdout.starts_with("You've hit kubia-"),
        "{mode}: {}{}",
        r.stdout,
        r.stderr
    );
    let r = exec(&c, "client", &["nslookup", "kube-dns.kube-system"]);
    assert!(
        r.stdout.contains("10.96.0.10"),
        "{mode}: {}{}",
        r.stdout,
        r.stderr
    );
    // The notes' headless service: `host` lists the pod IPs.
    c.apply(MYAPP);
    c.ok(&["apply", "-f", &seed("002-myapp-svc-headless.yaml")]);
    let ips: BTreeSet<String> = c
        .ready_pods("app=myapp-rs-headless", 3)
        .into_iter()
        .map(|p| p.1)
        .collect();
    let listed = c.eventually(30, || {
        let r = exec(&c, "client", &["host", "myapp-svc-headless"]);
        let got: BTreeSet<String> = r
            .stdout
            .lines()
            .filter_map(|l| {
                l.strip_prefix("myapp-svc-headless.default.svc.cluster.local has address ")
            })
            .map(str::to_string)
            .collect();
        (got == ips).then_some(got)
    });
    assert_eq!(listed.len(), 3);
    let r = exec(
        &c,
        "client",
        &["dig", "+short", "no-such-service.default.svc.cluster.local"],
    );
    assert!(r.ok && r.stdout.trim().is_empty(), "{mode}: {}", r.stdout);
    let r = exec(&c, "client", &["host", "no-such-service"]);
    assert!(
        !r.ok && r.stdout.contains("NXDOMAIN"),
        "{mode}: {}{}",
        r.stdout,
        r.stderr
    );
}

#[test]
fn services_through_the_userspace_proxy() {
    scenario("userspace");
}

#[test]
fn services_through_nftables() {
    scenario("nftables");
}
