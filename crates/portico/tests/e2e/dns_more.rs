//! Cluster DNS record kinds with real clients inside a pod (`dig`, `host`, `nslookup`, and
//! glibc's `getaddrinfo` through python3) on one `portico up` cluster: SRV for named ports
//! (ClusterIP and headless), PTR for service and pod addresses, ExternalName as a CNAME chain
//! that resolves inside the cluster, StatefulSet and hostname/subdomain per-pod names, search
//! paths, NXDOMAIN against NODATA, 10,000 glibc lookups with parallel A/AAAA through the
//! proxy, and killing one DNS pod while a client resolves in a loop.
//!
//! Names outside `cluster.local` (forwarded upstream) are in `dns_upstream`.

use std::collections::BTreeSet;

use crate::sandbox::Up;
use crate::support::{exec, kubia_deployment};

/// What the checks resolve, beside a 2-replica kubia Deployment.
const MANIFESTS: &str = "apiVersion: v1
kind: Service
metadata: {name: kubia}
spec:
  selector: {app: kubia}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: kubia-alias}
spec:
  type: ExternalName
  externalName: kubia.default.svc.cluster.local
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: None
  selector: {dns-group: web}
  ports: [{name: web, port: 8080}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  replicas: 2
  selector: {matchLabels: {app: web-ss}}
  template:
    metadata: {labels: {app: web-ss, dns-group: web}}
    spec:
      containers:
      - name: web
        image: luksa/kubia
        ports: [{name: web, containerPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: lonely, labels: {dns-group: web}}
spec:
  hostname: lonely
  subdomain: web
  containers:
  - name: web
    image: luksa/kubia
    ports: [{name: web, containerPort: 8080}]
";

/// A glibc client: `getaddrinfo` (A and AAAA at once from one socket, the pattern behind
/// kubernetes/kubernetes#56903) for `count` names (or for `seconds` when given) over
/// `threads` threads; prints
/// `ok=N failed=N max_ms=F over1s=N` and the first failures.
const RESOLVER: &str = r#"
import socket, sys, time, threading
names = sys.argv[1].split(",")
count, threads = int(sys.argv[2]), int(sys.argv[3])
end = time.monotonic() + float(sys.argv[4]) if len(sys.argv) > 4 else None
lock = threading.Lock()
stats = {"ok": 0, "failed": 0, "max": 0.0, "slow": 0, "errors": []}
def work(k):
    i = k - threads
    while True:
        i += threads
        if (end is None and i >= count) or (end is not None and time.monotonic() > end):
            break
        name = names[i % len(names)]
        t = time.monotonic()
        try:
            socket.getaddrinfo(name, 80, socket.AF_UNSPEC, socket.SOCK_STREAM)
            ok = True
        except Exception as e:
            ok, err = False, f"{name}: {e}"
        d = time.monotonic() - t
        with lock:
            stats["max"] = max(stats["max"], d)
            stats["slow"] += d > 1.0
            if ok:
                stats["ok"] += 1
            else:
                stats["failed"] += 1
                stats["errors"].append(err)
ts = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
for t in ts: t.start()
for t in ts: t.join()
print(f"ok={stats['ok']} failed={stats['failed']} max_ms={stats['max']*1000:.1f} over1s={stats['slow']}")
for e in stats["errors"][:5]: print(e)
"#;

/// `dig +short` output from the client pod, lines sorted.
fn dig_short(c: &Up, args: &[&str]) -> Vec<String> {
    let mut cmd = vec!["dig", "+short"];
    cmd.extend_from_slice(args);
    let r = exec(c, "client", &cmd);
    assert!(r.ok, "dig {args:?}: {}{}", r.stdout, r.stderr);
    let mut lines: Vec<String> = r.stdout.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// Full `dig` output with runs of blanks as one space (dig aligns columns with tabs or spaces).
fn dig_full(c: &Up, args: &[&str]) -> String {
    let mut cmd = vec!["dig"];
    cmd.extend_from_slice(args);
    let r = exec(c, "client", &cmd);
    assert!(r.ok, "dig {args:?}: {}{}", r.stdout, r.stderr);
    r.stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn dashed(ip: &str) -> String {
    ip.replace('.', "-")
}

/// Names of the Ready DNS pods in kube-system, once there are two.
fn dns_pods(c: &Up) -> Vec<String> {
    c.eventually(120, || {
        let v = c.get_json(&["pods", "-n", "kube-system", "-l", "k8s-app=kube-dns"]);
        let ready: Vec<String> = v["items"]
            .as_array()?
            .iter()
            .filter(|p| {
                p["metadata"]["deletionTimestamp"].is_null()
                    && p["status"]["conditions"].as_array().is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    })
            })
            .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
            .collect();
        (ready.len() == 2).then_some(ready)
    })
}

/// Parses the client's summary line into (ok, failed, max_ms, over1s).
fn summary(out: &str) -> (u64, u64, f64, u64) {
    let line = out.lines().next().unwrap_or_default();
    let field = |k: &str| -> String {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{k}=")).map(str::to_string))
            .unwrap_or_else(|| panic!("no {k} in {out}"))
    };
    (
        field("ok").parse().unwrap(),
        field("failed").parse().unwrap(),
        field("max_ms").parse().unwrap(),
        field("over1s").parse().unwrap(),
    )
}

#[test]
fn dns_record_kinds_parallel_lookups_and_losing_a_dns_pod() {
    let c = Up::start(2);
    c.apply(&format!("{}---\n{MANIFESTS}", kubia_deployment(2)));
    c.client_pod();
    let kubia_pods = c.ready_pods("app=kubia", 2);
    let web_pods = c.ready_pods("dns-group=web", 3);
    let kubia_ip = c.get_json(&["svc", "kubia"])["spec"]["clusterIP"]
        .as_str()
        .expect("cluster IP")
        .to_string();
    let ip_of = |name: &str| {
        web_pods
            .iter()
            .find(|p| p.0 == name)
            .map(|p| p.1.clone())
            .unwrap_or_else(|| panic!("no pod {name} in {web_pods:?}"))
    };
    let fqdn = |s: &str| format!("{s}.default.svc.cluster.local.");
    // `portico up` is ready when its nodes are; the DNS pods and their Service come moments
    // later (as with kubeadm): wait until the cluster DNS answers through 10.96.0.10.
    dns_pods(&c);
    c.eventually(60, || {
        let r = exec(
            &c,
            "client",
            &[
                "dig",
                "+tries=1",
                "+time=2",
                "kube-dns.kube-system.svc.cluster.local",
            ],
        );
        (r.ok && r.stdout.contains("status: NOERROR")).then_some(())
    });

    // SRV for a named port of a ClusterIP Service: the Service name and the port.
    assert_eq!(
        dig_short(&c, &["SRV", "_http._tcp.kubia.default.svc.cluster.local"]),
        vec![format!("0 100 80 {}", fqdn("kubia"))]
    );
    // Headless: one SRV per endpoint, pointing at the per-endpoint names.
    let srv = c.eventually(30, || {
        let got = dig_short(&c, &["SRV", "_web._tcp.web.default.svc.cluster.local"]);
        (got.len() == 3).then_some(got)
    });
    let targets: BTreeSet<String> = srv
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f[..3], ["0", "33", "8080"], "{l}");
            f[3].to_string()
        })
        .collect();
    let want: BTreeSet<String> = ["web-0.web", "web-1.web", "lonely.web"]
        .into_iter()
        .map(fqdn)
        .collect();
    assert_eq!(targets, want);

    // Per-pod names: StatefulSet pods, and a pod's hostname + subdomain.
    for pod in ["web-0", "web-1", "lonely"] {
        assert_eq!(
            dig_short(&c, &[&format!("{pod}.web.default.svc.cluster.local")]),
            vec![ip_of(pod)],
            "{pod}"
        );
    }
    // ... through the search path too.
    let r = exec(&c, "client", &["host", "web-0.web"]);
    assert!(
        r.stdout.contains(&format!(
            "web-0.web.default.svc.cluster.local has address {}",
            ip_of("web-0")
        )),
        "{}{}",
        r.stdout,
        r.stderr
    );
    // The headless name lists every endpoint.
    let mut all: Vec<String> = web_pods.iter().map(|p| p.1.clone()).collect();
    all.sort();
    assert_eq!(dig_short(&c, &["web.default.svc.cluster.local"]), all);

    // PTR: a cluster IP names its Service; a StatefulSet pod its per-pod name; a pod behind
    // a ClusterIP Service the endpoint name with its dashed address (as CoreDNS answers).
    assert_eq!(dig_short(&c, &["-x", &kubia_ip]), vec![fqdn("kubia")]);
    assert_eq!(
        dig_short(&c, &["-x", &ip_of("web-0")]),
        vec![fqdn("web-0.web")]
    );
    let kubia_pod_ip = kubia_pods[0].1.clone();
    assert_eq!(
        dig_short(&c, &["-x", &kubia_pod_ip]),
        vec![fqdn(&format!("{}.kubia", dashed(&kubia_pod_ip)))]
    );
    // Pod A records.
    assert_eq!(
        dig_short(
            &c,
            &[&format!(
                "{}.default.pod.cluster.local",
                dashed(&kubia_pod_ip)
            )]
        ),
        vec![kubia_pod_ip.clone()]
    );

    // ExternalName: a CNAME, followed inside the zone to the cluster IP; curl gets through.
    let out = dig_full(&c, &["kubia-alias.default.svc.cluster.local"]);
    let cname = format!("{} 30 IN CNAME {}", fqdn("kubia-alias"), fqdn("kubia"));
    let a = format!("{} 30 IN A {kubia_ip}", fqdn("kubia"));
    assert!(out.contains(&cname) && out.contains(&a), "{out}");
    let r = exec(
        &c,
        "client",
        &["curl", "-s", "--max-time", "5", "http://kubia-alias"],
    );
    assert!(
        r.stdout.starts_with("You've hit kubia-"),
        "{}{}",
        r.stdout,
        r.stderr
    );

    // Search path: the short name and the namespace form from a pod in `default`.
    for name in ["kubia", "kubia.default"] {
        let r = exec(&c, "client", &["nslookup", name]);
        assert!(
            r.ok && r.stdout.contains("Name:\tkubia.default.svc.cluster.local")
                && r.stdout.contains(&format!("Address: {kubia_ip}")),
            "{name}: {}{}",
            r.stdout,
            r.stderr
        );
    }

    // NODATA: AAAA of an IPv4-only Service is NOERROR with no answer and the SOA.
    let out = dig_full(&c, &["AAAA", "kubia.default.svc.cluster.local."]);
    assert!(
        out.contains("status: NOERROR") && out.contains("ANSWER: 0,"),
        "{out}"
    );
    assert!(
        out.contains("cluster.local. 30 IN SOA ns.dns.cluster.local. hostmaster.cluster.local."),
        "{out}"
    );
    // NXDOMAIN: a Service that does not exist, in a namespace that does.
    let out = dig_full(&c, &["no-such-service.default.svc.cluster.local."]);
    assert!(out.contains("status: NXDOMAIN"), "{out}");

    // 10,000 glibc lookups (A and AAAA at once from one socket) through the proxy to the
    // two DNS pods: none lost, none slower than a second.
    let names = "kubia,kubia.default,kubia-alias,web,web-0.web,kube-dns.kube-system,\
                 kubernetes.default.svc.cluster.local";
    let r = exec(
        &c,
        "client",
        &["python3", "-c", RESOLVER, names, "10000", "16"],
    );
    assert!(r.ok, "{}{}", r.stdout, r.stderr);
    let (ok, failed, max_ms, slow) = summary(&r.stdout);
    eprintln!("10,000 parallel A/AAAA lookups: {}", r.stdout.trim());
    assert_eq!((ok, failed, slow), (10_000, 0, 0), "{}", r.stdout);
    assert!(max_ms < 1000.0, "{}", r.stdout);

    // Kill one DNS pod while the client resolves in a loop for 15 s: with the resolver's
    // default retries (glibc: 5 s timeout, 2 attempts) no lookup fails.
    let victim = dns_pods(&c)[0].clone();
    let loop_names = "kubia,web-0.web,kube-dns.kube-system";
    let out = std::thread::scope(|scope| {
        let client = scope.spawn(|| {
            exec(
                &c,
                "client",
                &["python3", "-c", RESOLVER, loop_names, "0", "4", "15"],
            )
        });
        std::thread::sleep(std::time::Duration::from_secs(3));
        c.ok(&[
            "delete",
            "pod",
            "-n",
            "kube-system",
            &victim,
            "--wait=false",
        ]);
        let r = client.join().expect("client thread");
        assert!(r.ok, "{}{}", r.stdout, r.stderr);
        r.stdout
    });
    eprintln!("lookups while {victim} was deleted: {}", out.trim());
    let (ok, failed, max_ms, slow) = summary(&out);
    assert!(ok > 100 && failed == 0, "{out}");
    eprintln!("slowest {max_ms} ms, {slow} lookups over 1 s");
    // The Deployment replaces the pod; both replicas serve again.
    let after = dns_pods(&c);
    assert!(!after.contains(&victim), "{after:?}");
}
