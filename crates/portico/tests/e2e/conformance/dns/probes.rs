//! The probes of test/e2e/network/dns_common.go: the dig/getent loops, the pod that runs them
//! and serves their results, and reading those results through `pods/proxy`.

use super::*;

/// `dnsQuerier`: a container that runs a probe command.
pub(super) struct Querier {
    pub(super) name: &'static str,
    pub(super) image: &'static str,
    pub(super) cmd: String,
}

/// `dnsclient.Reverseaddr` for IPv4: `d.c.b.a.in-addr.arpa.`.
pub(super) fn reverse_addr(ip: &str) -> String {
    let mut octets: Vec<&str> = ip.split('.').collect();
    octets.reverse();
    format!("{}.in-addr.arpa.", octets.join("."))
}

/// `createProbeCommand`: a loop of 600 rounds, a second apart, that looks every name up over
/// UDP and TCP (SRV for names starting with `_`, else A), every host entry with `getent`,
/// and `ptr_ip`'s PTR record, writing `OK` to `/results/<file>` for each success.
pub(super) fn create_probe_command(
    names: &[String],
    host_entries: &[String],
    ptr_ip: &str,
    prefix: &str,
) -> (String, Vec<String>) {
    let mut files = Vec::new();
    let mut cmd = String::from("for i in `seq 1 600`; do ");
    for name in names {
        // `$$(...)` because Kubernetes expands `$(...)`; the kubelet turns `$$` into `$`.
        let lookup = if name.starts_with('_') {
            format!("{name} SRV")
        } else {
            format!("{name} A")
        };
        for (proto, flag) in [("udp", "+notcp"), ("tcp", "+tcp")] {
            let file = format!("{prefix}_{proto}@{name}");
            cmd.push_str(&format!(
                r#"check="$$(dig {flag} +noall +answer +search {lookup})" && test -n "$$check" && echo OK > /results/{file};"#
            ));
            files.push(file);
        }
    }
    for name in host_entries {
        let file = format!("{prefix}_hosts@{name}");
        cmd.push_str(&format!(
            r#"test -n "$$(getent hosts {name})" && echo OK > /results/{file};"#
        ));
        files.push(file);
    }
    if !ptr_ip.is_empty() {
        let ptr = reverse_addr(ptr_ip);
        for (proto, flag) in [("udp", "+notcp"), ("tcp", "+tcp")] {
            let file = format!("{ptr_ip}_{proto}@PTR");
            cmd.push_str(&format!(
                r#"check="$$(dig {flag} +noall +answer +search {ptr} PTR)" && test -n "$$check" && echo OK > /results/{file};"#
            ));
            files.push(file);
        }
    }
    cmd.push_str("sleep 1; done");
    (cmd, files)
}

/// `createTargetedProbeCommand`: 30 rounds of `dig +short NAME TYPE` into one file.
pub(super) fn create_targeted_probe_command(
    name: &str,
    lookup: &str,
    prefix: &str,
) -> (String, String) {
    let file = format!("{prefix}_udp@{name}");
    let cmd = format!(
        "for i in `seq 1 30`; do dig +short {name} {lookup} > /results/{file}; sleep 1; done"
    );
    (cmd, file)
}

/// `createDNSPod`: the agnhost `test-webserver` container `webserver` and one container per
/// querier, sharing the `results` emptyDir at `/results`.
pub(super) fn create_dns_pod(queriers: &[Querier], hostname: &str, subdomain: &str) -> Value {
    let name = format!("dns-test-{}", uuid());
    let mounts = json!([{"name": "results", "mountPath": "/results"}]);
    let mut containers = vec![json!({
        "name": "webserver",
        "image": AGNHOST,
        "args": ["test-webserver"],
        "volumeMounts": mounts,
    })];
    for q in queriers {
        containers.push(json!({
            "name": format!("{}-querier", q.name),
            "image": q.image,
            "command": ["sh", "-c", q.cmd],
            "volumeMounts": mounts,
        }));
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "volumes": [{"name": "results", "emptyDir": {}}],
            "containers": containers,
            "terminationGracePeriodSeconds": 0,
            "hostname": hostname,
            "subdomain": subdomain,
        },
    })
}

/// A random lower-case hex name part, like a UUID's.
pub(super) fn uuid() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        ^ (u128::from(std::process::id()) << 64);
    let s = format!(
        "{:032x}",
        n.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
    );
    format!(
        "{}-{}-{}-{}-{}",
        &s[..8],
        &s[8..12],
        &s[12..16],
        &s[16..20],
        &s[20..32]
    )
}

/// The agnhost and jessie queriers of `createProbeCommand`.
pub(super) fn probers(
    names: &[String],
    hosts: &[String],
    ptr_ip: &str,
) -> (Vec<Querier>, Vec<String>) {
    let (agnhost_cmd, mut files) = create_probe_command(names, hosts, ptr_ip, "agnhost");
    let (jessie_cmd, jessie_files) = create_probe_command(names, hosts, ptr_ip, "jessie");
    eprintln!("Running these commands on agnhost: {agnhost_cmd}");
    eprintln!("Running these commands on jessie: {jessie_cmd}");
    files.extend(jessie_files);
    (
        vec![
            Querier {
                name: "agnhost",
                image: AGNHOST,
                cmd: agnhost_cmd,
            },
            Querier {
                name: "jessie",
                image: JESSIE,
                cmd: jessie_cmd,
            },
        ],
        files,
    )
}

/// `e2epod.WaitForPodRunningInNamespace(Slow)`.
pub(super) async fn wait_for_pod_running(pods: &Api<Pod>, name: &str, timeout: Duration) {
    let waited = framework::poll(Duration::from_secs(2), timeout, true, || async move {
        let pod = pods.get(name).await.map_err(|e| e.to_string())?;
        let phase = pod.status.and_then(|s| s.phase).unwrap_or_default();
        match phase.as_str() {
            "Running" => Ok(true),
            "Failed" | "Succeeded" => Err(format!("pod {name} ended: {phase}")),
            _ => Ok(false),
        }
    })
    .await;
    assert!(waited.is_ok(), "pod {name} running: {waited:?}");
}

/// `assertFilesContain`: every 5 s for 10 minutes, reads each file from the pod's web server
/// through `pods/proxy`; done when all are readable (and, with `expected`, hold it).
pub(super) async fn assert_files_contain(
    client: &kube::Client,
    ns: &str,
    pod: &str,
    files: &[String],
    expected: Option<&str>,
) {
    let failed_files: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let result = framework::poll(Duration::from_secs(5), Duration::from_secs(600), true, || {
        let failed_files = &failed_files;
        async move {
            let mut failed = Vec::new();
            for file in files {
                let req = http::Request::get(format!(
                    "/api/v1/namespaces/{ns}/pods/{pod}/proxy/results/{file}"
                ))
                .body(Vec::new())
                .map_err(|e| e.to_string())?;
                let read = tokio::time::timeout(Duration::from_secs(60), client.request_text(req))
                    .await
                    .map_err(|_| format!("Unable to read {file} from pod {ns}/{pod}: timeout"))?;
                match read {
                    Err(e) => {
                        eprintln!("Unable to read {file} from pod {ns}/{pod}: {e}");
                        failed.push(file.clone());
                    }
                    Ok(contents) => {
                        if let Some(want) = expected {
                            if contents.trim() != want {
                                eprintln!("File {file} from pod  {ns}/{pod} contains '{contents}' instead of '{want}'");
                                failed.push(file.clone());
                            }
                        }
                    }
                }
            }
            let done = failed.is_empty();
            if !done {
                eprintln!("Lookups using {ns}/{pod} failed for: {failed:?}");
            }
            *failed_files.lock().unwrap() = failed;
            Ok(done)
        }
    })
    .await;
    let failed = failed_files.lock().unwrap().clone();
    assert!(result.is_ok(), "{result:?}: {failed:?}");
    assert!(failed.is_empty(), "{failed:?}");
}

/// `validateDNSResults` (`expected` None) and `validateTargetedProbeOutput`: creates the pod,
/// waits for it to run, checks the result files, deletes the pod.
pub(super) async fn validate(
    client: &kube::Client,
    ns: &str,
    pod: Value,
    files: &[String],
    expected: Option<&str>,
) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pod: Pod = serde_json::from_value(pod).unwrap();
    let name = pod.metadata.name.clone().unwrap();
    eprintln!("submitting the pod to kubernetes");
    pods.create(&PostParams::default(), &pod)
        .await
        .unwrap_or_else(|e| panic!("Failed to create pod {ns}/{name}: {e}"));
    wait_for_pod_running(&pods, &name, SLOW_POD_START_TIMEOUT).await;
    eprintln!("looking for the results for each expected name from probers");
    assert_files_contain(client, ns, &name, files, expected).await;
    eprintln!("DNS probes using {ns}/{name} succeeded");
    let _ = pods
        .delete(&name, &DeleteParams::default().grace_period(0))
        .await;
}

/// `e2eservice.CreateServiceSpec`.
pub(super) fn service_spec(
    name: &str,
    external_name: &str,
    headless: bool,
    selector: Option<Value>,
) -> Service {
    let mut svc = json!({"metadata": {"name": name}, "spec": {}});
    if let Some(s) = selector {
        svc["spec"]["selector"] = s;
    }
    if !external_name.is_empty() {
        svc["spec"]["type"] = json!("ExternalName");
        svc["spec"]["externalName"] = json!(external_name);
    } else {
        svc["spec"]["ports"] = json!([{"port": 80, "name": "http", "protocol": "TCP"}]);
    }
    if headless {
        svc["spec"]["clusterIP"] = json!("None");
    }
    serde_json::from_value(svc).unwrap()
}

pub(super) async fn create_service(client: &kube::Client, ns: &str, svc: &Service) -> Service {
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    services
        .create(&PostParams::default(), svc)
        .await
        .unwrap_or_else(|e| panic!("failed to create service {:?}: {e}", svc.metadata.name))
}

pub(super) fn cluster_ip(s: &Service) -> String {
    s.spec
        .as_ref()
        .and_then(|sp| sp.cluster_ip.clone())
        .unwrap_or_default()
}
