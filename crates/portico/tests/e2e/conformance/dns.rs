//! Ported from test/e2e/network/dns.go with its helpers from test/e2e/network/dns_common.go:
//! a pod runs probe loops (`dig` over UDP and TCP with the pod's search path, `getent hosts`)
//! in an agnhost and a jessie-dnsutils container, each writing `OK` into a file of a shared
//! emptyDir per name that resolved; its `webserver` container (agnhost `test-webserver`)
//! serves those files, which the test reads through the `pods/proxy` subresource.
//!
//! Where an upstream test names a host outside the cluster (`foo.example.com` of the
//! ExternalName test, `1.1.1.1` as a custom name server) it only checks what the cluster
//! answers or configures itself (a CNAME, a `resolv.conf` line); nothing leaves the machine.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{json, Value};

use super::framework;

mod probes;
use crate::kube_client::support::blocking;
use probes::*;

/// `dnsTestPodHostName` and `dnsTestServiceName`.
const DNS_TEST_POD_HOST_NAME: &str = "dns-querier-1";
const DNS_TEST_SERVICE_NAME: &str = "dns-test-service";
/// `framework.TestContext.ClusterDNSDomain`.
const CLUSTER_DNS_DOMAIN: &str = "cluster.local";
const AGNHOST: &str = "registry.k8s.io/e2e-test-images/agnhost:2.53";
const JESSIE: &str = "registry.k8s.io/e2e-test-images/jessie-dnsutils:1.7";
/// `slowPodStartTimeout` of `WaitForPodRunningInNamespaceSlow`.
const SLOW_POD_START_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// `framework.PodStartTimeout`.
const POD_START_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// A cluster of one node, a fresh `dns-<n>` namespace and a kube-rs client.
async fn setup() -> (crate::sandbox::Up, String, kube::Client) {
    let c = blocking(|| framework::cluster(1));
    let ns = blocking(|| framework::namespace(&c, "dns"));
    let client = framework::client(&c).await;
    (c, ns, client)
}

// Ported from test/e2e/network/dns.go, "should provide DNS for the cluster".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_should_provide_dns_for_the_cluster() {
    let _case =
        framework::case("[sig-network] DNS should provide DNS for the cluster [Conformance]");
    let (_c, ns, client) = setup().await;
    let names = vec![format!("kubernetes.default.svc.{CLUSTER_DNS_DOMAIN}")];
    let (queriers, files) = probers(&names, &[], "");
    eprintln!("creating a pod to probe DNS");
    let pod = create_dns_pod(&queriers, DNS_TEST_POD_HOST_NAME, DNS_TEST_SERVICE_NAME);
    validate(&client, &ns, pod, &files, None).await;
}

// Ported from test/e2e/network/dns.go, "should provide /etc/hosts entries for the cluster".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_should_provide_etc_hosts_entries_for_the_cluster() {
    let _case = framework::case(
        "[sig-network] DNS should provide /etc/hosts entries for the cluster [Conformance]",
    );
    let (_c, ns, client) = setup().await;
    let host_fqdn =
        format!("{DNS_TEST_POD_HOST_NAME}.{DNS_TEST_SERVICE_NAME}.{ns}.svc.{CLUSTER_DNS_DOMAIN}");
    let hosts = vec![host_fqdn, DNS_TEST_POD_HOST_NAME.to_string()];
    let (queriers, files) = probers(&[], &hosts, "");
    eprintln!("creating a pod to probe /etc/hosts");
    let pod = create_dns_pod(&queriers, DNS_TEST_POD_HOST_NAME, DNS_TEST_SERVICE_NAME);
    validate(&client, &ns, pod, &files, None).await;
}

/// The headless `dns-test-service` and the regular `test-service-2` of the service tests,
/// both selecting `dns-test=true`; returns the regular one's cluster IP.
async fn headless_and_regular(client: &kube::Client, ns: &str) -> String {
    let selector = json!({"dns-test": "true"});
    eprintln!("Creating a test headless service");
    create_service(
        client,
        ns,
        &service_spec(DNS_TEST_SERVICE_NAME, "", true, Some(selector.clone())),
    )
    .await;
    let regular = create_service(
        client,
        ns,
        &service_spec("test-service-2", "", false, Some(selector)),
    )
    .await;
    cluster_ip(&regular)
}

// Ported from test/e2e/network/dns.go, "should provide DNS for services".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_should_provide_dns_for_services() {
    let _case = framework::case("[sig-network] DNS should provide DNS for services [Conformance]");
    let (_c, ns, client) = setup().await;
    let regular_ip = headless_and_regular(&client, &ns).await;
    let names = vec![
        format!("{DNS_TEST_SERVICE_NAME}.{ns}.svc.{CLUSTER_DNS_DOMAIN}"),
        format!("_http._tcp.{DNS_TEST_SERVICE_NAME}.{ns}.svc.{CLUSTER_DNS_DOMAIN}"),
        format!("_http._tcp.test-service-2.{ns}.svc.{CLUSTER_DNS_DOMAIN}"),
    ];
    let (queriers, files) = probers(&names, &[], &regular_ip);
    eprintln!("creating a pod to probe DNS");
    let mut pod = create_dns_pod(&queriers, DNS_TEST_POD_HOST_NAME, DNS_TEST_SERVICE_NAME);
    pod["metadata"]["labels"] = json!({"dns-test": "true"});
    validate(&client, &ns, pod, &files, None).await;
}

// Ported from test/e2e/network/dns.go, "should resolve DNS of partial qualified names for
// services [LinuxOnly]".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_should_resolve_dns_of_partial_qualified_names_for_services() {
    let _case = framework::case("[sig-network] DNS should resolve DNS of partial qualified names for services [LinuxOnly] [Conformance]");
    let (_c, ns, client) = setup().await;
    let regular_ip = headless_and_regular(&client, &ns).await;
    let names = vec![
        DNS_TEST_SERVICE_NAME.to_string(),
        format!("{DNS_TEST_SERVICE_NAME}.{ns}"),
        format!("{DNS_TEST_SERVICE_NAME}.{ns}.svc"),
        format!("_http._tcp.{DNS_TEST_SERVICE_NAME}.{ns}.svc"),
        format!("_http._tcp.test-service-2.{ns}.svc"),
    ];
    let (queriers, files) = probers(&names, &[], &regular_ip);
    eprintln!("creating a pod to probe DNS");
    let mut pod = create_dns_pod(&queriers, DNS_TEST_POD_HOST_NAME, DNS_TEST_SERVICE_NAME);
    pod["metadata"]["labels"] = json!({"dns-test": "true"});
    validate(&client, &ns, pod, &files, None).await;
}

/// The headless `dns-test-service-2` of the hostname and subdomain tests.
async fn hostname_service(client: &kube::Client, ns: &str) {
    eprintln!("Creating a test headless service");
    let selector = json!({"dns-test-hostname-attribute": "true"});
    create_service(
        client,
        ns,
        &service_spec("dns-test-service-2", "", true, Some(selector)),
    )
    .await;
}

/// The querier pod of the hostname and subdomain tests: hostname `dns-querier-2` in
/// subdomain `dns-test-service-2`, selected by that service.
fn hostname_pod(queriers: &[Querier]) -> Value {
    let mut pod = create_dns_pod(queriers, DNS_TEST_POD_HOST_NAME, DNS_TEST_SERVICE_NAME);
    pod["metadata"]["labels"] = json!({"dns-test-hostname-attribute": "true"});
    pod["spec"]["hostname"] = json!("dns-querier-2");
    pod["spec"]["subdomain"] = json!("dns-test-service-2");
    pod
}

// Ported from test/e2e/network/dns.go, "should provide DNS for pods for Hostname".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_should_provide_dns_for_pods_for_hostname() {
    let _case =
        framework::case("[sig-network] DNS should provide DNS for pods for Hostname [Conformance]");
    let (_c, ns, client) = setup().await;
    hostname_service(&client, &ns).await;
    let host_fqdn = format!("dns-querier-2.dns-test-service-2.{ns}.svc.{CLUSTER_DNS_DOMAIN}");
    let hosts = vec![host_fqdn, "dns-querier-2".to_string()];
    let (queriers, files) = probers(&[], &hosts, "");
    eprintln!("creating a pod to probe DNS");
    validate(&client, &ns, hostname_pod(&queriers), &files, None).await;
}

// Ported from test/e2e/network/dns.go, "should provide DNS for pods for Subdomain".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_should_provide_dns_for_pods_for_subdomain() {
    let _case = framework::case(
        "[sig-network] DNS should provide DNS for pods for Subdomain [Conformance]",
    );
    let (_c, ns, client) = setup().await;
    hostname_service(&client, &ns).await;
    let names = vec![
        format!("dns-querier-2.dns-test-service-2.{ns}.svc.{CLUSTER_DNS_DOMAIN}"),
        format!("dns-test-service-2.{ns}.svc.{CLUSTER_DNS_DOMAIN}"),
    ];
    let (queriers, files) = probers(&names, &[], "");
    eprintln!("creating a pod to probe DNS");
    validate(&client, &ns, hostname_pod(&queriers), &files, None).await;
}

/// The two targeted queriers (`createTargetedProbeCommand`) for `name` and record `lookup`.
fn targeted(name: &str, lookup: &str) -> (Vec<Querier>, Vec<String>) {
    let (agnhost_cmd, agnhost_file) = create_targeted_probe_command(name, lookup, "agnhost");
    let (jessie_cmd, jessie_file) = create_targeted_probe_command(name, lookup, "jessie");
    eprintln!("Running these commands on agnhost: {agnhost_cmd}");
    eprintln!("Running these commands on jessie: {jessie_cmd}");
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
        vec![agnhost_file, jessie_file],
    )
}

/// `e2eservice.UpdateService`: get, change, update, retried on conflicts.
async fn update_service(client: &kube::Client, ns: &str, name: &str, change: impl Fn(&mut Value)) {
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    let updated = framework::retry_on_conflict(|| {
        let services = services.clone();
        let change = &change;
        async move {
            let svc = services.get(name).await?;
            let mut v = serde_json::to_value(&svc).unwrap();
            change(&mut v);
            let svc: Service = serde_json::from_value(v).unwrap();
            services.replace(name, &PostParams::default(), &svc).await
        }
    })
    .await;
    assert!(
        updated.is_ok(),
        "failed to update service {name}: {updated:?}"
    );
}

// Ported from test/e2e/network/dns.go, "should provide DNS for ExternalName services". The
// external names are only checked as the CNAME the cluster DNS answers; nothing resolves
// them further.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_should_provide_dns_for_external_name_services() {
    let _case = framework::case(
        "[sig-network] DNS should provide DNS for ExternalName services [Conformance]",
    );
    let (_c, ns, client) = setup().await;
    eprintln!("Creating a test externalName service");
    let service_name = "dns-test-service-3";
    create_service(
        &client,
        &ns,
        &service_spec(service_name, "foo.example.com", false, None),
    )
    .await;
    let host_fqdn = format!("{service_name}.{ns}.svc.{CLUSTER_DNS_DOMAIN}");

    let (queriers, files) = targeted(&host_fqdn, "CNAME");
    eprintln!("creating a pod to probe DNS");
    let pod1 = create_dns_pod(&queriers, DNS_TEST_POD_HOST_NAME, DNS_TEST_SERVICE_NAME);
    validate(&client, &ns, pod1, &files, Some("foo.example.com.")).await;

    eprintln!("changing the externalName to bar.example.com");
    update_service(&client, &ns, service_name, |s| {
        s["spec"]["externalName"] = json!("bar.example.com");
    })
    .await;
    let (queriers, files) = targeted(&host_fqdn, "CNAME");
    eprintln!("creating a second pod to probe DNS");
    let pod2 = create_dns_pod(&queriers, DNS_TEST_POD_HOST_NAME, DNS_TEST_SERVICE_NAME);
    validate(&client, &ns, pod2, &files, Some("bar.example.com.")).await;

    eprintln!("changing the service to type=ClusterIP");
    update_service(&client, &ns, service_name, |s| {
        s["spec"]["type"] = json!("ClusterIP");
        s["spec"]["ports"] = json!([{"port": 80, "name": "http", "protocol": "TCP"}]);
    })
    .await;
    let (queriers, files) = targeted(&host_fqdn, "A");
    eprintln!("creating a third pod to probe DNS");
    let pod3 = create_dns_pod(&queriers, DNS_TEST_POD_HOST_NAME, DNS_TEST_SERVICE_NAME);
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    let svc = services
        .get(service_name)
        .await
        .expect("failed to get service");
    let ip = cluster_ip(&svc);
    validate(&client, &ns, pod3, &files, Some(&ip)).await;
}

// Ported from test/e2e/network/dns.go, "should support configurable pod DNS nameservers".
// The custom name server 1.1.1.1 is only checked as configured in the pod, as upstream does;
// nothing is sent to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_should_support_configurable_pod_dns_nameservers() {
    let _case = framework::case(
        "[sig-network] DNS should support configurable pod DNS nameservers [Conformance]",
    );
    let (c, ns, client) = setup().await;
    eprintln!("Creating a pod with dnsPolicy=None and customized dnsConfig...");
    let test_server_ip = "1.1.1.1";
    let test_search_path = "resolv.conf.local";
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "test-dns-nameservers"},
        "spec": {
            "containers": [{"name": "agnhost-container", "image": AGNHOST, "args": ["pause"]}],
            "terminationGracePeriodSeconds": 0,
            "dnsPolicy": "None",
            "dnsConfig": {"nameservers": [test_server_ip], "searches": [test_search_path]},
        },
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("failed to create pod");
    // e2epod.WaitTimeoutForPodReadyInNamespace.
    let ready = framework::poll(Duration::from_secs(2), POD_START_TIMEOUT, true, || {
        let pods = pods.clone();
        async move {
            let pod = pods
                .get("test-dns-nameservers")
                .await
                .map_err(|e| e.to_string())?;
            Ok(pod
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True"))
        }
    })
    .await;
    assert!(
        ready.is_ok(),
        "failed to wait for pod test-dns-nameservers to be running"
    );

    // e2epod.ExecWithOptions, here `kubectl exec`.
    let run_command = |arg: &str| {
        let r = blocking(|| {
            c.kubectl(&[
                "exec",
                "-n",
                &ns,
                "test-dns-nameservers",
                "-c",
                "agnhost-container",
                "--",
                "/agnhost",
                arg,
            ])
        });
        assert!(
            r.ok,
            "failed to run command '/agnhost {arg}' on pod, stdout: {}, stderr: {}",
            r.stdout, r.stderr
        );
        r.stdout
    };
    eprintln!("Verifying customized DNS suffix list is configured on pod...");
    let stdout = run_command("dns-suffix");
    assert!(
        stdout.contains(test_search_path),
        "customized DNS suffix list not found configured in pod, expected to contain: {test_search_path}, got: {stdout}"
    );
    eprintln!("Verifying customized DNS server is configured on pod...");
    let stdout = run_command("dns-server-list");
    assert!(
        stdout.contains(test_server_ip),
        "customized DNS server not found in configured in pod, expected to contain: {test_server_ip}, got: {stdout}"
    );
    let _ = pods
        .delete(
            "test-dns-nameservers",
            &DeleteParams::default().grace_period(0),
        )
        .await;
}
