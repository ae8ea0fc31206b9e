//! The EndpointSlice controllers, as kube-controller-manager runs them:
//!
//! * the EndpointSlice controller gives every Service with a selector slices
//!   (`<service>-<random>`, labelled `kubernetes.io/service-name` and
//!   `endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io`, owned by the
//!   Service) listing the pods it selects, at most 100 endpoints per slice, with an empty
//!   placeholder slice when there are none. ExternalName Services and Services without a
//!   selector get none (slices it made earlier are removed);
//! * the mirroring controller ([`mirroring`]) copies the hand-made Endpoints of Services
//!   without a selector into slices managed by `endpointslicemirroring-controller.k8s.io`,
//!   never writing the Endpoints themselves.
//!
//! Both are driven by watches and a work queue each; only Services (or Endpoints) concerned
//! by a change are synced, and slices are written only when they would change.

pub mod desired;
pub mod mirror;
mod mirroring;
pub mod reconcile;
mod write;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Endpoints, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use tokio_util::sync::CancellationToken;

use crate::endpoints::informer::{self, key_of, split_key, Change, Store};
use crate::endpoints::model::{self, keys, Family};
use crate::endpoints::queue::WorkQueue;
use crate::endpoints::selection::Selection;
use crate::endpoints::worker;
use crate::events::{self, Recorder};

/// The controller's name in events.
pub const COMPONENT: &str = "endpoint-slice-controller";

const WORKERS: usize = 5;

/// Why a sync must be retried.
#[derive(Debug, thiserror::Error)]
enum SyncError {
    #[error(transparent)]
    Api(#[from] kube::Error),
    #[error("pods {0:?} are on nodes that do not exist (yet)")]
    MissingNodes(Vec<String>),
}

struct Controller {
    client: kube::Client,
    sel: Selection,
    nodes: Arc<Store<Node>>,
    slices: Arc<Store<EndpointSlice>>,
    endpoints: Arc<Store<Endpoints>>,
    queue: WorkQueue,
    mirror_queue: WorkQueue,
    triggers: Mutex<model::TriggerTimes>,
    recorder: Recorder,
    mirror_recorder: Recorder,
}

fn index_value(ns: &str, service: &str, manager: &str) -> String {
    format!("{ns}\u{0}{service}\u{0}{manager}")
}

/// Index of a slice: (namespace, service-name label, managed-by label).
fn slice_index(s: &EndpointSlice) -> Vec<String> {
    let labels = s.metadata.labels.as_ref();
    let get = |k: &str| labels.and_then(|l| l.get(k));
    match (get(keys::SERVICE_NAME), get(keys::MANAGED_BY)) {
        (Some(svc), Some(mgr)) => vec![index_value(
            s.metadata.namespace.as_deref().unwrap_or(""),
            svc,
            mgr,
        )],
        _ => Vec::new(),
    }
}

/// The `namespace/service` key and manager of a slice.
fn slice_owner(s: &EndpointSlice) -> Option<(String, String)> {
    let labels = s.metadata.labels.as_ref()?;
    let svc = labels.get(keys::SERVICE_NAME)?;
    let mgr = labels.get(keys::MANAGED_BY)?;
    Some((
        format!("{}/{svc}", s.metadata.namespace.as_deref().unwrap_or("")),
        mgr.clone(),
    ))
}

/// Runs the EndpointSlice and mirroring controllers until `shutdown` fires.
pub async fn run(client: kube::Client, shutdown: CancellationToken) -> Result<(), crate::Error> {
    let ctl = Arc::new(Controller {
        client: client.clone(),
        sel: Selection::new(),
        nodes: Store::new(None),
        slices: Store::new(Some(slice_index)),
        endpoints: Store::new(None),
        queue: WorkQueue::new(),
        mirror_queue: WorkQueue::new(),
        triggers: Mutex::new(model::TriggerTimes::default()),
        recorder: Recorder::new(client.clone(), COMPONENT),
        mirror_recorder: Recorder::new(client.clone(), mirroring::COMPONENT),
    });
    let mut tasks = tokio::task::JoinSet::new();
    let c = ctl.clone();
    tasks.spawn(informer::run(
        Api::<Service>::all(client.clone()),
        ctl.sel.services.clone(),
        move |ch: Change<Service>| c.on_service(&ch),
        shutdown.clone(),
    ));
    let c = ctl.clone();
    tasks.spawn(informer::run(
        Api::<Pod>::all(client.clone()),
        ctl.sel.pods.clone(),
        move |ch: Change<Pod>| {
            for key in c.sel.services_for_change(&ch) {
                c.queue.add(&key);
            }
        },
        shutdown.clone(),
    ));
    tasks.spawn(informer::run(
        Api::<Node>::all(client.clone()),
        ctl.nodes.clone(),
        |_: Change<Node>| {},
        shutdown.clone(),
    ));
    let c = ctl.clone();
    tasks.spawn(informer::run(
        Api::<EndpointSlice>::all(client.clone()),
        ctl.slices.clone(),
        move |ch: Change<EndpointSlice>| c.on_slice(&ch),
        shutdown.clone(),
    ));
    let c = ctl.clone();
    tasks.spawn(informer::run(
        Api::<Endpoints>::all(client.clone()),
        ctl.endpoints.clone(),
        move |ch: Change<Endpoints>| c.on_endpoints(&ch),
        shutdown.clone(),
    ));
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = async {
            ctl.sel.services.wait_synced().await;
            ctl.sel.pods.wait_synced().await;
            ctl.nodes.wait_synced().await;
            ctl.slices.wait_synced().await;
            ctl.endpoints.wait_synced().await;
        } => {
            tracing::info!("endpointslice controllers caches synced");
            let c = ctl.clone();
            let slices = worker::run(ctl.queue.clone(), WORKERS, "endpointslice", shutdown.clone(), move |key| {
                let c = c.clone();
                async move { c.sync(&key).await }
            });
            let c = ctl.clone();
            let mirrors = worker::run(ctl.mirror_queue.clone(), WORKERS, "endpointslicemirroring", shutdown.clone(), move |key| {
                let c = c.clone();
                async move { c.sync_mirror(&key).await }
            });
            tokio::join!(slices, mirrors);
        }
    }
    ctl.queue.shut_down();
    ctl.mirror_queue.shut_down();
    tasks.shutdown().await;
    Ok(())
}

impl Controller {
    fn on_service(&self, change: &Change<Service>) {
        let (old, new) = match change {
            Change::Added(s) => (None, Some(s)),
            Change::Updated(o, s) => (Some(o), Some(s)),
            Change::Deleted(s) => (Some(s), None),
        };
        let Some(any) = new.or(old) else { return };
        let key = key_of(any.as_ref());
        self.queue.add(&key);
        let selectorless = |s: Option<&Arc<Service>>| s.map(|s| model::selector(s).is_none());
        let mirror = match (selectorless(old), selectorless(new)) {
            (Some(a), Some(b)) => a != b,
            (a, b) => a.or(b).unwrap_or(false),
        };
        if mirror {
            self.mirror_queue.add(&key);
        }
    }

    fn on_slice(&self, change: &Change<EndpointSlice>) {
        let slices: Vec<&Arc<EndpointSlice>> = match change {
            Change::Added(s) | Change::Deleted(s) => vec![s],
            Change::Updated(o, s) => vec![o, s],
        };
        for s in slices {
            match slice_owner(s) {
                Some((key, mgr)) if mgr == reconcile::CONTROLLER => self.queue.add(&key),
                Some((key, mgr)) if mgr == mirror::CONTROLLER => self.mirror_queue.add(&key),
                _ => {}
            }
        }
    }

    fn on_endpoints(&self, change: &Change<Endpoints>) {
        let concerned = match change {
            Change::Added(e) | Change::Deleted(e) => {
                mirror::should_mirror(e).then(|| key_of(e.as_ref()))
            }
            Change::Updated(o, e) => {
                (mirror::should_mirror(o) || mirror::should_mirror(e)).then(|| key_of(e.as_ref()))
            }
        };
        if let Some(key) = concerned {
            self.mirror_queue.add(&key);
        }
    }

    /// Slices labelled as `manager`'s for the Service `key`, not being deleted.
    fn slices_of(&self, key: &str, manager: &str) -> Vec<EndpointSlice> {
        let (ns, name) = split_key(key);
        self.slices
            .by_index(&index_value(ns, name, manager))
            .into_iter()
            .filter(|s| s.metadata.deletion_timestamp.is_none())
            .map(|s| (*s).clone())
            .collect()
    }

    /// Deletes the slices labelled as `manager`'s for `key` that `doomed` selects.
    async fn delete_all(
        &self,
        key: &str,
        manager: &str,
        doomed: impl Fn(&EndpointSlice) -> bool,
    ) -> Result<(), kube::Error> {
        let delete: Vec<EndpointSlice> = self
            .slices_of(key, manager)
            .into_iter()
            .filter(|s| doomed(s))
            .collect();
        if delete.is_empty() {
            return Ok(());
        }
        let plan = reconcile::Plan {
            delete,
            ..Default::default()
        };
        write::execute(
            &self.client,
            &self.slices,
            split_key(key).0,
            plan,
            &write::Trigger::Keep,
            false,
        )
        .await
    }

    async fn sync(&self, key: &str) -> Result<(), SyncError> {
        let Some(svc) = self.sel.services.get(key) else {
            if let Ok(mut t) = self.triggers.lock() {
                t.forget(key);
            }
            // The garbage collector's job, done here too: slices this controller made for a
            // Service of that name (never the API server's own, which have no owner).
            let name = split_key(key).1;
            let made_for_service = |s: &EndpointSlice| {
                s.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.kind == "Service" && o.name == name)
            };
            return Ok(self
                .delete_all(key, reconcile::CONTROLLER, made_for_service)
                .await?);
        };
        if model::service_type(&svc) == "ExternalName" || model::selector(&svc).is_none() {
            // Slices made while the Service had a selector and another type.
            let owned = |s: &EndpointSlice| reconcile::owned_by(s, &svc);
            return Ok(self.delete_all(key, reconcile::CONTROLLER, owned).await?);
        }
        let pods = self.sel.pods_for(&svc);
        let pods: Vec<&Pod> = pods.iter().map(|p| p.as_ref()).collect();
        let mut nodes: HashMap<String, Arc<Node>> = HashMap::new();
        for p in &pods {
            if let Some(n) = p.spec.as_ref().and_then(|s| s.node_name.as_ref()) {
                if let Some(node) = self.nodes.get(n) {
                    nodes.insert(n.clone(), node);
                }
            }
        }
        let trigger = self
            .triggers
            .lock()
            .ok()
            .and_then(|mut t| t.compute(key, &svc, &pods));
        let existing = self.slices_of(key, reconcile::CONTROLLER);
        let families = model::families(&svc);
        let mut plan = reconcile::Plan::default();
        let mut missing = Vec::new();
        for family in &families {
            let desired =
                desired::desired(&svc, &pods, *family, |n| nodes.get(n).map(|n| n.as_ref()));
            missing.extend(desired.missing_nodes.iter().cloned());
            let mine: Vec<EndpointSlice> = existing
                .iter()
                .filter(|s| s.address_type == family.address_type())
                .cloned()
                .collect();
            let p = reconcile::plan(&svc, *family, desired, &mine);
            plan.create.extend(p.create);
            plan.update.extend(p.update);
            plan.delete.extend(p.delete);
        }
        let supported: Vec<&str> = families.iter().map(|f: &Family| f.address_type()).collect();
        plan.delete.extend(
            existing
                .into_iter()
                .filter(|s| !supported.contains(&s.address_type.as_str())),
        );
        if !plan.is_empty() {
            let trigger = write::Trigger::Set(trigger.map(model::format_trigger_time));
            let allow_create = svc.metadata.deletion_timestamp.is_none();
            let (ns, name) = split_key(key);
            if let Err(e) =
                write::execute(&self.client, &self.slices, ns, plan, &trigger, allow_create).await
            {
                if !matches!(&e, kube::Error::Api(s) if s.code == 409) {
                    let message =
                        format!("Error updating Endpoint Slices for Service {ns}/{name}: {e}");
                    self.recorder
                        .warning(
                            &events::reference(svc.as_ref()),
                            "FailedToUpdateEndpointSlices",
                            &message,
                        )
                        .await;
                }
                return Err(e.into());
            }
        }
        if !missing.is_empty() {
            return Err(SyncError::MissingNodes(missing));
        }
        Ok(())
    }
}
