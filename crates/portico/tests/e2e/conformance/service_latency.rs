//! Ported from test/e2e/network/service_latency.go: how long it takes from creating a
//! Service over a running pod until its Endpoints, seen by one watcher, carry an address.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Endpoints, Pod, ReplicationController, Service};
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use serde_json::json;
use tokio::sync::watch;

use super::framework;
use crate::kube_client::support::blocking;

/// `endpointQueries`: the names whose Endpoints were seen with an address (only the first
/// sighting counts), and a counter that moves on each sighting so that requests can wait.
struct Querier {
    seen: Mutex<HashMap<String, Instant>>,
    changed: watch::Sender<u64>,
    synced: watch::Sender<bool>,
}

impl Querier {
    fn added(&self, name: String) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.entry(name).or_insert_with(Instant::now);
        }
        self.changed.send_modify(|n| *n += 1);
    }

    /// `request`: waits until `name`'s Endpoints have been seen with an address; `false`
    /// when the watcher has gone.
    async fn request(&self, name: &str) -> bool {
        let mut rx = self.changed.subscribe();
        loop {
            if self.seen.lock().is_ok_and(|s| s.contains_key(name)) {
                return true;
            }
            if rx.changed().await.is_err() {
                return false;
            }
        }
    }
}

/// `startEndpointWatcher`: one watch on the namespace's Endpoints; returns once it has
/// listed them (so that no warm-up time is counted), with the handle that stops it.
async fn start_endpoint_watcher(
    client: &kube::Client,
    ns: &str,
) -> (Arc<Querier>, tokio::task::JoinHandle<()>) {
    let q = Arc::new(Querier {
        seen: Mutex::new(HashMap::new()),
        changed: watch::channel(0).0,
        synced: watch::channel(false).0,
    });
    let api: Api<Endpoints> = Api::namespaced(client.clone(), ns);
    let watcher_q = q.clone();
    let task = tokio::spawn(async move {
        let mut events = watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::Apply(e) | watcher::Event::InitApply(e)) => {
                    let has_address = e
                        .subsets
                        .as_ref()
                        .and_then(|s| s.first())
                        .and_then(|s| s.addresses.as_ref())
                        .is_some_and(|a| !a.is_empty());
                    if has_address {
                        if let Some(name) = e.metadata.name {
                            watcher_q.added(name);
                        }
                    }
                }
                Ok(watcher::Event::InitDone) => {
                    watcher_q.synced.send_replace(true);
                }
                Ok(_) => {}
                Err(e) => eprintln!("endpoints watch: {e}"),
            }
        }
    });
    let mut synced = q.synced.subscribe();
    let _ = synced.wait_for(|s| *s).await;
    (q, task)
}

/// `singleServiceLatency`: creates a ClusterIP Service selecting the RC's pod and measures
/// until its Endpoints are seen with an address.
async fn single_service_latency(
    services: &Api<Service>,
    rc_name: &str,
    q: &Querier,
) -> Result<Duration, String> {
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"generateName": "latency-svc-"},
        "spec": {
            "ports": [{"protocol": "TCP", "port": 80}],
            "selector": {"name": rc_name},
            "type": "ClusterIP",
            "sessionAffinity": "None",
        },
    }))
    .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let got = services
        .create(&PostParams::default(), &svc)
        .await
        .map_err(|e| e.to_string())?;
    let name = got.metadata.name.unwrap_or_default();
    eprintln!("Created: {name}");
    // No per-trial limit upstream; a generous one keeps a lost watch from hanging the test.
    match tokio::time::timeout(Duration::from_secs(300), q.request(&name)).await {
        Ok(true) => {}
        _ => return Err(format!("never got a result for endpoint {name}")),
    }
    let d = start.elapsed();
    eprintln!("Got endpoints: {name} [{d:?}]");
    Ok(d)
}

/// `runServiceLatencies`: the RC of one pause pod, the watcher, one throw-away trial, then
/// `total` trials `in_parallel` at a time.
async fn run_service_latencies(
    client: &kube::Client,
    ns: &str,
    in_parallel: usize,
    total: usize,
    acceptable_failure_ratio: f32,
) -> (Vec<Duration>, Result<(), String>) {
    let rc_name = "svc-latency-rc";
    // testutils.RCConfig with the pause image, one replica (RunRC's pod template).
    let rcs: Api<ReplicationController> = Api::namespaced(client.clone(), ns);
    let rc: ReplicationController = serde_json::from_value(json!({
        "metadata": {"name": rc_name},
        "spec": {
            "replicas": 1,
            "selector": {"name": rc_name},
            "template": {
                "metadata": {"labels": {"name": rc_name}},
                "spec": {
                    "containers": [{
                        "name": rc_name,
                        "image": "registry.k8s.io/pause:3.10",
                        "ports": [{"containerPort": 80}],
                    }],
                    "dnsPolicy": "Default",
                    "terminationGracePeriodSeconds": 1,
                },
            },
        },
    }))
    .unwrap();
    if let Err(e) = rcs.create(&PostParams::default(), &rc).await {
        return (Vec::new(), Err(e.to_string()));
    }
    // RunRC waits, polling every second, for the pod to run.
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let running = framework::poll(
        Duration::from_secs(1),
        Duration::from_secs(300),
        true,
        || {
            let pods = pods.clone();
            async move {
                let list = pods
                    .list(&ListParams::default().labels(&format!("name={rc_name}")))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(list.items.len() == 1
                    && list.items.iter().all(|p| {
                        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                    }))
            }
        },
    )
    .await;
    if let Err(e) = running {
        return (Vec::new(), Err(format!("RC pod never ran: {e}")));
    }

    let (q, watcher_task) = start_endpoint_watcher(client, ns).await;
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    // One trial thrown away, so that the pod's ready status has propagated.
    let _ = single_service_latency(&services, rc_name, &q).await;

    let results: Vec<Result<Duration, String>> = futures::stream::iter(0..total)
        .map(|_| single_service_latency(&services, rc_name, &q))
        .buffer_unordered(in_parallel)
        .collect()
        .await;
    // `defer close(endpointQueries.stop)`.
    watcher_task.abort();
    let mut output = Vec::new();
    let mut err_count = 0;
    for r in results {
        match r {
            Ok(d) => output.push(d),
            Err(e) => {
                eprintln!("Got error: {e}");
                err_count += 1;
            }
        }
    }
    if err_count != 0 {
        eprintln!("Got {err_count} errors out of {total} tries");
        let ratio = err_count as f32 / total as f32;
        if ratio > acceptable_failure_ratio {
            return (
                output,
                Err(format!(
                    "error ratio {ratio} is higher than the acceptable ratio {acceptable_failure_ratio}"
                )),
            );
        }
    }
    (output, Ok(()))
}

// Ported from test/e2e/network/service_latency.go, "should not be very high".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_endpoints_latency_should_not_be_very_high() {
    let _case = framework::case(
        "[sig-network] Service endpoints latency should not be very high [Conformance]",
    );
    let c = blocking(|| framework::cluster(1));
    let ns = blocking(|| framework::namespace(&c, "svc-latency"));
    // kube-rs has no client-side rate limiter to turn off.
    let client = framework::client(&c).await;

    let limit_median = Duration::from_secs(20);
    let limit_tail = Duration::from_secs(50);
    let total_trials = 200;
    let parallel_trials = 15;
    let min_sample_size = 100;
    let acceptable_failure_ratio = 0.05;

    let mut failing: Vec<String> = Vec::new();
    let (mut d, result) = run_service_latencies(
        &client,
        &ns,
        parallel_trials,
        total_trials,
        acceptable_failure_ratio,
    )
    .await;
    if let Err(e) = result {
        failing.push(format!("Not all RC/pod/service trials succeeded: {e}"));
    }
    d.sort();
    let n = d.len();
    if n < min_sample_size {
        failing.push(format!("Did not get a good sample size: {d:?}"));
    }
    if n < 2 {
        failing.push("Less than two runs succeeded; aborting.".into());
        failing.sort();
        panic!("{}", failing.join("\n"));
    }
    let percentile = |p: usize| d[(n * p / 100).min(n - 1)];
    eprintln!("Latencies: {d:?}");
    let (p50, p90, p99) = (percentile(50), percentile(90), percentile(99));
    eprintln!("50 %ile: {p50:?}");
    eprintln!("90 %ile: {p90:?}");
    eprintln!("99 %ile: {p99:?}");
    eprintln!("Total sample count: {n}");
    if p50 > limit_median {
        failing.push(format!(
            "Median latency should be less than {limit_median:?}"
        ));
    }
    if p99 > limit_tail {
        failing.push(format!(
            "Tail (99 percentile) latency should be less than {limit_tail:?}"
        ));
    }
    failing.sort();
    assert!(
        failing.is_empty(),
        "{}\n50, 90, 99 percentiles: {p50:?} {p90:?} {p99:?}",
        failing.join("\n")
    );
}
