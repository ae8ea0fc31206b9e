//! Workload controllers, in the roles of kube-controller-manager's deployment, replicaset,
//! replicationcontroller and statefulset controllers.
//!
//! One watch per kind feeds an in-memory [`cache`](cache::Cache); its changes queue the keys
//! of the owners they concern (a pod queues its controller, an orphan pod every controller
//! whose selector matches it, a ReplicaSet its Deployment). Each controller then syncs one
//! owner at a time per key from the caches, and writes only through the API. Deletion that
//! follows ownerReferences is the API server's garbage collector's business, not ours.

pub mod cache;
pub mod claim;
pub mod deployment;
pub mod expectations;
pub mod hash;
pub mod pods;
pub mod queue;
pub mod replicaset;
pub mod statefulset;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::{Api, ResourceExt};
use portico_api::selector::LabelSelector;
use tokio_util::sync::CancellationToken;

use crate::events::Recorder;
use cache::{Cache, Change};
use expectations::Expectations;
use pods::controller_ref;
use queue::{ObjectKey, WorkQueue};

/// What one sync asks for next: nothing, or another visit after a delay.
pub type SyncResult = Result<Option<Duration>, crate::Error>;

/// The caches, queues and event recorders the workload controllers share.
pub struct Ctx {
    /// The API client.
    pub client: kube::Client,
    /// Every pod.
    pub pods: Arc<Cache<Pod>>,
    /// Every ReplicaSet.
    pub replica_sets: Arc<Cache<ReplicaSet>>,
    /// Every ReplicationController.
    pub replication_controllers: Arc<Cache<ReplicationController>>,
    /// Every Deployment.
    pub deployments: Arc<Cache<Deployment>>,
    /// Every StatefulSet.
    pub stateful_sets: Arc<Cache<StatefulSet>>,
    /// ReplicaSets to sync.
    pub rs_queue: Arc<WorkQueue>,
    /// ReplicationControllers to sync.
    pub rc_queue: Arc<WorkQueue>,
    /// Deployments to sync.
    pub deploy_queue: Arc<WorkQueue>,
    /// StatefulSets to sync.
    pub sts_queue: Arc<WorkQueue>,
    /// Pods ReplicaSets created or deleted that the cache does not show yet.
    pub rs_expect: Expectations,
    /// The same for ReplicationControllers.
    pub rc_expect: Expectations,
    /// Events as `replicaset-controller`.
    pub rs_events: Recorder,
    /// Events as `replication-controller`.
    pub rc_events: Recorder,
    /// Events as `deployment-controller`.
    pub deploy_events: Recorder,
    /// Events as `statefulset-controller`.
    pub sts_events: Recorder,
}

/// The label selector of a ReplicaSet (nothing when it is invalid).
pub fn rs_selector(rs: &ReplicaSet) -> LabelSelector {
    selector_of(&rs.spec.as_ref().map(|s| &s.selector))
}

/// A `metav1.LabelSelector` as a matcher; an absent or invalid one matches nothing.
pub fn selector_of(
    sel: &Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
) -> LabelSelector {
    match sel {
        Some(s) => serde_json::to_value(s)
            .ok()
            .and_then(|v| LabelSelector::from_label_selector_json(&v).ok())
            .unwrap_or_else(LabelSelector::nothing),
        None => LabelSelector::nothing(),
    }
}

/// The selector of a ReplicationController; an empty one matches nothing.
pub fn rc_selector(rc: &ReplicationController) -> LabelSelector {
    let map = rc
        .spec
        .as_ref()
        .and_then(|s| s.selector.clone())
        .unwrap_or_default();
    if map.is_empty() {
        return LabelSelector::nothing();
    }
    let m: serde_json::Map<String, serde_json::Value> = map
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    LabelSelector::from_map(&m)
}

impl Ctx {
    fn new(client: kube::Client) -> Ctx {
        Ctx {
            pods: Cache::new(),
            replica_sets: Cache::new(),
            replication_controllers: Cache::new(),
            deployments: Cache::new(),
            stateful_sets: Cache::new(),
            rs_queue: WorkQueue::new(),
            rc_queue: WorkQueue::new(),
            deploy_queue: WorkQueue::new(),
            sts_queue: WorkQueue::new(),
            rs_expect: Expectations::default(),
            rc_expect: Expectations::default(),
            rs_events: Recorder::new(client.clone(), "replicaset-controller"),
            rc_events: Recorder::new(client.clone(), "replication-controller"),
            deploy_events: Recorder::new(client.clone(), "deployment-controller"),
            sts_events: Recorder::new(client.clone(), "statefulset-controller"),
            client,
        }
    }

    fn on_pod(&self, change: Change<Pod>) {
        match change {
            Change::Applied { old, new } => {
                self.route_pod(&new, false);
                if let Some(old) = old {
                    if controller_ref(&old.metadata) != controller_ref(&new.metadata)
                        || old.metadata.labels != new.metadata.labels
                    {
                        self.route_pod(&old, false);
                    }
                }
            }
            Change::Deleted(pod) => self.route_pod(&pod, true),
        }
    }

    /// Queues the controllers a pod change concerns.
    fn route_pod(&self, pod: &Pod, gone: bool) {
        let ns = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let finished = gone || pod.metadata.deletion_timestamp.is_some();
        match controller_ref(&pod.metadata) {
            Some(r) => {
                let key = ObjectKey::new(&ns, &r.name);
                match r.kind.as_str() {
                    "ReplicaSet" => {
                        self.rs_expect.observed(&key, &name, &uid, finished);
                        if gone || !pods::is_active(pod) {
                            if let Some(rs) = self.replica_sets.get(&ns, &r.name) {
                                if let Some(d) =
                                    controller_ref(&rs.metadata).filter(|d| d.kind == "Deployment")
                                {
                                    self.deploy_queue.add(ObjectKey::new(&ns, &d.name));
                                }
                            }
                        }
                        self.rs_queue.add(key);
                    }
                    "ReplicationController" => {
                        self.rc_expect.observed(&key, &name, &uid, finished);
                        self.rc_queue.add(key);
                    }
                    "StatefulSet" => self.sts_queue.add(key),
                    _ => {}
                }
            }
            None if !finished => {
                let labels = pods::labels(&pod.metadata);
                for rs in self.replica_sets.list(&ns) {
                    if rs_selector(&rs).matches(&labels) {
                        self.rs_queue.add(ObjectKey::new(&ns, &rs.name_any()));
                    }
                }
                for rc in self.replication_controllers.list(&ns) {
                    if rc_selector(&rc).matches(&labels) {
                        self.rc_queue.add(ObjectKey::new(&ns, &rc.name_any()));
                    }
                }
                for sts in self.stateful_sets.list(&ns) {
                    if selector_of(&sts.spec.as_ref().map(|s| &s.selector)).matches(&labels) {
                        self.sts_queue.add(ObjectKey::new(&ns, &sts.name_any()));
                    }
                }
            }
            None => {}
        }
    }

    fn on_replica_set(&self, change: Change<ReplicaSet>) {
        let (rs, old) = match change {
            Change::Applied { old, new } => (new, old),
            Change::Deleted(rs) => {
                self.rs_expect.forget(&ObjectKey::new(
                    &rs.namespace().unwrap_or_default(),
                    &rs.name_any(),
                ));
                (rs, None)
            }
        };
        let ns = rs.namespace().unwrap_or_default();
        self.rs_queue.add(ObjectKey::new(&ns, &rs.name_any()));
        for r in [Some(rs), old].into_iter().flatten() {
            match controller_ref(&r.metadata) {
                Some(c) if c.kind == "Deployment" => {
                    self.deploy_queue.add(ObjectKey::new(&ns, &c.name))
                }
                Some(_) => {}
                None => {
                    let labels = pods::labels(&r.metadata);
                    for d in self.deployments.list(&ns) {
                        if selector_of(&d.spec.as_ref().map(|s| &s.selector)).matches(&labels) {
                            self.deploy_queue.add(ObjectKey::new(&ns, &d.name_any()));
                        }
                    }
                }
            }
        }
    }
}

fn key_of<K: kube::Resource>(change: &Change<K>) -> ObjectKey {
    let obj = match change {
        Change::Applied { new, .. } => new,
        Change::Deleted(o) => o,
    };
    ObjectKey::new(
        obj.meta().namespace.as_deref().unwrap_or_default(),
        obj.meta().name.as_deref().unwrap_or_default(),
    )
}

/// Runs `workers` tasks that take keys from `queue` and sync them with `sync`.
fn spawn_workers<F, Fut>(
    queue: Arc<WorkQueue>,
    workers: usize,
    shutdown: CancellationToken,
    sync: F,
) where
    F: Fn(ObjectKey) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = SyncResult> + Send,
{
    for _ in 0..workers {
        let queue = queue.clone();
        let shutdown = shutdown.clone();
        let sync = sync.clone();
        tokio::spawn(async move {
            while let Some(key) = queue.next(&shutdown).await {
                match sync(key.clone()).await {
                    Ok(after) => {
                        queue.forget(&key);
                        if let Some(delay) = after {
                            queue.add_after(key.clone(), delay);
                        }
                    }
                    Err(e) => {
                        if is_conflict(&e) {
                            tracing::debug!(%key, error = %e, "sync conflicted; retrying");
                        } else {
                            tracing::warn!(%key, error = %e, "sync failed; retrying");
                        }
                        queue.retry(key.clone());
                    }
                }
                queue.done(&key);
            }
        });
    }
}

/// Whether an error is a 409 (a stale cache, retried shortly).
pub fn is_conflict(e: &crate::Error) -> bool {
    matches!(e, crate::Error::Api(kube::Error::Api(s)) if s.code == 409)
}

/// Runs the workload controllers until `shutdown` fires.
pub async fn run(client: kube::Client, shutdown: CancellationToken) -> Result<(), crate::Error> {
    let ctx = Arc::new(Ctx::new(client.clone()));
    {
        let c = ctx.clone();
        cache::spawn_watch(
            ctx.pods.clone(),
            Api::all(client.clone()),
            shutdown.clone(),
            move |ch| c.on_pod(ch),
        );
        let c = ctx.clone();
        cache::spawn_watch(
            ctx.replica_sets.clone(),
            Api::all(client.clone()),
            shutdown.clone(),
            move |ch| c.on_replica_set(ch),
        );
        let c = ctx.clone();
        cache::spawn_watch(
            ctx.replication_controllers.clone(),
            Api::all(client.clone()),
            shutdown.clone(),
            move |ch| {
                let key = key_of(&ch);
                if matches!(ch, Change::Deleted(_)) {
                    c.rc_expect.forget(&key);
                }
                c.rc_queue.add(key)
            },
        );
        let c = ctx.clone();
        cache::spawn_watch(
            ctx.deployments.clone(),
            Api::all(client.clone()),
            shutdown.clone(),
            move |ch| c.deploy_queue.add(key_of(&ch)),
        );
        let c = ctx.clone();
        cache::spawn_watch(
            ctx.stateful_sets.clone(),
            Api::all(client.clone()),
            shutdown.clone(),
            move |ch| c.sts_queue.add(key_of(&ch)),
        );
    }
    let ready = async {
        ctx.pods.ready().await;
        ctx.replica_sets.ready().await;
        ctx.replication_controllers.ready().await;
        ctx.deployments.ready().await;
        ctx.stateful_sets.ready().await;
    };
    tokio::select! {
        _ = ready => {}
        _ = shutdown.cancelled() => return Ok(()),
    }
    tracing::debug!("workload caches synced");
    let c = ctx.clone();
    spawn_workers(ctx.rs_queue.clone(), 4, shutdown.clone(), move |key| {
        let c = c.clone();
        async move { replicaset::sync(&c, replicaset::Flavor::ReplicaSet, key).await }
    });
    let c = ctx.clone();
    spawn_workers(ctx.rc_queue.clone(), 2, shutdown.clone(), move |key| {
        let c = c.clone();
        async move { replicaset::sync(&c, replicaset::Flavor::ReplicationController, key).await }
    });
    let c = ctx.clone();
    spawn_workers(ctx.deploy_queue.clone(), 4, shutdown.clone(), move |key| {
        let c = c.clone();
        async move { deployment::sync(&c, key).await }
    });
    let c = ctx.clone();
    spawn_workers(ctx.sts_queue.clone(), 2, shutdown.clone(), move |key| {
        let c = c.clone();
        async move { statefulset::sync(&c, key).await }
    });
    shutdown.cancelled().await;
    Ok(())
}
