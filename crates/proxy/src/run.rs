//! The proxy's run loop: watches on Services and EndpointSlices (all namespaces) feeding a
//! [`cache`], and after every burst of changes the service ports of the Services that
//! changed are rebuilt and handed to a [`Datapath`] as a change set.
//!
//! Bursts are coalesced the way kube-proxy's bounded-frequency runner does it, with shorter
//! periods: after a change, the loop waits until no further change has come for
//! [`QUIET`], but never longer than [`MAX_DELAY`], then rebuilds and applies once. Nothing is
//! applied before both caches have listed everything once. Work per change is proportional
//! to what changed: only the Services whose object or slices changed are rebuilt, the
//! state is updated in place, and the datapath gets [`Datapath::apply_changes`] with the
//! service ports that differ (a full [`Datapath::apply`] first and after a failure). A
//! failed apply is retried after [`RETRY`] even without a new change.

mod cache;

use std::collections::{BTreeSet, HashSet};
use std::net::SocketAddr;
use std::ops::Bound;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Resource};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::metrics::{self, Metrics};
use crate::model::{Protocol, ProxyState, ServiceKey, ServicePort};
use crate::rules::SharedState;
use crate::{Datapath, Error};
use cache::{Cache, Name};

/// How long the loop waits for more changes after one.
pub const QUIET: Duration = Duration::from_millis(10);
/// The longest a change waits to be applied while changes keep coming.
pub const MAX_DELAY: Duration = Duration::from_millis(100);
/// When a failed apply is tried again.
pub const RETRY: Duration = Duration::from_secs(1);

/// What the run loop needs to know.
#[derive(Debug, Clone)]
pub struct Config {
    /// This node's name: endpoints whose `nodeName` equals it are local.
    pub node_name: String,
    /// Where to serve `/metrics` ([`Metrics::global`]), if anywhere.
    pub metrics_addr: Option<SocketAddr>,
}

/// Runs the proxy until `shutdown`: watches Services and EndpointSlices through `client`
/// and keeps `datapath` in step with them. Fails only if the metrics address cannot be
/// bound; API errors are retried with backoff, failed applies after [`RETRY`].
pub async fn run(
    client: kube::Client,
    config: Config,
    mut datapath: impl Datapath,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let metrics = Metrics::global();
    let stop = shutdown.child_token();
    let _stop_guard = stop.clone().drop_guard();
    if let Some(addr) = config.metrics_addr {
        let listener = metrics::bind(addr).await?;
        tokio::spawn(metrics::serve_listener(
            listener,
            metrics.clone(),
            stop.clone(),
        ));
    }

    let changed = Arc::new(Notify::new());
    let cache = Arc::new(Mutex::new(Cache::default()));
    watch::<Service>(&client, &cache, Cache::service_event, &changed, &stop);
    watch::<EndpointSlice>(&client, &cache, Cache::slice_event, &changed, &stop);
    while !lock(&cache).ready() {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = changed.notified() => {}
        }
    }
    tracing::info!(node = %config.node_name, "proxy caches ready");

    let shared: SharedState = Arc::default();
    let mut full = true;
    loop {
        let started = Instant::now();
        let keys = {
            let mut cache = lock(&cache);
            let mut dirty = cache.take_dirty();
            if full {
                dirty = cache.all();
            }
            let mut slot = shared.lock().unwrap_or_else(|e| e.into_inner());
            let state = Arc::make_mut(&mut slot);
            if full {
                state.services.clear();
            }
            update(state, &cache, &dirty, &config.node_name)
        };
        let rebuilt = started.elapsed();
        let mut retry = None;
        if full || !keys.is_empty() {
            let state = shared.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let result = if full {
                datapath.apply(&state).await
            } else {
                datapath.apply_changes(&state, &keys).await
            };
            let took = started.elapsed();
            metrics.observe_sync(took, result.is_err());
            metrics.observe_state(&state);
            match result {
                Ok(()) => {
                    tracing::debug!(
                        service_ports = state.services.len(),
                        changed = keys.len(),
                        full,
                        ?rebuilt,
                        ?took,
                        "applied"
                    );
                    if full {
                        if let Some(render) = datapath.rules_renderer() {
                            metrics.rules().set_shared(shared.clone(), render);
                        }
                    }
                    full = false;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "applying the proxy state failed; retrying");
                    full = true;
                    retry = Some(RETRY);
                }
            }
        }
        let woke = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = changed.notified() => true,
            _ = sleep_opt(retry) => false,
        };
        if woke && !coalesce(&changed, &shutdown).await {
            return Ok(());
        }
    }
}

fn lock(cache: &Mutex<Cache>) -> std::sync::MutexGuard<'_, Cache> {
    cache.lock().unwrap_or_else(|e| e.into_inner())
}

/// Rebuilds the service ports of the Services `dirty` in `state`; returns the keys whose
/// service port is new, gone or different.
fn update(
    state: &mut ProxyState,
    cache: &Cache,
    dirty: &HashSet<Name>,
    node_name: &str,
) -> BTreeSet<ServiceKey> {
    let mut changed = BTreeSet::new();
    for name in dirty {
        let mut fresh: Vec<(ServiceKey, ServicePort)> = cache.build(name, node_name);
        let old: Vec<ServiceKey> = state
            .services
            .range((Bound::Included(first_key(name)), Bound::Unbounded))
            .take_while(|(k, _)| k.namespace == name.0 && k.name == name.1)
            .map(|(k, _)| k.clone())
            .collect();
        for key in old {
            if !fresh.iter().any(|(k, _)| *k == key) {
                state.services.remove(&key);
                changed.insert(key);
            }
        }
        for (key, sp) in fresh.drain(..) {
            if state.services.get(&key) != Some(&sp) {
                state.services.insert(key.clone(), sp);
                changed.insert(key);
            }
        }
    }
    changed
}

/// The smallest key of the Service `name` (keys sort by namespace, name, port, protocol).
fn first_key(name: &Name) -> ServiceKey {
    ServiceKey {
        namespace: name.0.clone(),
        name: name.1.clone(),
        port_name: String::new(),
        protocol: Protocol::Tcp,
    }
}

/// Waits out a burst of changes: until [`QUIET`] passes without one, at most [`MAX_DELAY`].
/// False if `shutdown` came first.
async fn coalesce(changed: &Notify, shutdown: &CancellationToken) -> bool {
    let first = Instant::now();
    loop {
        let left = MAX_DELAY.saturating_sub(first.elapsed());
        if left.is_zero() {
            return true;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return false,
            _ = changed.notified() => continue,
            _ = tokio::time::sleep(QUIET.min(left)) => return true,
        }
    }
}

async fn sleep_opt(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// A watch on all objects of kind `K`, driven until `stop`: every event goes into `cache`
/// through `take` and wakes `changed`.
fn watch<K>(
    client: &kube::Client,
    cache: &Arc<Mutex<Cache>>,
    take: fn(&mut Cache, watcher::Event<K>),
    changed: &Arc<Notify>,
    stop: &CancellationToken,
) where
    K: Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let api: Api<K> = Api::all(client.clone());
    let stream = watcher(api, watcher::Config::default()).default_backoff();
    tokio::spawn(drive(
        stream,
        cache.clone(),
        take,
        changed.clone(),
        stop.clone(),
    ));
}

async fn drive<K, S>(
    stream: S,
    cache: Arc<Mutex<Cache>>,
    take: fn(&mut Cache, watcher::Event<K>),
    changed: Arc<Notify>,
    stop: CancellationToken,
) where
    K: Resource<DynamicType = ()>,
    S: Stream<Item = Result<watcher::Event<K>, watcher::Error>>,
{
    let mut stream = std::pin::pin!(stream);
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return,
            n = stream.next() => n,
        };
        match next {
            None => return,
            Some(Ok(event)) => {
                let wake = matches!(
                    event,
                    watcher::Event::Apply(_) | watcher::Event::Delete(_) | watcher::Event::InitDone
                );
                take(&mut lock(&cache), event);
                if wake {
                    changed.notify_one();
                }
            }
            Some(Err(e)) => {
                tracing::warn!(kind = %K::kind(&()), error = %e, "watch failed; retrying");
            }
        }
    }
}
