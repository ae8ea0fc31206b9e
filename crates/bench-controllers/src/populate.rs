//! Filling the cluster from empty: a namespace and Ready nodes first, then `n` Services with
//! `p` pods each, every pod created bound to a node and then made Running and Ready through
//! its status subresource (as a kubelet would). `concurrency` workers take Services from a
//! shared counter; each creates its Service, then its pods one after another.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service};
use kube::api::{Api, Patch, PatchParams, PostParams};

use crate::objects::{self, NAMESPACE};
use crate::Error;
use portico_bench::stats::Summary;

/// Progress counters, read by the progress reporter while the workers run.
#[derive(Debug, Default)]
pub struct Progress {
    /// Services created.
    pub services: AtomicUsize,
    /// Pods created.
    pub pods: AtomicUsize,
    /// Pods whose Ready status was acknowledged.
    pub ready: AtomicUsize,
    /// Services whose pods all had their Ready status acknowledged.
    pub done: AtomicUsize,
}

/// What populating took, as the client saw it.
#[derive(Debug, Clone)]
pub struct Populated {
    /// When the first Service create was sent.
    pub started: Instant,
    /// When the last request was acknowledged.
    pub finished: Instant,
    /// Requests sent (Service creates, pod creates, pod status patches).
    pub requests: usize,
    /// Per Service: when the status patch of its last pod was acknowledged.
    pub last_ack: Vec<Instant>,
    /// Latency of Service creates.
    pub service_creates: Summary,
    /// Latency of pod creates.
    pub pod_creates: Summary,
    /// Latency of pod status patches.
    pub status_patches: Summary,
}

/// Creates the namespace and `nodes` Ready nodes (Ready through their status subresource).
pub async fn prepare(client: &kube::Client, nodes: usize) -> Result<(), Error> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(&PostParams::default(), &objects::namespace()?)
        .await
        .map_err(Error::request(format!("POST namespaces ({NAMESPACE})")))?;
    let api: Api<Node> = Api::all(client.clone());
    for k in 0..nodes {
        let name = objects::node_name(k);
        api.create(&PostParams::default(), &objects::node(k)?)
            .await
            .map_err(Error::request(format!("POST nodes ({name})")))?;
        let patch = objects::node_ready_patch();
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(Error::request(format!("PATCH nodes/{name}/status {patch}")))?;
    }
    Ok(())
}

/// Per-worker results: (Service index, last ack) and the three latency series.
type WorkerOut = (
    Vec<(usize, Instant)>,
    Vec<Duration>,
    Vec<Duration>,
    Vec<Duration>,
);

/// Creates the `n` Services and their `p` pods each, Ready, with `concurrency` workers.
pub async fn populate(
    client: &kube::Client,
    n: usize,
    p: usize,
    nodes: usize,
    concurrency: usize,
    progress: Arc<Progress>,
) -> Result<Populated, Error> {
    let services: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (services, pods) = (services.clone(), pods.clone());
        let (next, progress) = (Arc::clone(&next), Arc::clone(&progress));
        tasks.push(tokio::spawn(async move {
            let mut out: WorkerOut = Default::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, Error>(out);
                }
                let t = Instant::now();
                services
                    .create(&PostParams::default(), &objects::service(i)?)
                    .await
                    .map_err(Error::request(format!(
                        "POST namespaces/{NAMESPACE}/services ({})",
                        objects::service_name(i)
                    )))?;
                out.1.push(t.elapsed());
                progress.services.fetch_add(1, Ordering::Relaxed);
                let mut last = Instant::now();
                for j in 0..p {
                    let name = objects::pod_name(i, j);
                    let t = Instant::now();
                    pods.create(&PostParams::default(), &objects::pod(i, j, nodes)?)
                        .await
                        .map_err(Error::request(format!(
                            "POST namespaces/{NAMESPACE}/pods ({name})"
                        )))?;
                    out.2.push(t.elapsed());
                    progress.pods.fetch_add(1, Ordering::Relaxed);
                    let patch = objects::pod_status_patch(objects::pod_ip(i, j, p), true);
                    let t = Instant::now();
                    pods.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                        .map_err(Error::request(format!(
                            "PATCH namespaces/{NAMESPACE}/pods/{name}/status {patch}"
                        )))?;
                    last = Instant::now();
                    out.3.push(last - t);
                    progress.ready.fetch_add(1, Ordering::Relaxed);
                }
                out.0.push((i, last));
                progress.done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let mut last_ack = vec![started; n];
    let (mut svc, mut pod, mut status) = (Vec::new(), Vec::new(), Vec::new());
    for task in tasks {
        let (acks, s, p, st) = task.await??;
        for (i, at) in acks {
            last_ack[i] = at;
        }
        svc.extend(s);
        pod.extend(p);
        status.extend(st);
    }
    Ok(Populated {
        started,
        finished: last_ack.iter().max().copied().unwrap_or(started),
        requests: svc.len() + pod.len() + status.len(),
        last_ack,
        service_creates: Summary::of(svc),
        pod_creates: Summary::of(pod),
        status_patches: Summary::of(status),
    })
}
