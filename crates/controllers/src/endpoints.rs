//! The Endpoints controller: keeps the Endpoints object of every Service with a selector in
//! step with the pods it selects, as kube-controller-manager's endpoint controller does.
//!
//! Services without a selector keep their hand-made Endpoints untouched; ExternalName
//! Services get none (an Endpoints object this controller made for them is removed); the
//! Endpoints of a deleted Service are deleted. Work is driven by watches: a pod change queues
//! only the Services whose selector matches the pod (before or after the change), and an
//! Endpoints object is written only when its desired content differs from the current one.
//!
//! The sub-modules hold what the EndpointSlice controllers share: informers, the work queue,
//! the pod/Service selection and the pure rules.

pub(crate) mod informer;
pub mod model;
pub(crate) mod order;
pub(crate) mod queue;
pub(crate) mod selection;
pub mod subsets;
#[cfg(test)]
pub(crate) mod test_support;
pub(crate) mod worker;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, PostParams};
use tokio_util::sync::CancellationToken;

use crate::events::{self, Recorder};
use informer::{split_key, Change, Store};
use model::keys;
use queue::WorkQueue;
use selection::Selection;

/// The controller's name in events.
pub const COMPONENT: &str = "endpoint-controller";

/// How many Services are synced at once.
const WORKERS: usize = 5;

struct Controller {
    client: kube::Client,
    sel: Selection,
    endpoints: Arc<Store<Endpoints>>,
    queue: WorkQueue,
    triggers: Mutex<model::TriggerTimes>,
    recorder: Recorder,
}

/// Runs the controller until `shutdown` fires.
pub async fn run(client: kube::Client, shutdown: CancellationToken) -> Result<(), crate::Error> {
    let ctl = Arc::new(Controller {
        client: client.clone(),
        sel: Selection::new(),
        endpoints: Store::new(None),
        queue: WorkQueue::new(),
        triggers: Mutex::new(model::TriggerTimes::default()),
        recorder: Recorder::new(client.clone(), COMPONENT),
    });
    let mut tasks = tokio::task::JoinSet::new();
    {
        let c = ctl.clone();
        tasks.spawn(informer::run(
            Api::<Service>::all(client.clone()),
            ctl.sel.services.clone(),
            move |change: Change<Service>| c.queue.add(&informer::key_of(changed(&change))),
            shutdown.clone(),
        ));
    }
    {
        let c = ctl.clone();
        tasks.spawn(informer::run(
            Api::<Pod>::all(client.clone()),
            ctl.sel.pods.clone(),
            move |change: Change<Pod>| {
                for key in c.sel.services_for_change(&change) {
                    c.queue.add(&key);
                }
            },
            shutdown.clone(),
        ));
    }
    {
        let c = ctl.clone();
        tasks.spawn(informer::run(
            Api::<Endpoints>::all(client.clone()),
            ctl.endpoints.clone(),
            move |change: Change<Endpoints>| {
                if let Change::Deleted(ep) = change {
                    c.queue.add(&informer::key_of(ep.as_ref()));
                }
            },
            shutdown.clone(),
        ));
    }
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = async {
            ctl.sel.services.wait_synced().await;
            ctl.sel.pods.wait_synced().await;
            ctl.endpoints.wait_synced().await;
        } => {
            tracing::info!("endpoint controller caches synced");
            // Endpoints whose Service is gone while we were away.
            for ep in ctl.endpoints.list() {
                if !ep.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(keys::LEADER)) {
                    ctl.queue.add(&informer::key_of(ep.as_ref()));
                }
            }
            let c = ctl.clone();
            worker::run(ctl.queue.clone(), WORKERS, "endpoints", shutdown.clone(), move |key| {
                let c = c.clone();
                async move { c.sync(&key).await }
            })
            .await;
        }
    }
    ctl.queue.shut_down();
    tasks.shutdown().await;
    Ok(())
}

fn changed<K>(change: &Change<K>) -> &K {
    match change {
        Change::Added(o) | Change::Deleted(o) | Change::Updated(_, o) => o,
    }
}

/// Whether every address of the Endpoints points at a Pod: what this controller writes.
fn made_by_controller(ep: &Endpoints) -> bool {
    ep.subsets.iter().flatten().all(|s| {
        s.addresses
            .iter()
            .flatten()
            .chain(s.not_ready_addresses.iter().flatten())
            .all(|a| a.target_ref.as_ref().and_then(|r| r.kind.as_deref()) == Some("Pod"))
    })
}

/// The labels the Endpoints of `svc` carry: the Service's, plus the headless mark.
fn desired_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels = svc.metadata.labels.clone().unwrap_or_default();
    if model::is_service_ip_set(svc) {
        labels.remove(keys::HEADLESS);
    } else {
        labels.insert(keys::HEADLESS.into(), String::new());
    }
    labels
}

impl Controller {
    async fn delete(&self, key: &str) -> Result<(), kube::Error> {
        let (ns, name) = split_key(key);
        let api: Api<Endpoints> = Api::namespaced(self.client.clone(), ns);
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e),
        }
        self.endpoints.deleted(key);
        tracing::debug!(key, "deleted endpoints");
        Ok(())
    }

    async fn sync(&self, key: &str) -> Result<(), kube::Error> {
        let (ns, name) = split_key(key);
        let current = self.endpoints.get(key);
        let Some(svc) = self.sel.services.get(key) else {
            if let Ok(mut t) = self.triggers.lock() {
                t.forget(key);
            }
            let leader = current.as_ref().is_some_and(|e| {
                e.metadata
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.contains_key(keys::LEADER))
            });
            if current.is_some() && !leader {
                self.delete(key).await?;
            }
            return Ok(());
        };
        if model::service_type(&svc) == "ExternalName" {
            if current.as_ref().is_some_and(|e| made_by_controller(e)) {
                self.delete(key).await?;
            }
            return Ok(());
        }
        if model::selector(&svc).is_none() {
            return Ok(());
        }
        let pods = self.sel.pods_for(&svc);
        let pods: Vec<&Pod> = pods.iter().map(|p| p.as_ref()).collect();
        let trigger = self
            .triggers
            .lock()
            .ok()
            .and_then(|mut t| t.compute(key, &svc, &pods));
        let mut subsets = subsets::desired(&svc, &pods);
        let truncated = subsets::truncate(&mut subsets);
        let labels = desired_labels(&svc);
        if let Some(cur) = &current {
            let cur_labels = cur.metadata.labels.clone().unwrap_or_default();
            let marked = cur
                .metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(keys::OVER_CAPACITY));
            if subsets::equal_ignoring_versions(cur.subsets.as_deref().unwrap_or(&[]), &subsets)
                && cur_labels == labels
                && marked == truncated
            {
                return Ok(());
            }
        }
        let mut ep = current.as_deref().cloned().unwrap_or_else(|| Endpoints {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(ns.to_string()),
                ..Default::default()
            },
            subsets: None,
        });
        let annotations = ep.metadata.annotations.get_or_insert_with(BTreeMap::new);
        match trigger {
            Some(t) => {
                annotations.insert(
                    keys::LAST_CHANGE_TRIGGER_TIME.into(),
                    model::format_trigger_time(t),
                );
            }
            None => {
                annotations.remove(keys::LAST_CHANGE_TRIGGER_TIME);
            }
        }
        if truncated {
            annotations.insert(keys::OVER_CAPACITY.into(), "truncated".into());
        } else {
            annotations.remove(keys::OVER_CAPACITY);
        }
        if annotations.is_empty() {
            ep.metadata.annotations = None;
        }
        ep.metadata.labels = (!labels.is_empty()).then_some(labels);
        ep.subsets = (!subsets.is_empty()).then_some(subsets);
        let api: Api<Endpoints> = Api::namespaced(self.client.clone(), ns);
        let creating = current.is_none();
        let result = if creating {
            api.create(&PostParams::default(), &ep).await
        } else {
            api.replace(name, &PostParams::default(), &ep).await
        };
        match result {
            Ok(written) => {
                tracing::debug!(key, created = creating, "wrote endpoints");
                self.endpoints.wrote(written);
                Ok(())
            }
            Err(e) => {
                let conflict = matches!(&e, kube::Error::Api(s) if s.code == 409);
                if !conflict {
                    let about = events::reference(&ep);
                    let (reason, message) = if creating {
                        (
                            "FailedToCreateEndpoint",
                            format!("Failed to create endpoint for service {ns}/{name}: {e}"),
                        )
                    } else {
                        (
                            "FailedToUpdateEndpoint",
                            format!("Failed to update endpoint {ns}/{name}: {e}"),
                        )
                    };
                    self.recorder.warning(&about, reason, &message).await;
                }
                Err(e)
            }
        }
    }
}
