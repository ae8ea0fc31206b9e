//! The rollout strategies (RollingUpdate, Recreate) and scaling of a Deployment whose
//! replicas changed or that is paused (Kubernetes' `rolling.go`, `recreate.go`, `sync.go`).

use std::collections::HashSet;

use k8s_openapi::api::apps::v1::ReplicaSet;

use super::math::{self, Size};
use super::{
    available, desired, is_recreate, max_surge, max_unavailable, replicas, status, status_replicas,
    Run, MAX_REPLICAS,
};
use crate::workloads::pods::{controller_ref, phase};
use crate::workloads::SyncResult;

fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> std::cmp::Ordering {
    let t = |r: &ReplicaSet| r.metadata.creation_timestamp.as_ref().map(|t| t.0);
    t(a).cmp(&t(b))
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

fn size(rs: &ReplicaSet) -> Size {
    Size {
        replicas: replicas(rs),
        available: available(rs),
    }
}

impl Run<'_> {
    /// RollingUpdate: grow the new ReplicaSet within maxSurge, shrink old ones within
    /// maxUnavailable, one step per sync; ReplicaSet status changes bring the next sync.
    pub(super) async fn rolling(&mut self, rs_list: &[ReplicaSet]) -> SyncResult {
        let (new, mut olds) = self.new_and_old(rs_list, true).await?;
        let Some(mut new) = new else {
            return self.finish_rollout(None, &olds).await;
        };
        let want = desired(&self.d);
        // Scale the new ReplicaSet up (or down to the wanted size).
        if replicas(&new) != want {
            let target = if replicas(&new) > want {
                want
            } else {
                super::new_rs_replicas(&self.d, &olds, &new)
            };
            if self.scale_rs(&mut new, target).await? {
                return self.finish_rollout(Some(&new), &olds).await;
            }
        }
        // Scale old ReplicaSets down as far as availability allows.
        let old_pods: i32 = olds.iter().map(replicas).sum();
        if old_pods > 0 {
            let all_pods = old_pods + replicas(&new);
            let max_unavail = max_unavailable(&self.d);
            let budget = math::max_scaled_down(all_pods, want, max_unavail, size(&new));
            if budget > 0 {
                olds.sort_by(by_creation);
                let mut sizes: Vec<Size> = olds.iter().map(size).collect();
                let mut changed = math::cleanup_unhealthy(&mut sizes, budget);
                let all_available: i32 = olds.iter().map(available).sum::<i32>() + available(&new);
                changed += math::scale_down_old(&mut sizes, all_available, want, max_unavail);
                for (rs, s) in olds.iter_mut().zip(&sizes) {
                    if replicas(rs) != s.replicas {
                        self.scale_rs(rs, s.replicas).await?;
                    }
                }
                if changed > 0 {
                    return self.finish_rollout(Some(&new), &olds).await;
                }
            }
        }
        if status::complete(&self.d, &self.d.status.clone().unwrap_or_default()) {
            self.cleanup(&olds).await?;
        }
        self.finish_rollout(Some(&new), &olds).await
    }

    /// Recreate: scale every old ReplicaSet to zero, wait until their pods are gone, then
    /// bring the new one up at full size.
    pub(super) async fn recreate(&mut self, rs_list: &[ReplicaSet]) -> SyncResult {
        let (mut new, mut olds) = self.new_and_old(rs_list, false).await?;
        let mut scaled = false;
        for rs in olds.iter_mut().filter(|r| replicas(r) > 0) {
            scaled |= self.scale_rs(rs, 0).await?;
        }
        if scaled || self.old_pods_running(new.as_ref(), &olds) {
            return self.finish_rollout(new.as_ref(), &olds).await;
        }
        if new.is_none() {
            (new, olds) = self.new_and_old(rs_list, true).await?;
        }
        if let Some(rs) = new.as_mut() {
            let want = desired(&self.d);
            self.scale_rs(rs, want).await?;
        }
        if status::complete(&self.d, &self.d.status.clone().unwrap_or_default()) {
            self.cleanup(&olds).await?;
        }
        self.finish_rollout(new.as_ref(), &olds).await
    }

    /// Whether pods of old ReplicaSets still run (Recreate waits for them).
    fn old_pods_running(&self, new: Option<&ReplicaSet>, olds: &[ReplicaSet]) -> bool {
        if olds.iter().map(status_replicas).sum::<i32>() > 0 {
            return true;
        }
        let old_uids: HashSet<&str> = olds
            .iter()
            .filter(|r| r.metadata.uid != new.and_then(|n| n.metadata.uid.clone()))
            .filter_map(|r| r.metadata.uid.as_deref())
            .collect();
        let ns = self.d.metadata.namespace.clone().unwrap_or_default();
        self.ctx.pods.list(&ns).iter().any(|p| {
            controller_ref(&p.metadata).is_some_and(|r| old_uids.contains(r.uid.as_str()))
                && !matches!(phase(p), "Failed" | "Succeeded")
        })
    }

    /// Paused Deployments and changes of replicas: resize without rolling.
    pub(super) async fn sync_scale(&mut self, rs_list: &[ReplicaSet], paused: bool) -> SyncResult {
        let (mut new, mut olds) = self.new_and_old(rs_list, false).await?;
        self.scale(new.as_mut(), &mut olds).await?;
        if paused {
            self.cleanup(&olds).await?;
        }
        self.finish_plain(new.as_ref(), &olds).await
    }

    /// Kubernetes' `scale`: one active ReplicaSet takes all replicas; otherwise a scaling
    /// is shared among active ReplicaSets in proportion to their sizes.
    async fn scale(
        &self,
        new: Option<&mut ReplicaSet>,
        olds: &mut [ReplicaSet],
    ) -> Result<(), crate::Error> {
        let want = desired(&self.d);
        // The only active ReplicaSet (or the newest one when none is active).
        let active_olds = olds.iter().filter(|r| replicas(r) > 0).count();
        let new_active = new.as_ref().is_some_and(|r| replicas(r) > 0);
        if active_olds + usize::from(new_active) <= 1 {
            if new_active || (active_olds == 0 && new.is_some()) {
                if let Some(rs) = new {
                    if replicas(rs) != want {
                        self.scale_rs(rs, want).await?;
                    }
                }
                return Ok(());
            }
            let idx = if active_olds == 1 {
                olds.iter().position(|r| replicas(r) > 0)
            } else {
                olds.iter()
                    .enumerate()
                    .max_by(|a, b| by_creation(a.1, b.1))
                    .map(|(i, _)| i)
            };
            if let Some(rs) = idx.and_then(|i| olds.get_mut(i)) {
                if replicas(rs) != want {
                    self.scale_rs(rs, want).await?;
                }
            }
            return Ok(());
        }
        // A saturated new ReplicaSet: old ones go to zero.
        if let Some(rs) = new.as_ref() {
            let saturated = replicas(rs) == want
                && rs
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(super::DESIRED_REPLICAS))
                    == Some(&want.to_string())
                && available(rs) == want;
            if saturated {
                for old in olds.iter_mut().filter(|r| replicas(r) > 0) {
                    self.scale_rs(old, 0).await?;
                }
                return Ok(());
            }
        }
        if is_recreate(&self.d) {
            return Ok(());
        }
        // Proportional scaling.
        let surge = if want > 0 { max_surge(&self.d) } else { 0 };
        let mut all: Vec<&mut ReplicaSet> = olds.iter_mut().filter(|r| replicas(r) > 0).collect();
        if let Some(rs) = new.filter(|r| replicas(r) > 0) {
            all.push(rs);
        }
        let current: i32 = all.iter().map(|r| replicas(r)).sum();
        let to_add = want + surge - current;
        if to_add > 0 {
            // Larger first, newer first among equals.
            all.sort_by(|a, b| {
                replicas(b)
                    .cmp(&replicas(a))
                    .then_with(|| by_creation(b, a))
            });
        } else {
            all.sort_by(|a, b| {
                replicas(b)
                    .cmp(&replicas(a))
                    .then_with(|| by_creation(a, b))
            });
        }
        let fallback = self.d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0);
        let mut added = 0;
        let mut targets: Vec<i32> = Vec::with_capacity(all.len());
        for rs in &all {
            let annotated = rs
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(MAX_REPLICAS))
                .and_then(|v| v.parse().ok());
            let p = if to_add != 0 {
                math::proportion(
                    replicas(rs),
                    annotated,
                    fallback,
                    want,
                    surge,
                    to_add,
                    added,
                )
            } else {
                0
            };
            targets.push(replicas(rs) + p);
            added += p;
        }
        if let Some(first) = targets.first_mut() {
            *first = (*first + to_add - added).max(0);
        }
        for (rs, t) in all.into_iter().zip(targets) {
            self.scale_rs(rs, t.max(0)).await?;
        }
        Ok(())
    }
}
