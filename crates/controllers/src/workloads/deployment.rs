//! The Deployment controller: a ReplicaSet per pod template (`<name>-<pod-template-hash>`),
//! rolled from old to new with RollingUpdate (maxSurge/maxUnavailable, waiting for new pods
//! to be available before old ones go) or Recreate, proportional scaling mid-rollout,
//! revision annotations for `kubectl rollout history/undo`, pause/resume, history cleanup,
//! and the Available/Progressing conditions `kubectl rollout status` reads.

mod math;
mod revision;
mod rollout;
mod status;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::{json, Value};

use super::claim::{self, Claim};
use super::pods::owner_ref;
use super::queue::ObjectKey;
use super::{selector_of, Ctx, SyncResult};
use crate::events::reference;

pub use math::{resolve_fenceposts, scaled_value};
pub use revision::{DESIRED_REPLICAS, MAX_REPLICAS, REVISION, REVISION_HISTORY};

/// `spec.replicas` of a ReplicaSet.
pub fn replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// `status.replicas` of a ReplicaSet.
pub fn status_replicas(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().map(|s| s.replicas).unwrap_or(0)
}

/// `status.availableReplicas` of a ReplicaSet.
pub fn available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

/// `status.readyReplicas` of a ReplicaSet.
pub fn ready(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0)
}

fn desired(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

fn is_recreate(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        == Some("Recreate")
}

fn fenceposts(d: &Deployment) -> (i32, i32) {
    let ru = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.clone())
        .unwrap_or_default();
    resolve_fenceposts(
        ru.max_surge.as_ref(),
        ru.max_unavailable.as_ref(),
        desired(d),
    )
}

/// maxSurge as a number of pods (0 for Recreate).
pub fn max_surge(d: &Deployment) -> i32 {
    if is_recreate(d) {
        return 0;
    }
    fenceposts(d).0
}

/// maxUnavailable as a number of pods, at most `replicas` (0 for Recreate or no replicas).
pub fn max_unavailable(d: &Deployment) -> i32 {
    if is_recreate(d) || desired(d) == 0 {
        return 0;
    }
    fenceposts(d).1.min(desired(d))
}

/// How many replicas a new ReplicaSet should have next to `olds`.
pub fn new_rs_replicas(d: &Deployment, olds: &[ReplicaSet], new: &ReplicaSet) -> i32 {
    if is_recreate(d) {
        return desired(d);
    }
    let total: i32 = olds.iter().map(replicas).sum::<i32>() + replicas(new);
    math::new_rs_replicas_rolling(desired(d), max_surge(d), total, replicas(new))
}

/// One sync of one Deployment.
pub(super) struct Run<'a> {
    ctx: &'a Ctx,
    d: Deployment,
    /// The status being built (conditions set along the way).
    status: DeploymentStatus,
    rs_api: Api<ReplicaSet>,
    d_api: Api<Deployment>,
    reference: ObjectReference,
}

/// Syncs one Deployment.
pub async fn sync(ctx: &Ctx, key: ObjectKey) -> SyncResult {
    let Some(d) = ctx.deployments.get(&key.namespace, &key.name) else {
        return Ok(None);
    };
    let d = (*d).clone();
    let mut run = Run {
        ctx,
        status: d.status.clone().unwrap_or_default(),
        rs_api: Api::namespaced(ctx.client.clone(), &key.namespace),
        d_api: Api::namespaced(ctx.client.clone(), &key.namespace),
        reference: reference(&d),
        d,
    };
    let selector = selector_of(&run.d.spec.as_ref().map(|s| &s.selector));
    if selector.is_everything() {
        ctx.deploy_events
            .warning(
                &run.reference,
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.",
            )
            .await;
        return Ok(None);
    }
    let rs_list = run.claim_replica_sets(&selector).await?;
    if run.d.metadata.deletion_timestamp.is_some() {
        let (new, olds) = run.new_and_old(&rs_list, false).await?;
        return run.finish_plain(new.as_ref(), &olds).await;
    }
    run.check_paused_conditions();
    let paused = run.d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
    if paused || run.is_scaling_event(&rs_list) {
        return run.sync_scale(&rs_list, paused).await;
    }
    if is_recreate(&run.d) {
        run.recreate(&rs_list).await
    } else {
        run.rolling(&rs_list).await
    }
}

impl Run<'_> {
    fn progress_deadline(&self) -> Option<i32> {
        self.d
            .spec
            .as_ref()
            .and_then(|s| s.progress_deadline_seconds)
    }

    /// The ReplicaSets of the namespace this Deployment owns, adopting and releasing.
    async fn claim_replica_sets(
        &self,
        selector: &portico_api::selector::LabelSelector,
    ) -> Result<Vec<ReplicaSet>, crate::Error> {
        let uid = self.d.metadata.uid.clone().unwrap_or_default();
        let deleting = self.d.metadata.deletion_timestamp.is_some();
        let owner = owner_ref("apps/v1", "Deployment", &self.d.metadata);
        let mut mine = Vec::new();
        let ns = self.d.metadata.namespace.clone().unwrap_or_default();
        for rs in self.ctx.replica_sets.list(&ns) {
            let matches = selector.matches(&super::pods::labels(&rs.metadata));
            match claim::decide(&rs.metadata, &uid, matches, deleting) {
                Claim::Owned => mine.push((*rs).clone()),
                Claim::Adopt => match claim::adopt(&self.rs_api, &rs.metadata, &owner).await {
                    Ok(r) => mine.push(r),
                    Err(e) => {
                        tracing::debug!(rs = ?rs.metadata.name, error = %e, "adopting a ReplicaSet failed")
                    }
                },
                Claim::Release => claim::release(&self.rs_api, &rs.metadata, &uid).await?,
                Claim::Ignore => {}
            }
        }
        Ok(mine)
    }

    fn check_paused_conditions(&mut self) {
        if self.progress_deadline().is_none() {
            return;
        }
        let cond = status::get(&self.status, "Progressing");
        if cond.and_then(|c| c.reason.as_deref()) == Some(status::TIMED_OUT) {
            return;
        }
        let paused_cond = cond.and_then(|c| c.reason.as_deref()) == Some(status::PAUSED);
        let paused = self.d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
        if paused && !paused_cond {
            status::set(
                &mut self.status,
                status::condition(
                    "Progressing",
                    "Unknown",
                    status::PAUSED,
                    "Deployment is paused".into(),
                ),
            );
        } else if !paused && paused_cond {
            status::set(
                &mut self.status,
                status::condition(
                    "Progressing",
                    "Unknown",
                    status::RESUMED,
                    "Deployment is resumed".into(),
                ),
            );
        }
    }

    /// Whether the Deployment's replicas changed since its active ReplicaSets were sized.
    fn is_scaling_event(&self, rs_list: &[ReplicaSet]) -> bool {
        let want = desired(&self.d).to_string();
        rs_list.iter().filter(|r| replicas(r) > 0).any(|r| {
            r.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(DESIRED_REPLICAS))
                .is_some_and(|v| *v != want)
        })
    }

    /// Scales `rs` to `to` (and refreshes its replicas annotations); returns whether its size changed.
    async fn scale_rs(&self, rs: &mut ReplicaSet, to: i32) -> Result<bool, crate::Error> {
        let size_changes = replicas(rs) != to;
        let mut copy = rs.clone();
        let annotations_change = revision::set_replicas_annotations(
            &mut copy,
            desired(&self.d),
            desired(&self.d) + max_surge(&self.d),
        );
        if !size_changes && !annotations_change {
            return Ok(false);
        }
        let message = revision::describe_scale(rs, to);
        let a = copy.metadata.annotations.clone().unwrap_or_default();
        let patch = json!({
            "metadata": {
                "annotations": {DESIRED_REPLICAS: a.get(DESIRED_REPLICAS), MAX_REPLICAS: a.get(MAX_REPLICAS)},
                "resourceVersion": rs.metadata.resource_version,
            },
            "spec": {"replicas": to},
        });
        let name = rs.metadata.name.clone().unwrap_or_default();
        *rs = self
            .rs_api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        if size_changes {
            self.ctx
                .deploy_events
                .normal(&self.reference, "ScalingReplicaSet", &message)
                .await;
        }
        Ok(size_changes)
    }

    /// Writes `status` if it differs from the stored one.
    async fn write_status(&self, status: DeploymentStatus) -> Result<(), crate::Error> {
        let stored =
            serde_json::to_value(self.d.status.clone().unwrap_or_default()).unwrap_or(Value::Null);
        let new = serde_json::to_value(&status).unwrap_or(Value::Null);
        if super::hash::normalize(&stored) == super::hash::normalize(&new) {
            return Ok(());
        }
        let mut patch = new;
        // Counts that dropped to zero must be removed explicitly.
        for field in [
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
            "unavailableReplicas",
            "collisionCount",
        ] {
            if patch.get(field).is_none() {
                patch[field] = Value::Null;
            }
        }
        let name = self.d.metadata.name.clone().unwrap_or_default();
        match self
            .d_api
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": patch})),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Status without rollout bookkeeping (deleted, paused or scaled Deployments).
    async fn finish_plain(&self, new: Option<&ReplicaSet>, olds: &[ReplicaSet]) -> SyncResult {
        let all: Vec<&ReplicaSet> = olds.iter().chain(new).collect();
        let status = status::calculate(&self.d, &all, new, &self.status);
        self.write_status(status).await?;
        Ok(None)
    }

    /// Status after a rollout step.
    async fn finish_rollout(&self, new: Option<&ReplicaSet>, olds: &[ReplicaSet]) -> SyncResult {
        let all: Vec<&ReplicaSet> = olds.iter().chain(new).collect();
        let (status, requeue) = status::rollout(&self.d, &all, new, &self.status);
        self.write_status(status).await?;
        Ok(requeue)
    }

    /// Deletes the oldest unused ReplicaSets beyond `revisionHistoryLimit`.
    async fn cleanup(&self, olds: &[ReplicaSet]) -> Result<(), crate::Error> {
        let Some(limit) = self.d.spec.as_ref().and_then(|s| s.revision_history_limit) else {
            return Ok(());
        };
        let mut cleanable: Vec<&ReplicaSet> = olds
            .iter()
            .filter(|r| r.metadata.deletion_timestamp.is_none())
            .collect();
        let diff = cleanable.len() as i64 - i64::from(limit);
        if diff <= 0 {
            return Ok(());
        }
        cleanable.sort_by(|a, b| {
            revision::revision(&a.metadata)
                .cmp(&revision::revision(&b.metadata))
                .then_with(|| {
                    a.metadata
                        .creation_timestamp
                        .as_ref()
                        .map(|t| t.0)
                        .cmp(&b.metadata.creation_timestamp.as_ref().map(|t| t.0))
                })
        });
        for rs in cleanable.into_iter().take(diff as usize) {
            let observed = rs
                .status
                .as_ref()
                .and_then(|s| s.observed_generation)
                .unwrap_or(0);
            if status_replicas(rs) != 0
                || replicas(rs) != 0
                || rs.metadata.generation.unwrap_or(0) > observed
            {
                continue;
            }
            let name = rs.metadata.name.clone().unwrap_or_default();
            match self.rs_api.delete(&name, &Default::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
