//! Ported from test/e2e/network/service.go: "should serve a basic endpoint from pods" and
//! "should serve multiport endpoints from pods", with the helpers they use there and in
//! test/e2e/framework/service/jig.go and test/e2e/framework/pod (createPodOrFail,
//! validateEndpointsPortsOrFail, CheckServiceReachability, CreateExecPodOrFail).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::{json, Value};

use super::super::framework;
use crate::harness::Cluster;
use crate::kube_client::support::blocking;

/// `imageutils.GetE2EImage(imageutils.Agnhost)` in v1.32.
const AGNHOST: &str = "registry.k8s.io/e2e-test-images/agnhost:2.53";
/// `framework.ServiceStartTimeout`.
const SERVICE_START_TIMEOUT: Duration = Duration::from_secs(180);
/// `framework.PodStartTimeout`.
const POD_START_TIMEOUT: Duration = Duration::from_secs(300);
/// `e2eservice.ServiceEndpointsTimeout` and `ServiceReachabilityShortPollTimeout`.
const REACHABILITY_TIMEOUT: Duration = Duration::from_secs(120);

/// The jig's labels: `testid: <service>-<uuid>`.
fn jig_labels(service: &str) -> Value {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    json!({"testid": format!("{service}-{nanos:x}")})
}

/// `jig.CreateTCPService(tweak)`: the jig's template (TCP port 80, selector and labels the
/// jig's) with `ports` in place of its one port.
async fn create_tcp_service(
    cs: &kube::Client,
    ns: &str,
    name: &str,
    labels: &Value,
    ports: Value,
) -> Service {
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"selector": labels, "ports": ports},
    }))
    .unwrap();
    let created = Api::<Service>::namespaced(cs.clone(), ns)
        .create(&PostParams::default(), &svc)
        .await
        .unwrap();
    // sanityCheckService for a ClusterIP Service.
    let spec = created.spec.as_ref().unwrap();
    assert_eq!(
        spec.type_.as_deref(),
        Some("ClusterIP"),
        "unexpected Spec.Type"
    );
    assert!(
        spec.cluster_ip.as_deref().is_some_and(|ip| !ip.is_empty()),
        "didn't get ClusterIP for non-ExternalName service"
    );
    for p in spec.ports.iter().flatten() {
        assert!(
            p.node_port.unwrap_or(0) == 0,
            "unexpected Spec.Ports[].NodePort for ClusterIP service"
        );
    }
    created
}

fn pod_is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// `createPodOrFail`: an agnhost pod with `args`, the given labels and container ports (and
/// upstream's dummy FOO variable), created and waited for until Ready.
async fn create_pod_or_fail(
    cs: &kube::Client,
    ns: &str,
    name: &str,
    labels: &Value,
    ports: Value,
    args: &[&str],
) {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [{
                "name": "agnhost-container", "image": AGNHOST, "args": args,
                "ports": ports, "env": [{"name": "FOO", "value": " "}],
            }],
        },
    }))
    .unwrap();
    let pods: Api<Pod> = Api::namespaced(cs.clone(), ns);
    pods.create(&PostParams::default(), &pod).await.unwrap();
    framework::poll(Duration::from_secs(2), POD_START_TIMEOUT, true, || async {
        Ok(pods.get(name).await.is_ok_and(|p| pod_is_ready(&p)))
    })
    .await
    .unwrap_or_else(|e| panic!("pod {name} not ready: {e}"));
}

/// `e2epod.CreateExecPodOrFail(cs, ns, generateName, nil)`: an agnhost pause pod, waited for
/// until Running.
async fn create_exec_pod(cs: &kube::Client, ns: &str, generate_name: &str) -> String {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"generateName": generate_name},
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "agnhost-container", "image": AGNHOST}],
        },
    }))
    .unwrap();
    let pods: Api<Pod> = Api::namespaced(cs.clone(), ns);
    let created = pods.create(&PostParams::default(), &pod).await.unwrap();
    let name = created.metadata.name.unwrap();
    framework::poll(Duration::from_secs(2), POD_START_TIMEOUT, true, || async {
        Ok(pods
            .get(&name)
            .await
            .is_ok_and(|p| p.status.and_then(|s| s.phase).as_deref() == Some("Running")))
    })
    .await
    .unwrap_or_else(|e| panic!("failed to create new exec pod in namespace {ns}: {e}"));
    name
}

/// `e2epod.DeletePodOrFail`.
async fn delete_pod_or_fail(cs: &kube::Client, ns: &str, name: &str) {
    Api::<Pod>::namespaced(cs.clone(), ns)
        .delete(name, &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("failed to delete pod {name} in namespace {ns}: {e}"));
}

type PortsByUid = BTreeMap<String, Vec<i32>>;

/// The upstream `validatePorts`: the same pods, each with the same ports (in any order).
fn validate_ports(found: &PortsByUid, expected: &PortsByUid) -> bool {
    found.len() == expected.len()
        && expected.iter().all(|(uid, want)| {
            found.get(uid).is_some_and(|got| {
                let (mut got, mut want) = (got.clone(), want.clone());
                got.sort_unstable();
                want.sort_unstable();
                got == want
            })
        })
}

/// `validateEndpointsPortsOrFail`: polls (1 s, `ServiceStartTimeout`) until the Service's
/// Endpoints (ready addresses) and EndpointSlices (all endpoints) hold exactly these pods
/// with these ports.
async fn validate_endpoints_ports_or_fail(
    cs: &kube::Client,
    ns: &str,
    service: &str,
    expected: &[(&str, &[i32])],
) {
    let pods: Api<Pod> = Api::namespaced(cs.clone(), ns);
    let mut want = PortsByUid::new();
    for (name, ports) in expected {
        let pod = pods.get(name).await.unwrap_or_else(|e| {
            panic!("failed to get pod {name}, that's pretty weird. validation failed: {e}")
        });
        want.insert(pod.metadata.uid.unwrap_or_default(), ports.to_vec());
    }
    let endpoints: Api<Endpoints> = Api::namespaced(cs.clone(), ns);
    let slices: Api<EndpointSlice> = Api::namespaced(cs.clone(), ns);
    let by_service = ListParams::default().labels(&format!("kubernetes.io/service-name={service}"));
    let last = RefCell::new(String::new());
    let result = framework::poll(
        Duration::from_secs(1),
        SERVICE_START_TIMEOUT,
        true,
        || async {
            let Ok(ep) = endpoints.get(service).await else {
                return Ok(false);
            };
            let mut found = PortsByUid::new();
            for subset in ep.subsets.iter().flatten() {
                for port in subset.ports.iter().flatten() {
                    for addr in subset.addresses.iter().flatten() {
                        let uid = addr
                            .target_ref
                            .as_ref()
                            .and_then(|r| r.uid.clone())
                            .unwrap_or_default();
                        found.entry(uid).or_default().push(port.port);
                    }
                }
            }
            if !validate_ports(&found, &want) {
                *last.borrow_mut() =
                    format!("Unexpected endpoints: found {found:?}, expected {want:?}");
                return Ok(false);
            }
            let Ok(list) = slices.list(&by_service).await else {
                return Ok(false);
            };
            let mut found = PortsByUid::new();
            for slice in &list.items {
                for port in slice.ports.iter().flatten() {
                    let Some(p) = port.port else { continue };
                    for e in &slice.endpoints {
                        let uid = e
                            .target_ref
                            .as_ref()
                            .and_then(|r| r.uid.clone())
                            .unwrap_or_default();
                        found.entry(uid).or_default().push(p);
                    }
                }
            }
            if !validate_ports(&found, &want) {
                *last.borrow_mut() =
                    format!("Unexpected endpoint slices: found {found:?}, expected {want:?}");
                return Ok(false);
            }
            Ok(true)
        },
    )
    .await;
    if let Err(e) = result {
        panic!("error waiting for service {service} in namespace {ns} to expose endpoints {expected:?}: {e}; {}", last.borrow());
    }
}

/// `RunHostCmd`: `kubectl exec --namespace=NS POD -- /bin/sh -x -c CMD`; stdout on success.
fn run_host_cmd(c: &Cluster, ns: &str, pod: &str, cmd: &str) -> Result<String, String> {
    let r = c.kubectl(&[
        "exec",
        &format!("--namespace={ns}"),
        pod,
        "--",
        "/bin/sh",
        "-x",
        "-c",
        cmd,
    ]);
    if r.ok {
        Ok(r.stdout)
    } else {
        Err(format!("{}{}", r.stdout, r.stderr))
    }
}

/// `testEndpointReachability` over TCP: `echo hostName | nc -v -t -w 2 HOST PORT` from the
/// exec pod, every second for up to two minutes, until it prints something.
async fn test_endpoint_reachability(c: &Cluster, ns: &str, exec_pod: &str, host: &str, port: i32) {
    let cmd = format!("echo hostName | nc -v -t -w 2 {host} {port}");
    framework::poll(Duration::from_secs(1), REACHABILITY_TIMEOUT, true, || async {
        let out = blocking(|| run_host_cmd(c, ns, exec_pod, &cmd));
        Ok(out.is_ok_and(|o| !o.trim().is_empty()))
    })
    .await
    .unwrap_or_else(|_| {
        panic!("service is not reachable within {REACHABILITY_TIMEOUT:?} timeout on endpoint {host}:{port} over TCP protocol")
    });
}

/// `jig.CheckServiceReachability` for a ClusterIP Service: an available endpoint, then every
/// port over the Service's name and its cluster IP.
async fn check_service_reachability(c: &Cluster, cs: &kube::Client, svc: &Service, exec_pod: &str) {
    let ns = svc.metadata.namespace.clone().unwrap();
    let name = svc.metadata.name.clone().unwrap();
    let slices: Api<EndpointSlice> = Api::namespaced(cs.clone(), &ns);
    let by_service = ListParams::default().labels(&format!("kubernetes.io/service-name={name}"));
    // waitForAvailableEndpoint
    framework::poll(
        Duration::from_secs(1),
        REACHABILITY_TIMEOUT,
        true,
        || async {
            Ok(slices.list(&by_service).await.is_ok_and(|l| {
                l.items
                    .iter()
                    .any(|s| s.endpoints.first().is_some_and(|e| !e.addresses.is_empty()))
            }))
        },
    )
    .await
    .unwrap_or_else(|e| {
        panic!(
            "no subset of available IP address found for the endpoint {name} within timeout: {e}"
        )
    });
    let spec = svc.spec.as_ref().unwrap();
    let cluster_ip = spec.cluster_ip.clone().unwrap_or_default();
    for port in spec.ports.iter().flatten() {
        test_endpoint_reachability(c, &ns, exec_pod, &name, port.port).await;
        test_endpoint_reachability(c, &ns, exec_pod, &cluster_ip, port.port).await;
    }
}

// Ported from test/e2e/network/service.go, "should serve a basic endpoint from pods".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_should_serve_a_basic_endpoint_from_pods() {
    let _case = framework::case(
        "[sig-network] Services should serve a basic endpoint from pods [Conformance]",
    );
    let c = blocking(|| framework::cluster(1));
    let ns = blocking(|| framework::namespace(&c, "services"));
    let cs = framework::client(&c).await;
    let service_name = "endpoint-test2";
    let labels = jig_labels(service_name);

    // creating service endpoint-test2
    let svc = create_tcp_service(
        &cs,
        &ns,
        service_name,
        &labels,
        json!([{"protocol": "TCP", "port": 80}]),
    )
    .await;
    validate_endpoints_ports_or_fail(&cs, &ns, service_name, &[]).await;

    let port80 = json!([{"containerPort": 80}]);
    create_pod_or_fail(
        &cs,
        &ns,
        "pod1",
        &labels,
        port80.clone(),
        &["netexec", "--http-port", "80"],
    )
    .await;
    validate_endpoints_ports_or_fail(&cs, &ns, service_name, &[("pod1", &[80])]).await;

    // Checking if the Service forwards traffic to pod1
    let exec_pod = create_exec_pod(&cs, &ns, "execpod").await;
    check_service_reachability(&c, &cs, &svc, &exec_pod).await;

    create_pod_or_fail(
        &cs,
        &ns,
        "pod2",
        &labels,
        port80,
        &["netexec", "--http-port", "80"],
    )
    .await;
    validate_endpoints_ports_or_fail(&cs, &ns, service_name, &[("pod1", &[80]), ("pod2", &[80])])
        .await;

    // Checking if the Service forwards traffic to pod1 and pod2
    check_service_reachability(&c, &cs, &svc, &exec_pod).await;

    delete_pod_or_fail(&cs, &ns, "pod1").await;
    validate_endpoints_ports_or_fail(&cs, &ns, service_name, &[("pod2", &[80])]).await;

    // Checking if the Service forwards traffic to pod2
    check_service_reachability(&c, &cs, &svc, &exec_pod).await;

    delete_pod_or_fail(&cs, &ns, "pod2").await;
    validate_endpoints_ports_or_fail(&cs, &ns, service_name, &[]).await;

    // DeferCleanup: the Service is deleted.
    Api::<Service>::namespaced(cs.clone(), &ns)
        .delete(service_name, &DeleteParams::default())
        .await
        .expect("failed to delete service");
}

// Ported from test/e2e/network/service.go, "should serve multiport endpoints from pods".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_should_serve_multiport_endpoints_from_pods() {
    let _case = framework::case(
        "[sig-network] Services should serve multiport endpoints from pods [Conformance]",
    );
    let c = blocking(|| framework::cluster(1));
    let ns = blocking(|| framework::namespace(&c, "services"));
    let cs = framework::client(&c).await;
    let service_name = "multi-endpoint-test";
    let labels = jig_labels(service_name);
    let (svc1port, svc2port) = ("svc1", "svc2");

    // creating service multi-endpoint-test
    let svc = create_tcp_service(
        &cs,
        &ns,
        service_name,
        &labels,
        json!([
            {"name": "portname1", "port": 80, "targetPort": svc1port},
            {"name": "portname2", "port": 81, "targetPort": svc2port},
        ]),
    )
    .await;
    let (port1, port2) = (100, 101);
    validate_endpoints_ports_or_fail(&cs, &ns, service_name, &[]).await;

    let container_ports1 = json!([{"name": svc1port, "containerPort": port1}]);
    let container_ports2 = json!([{"name": svc2port, "containerPort": port2}]);
    let http1 = port1.to_string();
    let http2 = port2.to_string();
    create_pod_or_fail(
        &cs,
        &ns,
        "pod1",
        &labels,
        container_ports1,
        &["netexec", "--http-port", &http1],
    )
    .await;
    validate_endpoints_ports_or_fail(&cs, &ns, service_name, &[("pod1", &[port1])]).await;

    create_pod_or_fail(
        &cs,
        &ns,
        "pod2",
        &labels,
        container_ports2,
        &["netexec", "--http-port", &http2],
    )
    .await;
    validate_endpoints_ports_or_fail(
        &cs,
        &ns,
        service_name,
        &[("pod1", &[port1]), ("pod2", &[port2])],
    )
    .await;

    // Checking if the Service forwards traffic to pods
    let exec_pod = create_exec_pod(&cs, &ns, "execpod").await;
    check_service_reachability(&c, &cs, &svc, &exec_pod).await;

    delete_pod_or_fail(&cs, &ns, "pod1").await;
    validate_endpoints_ports_or_fail(&cs, &ns, service_name, &[("pod2", &[port2])]).await;

    delete_pod_or_fail(&cs, &ns, "pod2").await;
    validate_endpoints_ports_or_fail(&cs, &ns, service_name, &[]).await;

    // DeferCleanup: the Service is deleted.
    Api::<Service>::namespaced(cs.clone(), &ns)
        .delete(service_name, &DeleteParams::default())
        .await
        .expect("failed to delete service");
}
