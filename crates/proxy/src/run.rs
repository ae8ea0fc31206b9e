//! The proxy's run loop: reflectors on Services and EndpointSlices (all namespaces), a new
//! [`ProxyState`] after every burst of changes, applied to a [`Datapath`].
//!
//! Bursts are coalesced the way kube-proxy's bounded-frequency runner does it, with shorter
//! periods: after a change, the loop waits until no further change has come for
//! [`QUIET`], but never longer than [`MAX_DELAY`], then rebuilds and applies once. Nothing is
//! applied before both caches have listed everything once. A failed apply is retried after
//! [`RETRY`] even without a new change.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Resource};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::metrics::{self, Metrics};
use crate::model::{build, ProxyState};
use crate::{Datapath, Error};

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
    let services = watch::<Service>(&client, changed.clone(), stop.clone());
    let slices = watch::<EndpointSlice>(&client, changed.clone(), stop.clone());
    tokio::select! {
        _ = shutdown.cancelled() => return Ok(()),
        r = async { tokio::try_join!(services.wait_until_ready(), slices.wait_until_ready()) } => {
            if r.is_err() {
                return Err(Error::Other("the watch caches stopped before they were ready".into()));
            }
        }
    }
    tracing::info!(node = %config.node_name, "proxy caches ready");

    loop {
        let state = snapshot(&services, &slices, &config.node_name);
        let started = Instant::now();
        let result = datapath.apply(&state).await;
        let took = started.elapsed();
        metrics.observe_sync(took, result.is_err());
        metrics.observe_state(&state);
        let retry = match result {
            Ok(()) => {
                tracing::debug!(service_ports = state.services.len(), ?took, "applied");
                if let Some(render) = datapath.rules_renderer() {
                    metrics.rules().set(Arc::new(state), render);
                }
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "applying the proxy state failed; retrying");
                Some(RETRY)
            }
        };
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

/// The state the caches describe now (reading the cached objects in place: no copies).
fn snapshot(services: &Store<Service>, slices: &Store<EndpointSlice>, node: &str) -> ProxyState {
    build(&services.state(), &slices.state(), node)
}

/// A reflector over all objects of kind `K`, driven until `stop`; every change to the cache
/// wakes `changed`.
fn watch<K>(client: &kube::Client, changed: Arc<Notify>, stop: CancellationToken) -> Store<K>
where
    K: Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store::<K>();
    let api: Api<K> = Api::all(client.clone());
    let stream =
        reflector::reflector(writer, watcher(api, watcher::Config::default())).default_backoff();
    tokio::spawn(drive(stream, changed, stop));
    store
}

async fn drive<K, S>(stream: S, changed: Arc<Notify>, stop: CancellationToken)
where
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
            Some(Ok(
                watcher::Event::Apply(_) | watcher::Event::Delete(_) | watcher::Event::InitDone,
            )) => {
                changed.notify_one();
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                tracing::warn!(kind = %K::kind(&()), error = %e, "watch failed; retrying");
            }
        }
    }
}
