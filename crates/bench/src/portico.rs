//! The API server side of the benchmark, through kube-rs (HTTP/1.1 over rustls, one
//! connection per concurrent request, as kube-rs pools them).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use std::fmt::Debug;

use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;

use crate::Error;
use portico_bench::stats::Summary;

/// The namespace everything is created in.
pub const NAMESPACE: &str = "default";

/// A kube-rs client for the kubeconfig at `path`.
pub async fn client(path: &Path) -> Result<kube::Client, Error> {
    let kc = kube::config::Kubeconfig::read_from(path)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

/// A ClusterIP Service named `name` with `label` set to `value`.
pub fn service(name: &str, label: &str, value: &str) -> Result<Service, Error> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": {label: value}},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
    }))?)
}

/// The result of creating many objects.
#[derive(Debug, Clone)]
pub struct Creates {
    /// Per-request latency.
    pub latency: Summary,
    /// Wall time for all of them.
    pub elapsed: Duration,
    /// The objects as the server returned them, JSON-encoded (the payloads for the raw runs).
    pub payloads: Vec<(String, Vec<u8>)>,
}

/// Creates `n` Services with `concurrency` clients pulling from one counter.
pub async fn create(client: &kube::Client, n: usize, concurrency: usize) -> Result<Creates, Error> {
    let api: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    create_each(api, n, concurrency, |name| service(name, "bench", "create")).await
}

/// Creates `n` ConfigMaps of about a Service's size: the control, a write with no
/// clusterIP/nodePort allocation.
pub async fn create_configmaps(
    client: &kube::Client,
    n: usize,
    concurrency: usize,
) -> Result<Creates, Error> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), NAMESPACE);
    create_each(api, n, concurrency, |name| {
        Ok(serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "labels": {"bench": "control"}},
            "data": {"filler": "x".repeat(400)},
        }))?)
    })
    .await
}

async fn create_each<K>(
    api: Api<K>,
    n: usize,
    concurrency: usize,
    make: fn(&str) -> Result<K, Error>,
) -> Result<Creates, Error>
where
    K: kube::Resource + Clone + DeserializeOwned + Serialize + Debug + Send + Sync + 'static,
{
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (api, next) = (api.clone(), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, Error>(out);
                }
                let name = format!("bench-{i:06}");
                let obj = make(&name)?;
                let t = Instant::now();
                let created = api.create(&PostParams::default(), &obj).await?;
                let took = t.elapsed();
                out.push((took, name, serde_json::to_vec(&created)?));
            }
        }));
    }
    let mut latencies = Vec::with_capacity(n);
    let mut payloads = Vec::with_capacity(n);
    for t in tasks {
        for (took, name, body) in t.await?? {
            latencies.push(took);
            payloads.push((name, body));
        }
    }
    let elapsed = start.elapsed();
    payloads.sort();
    Ok(Creates {
        latency: Summary::of(latencies),
        elapsed,
        payloads,
    })
}

/// The result of listing everything.
#[derive(Debug, Clone, Copy)]
pub struct Listing {
    /// Items in the list.
    pub items: usize,
    /// Bytes of the JSON response body.
    pub bytes: usize,
    /// Median time of the raw request (headers to last byte, no decoding).
    pub raw: Duration,
    /// Median time of kube-rs' typed list (request plus decoding into `Service`s).
    pub typed: Duration,
}

/// Lists the namespace's Services `rounds` times, raw and typed; reports the medians.
pub async fn list(client: &kube::Client, rounds: usize) -> Result<Listing, Error> {
    let api: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    let (mut raw, mut typed) = (Vec::new(), Vec::new());
    let (mut items, mut bytes) = (0, 0);
    for _ in 0..rounds.max(1) {
        let req = http::Request::get(format!("/api/v1/namespaces/{NAMESPACE}/services"))
            .body(Vec::new())?;
        let t = Instant::now();
        let body = client.request_text(req).await?;
        raw.push(t.elapsed());
        bytes = body.len();
        let t = Instant::now();
        let list = api.list(&ListParams::default()).await?;
        typed.push(t.elapsed());
        items = list.items.len();
    }
    Ok(Listing {
        items,
        bytes,
        raw: Summary::of(raw).p50,
        typed: Summary::of(typed).p50,
    })
}

/// Delivery latency to many watchers.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    /// Time from a create's acknowledgement to a watcher receiving its ADDED event
    /// (deliveries that arrived before the acknowledgement count as zero).
    pub latency: Summary,
    /// Deliveries that arrived before the creating client saw the acknowledgement.
    pub before_ack: usize,
    /// Time from sending the create request to a watcher receiving its ADDED event.
    pub from_send: Summary,
    /// Watchers that took part.
    pub watchers: usize,
}

/// Opens `watchers` watches, then creates `events` Services one after another and measures
/// when each watcher sees each one.
pub async fn watch(
    client: &kube::Client,
    watchers: usize,
    events: usize,
) -> Result<Delivery, Error> {
    let api: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    let from = api
        .list(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version
        .ok_or_else(|| Error::Other("list without a resourceVersion".into()))?;
    let wp = WatchParams::default().labels("bench=watch");
    let mut tasks = Vec::new();
    let ready = Arc::new(tokio::sync::Semaphore::new(0));
    for _ in 0..watchers {
        let (api, wp, from, ready) = (api.clone(), wp.clone(), from.clone(), Arc::clone(&ready));
        tasks.push(tokio::spawn(async move {
            let mut stream = api.watch(&wp, &from).await?.boxed();
            ready.add_permits(1);
            let mut seen = vec![None; events];
            let mut got = 0;
            while got < events {
                let Some(ev) = stream.next().await else {
                    return Err(Error::Other(format!("watch ended after {got} events")));
                };
                let now = Instant::now();
                if let WatchEvent::Added(s) = ev? {
                    let idx = s
                        .metadata
                        .name
                        .as_deref()
                        .and_then(|n| n.strip_prefix("watch-"))
                        .and_then(|n| n.parse::<usize>().ok());
                    if let Some(slot) = idx.and_then(|i| seen.get_mut(i)) {
                        if slot.is_none() {
                            *slot = Some(now);
                            got += 1;
                        }
                    }
                }
            }
            Ok::<_, Error>(seen)
        }));
    }
    let all = u32::try_from(watchers).map_err(|_| Error::Other("too many watchers".into()))?;
    let _ = tokio::time::timeout(Duration::from_secs(60), ready.acquire_many(all))
        .await
        .map_err(|_| Error::Other("watchers did not start within 60 s".into()))?;
    let (mut sent, mut acked) = (Vec::with_capacity(events), Vec::with_capacity(events));
    for i in 0..events {
        let obj = service(&format!("watch-{i}"), "bench", "watch")?;
        sent.push(Instant::now());
        api.create(&PostParams::default(), &obj).await?;
        acked.push(Instant::now());
    }
    let (mut latencies, mut from_send, mut before_ack) = (Vec::new(), Vec::new(), 0);
    for t in tasks {
        let seen = tokio::time::timeout(Duration::from_secs(120), t)
            .await
            .map_err(|_| {
                Error::Other("watchers did not see every event within 120 s".into())
            })???;
        for ((ack, sent), seen) in acked.iter().zip(&sent).zip(seen) {
            let seen = seen.ok_or_else(|| Error::Other("missing event".into()))?;
            if seen < *ack {
                before_ack += 1;
            }
            latencies.push(seen.saturating_duration_since(*ack));
            from_send.push(seen.saturating_duration_since(*sent));
        }
    }
    Ok(Delivery {
        latency: Summary::of(latencies),
        before_ack,
        from_send: Summary::of(from_send),
        watchers,
    })
}

/// A list read in pages, as `kubectl get` reads (it asks for 500 at a time).
#[derive(Debug, Clone, Copy)]
pub struct Paged {
    /// Items over all pages.
    pub items: usize,
    /// Pages read.
    pub pages: usize,
    /// Time for all pages, kube-rs decoding included.
    pub elapsed: Duration,
}

/// Lists the namespace's Services `limit` at a time, following `continue`.
pub async fn list_paged(client: &kube::Client, limit: u32) -> Result<Paged, Error> {
    let api: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    let start = Instant::now();
    let (mut items, mut pages, mut token) = (0, 0, None::<String>);
    loop {
        let mut lp = ListParams::default().limit(limit);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = api.list(&lp).await?;
        items += page.items.len();
        pages += 1;
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    Ok(Paged {
        items,
        pages,
        elapsed: start.elapsed(),
    })
}
