//! Creating and deleting pods to reach the wanted count (Kubernetes' `manageReplicas`).
//!
//! Creation starts slow (1, 2, 4, ... pods at a time) and stops at the first failure, so a
//! quota or admission error costs one request rather than hundreds; deletion picks the pods
//! Kubernetes would (see [`rank_for_deletion`](crate::workloads::pods::rank_for_deletion)).

use futures::future::join_all;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, PostParams, Preconditions};
use kube::Api;

use super::{parts, Owner, BURST_REPLICAS};
use crate::workloads::pods::{self, pod_from_template};
use crate::workloads::queue::ObjectKey;
use crate::workloads::Ctx;

/// Creates or deletes pods; returns the failure to report as a ReplicaFailure condition.
pub(super) async fn manage(
    ctx: &Ctx,
    owner: &Owner,
    key: &ObjectKey,
    counted: &[&Pod],
    pending_creates: usize,
) -> Option<(&'static str, String)> {
    let have = counted.len() + pending_creates;
    let want = owner.replicas.max(0) as usize;
    if have < want {
        create(ctx, owner, key, (want - have).min(BURST_REPLICAS)).await
    } else if have > want && !counted.is_empty() {
        let n = (have - want).min(counted.len()).min(BURST_REPLICAS);
        delete(ctx, owner, key, counted, n).await
    } else {
        None
    }
}

async fn create(
    ctx: &Ctx,
    owner: &Owner,
    key: &ObjectKey,
    count: usize,
) -> Option<(&'static str, String)> {
    let (expect, events) = parts(ctx, owner.flavor);
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), owner.namespace());
    let pod = pod_from_template(
        &owner.template,
        owner.namespace(),
        None,
        Some(format!("{}-", owner.name())),
        owner.owner_ref(),
    );
    let mut remaining = count;
    let mut batch = 1;
    while remaining > 0 {
        let size = batch.min(remaining);
        let pp = PostParams::default();
        let results = join_all((0..size).map(|_| api.create(&pp, &pod))).await;
        let mut failed = None;
        for r in results {
            match r {
                Ok(created) => {
                    let name = created.metadata.name.unwrap_or_default();
                    expect.created(key, &name);
                    events
                        .normal(
                            &owner.reference,
                            "SuccessfulCreate",
                            &format!("Created pod: {name}"),
                        )
                        .await;
                }
                Err(e) => failed = Some(e),
            }
        }
        if let Some(e) = failed {
            let message = match &e {
                kube::Error::Api(s) => s.message.clone(),
                other => other.to_string(),
            };
            // A namespace being deleted refuses new pods: nothing to report.
            let terminating = matches!(&e, kube::Error::Api(s) if s.code == 403 && s.message.contains("terminat"));
            if !terminating {
                events
                    .warning(
                        &owner.reference,
                        "FailedCreate",
                        &format!("Error creating: {message}"),
                    )
                    .await;
            }
            return Some(("FailedCreate", message));
        }
        remaining -= size;
        batch *= 2;
    }
    None
}

async fn delete(
    ctx: &Ctx,
    owner: &Owner,
    key: &ObjectKey,
    counted: &[&Pod],
    count: usize,
) -> Option<(&'static str, String)> {
    let (expect, events) = parts(ctx, owner.flavor);
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), owner.namespace());
    let mut ranked: Vec<&Pod> = counted.to_vec();
    pods::rank_for_deletion(&mut ranked, counted, jiff::Timestamp::now());
    let victims = &ranked[..count.min(ranked.len())];
    for p in victims {
        expect.deleting(key, p.metadata.uid.as_deref().unwrap_or_default());
    }
    let results = join_all(victims.iter().map(|p| {
        let dp = DeleteParams {
            preconditions: Some(Preconditions {
                uid: p.metadata.uid.clone(),
                resource_version: None,
            }),
            ..Default::default()
        };
        let api = api.clone();
        async move {
            api.delete(p.metadata.name.as_deref().unwrap_or_default(), &dp)
                .await
        }
    }))
    .await;
    let mut failure = None;
    for (p, r) in victims.iter().zip(results) {
        let name = p.metadata.name.clone().unwrap_or_default();
        let uid = p.metadata.uid.clone().unwrap_or_default();
        match r {
            Ok(_) => {
                events
                    .normal(
                        &owner.reference,
                        "SuccessfulDelete",
                        &format!("Deleted pod: {name}"),
                    )
                    .await;
            }
            Err(kube::Error::Api(s)) if s.code == 404 => expect.observed(key, &name, &uid, true),
            Err(e) => {
                expect.observed(key, &name, &uid, true);
                let message = e.to_string();
                events
                    .warning(
                        &owner.reference,
                        "FailedDelete",
                        &format!("Error deleting: {message}"),
                    )
                    .await;
                failure = Some(("FailedDelete", message));
            }
        }
    }
    failure
}
