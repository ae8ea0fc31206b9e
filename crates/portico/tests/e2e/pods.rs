//! `portico up`: pods that really run. Real kubectl against a real sandbox: Deployments from
//! the notes become Ready, `kubectl exec` runs inside the pod (its hostname, its network),
//! pods reach each other by IP across nodes, readiness and liveness probes act, and logs,
//! attach, port-forward and cp work.

use std::time::Duration;

use crate::sandbox::Up;
use crate::support::seed;

const KUBIA: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: kubia
spec:
  replicas: 4
  selector:
    matchLabels: {app: kubia}
  template:
    metadata:
      labels: {app: kubia}
    spec:
      containers:
      - name: kubia
        image: luksa/kubia
        ports:
        - containerPort: 8080
";

#[test]
fn pods_run_with_their_own_hostname_and_reach_each_other_across_nodes() {
    let c = Up::start(2);
    let nodes = c.ok(&["get", "nodes", "--no-headers"]);
    assert_eq!(nodes.lines().count(), 2, "{nodes}");
    assert!(nodes.lines().all(|l| l.contains(" Ready ")), "{nodes}");
    c.apply(KUBIA);
    let pods = c.ready_pods("app=kubia", 4);
    // Each pod's hostname is its name.
    for (name, _, _) in &pods {
        let out = c.ok(&["exec", name, "--", "hostname"]);
        assert_eq!(out.trim(), name);
    }
    // Pod to pod by IP, on the same node and across nodes.
    let (from, _, from_node) = &pods[0];
    let other_node = pods.iter().find(|(_, _, n)| n != from_node);
    let same_node = pods[1..].iter().find(|(_, _, n)| n == from_node);
    let targets: Vec<_> = other_node.into_iter().chain(same_node).collect();
    assert!(!targets.is_empty());
    assert!(
        other_node.is_some(),
        "the scheduler spread 4 pods over 2 nodes: {pods:?}"
    );
    for (name, ip, _) in targets {
        let out = c.ok(&[
            "exec",
            from,
            "--",
            "curl",
            "-s",
            "--max-time",
            "10",
            &format!("http://{ip}:8080/"),
        ]);
        assert_eq!(out, format!("You've hit {name}\n"));
    }
    // The request shows in the target's log.
    let (target, _, _) = other_node.expect("pod on another node");
    let logs = c.ok(&["logs", target]);
    assert!(logs.contains("Received request from"), "{logs}");
    // The pod's own files.
    let resolv = c.ok(&["exec", from, "--", "cat", "/etc/resolv.conf"]);
    assert!(resolv.contains("nameserver 10.96.0.10"), "{resolv}");
    assert!(
        resolv.contains("search default.svc.cluster.local svc.cluster.local cluster.local"),
        "{resolv}"
    );
    assert!(resolv.contains("options ndots:5"), "{resolv}");
    let ns = c.ok(&[
        "exec",
        from,
        "--",
        "cat",
        "/var/run/secrets/kubernetes.io/serviceaccount/namespace",
    ]);
    assert_eq!(ns, "default");
    // kubectl get pods -o wide shows IPs from each node's pod CIDR.
    let wide = c.ok(&["get", "pods", "-o", "wide"]);
    assert!(
        wide.contains("10.244.1.") && wide.contains("10.244.2."),
        "{wide}"
    );
}

#[test]
fn readiness_probe_of_the_notes_makes_exactly_the_touched_pod_ready() {
    let c = Up::start(1);
    // The notes' ReplicationController with the readiness probe (`ls /var/ready`).
    let rc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/kubia-rc.yaml"))
        .expect("fixture")
        .replace(
            "        image: luksa/kubia\n",
            "        image: luks/kubia\n        readinessProbe:\n          exec:\n            command:\n            - ls\n            - /var/ready\n          periodSeconds: 1\n",
        );
    c.apply(&rc);
    c.ok(&["apply", "-f", &seed("000-kubia.yaml")]);
    let pods: Vec<String> = c.eventually(120, || {
        let v = c.get_json(&["pods", "-l", "app=kubia"]);
        let running: Vec<String> = v["items"]
            .as_array()?
            .iter()
            .filter(|p| p["status"]["phase"] == "Running")
            .map(|p| p["metadata"]["name"].as_str().unwrap_or("").to_string())
            .collect();
        (running.len() == 3).then_some(running)
    });
    // Nobody is ready: the file does not exist.
    std::thread::sleep(Duration::from_secs(3));
    let ready = c.ok(&["get", "pods", "-l", "app=kubia", "--no-headers"]);
    assert_eq!(
        ready.lines().filter(|l| l.contains(" 1/1 ")).count(),
        0,
        "{ready}"
    );
    let r = c.kubectl(&["exec", &pods[0], "--", "ls", "/var/ready"]);
    assert!(!r.ok);
    assert!(
        r.stderr.contains("command terminated with exit code"),
        "{}",
        r.stderr
    );
    // Touch the file in one pod: that pod, and only it, becomes ready and an endpoint.
    c.ok(&["exec", &pods[0], "--", "touch", "/var/ready"]);
    let ip = c.eventually(30, || {
        let p = c.get_json(&["pod", &pods[0]]);
        let ready = p["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        ready.then(|| p["status"]["podIP"].as_str().unwrap_or("").to_string())
    });
    let ep = c.eventually(30, || {
        let e = c.ok(&["get", "endpoints", "kubia", "--no-headers"]);
        e.contains(&format!("{ip}:8080")).then_some(e)
    });
    assert!(!ep.contains(','), "only one endpoint: {ep}");
    let table = c.ok(&["get", "pods", "-l", "app=kubia", "--no-headers"]);
    assert_eq!(
        table.lines().filter(|l| l.contains(" 1/1 ")).count(),
        1,
        "{table}"
    );
    // The other pods do not see the file.
    assert!(!c.kubectl(&["exec", &pods[1], "--", "ls", "/var/ready"]).ok);
    // Failed probes are events that describe shows.
    let describe = c.ok(&["describe", "pod", &pods[1]]);
    assert!(describe.contains("Readiness probe failed"), "{describe}");
}

#[test]
fn liveness_failure_restarts_the_container_and_previous_logs_remain() {
    let c = Up::start(1);
    c.apply(
        "apiVersion: v1
kind: Pod
metadata:
  name: flaky
spec:
  containers:
  - name: app
    image: busybox
    command: [sh, -c, 'echo started; touch /tmp/healthy; sleep 2; rm /tmp/healthy; sleep 600']
    livenessProbe:
      exec:
        command: [cat, /tmp/healthy]
      periodSeconds: 1
      failureThreshold: 1
    env:
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: POD_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
",
    );
    let restarts = c.eventually(90, || {
        let p = c.get_json(&["pod", "flaky"]);
        let n = p["status"]["containerStatuses"][0]["restartCount"].as_i64()?;
        (n >= 1).then_some(n)
    });
    assert!(restarts >= 1);
    let describe = c.ok(&["describe", "pod", "flaky"]);
    assert!(describe.contains("Liveness probe failed"), "{describe}");
    let prev = c.eventually(30, || {
        let r = c.kubectl(&["logs", "flaky", "--previous"]);
        r.ok.then_some(r.stdout)
    });
    assert_eq!(prev, "started\n");
    // Environment from the downward API.
    let env = c.eventually(30, || {
        let r = c.kubectl(&["exec", "flaky", "--", "env"]);
        r.ok.then_some(r.stdout)
    });
    assert!(env.contains("POD_NAME=flaky"), "{env}");
    assert!(env.contains("POD_IP=10.244.1."), "{env}");
    assert!(env.contains("KUBERNETES_SERVICE_HOST=10.96.0.1"), "{env}");
}

#[test]
fn service_links_logs_attach_port_forward_and_cp() {
    let c = Up::start(1);
    c.ok(&["apply", "-f", &seed("000-kubia.yaml")]);
    let svc_ip = c.get_json(&["svc", "kubia"])["spec"]["clusterIP"]
        .as_str()
        .expect("ip")
        .to_string();
    c.apply(KUBIA.replace("replicas: 4", "replicas: 1").as_str());
    let pods = c.ready_pods("app=kubia", 1);
    let pod = &pods[0].0;
    let env = c.ok(&["exec", pod, "--", "env"]);
    assert!(
        env.contains(&format!("KUBIA_SERVICE_HOST={svc_ip}")),
        "{env}"
    );
    assert!(env.contains("KUBIA_SERVICE_PORT=80"), "{env}");
    assert!(
        env.contains(&format!("KUBIA_PORT_80_TCP=tcp://{svc_ip}:80")),
        "{env}"
    );
    // exit codes travel back.
    let r = c.kubectl(&[
        "exec",
        pod,
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(r.code, 3);
    assert_eq!(r.stdout, "out\n");
    assert!(r.stderr.contains("err"), "{}", r.stderr);
    // stdin.
    let r = c.kubectl_stdin(&["exec", "-i", pod, "--", "cat"], "hello through stdin\n");
    assert_eq!(r.stdout, "hello through stdin\n");
    // port-forward to the pod.
    let local = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        l.local_addr().expect("addr").port()
    };
    let mut pf = std::process::Command::new(crate::harness::KUBECTL)
        .args([
            "port-forward",
            &format!("pod/{pod}"),
            &format!("{local}:8080"),
        ])
        .env("KUBECONFIG", &c.kubeconfig)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("port-forward");
    let body = c.eventually(30, || {
        let o = std::process::Command::new("curl")
            .args([
                "-s",
                "--max-time",
                "5",
                &format!("http://127.0.0.1:{local}/"),
            ])
            .output()
            .ok()?;
        let s = String::from_utf8_lossy(&o.stdout).to_string();
        (!s.is_empty()).then_some(s)
    });
    let _ = pf.kill();
    let _ = pf.wait();
    assert_eq!(body, format!("You've hit {pod}\n"));
    // cp in and out.
    let dir = tempfile::tempdir().expect("dir");
    let src = dir.path().join("note.txt");
    std::fs::write(&src, "copied into the pod\n").expect("write");
    c.ok(&[
        "cp",
        &src.display().to_string(),
        &format!("{pod}:/tmp/note.txt"),
    ]);
    assert_eq!(
        c.ok(&["exec", pod, "--", "cat", "/tmp/note.txt"]),
        "copied into the pod\n"
    );
    let back = dir.path().join("back.txt");
    c.ok(&[
        "cp",
        &format!("{pod}:/tmp/note.txt"),
        &back.display().to_string(),
    ]);
    assert_eq!(
        std::fs::read_to_string(&back).expect("read"),
        "copied into the pod\n"
    );
    // logs -f follows until interrupted; here: the lines so far arrive.
    let logs = c.ok(&["logs", pod, "--tail=1"]);
    assert!(logs.contains("Received request from"), "{logs}");
}

#[test]
fn deleting_a_pod_stops_its_processes_and_up_leaves_nothing_behind() {
    let mut c = Up::start(1);
    c.apply(
        "apiVersion: v1
kind: Pod
metadata:
  name: sleeper
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: s
    image: busybox
    command: [sleep, '7351']
",
    );
    c.eventually(60, || {
        let p = c.get_json(&["pod", "sleeper"]);
        (p["status"]["phase"] == "Running").then_some(())
    });
    assert_eq!(crate::sandbox::processes_mentioning("sleep 7351").len(), 1);
    c.ok(&["delete", "pod", "sleeper"]);
    assert!(crate::sandbox::processes_mentioning("sleep 7351").is_empty());
    assert!(!c.ok(&["get", "pods"]).contains("sleeper"));
    // Another pod, then stop the cluster: nothing of it stays.
    c.apply(KUBIA.replace("replicas: 4", "replicas: 2").as_str());
    c.ready_pods("app=kubia", 2);
    assert!(!c.processes().is_empty());
    let status = c.stop();
    assert!(status.success(), "{status}");
    assert!(c.processes().is_empty(), "left behind: {:?}", c.processes());
    let api = format!("{}:{}", c.listen, c.api_port);
    assert!(
        std::net::TcpStream::connect(&api).is_err(),
        "API port still open"
    );
}

#[test]
fn kill_9_of_up_leaves_no_process() {
    let mut c = Up::start(1);
    c.apply(KUBIA.replace("replicas: 4", "replicas: 2").as_str());
    c.ready_pods("app=kubia", 2);
    assert!(c.processes().len() >= 4);
    c.kill9();
    let left = c.eventually(10, || {
        let p = c.processes();
        p.is_empty().then_some(p)
    });
    assert!(left.is_empty());
}

#[test]
fn an_ordinary_user_runs_the_cluster_too() {
    let c = Up::start_as(1, Some(65534));
    c.apply(KUBIA.replace("replicas: 4", "replicas: 1").as_str());
    let pods = c.ready_pods("app=kubia", 1);
    let out = c.ok(&["exec", &pods[0].0, "--", "hostname"]);
    assert_eq!(out.trim(), pods[0].0);
    // Services and the ingress work without root too: an Ingress to kubia, from the host.
    c.ok(&[
        "expose",
        "deployment",
        "kubia",
        "--port=80",
        "--target-port=8080",
    ]);
    c.ok(&[
        "create",
        "ingress",
        "kubia",
        "--rule=kubia.example.com/*=kubia:80",
    ]);
    let resolve = format!("kubia.example.com:8080:{}", c.listen);
    let body = c.eventually(60, || {
        let out = std::process::Command::new("curl")
            .args(["-s", "--max-time", "5", "--resolve", &resolve])
            .arg("http://kubia.example.com:8080/")
            .output()
            .ok()?;
        let body = String::from_utf8_lossy(&out.stdout).to_string();
        body.starts_with("You've hit").then_some(body)
    });
    assert_eq!(body.trim(), format!("You've hit {}", pods[0].0));
    let second = Up::start(1);
    assert_ne!(second.listen, c.listen);
    assert_eq!(
        second.ok(&["get", "nodes", "--no-headers"]).lines().count(),
        1
    );
}

#[test]
fn unknown_image_says_how_to_map_it() {
    let c = Up::start(1);
    c.ok(&["run", "mystery", "--image=example.org/nobody/knows:1.0"]);
    let reason = c.eventually(60, || {
        let p = c.get_json(&["pod", "mystery"]);
        p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
            .as_str()
            .filter(|r| *r == "ErrImagePull")
            .map(str::to_string)
    });
    assert_eq!(reason, "ErrImagePull");
    let describe = c.ok(&["describe", "pod", "mystery"]);
    assert!(describe.contains("images.yaml"), "{describe}");
}

#[test]
fn volumes_init_containers_working_dir_and_http_probes() {
    let c = Up::start(1);
    c.ok(&[
        "create",
        "configmap",
        "settings",
        "--from-literal=greeting=hello from a configmap",
    ]);
    c.ok(&[
        "create",
        "secret",
        "generic",
        "creds",
        "--from-literal=password=s3cret",
    ]);
    c.apply(
        "apiVersion: v1
kind: Pod
metadata:
  name: vols
spec:
  initContainers:
  - name: prepare
    image: busybox
    command: [sh, -c, 'echo prepared-by-init > /data/work/ready.txt']
    volumeMounts: [{name: scratch, mountPath: /data/work}]
  containers:
  - name: web
    image: registry.k8s.io/e2e-test-images/agnhost:2.53
    args: [netexec, --http-port=8080]
    workingDir: /data/work
    ports: [{name: http, containerPort: 8080}]
    readinessProbe:
      httpGet: {path: /healthz, port: http}
      periodSeconds: 1
    env:
    - name: GREETING
      valueFrom: {configMapKeyRef: {name: settings, key: greeting}}
    volumeMounts:
    - {name: scratch, mountPath: /data/work}
    - {name: config, mountPath: /etc/settings}
    - {name: secret, mountPath: /etc/creds, readOnly: true}
  - name: sidecar
    image: busybox
    command: [sh, -c, 'echo from-sidecar > /data/work/sidecar.txt; sleep 3600']
    volumeMounts: [{name: scratch, mountPath: /data/work}]
  volumes:
  - {name: scratch, emptyDir: {}}
  - {name: config, configMap: {name: settings}}
  - {name: secret, secret: {secretName: creds}}
",
    );
    let pods = c.eventually(120, || {
        let p = c.get_json(&["pod", "vols"]);
        let ready = p["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        ready.then_some(p)
    });
    assert_eq!(
        pods["status"]["initContainerStatuses"][0]["state"]["terminated"]["reason"],
        "Completed"
    );
    let table = c.ok(&["get", "pod", "vols", "--no-headers"]);
    assert!(
        table.contains(" 2/2 ") && table.contains("Running"),
        "{table}"
    );
    let exec = |cmd: &str| c.ok(&["exec", "vols", "-c", "web", "--", "sh", "-c", cmd]);
    assert_eq!(exec("cat /data/work/ready.txt"), "prepared-by-init\n");
    assert_eq!(exec("cat /data/work/sidecar.txt"), "from-sidecar\n");
    assert_eq!(exec("pwd"), "/data/work\n");
    assert_eq!(exec("cat /etc/settings/greeting"), "hello from a configmap");
    assert_eq!(exec("cat /etc/creds/password"), "s3cret");
    assert_eq!(exec("echo $GREETING"), "hello from a configmap\n");
    assert!(
        !c.kubectl(&[
            "exec",
            "vols",
            "-c",
            "web",
            "--",
            "sh",
            "-c",
            "touch /etc/creds/x"
        ])
        .ok
    );
    // Containers that end: Completed for exit 0, Error otherwise, with restartPolicy Never.
    c.ok(&[
        "run",
        "done",
        "--image=busybox",
        "--restart=Never",
        "--",
        "true",
    ]);
    c.ok(&[
        "run",
        "broken",
        "--image=busybox",
        "--restart=Never",
        "--",
        "sh",
        "-c",
        "exit 7",
    ]);
    let table = c.eventually(60, || {
        let t = c.ok(&["get", "pods", "done", "broken", "--no-headers"]);
        (t.contains("Completed") && t.contains("Error")).then_some(t)
    });
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("broken") && l.contains("Error")),
        "{table}"
    );
    assert_eq!(
        c.get_json(&["pod", "broken"])["status"]["containerStatuses"][0]["state"]["terminated"]
            ["exitCode"],
        7
    );
}
