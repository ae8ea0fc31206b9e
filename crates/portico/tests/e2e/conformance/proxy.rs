//! Ported from test/e2e/network/proxy.go: the `pods/proxy` and `services/proxy` subresources
//! of the API server, reached with the test's own credentials (kube-rs here, client-go's REST
//! client and an `http.Client` that does not follow redirects there).

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use kube::api::{Api, ListParams, PostParams};
use serde_json::{json, Value};

use super::framework;
use crate::kube_client::support::blocking;

/// `proxyAttempts`: every case is tried this many times.
const PROXY_ATTEMPTS: usize = 20;
/// `proxyHTTPCallTimeout`.
const PROXY_HTTP_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// `requestRetryPeriod` and `requestRetryTimeout`.
const REQUEST_RETRY_PERIOD: Duration = Duration::from_millis(10);
const REQUEST_RETRY_TIMEOUT: Duration = Duration::from_secs(60);
/// `framework.PodStartTimeout`.
const POD_START_TIMEOUT: Duration = Duration::from_secs(300);

/// One raw request through the API server with the client's credentials; redirects are not
/// followed. Returns the status and the body.
async fn raw(client: &kube::Client, method: &str, path: &str) -> Result<(u16, Vec<u8>), String> {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .body(kube::client::Body::empty())
        .map_err(|e| e.to_string())?;
    let resp = client.send(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect_bytes()
        .await
        .map_err(|e| e.to_string())?;
    Ok((status, body.to_vec()))
}

/// `doProxy`: a GET of `path` (client-go's `Do().Raw()`), its status, body and duration; an
/// answer that is not 2xx is an error, as client-go makes it one.
async fn do_proxy(client: &kube::Client, path: &str) -> (Result<Vec<u8>, String>, u16, Duration) {
    let start = Instant::now();
    let result = raw(client, "GET", path).await;
    let d = start.elapsed();
    match result {
        Ok((status, body)) if (200..300).contains(&status) => (Ok(body), status, d),
        Ok((status, body)) => (
            Err(format!(
                "status {status}: {}",
                String::from_utf8_lossy(&body)
            )),
            status,
            d,
        ),
        Err(e) => (Err(e), 0, d),
    }
}

/// `net.JoinSchemeNamePort`.
fn join_scheme_name_port(scheme: &str, name: &str, port: &str) -> String {
    if !scheme.is_empty() {
        format!("{scheme}:{name}:{port}")
    } else if !port.is_empty() {
        format!("{name}:{port}")
    } else {
        name.to_string()
    }
}

/// `waitForEndpoint`: up to a minute, every `framework.Poll` (2 s), for an address in the
/// first subset of the service's Endpoints.
async fn wait_for_endpoint(client: &kube::Client, ns: &str, name: &str) -> Result<(), String> {
    let api: Api<Endpoints> = Api::namespaced(client.clone(), ns);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if let Ok(Some(ep)) = api.get_opt(name).await {
            let ready = ep
                .subsets
                .as_ref()
                .and_then(|s| s.first())
                .and_then(|s| s.addresses.as_ref())
                .is_some_and(|a| !a.is_empty());
            if ready {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Err(format!("failed to get endpoints for {ns}/{name}"))
}

/// `e2epod.WaitForPodRunningInNamespace`.
async fn wait_for_pod_running(client: &kube::Client, ns: &str, name: &str) {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    framework::poll(Duration::from_secs(2), POD_START_TIMEOUT, true, || {
        let api = api.clone();
        async move {
            let pod = api.get(name).await.map_err(|e| e.to_string())?;
            let phase = pod.status.and_then(|s| s.phase).unwrap_or_default();
            match phase.as_str() {
                "Running" => Ok(true),
                "Failed" | "Succeeded" => Err(format!("pod {name} ended: {phase}")),
                _ => Ok(false),
            }
        }
    })
    .await
    .expect("Pod didn't start within time out period");
}

// Ported from test/e2e/network/proxy.go, "should proxy through a service and a pod".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_version_v1_should_proxy_through_a_service_and_a_pod() {
    let _case = framework::case(
        "[sig-network] Proxy version v1 should proxy through a service and a pod [Conformance]",
    );
    let c = blocking(|| framework::cluster(1));
    let ns = blocking(|| framework::namespace(&c, "proxy"));
    let client = framework::client(&c).await;
    let start = Instant::now();
    let labels = json!({"proxy-service-target": "true"});
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    let service: Service = serde_json::from_value(json!({
        "metadata": {"generateName": "proxy-service-"},
        "spec": {
            "selector": labels,
            "ports": [
                {"name": "portname1", "port": 80, "targetPort": "dest1"},
                {"name": "portname2", "port": 81, "targetPort": 162},
                {"name": "tlsportname1", "port": 443, "targetPort": "tlsdest1"},
                {"name": "tlsportname2", "port": 444, "targetPort": 462},
            ],
        },
    }))
    .unwrap();
    let service = services
        .create(&PostParams::default(), &service)
        .await
        .unwrap();
    let svc_name = service.metadata.name.clone().unwrap();

    // "starting an echo server on multiple ports": e2edeployment.NewDeployment with the
    // porter command, its environment, ports and readiness probe.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": svc_name, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "Recreate"},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{
                        "name": svc_name,
                        "image": "registry.k8s.io/e2e-test-images/agnhost:2.53",
                        "command": ["/agnhost", "porter"],
                        "env": [
                            {"name": "SERVE_PORT_80", "value": "<a href=\"/rewriteme\">test</a>"},
                            {"name": "SERVE_PORT_1080", "value": "<a href=\"/rewriteme\">test</a>"},
                            {"name": "SERVE_PORT_160", "value": "foo"},
                            {"name": "SERVE_PORT_162", "value": "bar"},
                            {"name": "SERVE_TLS_PORT_443", "value": "<a href=\"/tlsrewriteme\">test</a>"},
                            {"name": "SERVE_TLS_PORT_460", "value": "tls baz"},
                            {"name": "SERVE_TLS_PORT_462", "value": "tls qux"},
                        ],
                        "ports": [
                            {"containerPort": 80},
                            {"name": "dest1", "containerPort": 160},
                            {"name": "dest2", "containerPort": 162},
                            {"name": "tlsdest1", "containerPort": 460},
                            {"name": "tlsdest2", "containerPort": 462},
                        ],
                        "readinessProbe": {
                            "httpGet": {"port": 80},
                            "initialDelaySeconds": 1,
                            "timeoutSeconds": 5,
                            "periodSeconds": 10,
                        },
                    }],
                },
            },
        },
    }))
    .unwrap();
    deployments
        .create(&PostParams::default(), &deployment)
        .await
        .unwrap();
    // e2edeployment.WaitForDeploymentComplete: every 2 s, up to 5 minutes.
    framework::poll(
        Duration::from_secs(2),
        Duration::from_secs(300),
        true,
        || {
            let deployments = deployments.clone();
            let name = svc_name.clone();
            async move {
                let d = deployments.get(&name).await.map_err(|e| e.to_string())?;
                let status = d.status.unwrap_or_default();
                let generation = d.metadata.generation.unwrap_or(0);
                Ok(status.observed_generation.unwrap_or(0) >= generation
                    && status.updated_replicas == Some(1)
                    && status.available_replicas == Some(1)
                    && status.replicas == Some(1))
            }
        },
    )
    .await
    .expect("the deployment completes");
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pod_list = pods
        .list(&ListParams::default().labels("proxy-service-target=true"))
        .await
        .unwrap();
    let pod_name = pod_list.items[0].metadata.name.clone().unwrap();
    wait_for_endpoint(&client, &ns, &svc_name).await.unwrap();

    let prefix = "/api/v1";
    let service_url = |scheme: &str, port: &str| {
        format!(
            "{prefix}/namespaces/{ns}/services/{}/proxy",
            join_scheme_name_port(scheme, &svc_name, port)
        )
    };
    let pod_url = |scheme: &str, port: &str| {
        format!(
            "{prefix}/namespaces/{ns}/pods/{}/proxy",
            join_scheme_name_port(scheme, &pod_name, port)
        )
    };
    let rewritten = |url: String, link: &str| format!("<a href=\"{url}/{link}\">test</a>");
    let expectations: Vec<(String, String)> = vec![
        (service_url("", "portname1") + "/", "foo".into()),
        (service_url("http", "portname1") + "/", "foo".into()),
        (service_url("", "portname2") + "/", "bar".into()),
        (service_url("http", "portname2") + "/", "bar".into()),
        (service_url("https", "tlsportname1") + "/", "tls baz".into()),
        (service_url("https", "tlsportname2") + "/", "tls qux".into()),
        (
            pod_url("", "") + "/",
            rewritten(pod_url("", ""), "rewriteme"),
        ),
        (
            pod_url("", "1080") + "/",
            rewritten(pod_url("", "1080"), "rewriteme"),
        ),
        (
            pod_url("http", "1080") + "/",
            rewritten(pod_url("http", "1080"), "rewriteme"),
        ),
        (pod_url("", "160") + "/", "foo".into()),
        (pod_url("http", "160") + "/", "foo".into()),
        (pod_url("", "162") + "/", "bar".into()),
        (pod_url("http", "162") + "/", "bar".into()),
        (
            pod_url("https", "443") + "/",
            rewritten(pod_url("https", "443"), "tlsrewriteme"),
        ),
        (pod_url("https", "460") + "/", "tls baz".into()),
        (pod_url("https", "462") + "/", "tls qux".into()),
    ];
    eprintln!("setup took {:?}, starting test cases", start.elapsed());
    eprintln!(
        "running {} cases, {PROXY_ATTEMPTS} attempts per case, {} total attempts",
        expectations.len(),
        expectations.len() * PROXY_ATTEMPTS
    );
    let mut errs = Vec::new();
    for i in 0..PROXY_ATTEMPTS {
        // Every case of one attempt at once, as the goroutines of the Go test.
        let runs = expectations.iter().map(|(path, want)| {
            let client = client.clone();
            async move {
                let (body, status, d) = do_proxy(&client, path).await;
                let mut errs = Vec::new();
                match body {
                    Err(e) => errs.push(format!(
                        "{i} ({status}; {d:?}): path {path} gave error: {e}"
                    )),
                    Ok(body) => {
                        if status != 200 {
                            errs.push(format!("{i}: path {path} gave status: {status}"));
                        }
                        let got = String::from_utf8_lossy(&body);
                        if *want != got {
                            errs.push(format!("{i}: path {path}: wanted {want}, got {got}"));
                        }
                        if d > PROXY_HTTP_CALL_TIMEOUT {
                            errs.push(format!(
                                "{i}: path {path} took {d:?} > {PROXY_HTTP_CALL_TIMEOUT:?}"
                            ));
                        }
                    }
                }
                errs
            }
        });
        for e in futures::future::join_all(runs).await {
            errs.extend(e);
        }
    }
    if !errs.is_empty() {
        let logs = pods
            .logs(&pod_name, &Default::default())
            .await
            .unwrap_or_default();
        eprintln!("Pod {pod_name} has the following error logs: {logs}");
        panic!("{}", errs.join("\n"));
    }
    let _ = deployments.delete(&svc_name, &Default::default()).await;
}

/// The agnhost pod of the two verb tests: `porter --json-response` with `SERVE_PORT_80`.
fn porter_pod(labels: Value, msg: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "agnhost", "labels": labels},
        "spec": {
            "containers": [{
                "image": "registry.k8s.io/e2e-test-images/agnhost:2.53",
                "name": "agnhost",
                "command": ["/agnhost", "porter", "--json-response"],
                "env": [{"name": "SERVE_PORT_80", "value": msg}],
            }],
            "restartPolicy": "Never",
        },
    }))
    .unwrap()
}

/// The Service of the two verb tests: port 80 to 80 over TCP.
fn verb_service(name: &str, labels: Value) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "ports": [{"port": 80, "targetPort": 80, "protocol": "TCP"}],
            "selector": labels,
        },
    }))
    .unwrap()
}

/// `validateProxyVerbRequest`: 200, and for all but HEAD a JSON body naming the method and
/// carrying `msg`.
async fn validate_proxy_verb_request(
    client: &kube::Client,
    url: &str,
    verb: &str,
    msg: &str,
) -> Result<bool, String> {
    let (status, body) = match raw(client, verb, url).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Failed to get a response. {e}");
            return Ok(false);
        }
    };
    if verb == "HEAD" {
        eprintln!("http.Client request:{verb} | StatusCode:{status}");
        return Ok(status == 200);
    }
    let Ok(jr) = serde_json::from_slice::<Value>(&body) else {
        eprintln!(
            "Failed to process jsonResponse: {:?}",
            String::from_utf8_lossy(&body)
        );
        return Ok(false);
    };
    eprintln!(
        "http.Client request:{verb} | StatusCode:{status} | Response:{} | Method:{}",
        jr["Body"], jr["Method"]
    );
    Ok(status == 200 && jr["Body"] == msg && jr["Method"] == verb)
}

/// `validateRedirectRequest`: the answer is 301.
async fn validate_redirect_request(client: &kube::Client, verb: &str, url: &str) {
    let (status, _) = raw(client, verb, url).await.expect("processing response");
    eprintln!("http.Client request:{verb} StatusCode:{status}");
    assert_eq!(status, 301, "The resp.StatusCode returned: {status}");
}

async fn poll_verb(client: &kube::Client, url: &str, verb: &str, msg: &str) -> Result<(), String> {
    framework::poll(REQUEST_RETRY_PERIOD, REQUEST_RETRY_TIMEOUT, true, || {
        validate_proxy_verb_request(client, url, verb, msg)
    })
    .await
}

/// Creates the pod (waiting for it to run) and then the service of a verb test.
async fn verb_setup(client: &kube::Client, ns: &str, svc: &str, labels: Value, msg: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    pods.create(&PostParams::default(), &porter_pod(labels.clone(), msg))
        .await
        .expect("failed to create pod");
    wait_for_pod_running(client, ns, "agnhost").await;
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    services
        .create(&PostParams::default(), &verb_service(svc, labels))
        .await
        .expect("Failed to create the service");
}

// Ported from test/e2e/network/proxy.go, "A set of valid responses are returned for both pod
// and service ProxyWithPath".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_version_v1_a_set_of_valid_responses_are_returned_for_both_pod_and_service_proxy_with_path(
) {
    let _case = framework::case("[sig-network] Proxy version v1 A set of valid responses are returned for both pod and service ProxyWithPath [Conformance]");
    let c = blocking(|| framework::cluster(1));
    let ns = blocking(|| framework::namespace(&c, "proxy"));
    let client = framework::client(&c).await;
    let msg = "foo";
    verb_setup(
        &client,
        &ns,
        "test-service",
        json!({"test": "response"}),
        msg,
    )
    .await;
    // Upstream checks the creation error after each poll (a slip that ignores the poll's
    // result); the port checks the poll itself, which a conforming cluster passes.
    let verbs = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"];
    for verb in verbs {
        let url = format!("/api/v1/namespaces/{ns}/pods/agnhost/proxy/some/path/with/{verb}");
        eprintln!("Starting http.Client for {url}");
        let polled = poll_verb(&client, &url, verb, msg).await;
        assert!(
            polled.is_ok(),
            "Pod didn't start within time out period. {polled:?}"
        );
    }
    for verb in verbs {
        let url =
            format!("/api/v1/namespaces/{ns}/services/test-service/proxy/some/path/with/{verb}");
        eprintln!("Starting http.Client for {url}");
        let polled = poll_verb(&client, &url, verb, msg).await;
        assert!(
            polled.is_ok(),
            "Service didn't start within time out period. {polled:?}"
        );
    }
}

// Ported from test/e2e/network/proxy.go, "A set of valid responses are returned for both pod
// and service Proxy".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_version_v1_a_set_of_valid_responses_are_returned_for_both_pod_and_service_proxy() {
    let _case = framework::case("[sig-network] Proxy version v1 A set of valid responses are returned for both pod and service Proxy [Conformance]");
    let c = blocking(|| framework::cluster(1));
    let ns = blocking(|| framework::namespace(&c, "proxy"));
    let client = framework::client(&c).await;
    let msg = "foo";
    let svc = "e2e-proxy-test-service";
    verb_setup(
        &client,
        &ns,
        svc,
        json!({"e2e-test": "proxy-endpoints"}),
        msg,
    )
    .await;
    let verbs = ["DELETE", "OPTIONS", "PATCH", "POST", "PUT"];
    for verb in verbs {
        let url = format!("/api/v1/namespaces/{ns}/pods/agnhost/proxy?method={verb}");
        eprintln!("Starting http.Client for {url}");
        let polled = poll_verb(&client, &url, verb, msg).await;
        assert!(
            polled.is_ok(),
            "Pod didn't start within time out period. {polled:?}"
        );
    }
    for verb in verbs {
        let url = format!("/api/v1/namespaces/{ns}/services/{svc}/proxy?method={verb}");
        eprintln!("Starting http.Client for {url}");
        let polled = poll_verb(&client, &url, verb, msg).await;
        assert!(
            polled.is_ok(),
            "Service didn't start within time out period. {polled:?}"
        );
    }
    // Each of GET and HEAD on a bare `/proxy` is redirected (301), for the pod and the service.
    for verb in ["GET", "HEAD"] {
        let url = format!("/api/v1/namespaces/{ns}/pods/agnhost/proxy?method={verb}");
        validate_redirect_request(&client, verb, &url).await;
        let url = format!("/api/v1/namespaces/{ns}/services/{svc}/proxy?method={verb}");
        validate_redirect_request(&client, verb, &url).await;
    }
}

/// `nodeProxyTest`: 20 GETs of `prefix + node + dest` through the API server; 503s (counted,
/// a second apart) must stay under 10 % and every other answer must be a 200 within
/// `proxyHTTPCallTimeout`.
async fn node_proxy_test(client: &kube::Client, dest: &str) {
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    let node = nodes
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|n| {
            n.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .expect("a ready node");
    let name = node.metadata.name.unwrap();
    let path = format!("/api/v1/nodes/{name}{dest}");
    let mut unavailable = 0;
    for i in 0..PROXY_ATTEMPTS {
        let (body, status, d) = do_proxy(client, &path).await;
        if status == 503 {
            eprintln!("{i}: failed proxying node logs due to service unavailable: {body:?}");
            tokio::time::sleep(Duration::from_secs(1)).await;
            unavailable += 1;
        } else {
            assert!(body.is_ok(), "{i}: {path}: {body:?}");
            assert_eq!(status, 200, "{i}: {path}");
            assert!(d < PROXY_HTTP_CALL_TIMEOUT, "{i}: {path} took {d:?}");
        }
    }
    let max_failures = (0.1 * PROXY_ATTEMPTS as f64).floor() as usize;
    assert!(
        unavailable < max_failures,
        "{unavailable} requests to proxy node logs failed"
    );
}

// Ported from test/e2e/network/proxy.go, "should proxy logs on node with explicit kubelet
// port using proxy subresource" (not a conformance test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_version_v1_should_proxy_logs_on_node_with_explicit_kubelet_port_using_proxy_subresource(
) {
    let c = blocking(|| framework::cluster(1));
    let client = framework::client(&c).await;
    node_proxy_test(&client, ":10250/proxy/logs/").await;
}

// Ported from test/e2e/network/proxy.go, "should proxy logs on node using proxy subresource"
// (not a conformance test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_version_v1_should_proxy_logs_on_node_using_proxy_subresource() {
    let c = blocking(|| framework::cluster(1));
    let client = framework::client(&c).await;
    node_proxy_test(&client, "/proxy/logs/").await;
    // Discovery lists the proxy subresources (with Kubernetes' verbs).
    let core = client.list_core_api_resources("v1").await.unwrap();
    for name in ["pods/proxy", "services/proxy", "nodes/proxy"] {
        let r = core
            .resources
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("{name} in /api/v1"));
        assert_eq!(
            r.verbs,
            ["create", "delete", "get", "patch", "update"],
            "{name}"
        );
    }
}
