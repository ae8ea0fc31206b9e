//! More of the service proxy against `portico up`, on both datapaths: UDP through a cluster
//! IP to agnhost's UDP echo, zero failed requests while a Deployment rolls over,
//! `externalTrafficPolicy: Local` on two nodes, and cluster DNS that keeps answering while
//! pods come and go (the userspace "DNS over UDP" bug: the pod network lost packets when the
//! node bridge changed its MAC address, see the report of issue 6).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::sandbox::Up;
use crate::support::exec;

/// A toolbox pod pinned to the first node, so that which node forwards is known.
const CLIENT: &str = "apiVersion: v1
kind: Pod
metadata: {name: client, labels: {app: client}}
spec:
  nodeName: portico-node
  containers:
  - name: tools
    image: tutum/dnsutils
    command: [sleep, infinity]
";

/// agnhost's netexec on three pods: `hostname`, `echo X` and `clientip` over UDP 8081.
const UDP_ECHO: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: udp-echo}
spec:
  replicas: 3
  selector: {matchLabels: {app: udp-echo}}
  template:
    metadata: {labels: {app: udp-echo}}
    spec:
      containers:
      - name: netexec
        image: registry.k8s.io/e2e-test-images/agnhost:2.47
        args: [netexec, --http-port=8080, --udp-port=8081]
        ports: [{containerPort: 8081, protocol: UDP}]
---
apiVersion: v1
kind: Service
metadata: {name: udp-echo}
spec:
  selector: {app: udp-echo}
  ports: [{name: echo, port: 5353, targetPort: 8081, protocol: UDP}]
";

/// Sends each request from a fresh socket (a new UDP flow each) to `argv[1]:argv[2]` and
/// prints one answer per line (`ERR ...` when none came within two seconds).
const UDP_CLIENT: &str = "
import socket, sys
ip, port = sys.argv[1], int(sys.argv[2])
for req in sys.argv[3:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(req.encode(), (ip, port))
    try:
        print(s.recvfrom(4096)[0].decode())
    except Exception as e:
        print('ERR', e)
    s.close()
";

/// A web server that keeps serving for its whole grace period after SIGTERM (it ignores
/// the signal; the node kills it when the period ends), with a readiness probe: what a
/// Deployment needs for a rollout without a failed request.
const STEADY: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: steady}
spec:
  replicas: 3
  selector: {matchLabels: {app: steady}}
  template:
    metadata: {labels: {app: steady}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: web
        image: debian
        command: [bash, -c, \"trap '' TERM; cd /tmp && exec python3 -m http.server 8080\"]
        ports: [{containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /, port: 8080}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: steady}
spec:
  selector: {app: steady}
  ports: [{port: 80, targetPort: 8080}]
";

/// One agnhost pod on the second node behind a NodePort with `externalTrafficPolicy: Local`.
const LOCAL_WEB: &str = "apiVersion: v1
kind: Pod
metadata: {name: local-web, labels: {app: local-web}}
spec:
  nodeName: portico-node2
  containers:
  - name: netexec
    image: registry.k8s.io/e2e-test-images/agnhost:2.47
    args: [netexec, --http-port=8080]
---
apiVersion: v1
kind: Service
metadata: {name: local-web}
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector: {app: local-web}
  ports: [{port: 80, targetPort: 8080}]
";

const NODE1_IP: &str = "172.18.0.2";
const NODE2_IP: &str = "172.18.0.3";

fn cluster_ip(c: &Up, svc: &str) -> String {
    c.get_json(&["svc", svc])["spec"]["clusterIP"]
        .as_str()
        .expect("cluster IP")
        .to_string()
}

fn start(mode: &str) -> Up {
    let c = Up::start_with(2, None, &["--proxy-mode", mode]);
    c.apply(CLIENT);
    c.ready_pods("app=client", 1);
    c
}

/// UDP through a cluster IP: every datagram of a new flow may go to another pod, each pod
/// answers `hostname` with its name, `echo` comes back unchanged.
fn udp_echo(c: &Up, mode: &str) {
    c.apply(UDP_ECHO);
    let names: BTreeSet<String> = c
        .ready_pods("app=udp-echo", 3)
        .into_iter()
        .map(|p| p.0)
        .collect();
    let ip = cluster_ip(c, "udp-echo");
    let mut args = vec!["python3", "-c", UDP_CLIENT, &ip, "5353"];
    args.extend(std::iter::repeat_n("hostname", 30));
    args.push("echo hello over udp");
    // The proxy learns about the endpoints a moment after they are Ready.
    let answers = c.eventually(30, || {
        let r = exec(c, "client", &args);
        (r.ok && !r.stdout.contains("ERR")).then_some(r.stdout)
    });
    let lines: Vec<&str> = answers.lines().collect();
    assert_eq!(lines.last(), Some(&"hello over udp"), "{mode}: {answers}");
    let seen: BTreeSet<String> = lines[..lines.len() - 1]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(seen, names, "{mode}: every pod answers over UDP");

    // The proxy shows what it programmed on its metrics port.
    let rules = exec(
        c,
        "client",
        &["curl", "-sf", &format!("http://{NODE1_IP}:10249/rules")],
    );
    assert!(rules.ok, "{mode}: GET /rules: {}", rules.stderr);
    let expected = if mode == "nftables" {
        "# default/udp-echo:echo (UDP)".to_string()
    } else {
        format!("UDP {ip}:5353 default/udp-echo:echo -> ")
    };
    assert!(
        rules.stdout.contains(&expected),
        "{mode}: {expected:?} not in\n{}",
        rules.stdout
    );

    // The same from the host: `portico proxy rules` asks every node through the API
    // server's nodes/proxy subresource.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["proxy", "rules", "--home"])
        .arg(c.home())
        .env_remove("KUBECONFIG")
        .output()
        .expect("run portico proxy rules");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{mode}: portico proxy rules: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for node in ["portico-node", "portico-node2"] {
        assert!(text.contains(&format!("# node {node}\n")), "{mode}: {text}");
    }
    assert!(
        text.contains(&expected),
        "{mode}: {expected:?} not in\n{text}"
    );
    if mode == "nftables" {
        // kube-proxy's fixed chains; a plain ClusterIP port like this one is the direct
        // layout's elements, listed under the service's heading.
        assert!(text.contains("add chain ip portico services"), "{text}");
        let direct = format!(
            "add element ip portico direct-services {{ {ip} . udp . 5353 comment \"default/udp-echo:echo\" }}"
        );
        let heading = text.find(&expected).expect("heading");
        assert!(
            text[heading..].contains(&direct),
            "{direct:?} not in\n{text}"
        );
    }
}

/// `externalTrafficPolicy: Local`. From outside the cluster (the host, whose forwarder
/// takes turns between the nodes) only the node with the pod answers, and the pod sees the
/// address the connection came from (nftables keeps it; the userspace relay connects from the
/// node). From a pod, the node with the endpoint answers too; the other node short-circuits
/// pod traffic to all endpoints on nftables (as kube-proxy does), while the userspace proxy
/// serves only local endpoints there (a documented difference), so it refuses.
fn external_local(c: &Up, mode: &str) {
    c.apply(LOCAL_WEB);
    let pod_ip = c.ready_pods("app=local-web", 1).remove(0).1;
    let gateway = pod_ip
        .rsplit_once('.')
        .map(|(net, _)| format!("{net}.1"))
        .expect("pod IP");
    let svc = c.get_json(&["svc", "local-web"]);
    let node_port = svc["spec"]["ports"][0]["nodePort"]
        .as_i64()
        .expect("nodePort");
    let client_ip = c.get_json(&["pod", "client"])["status"]["podIP"]
        .as_str()
        .expect("client IP")
        .to_string();
    let source = |answer: &str| {
        answer
            .trim()
            .rsplit_once(':')
            .map_or(String::new(), |(ip, _)| ip.to_string())
    };
    let url = |node: &str| format!("http://{node}:{node_port}/clientip");
    let seen = c.eventually(30, || {
        let r = exec(
            c,
            "client",
            &["curl", "-s", "--max-time", "2", &url(NODE2_IP)],
        );
        (r.ok && !r.stdout.is_empty()).then_some(r.stdout)
    });
    let expected = if mode == "nftables" {
        client_ip.clone()
    } else {
        gateway.clone()
    };
    assert_eq!(source(&seen), expected, "{mode}: source seen by the pod");
    let other = exec(
        c,
        "client",
        &["curl", "-s", "--max-time", "2", &url(NODE1_IP)],
    );
    if mode == "nftables" {
        assert_eq!(
            source(&other.stdout),
            client_ip,
            "{mode}: pod traffic short-circuited"
        );
    } else {
        assert!(
            !other.ok,
            "{mode}: served without a local endpoint: {}",
            other.stdout
        );
    }

    // From the host: the forwarder alternates between the two nodes.
    let host_url = format!("http://{}:{node_port}/clientip", c.listen);
    let answers: Vec<String> = (0..6)
        .map(|_| {
            let o = std::process::Command::new("curl")
                .args(["-s", "--max-time", "2", &host_url])
                .output()
                .expect("curl");
            String::from_utf8_lossy(&o.stdout).to_string()
        })
        .collect();
    let served: Vec<&String> = answers.iter().filter(|a| !a.is_empty()).collect();
    assert_eq!(
        served.len(),
        3,
        "{mode}: only the node with the endpoint forwards: {answers:?}"
    );
    for a in served {
        let from = source(a);
        if mode == "nftables" {
            // Not masqueraded to a node address: the address of the host side's relay.
            assert!(
                from != NODE2_IP && from != gateway && !from.is_empty(),
                "{mode}: the client address was replaced by {from}"
            );
        } else {
            assert_eq!(from, gateway, "{mode}: the relay connects from the node");
        }
    }
}

/// `kubectl rollout restart` of three replicas while the client sends 20,000 requests (one
/// connection each: Python's server speaks HTTP/1.0) through the cluster IP: none fails.
fn zero_downtime(c: &Up, mode: &str) {
    c.apply(STEADY);
    c.ready_pods("app=steady", 3);
    let before: BTreeSet<String> = c
        .ready_pods("app=steady", 3)
        .into_iter()
        .map(|p| p.0)
        .collect();
    let ip = cluster_ip(c, "steady");
    c.eventually(30, || {
        exec(
            c,
            "client",
            &["curl", "-sf", "--max-time", "2", &format!("http://{ip}/")],
        )
        .ok
        .then_some(())
    });
    let kubeconfig = c.kubeconfig.clone();
    let url = format!("http://{ip}/?n=[1-20000]");
    let started = Instant::now();
    let client = std::thread::spawn(move || {
        let out = std::process::Command::new(crate::harness::KUBECTL)
            .env("KUBECONFIG", &kubeconfig)
            .args(["exec", "client", "--", "curl", "-s", "-o", "/dev/null"])
            .args(["--max-time", "10", "-w", "%{http_code}\\n", &url])
            .output()
            .expect("kubectl exec curl");
        (
            String::from_utf8_lossy(&out.stdout).to_string(),
            Instant::now(),
        )
    });
    std::thread::sleep(Duration::from_secs(2));
    c.ok(&["rollout", "restart", "deployment", "steady"]);
    c.ok(&[
        "rollout",
        "status",
        "deployment",
        "steady",
        "--timeout=180s",
    ]);
    // The old pods are gone only when their grace period is over.
    c.eventually(60, || {
        let v = c.get_json(&["pods", "-l", "app=steady"]);
        let names: BTreeSet<String> = v["items"]
            .as_array()?
            .iter()
            .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
            .collect();
        (names.len() == 3 && names.is_disjoint(&before)).then_some(())
    });
    let rolled = Instant::now();
    let (codes, finished) = client.join().expect("client thread");
    let total = codes.lines().count();
    let failed: Vec<&str> = codes.lines().filter(|l| *l != "200").collect();
    assert_eq!(total, 20_000, "{mode}: the client ran every request");
    assert!(
        failed.is_empty(),
        "{mode}: {} of {total} requests failed during the rollout (codes {:?})",
        failed.len(),
        failed.iter().collect::<BTreeSet<_>>()
    );
    assert!(
        finished > rolled,
        "{mode}: the client finished ({:?}) before the rollout ({:?}); nothing was tested",
        finished - started,
        rolled - started
    );
}

fn scenario(mode: &str) {
    let c = start(mode);
    udp_echo(&c, mode);
    external_local(&c, mode);
    zero_downtime(&c, mode);
}

#[test]
fn udp_local_policy_and_rollout_through_the_userspace_proxy() {
    scenario("userspace");
}

#[test]
fn udp_local_policy_and_rollout_through_nftables() {
    scenario("nftables");
}

/// Regression for the userspace "DNS over UDP" bug: queries through 10.96.0.10 kept timing
/// out for seconds after unrelated pods started or stopped on the DNS pods' node, because
/// the node bridge took over the MAC address of its lowest-numbered port and the pods'
/// cached gateway address went dead. Every query must be answered while pods churn.
#[test]
fn dns_keeps_answering_while_pods_come_and_go() {
    let c = start("userspace");
    let dns_nodes: BTreeSet<String> =
        c.get_json(&["pods", "-n", "kube-system", "-l", "k8s-app=kube-dns"])["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["spec"]["nodeName"].as_str().map(str::to_string))
            .collect();
    let dig = [
        "dig",
        "+short",
        "+time=2",
        "+tries=1",
        "kube-dns.kube-system.svc.cluster.local",
    ];
    c.eventually(60, || {
        (exec(&c, "client", &dig).stdout.trim() == "10.96.0.10").then_some(())
    });
    c.apply(
        "apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: churn}
spec:
  replicas: 2
  selector: {matchLabels: {app: churn}}
  template:
    metadata: {labels: {app: churn}}
    spec:
      containers:
      - name: web
        image: luksa/kubia
",
    );
    c.ready_pods("app=churn", 2);
    let kubeconfig = c.kubeconfig.clone();
    let queries = std::thread::spawn(move || {
        let script = "for i in $(seq 1 150); do \
            r=$(dig +short +time=2 +tries=1 kube-dns.kube-system.svc.cluster.local 2>&1 | tr '\\n' ' '); \
            case \"$r\" in 10.96.0.10*) echo ok;; *) echo \"FAIL $(date +%T) $r\";; esac; \
            sleep 0.1; done";
        let out = std::process::Command::new(crate::harness::KUBECTL)
            .env("KUBECONFIG", &kubeconfig)
            .args(["exec", "client", "--", "bash", "-c", script])
            .output()
            .expect("kubectl exec dig");
        String::from_utf8_lossy(&out.stdout).to_string()
    });
    for _ in 0..3 {
        c.ok(&["scale", "rs", "churn", "--replicas=8"]);
        std::thread::sleep(Duration::from_secs(4));
        c.ok(&["scale", "rs", "churn", "--replicas=2"]);
        std::thread::sleep(Duration::from_secs(4));
    }
    let out = queries.join().expect("query thread");
    let failed: Vec<&str> = out.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(out.lines().count(), 150, "{out}");
    assert!(
        failed.is_empty(),
        "{} of 150 DNS queries failed while pods churned (DNS pods on {dns_nodes:?}):\n{}",
        failed.len(),
        failed.join("\n")
    );
}
