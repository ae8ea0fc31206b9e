//! Carrying out a [`Plan`] against the API: creates, updates and deletes, each written
//! through to the local cache so that the next sync sees it at once.

use std::collections::BTreeMap;

use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, PostParams};

use super::reconcile::Plan;
use crate::endpoints::informer::{key_of, Store};
use crate::endpoints::model::keys;

/// What to do with the last-change-trigger-time annotation of written slices.
pub enum Trigger {
    /// Leave annotations as planned (mirrored slices copy the Endpoints' own).
    Keep,
    /// Set it to this time, or remove it (`None`).
    Set(Option<String>),
}

fn set_trigger(slice: &mut EndpointSlice, trigger: &Trigger) {
    let Trigger::Set(value) = trigger else {
        return;
    };
    let annotations = slice.metadata.annotations.get_or_insert_with(BTreeMap::new);
    match value {
        Some(t) => {
            annotations.insert(keys::LAST_CHANGE_TRIGGER_TIME.into(), t.clone());
        }
        None => {
            annotations.remove(keys::LAST_CHANGE_TRIGGER_TIME);
        }
    }
    if annotations.is_empty() {
        slice.metadata.annotations = None;
    }
}

/// Applies `plan` in namespace `ns`. Creates are skipped when `allow_create` is false (the
/// owner is being deleted) and dropped when the namespace refuses them (terminating).
pub async fn execute(
    client: &kube::Client,
    store: &Store<EndpointSlice>,
    ns: &str,
    plan: Plan,
    trigger: &Trigger,
    allow_create: bool,
) -> Result<(), kube::Error> {
    let api: Api<EndpointSlice> = Api::namespaced(client.clone(), ns);
    let pp = PostParams::default();
    if allow_create {
        for mut slice in plan.create {
            set_trigger(&mut slice, trigger);
            match api.create(&pp, &slice).await {
                Ok(created) => {
                    tracing::debug!(slice = %key_of(&created), "created endpointslice");
                    store.wrote(created);
                }
                Err(kube::Error::Api(s)) if s.code == 403 => {
                    tracing::debug!(ns, message = %s.message, "endpointslice creation refused");
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
    }
    for mut slice in plan.update {
        set_trigger(&mut slice, trigger);
        let name = slice.metadata.name.clone().unwrap_or_default();
        let updated = api.replace(&name, &pp, &slice).await?;
        tracing::debug!(slice = %key_of(&updated), "updated endpointslice");
        store.wrote(updated);
    }
    for slice in plan.delete {
        let name = slice.metadata.name.clone().unwrap_or_default();
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e),
        }
        tracing::debug!(slice = %key_of(&slice), "deleted endpointslice");
        store.deleted(&key_of(&slice));
    }
    Ok(())
}
