//! Benchmark of the endpoint controllers (ignored by default; run with
//! `cargo test --release -p portico --test e2e bench_endpoint_controllers -- --ignored --nocapture`).
//!
//! 1. With the controllers off, creates `PORTICO_BENCH_SERVICES` Services (default 10,000)
//!    with `PORTICO_BENCH_PODS` Ready pods each (default 10), then restarts the server with
//!    the controllers on and times their convergence from empty: every Service's slices
//!    listing all its pods as ready, and every Endpoints object written.
//! 2. Flips the readiness of `PORTICO_BENCH_SAMPLES` random pods (default 200) one at a time
//!    and measures the delay between the status write and the EndpointSlice update a watch
//!    sees (p50 / p99 / max).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Endpoints, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::json;

use crate::kube_client::support::client_from;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Starts `portico server` on `dir`, returning the process and its kubeconfig.
fn server(dir: &Path, controllers: bool) -> (Child, PathBuf) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["server", "--listen", "127.0.0.1:0", "--controllers"])
        .arg(controllers.to_string())
        .arg("--data-dir")
        .arg(dir)
        .env(
            "PORTICO_LOG",
            std::env::var("PORTICO_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::piped())
        .spawn()
        .expect("start portico");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("ready line");
    assert!(line.contains("ready"), "{line}");
    (child, dir.join("kubeconfig"))
}

fn ip(i: usize) -> String {
    format!("10.{}.{}.{}", 64 + i / 65536, (i / 256) % 256, i % 256)
}

async fn populate(client: kube::Client, services: usize, pods: usize) {
    let nodes: Api<Node> = Api::all(client.clone());
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"}});
    nodes
        .create(
            &PostParams::default(),
            &serde_json::from_value(node).unwrap(),
        )
        .await
        .unwrap();
    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    futures::stream::iter(0..services)
        .map(|s| {
            let svcs = svcs.clone();
            async move {
                let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": format!("svc-{s}")},
                    "spec": {"selector": {"app": format!("app-{s}")}, "ports": [{"port": 80, "targetPort": 8080}]}});
                svcs.create(&PostParams::default(), &serde_json::from_value(svc).unwrap()).await.map(|_| ())
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    let api: Api<Pod> = Api::namespaced(client, "default");
    futures::stream::iter(0..services * pods)
        .map(|i| {
            let api = api.clone();
            async move {
                let name = format!("pod-{i}");
                let pod = json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": name, "labels": {"app": format!("app-{}", i / pods)}},
                    "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "x"}]}});
                api.create(
                    &PostParams::default(),
                    &serde_json::from_value(pod).unwrap(),
                )
                .await?;
                set_ready(&api, &name, &ip(i), true).await
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
}

async fn set_ready(api: &Api<Pod>, name: &str, ip: &str, ready: bool) -> Result<(), kube::Error> {
    let status = json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .map(|_| ())
}

/// What the slices say: per slice, its Service and ready pods; per pod, ready and when seen.
#[derive(Default)]
struct Seen {
    slices: HashMap<String, (String, usize)>,
    pods: HashMap<String, (bool, Instant)>,
}

impl Seen {
    fn complete_services(&self, pods: usize) -> usize {
        let mut per: HashMap<&str, usize> = HashMap::new();
        for (svc, ready) in self.slices.values() {
            *per.entry(svc).or_default() += ready;
        }
        per.values().filter(|n| **n == pods).count()
    }

    fn record(&mut self, s: &EndpointSlice) {
        let name = s.metadata.name.clone().unwrap_or_default();
        let svc = s
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("kubernetes.io/service-name"))
            .cloned();
        let mut ready = 0;
        for e in &s.endpoints {
            let r = e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(false);
            ready += usize::from(r);
            if let Some(pod) = e.target_ref.as_ref().and_then(|t| t.name.clone()) {
                let entry = self.pods.entry(pod).or_insert((!r, Instant::now()));
                if entry.0 != r {
                    *entry = (r, Instant::now());
                }
            }
        }
        self.slices.insert(name, (svc.unwrap_or_default(), ready));
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

#[test]
#[ignore = "benchmark: minutes at the default scale"]
fn bench_endpoint_controllers() {
    let services = env_usize("PORTICO_BENCH_SERVICES", 10_000);
    let pods = env_usize("PORTICO_BENCH_PODS", 10);
    let samples = env_usize("PORTICO_BENCH_SAMPLES", 200);
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (mut child, kubeconfig) = server(dir.path(), false);
    let t = Instant::now();
    rt.block_on(async { populate(client_from(&kubeconfig).await, services, pods).await });
    println!(
        "created {services} services and {} ready pods in {:?}",
        services * pods,
        t.elapsed()
    );
    child.kill().unwrap();
    child.wait().unwrap();

    let (mut child, kubeconfig) = server(dir.path(), true);
    let start = Instant::now();
    rt.block_on(async {
        let client = client_from(&kubeconfig).await;
        let seen = Arc::new(Mutex::new(Seen::default()));
        let s2 = seen.clone();
        let slices: Api<EndpointSlice> = Api::all(client.clone());
        tokio::spawn(async move {
            let stream = watcher(slices, watcher::Config::default());
            futures::pin_mut!(stream);
            while let Some(ev) = stream.next().await {
                match ev {
                    Ok(watcher::Event::Apply(s)) | Ok(watcher::Event::InitApply(s)) => s2.lock().unwrap().record(&s),
                    Ok(watcher::Event::Delete(s)) => {
                        s2.lock().unwrap().slices.remove(&s.metadata.name.unwrap_or_default());
                    }
                    _ => {}
                }
            }
        });
        while seen.lock().unwrap().complete_services(pods) < services {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        println!("EndpointSlices converged from empty in {:?}", start.elapsed());
        let eps: Api<Endpoints> = Api::namespaced(client.clone(), "default");
        loop {
            let list = eps.list(&ListParams::default()).await.unwrap();
            let full = list
                .items
                .iter()
                .filter(|e| {
                    e.subsets.iter().flatten().map(|s| s.addresses.as_ref().map_or(0, Vec::len)).sum::<usize>() == pods
                })
                .count();
            if full == services {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        println!("Endpoints converged from empty in {:?}", start.elapsed());

        let api: Api<Pod> = Api::namespaced(client, "default");
        let mut delays = Vec::new();
        for k in 0..samples {
            let i = (k * 7919) % (services * pods);
            let name = format!("pod-{i}");
            let was = seen.lock().unwrap().pods.get(&name).map(|p| p.0).unwrap_or(true);
            let sent = Instant::now();
            set_ready(&api, &name, &ip(i), !was).await.unwrap();
            loop {
                let got = seen.lock().unwrap().pods.get(&name).copied();
                if let Some((r, at)) = got {
                    if r != was {
                        delays.push(at.saturating_duration_since(sent));
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        delays.sort();
        println!(
            "pod readiness → EndpointSlice update over {samples} samples: p50 {:?}, p99 {:?}, max {:?}",
            percentile(&delays, 0.50),
            percentile(&delays, 0.99),
            delays.last().copied().unwrap_or_default()
        );
    });
    child.kill().unwrap();
    child.wait().unwrap();
}
