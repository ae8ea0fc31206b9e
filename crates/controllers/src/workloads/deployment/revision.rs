//! Revisions and the new ReplicaSet: which ReplicaSet carries the Deployment's template,
//! the `deployment.kubernetes.io/*` annotations, and creating the ReplicaSet named
//! `<deployment>-<pod-template-hash>` (Kubernetes' `getNewReplicaSet`).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

use super::status::{self, condition};
use super::{max_surge, new_rs_replicas, replicas, Run};
use crate::workloads::hash::{compute_hash, equal_ignore_hash, POD_TEMPLATE_HASH};
use crate::workloads::pods::{controller_ref, owner_ref};

/// The revision of a ReplicaSet and of its Deployment.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Earlier revisions a ReplicaSet had (after a rollback to it).
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// The Deployment's replicas when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// The Deployment's replicas plus maxSurge then.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

const SKIP_COPY: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

/// The revision number of an object (0 when absent or malformed).
pub fn revision(meta: &ObjectMeta) -> i64 {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Sets the desired/max replicas annotations; returns whether they changed.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let a = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut changed = false;
    for (k, v) in [(DESIRED_REPLICAS, desired), (MAX_REPLICAS, max)] {
        let v = v.to_string();
        if a.get(k) != Some(&v) {
            a.insert(k.to_string(), v);
            changed = true;
        }
    }
    changed
}

/// Copies the Deployment's annotations onto its new ReplicaSet and raises the ReplicaSet's
/// revision to `new_revision`, remembering the one it had; returns whether anything changed.
pub fn set_new_rs_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
) -> bool {
    let mut changed = false;
    let a = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if SKIP_COPY.contains(&k.as_str()) {
            continue;
        }
        if a.get(k) != Some(v) {
            a.insert(k.clone(), v.clone());
            changed = true;
        }
    }
    let old = a.get(REVISION).cloned();
    let old_n: i64 = old.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0);
    if old_n < new_revision {
        a.insert(REVISION.into(), new_revision.to_string());
        changed = true;
        if let Some(old) = old.filter(|o| !o.is_empty()) {
            let history = match a.get(REVISION_HISTORY).filter(|h| !h.is_empty()) {
                Some(h) => format!("{h},{old}"),
                None => old,
            };
            a.insert(REVISION_HISTORY.into(), history);
        }
    }
    if !exists {
        let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        if set_replicas_annotations(rs, desired, desired + max_surge(d)) {
            changed = true;
        }
    }
    changed
}

impl Run<'_> {
    /// Splits `rs_list` into the new ReplicaSet (if any, created when `create`) and the old
    /// ones, bringing revisions up to date.
    pub(super) async fn new_and_old(
        &mut self,
        rs_list: &[ReplicaSet],
        create: bool,
    ) -> Result<(Option<ReplicaSet>, Vec<ReplicaSet>), crate::Error> {
        let template = self.d.spec.clone().unwrap_or_default().template;
        let mut sorted: Vec<&ReplicaSet> = rs_list.iter().collect();
        sorted.sort_by(|a, b| {
            let t = |r: &ReplicaSet| r.metadata.creation_timestamp.as_ref().map(|t| t.0);
            t(a).cmp(&t(b))
                .then_with(|| a.metadata.name.cmp(&b.metadata.name))
        });
        let new_pos = sorted.iter().position(|rs| {
            rs.spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .is_some_and(|t| equal_ignore_hash(t, &template))
        });
        let existing = new_pos.map(|i| sorted[i].clone());
        let olds: Vec<ReplicaSet> = sorted
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != new_pos)
            .map(|(_, r)| (*r).clone())
            .collect();
        let new_revision = olds
            .iter()
            .map(|r| revision(&r.metadata))
            .max()
            .unwrap_or(0)
            + 1;
        let min_ready = self.d.spec.as_ref().and_then(|s| s.min_ready_seconds);

        if let Some(mut rs) = existing {
            let updated = set_new_rs_annotations(&self.d, &mut rs, new_revision, true);
            let min_ready_changed = rs.spec.as_ref().and_then(|s| s.min_ready_seconds) != min_ready;
            if updated || min_ready_changed {
                let patch = json!({
                    "metadata": {"annotations": rs.metadata.annotations, "resourceVersion": rs.metadata.resource_version},
                    "spec": {"minReadySeconds": min_ready},
                });
                let name = rs.metadata.name.clone().unwrap_or_default();
                rs = self
                    .rs_api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
            } else {
                self.sync_revision(revision(&rs.metadata)).await?;
            }
            if self.progress_deadline().is_some()
                && status::get(&self.status, "Progressing").is_none()
            {
                let name = rs.metadata.name.clone().unwrap_or_default();
                status::set(
                    &mut self.status,
                    condition(
                        "Progressing",
                        "True",
                        status::FOUND_NEW_RS,
                        format!("Found new replica set \"{name}\""),
                    ),
                );
            }
            return Ok((Some(rs), olds));
        }
        if !create {
            return Ok((None, olds));
        }
        let rs = self.create_new(&olds, new_revision).await?;
        Ok((Some(rs), olds))
    }

    /// Writes the Deployment's revision annotation if it differs.
    async fn sync_revision(&mut self, rev: i64) -> Result<(), crate::Error> {
        if rev == 0 || revision(&self.d.metadata) == rev {
            return Ok(());
        }
        let patch = json!({"metadata": {"annotations": {REVISION: rev.to_string()}}});
        let name = self.d.metadata.name.clone().unwrap_or_default();
        self.d = self
            .d_api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        Ok(())
    }

    async fn create_new(
        &mut self,
        olds: &[ReplicaSet],
        new_revision: i64,
    ) -> Result<ReplicaSet, crate::Error> {
        let spec = self.d.spec.clone().unwrap_or_default();
        let hash = compute_hash(&spec.template, self.status.collision_count);
        let mut template = spec.template.clone();
        template
            .metadata
            .get_or_insert_with(Default::default)
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(POD_TEMPLATE_HASH.into(), hash.clone());
        let mut selector = spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(BTreeMap::new)
            .insert(POD_TEMPLATE_HASH.into(), hash.clone());
        let d_name = self.d.metadata.name.clone().unwrap_or_default();
        let name = format!("{d_name}-{hash}");
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: self.d.metadata.namespace.clone(),
                owner_references: Some(vec![owner_ref("apps/v1", "Deployment", &self.d.metadata)]),
                labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: spec.min_ready_seconds,
                selector,
                template: Some(template),
            }),
            status: None,
        };
        set_new_rs_annotations(&self.d, &mut rs, new_revision, false);
        let count = new_rs_replicas(&self.d, olds, &rs);
        if let Some(s) = rs.spec.as_mut() {
            s.replicas = Some(count);
        }
        match self.rs_api.create(&PostParams::default(), &rs).await {
            Ok(created) => {
                if count > 0 {
                    self.ctx
                        .deploy_events
                        .normal(
                            &self.reference,
                            "ScalingReplicaSet",
                            &format!("Scaled up replica set {name} from 0 to {count}"),
                        )
                        .await;
                }
                if self.progress_deadline().is_some() {
                    status::set(
                        &mut self.status,
                        condition(
                            "Progressing",
                            "True",
                            status::NEW_RS_CREATED,
                            format!("Created new replica set \"{name}\""),
                        ),
                    );
                }
                self.sync_revision(revision(&created.metadata)).await?;
                Ok(created)
            }
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let existing = self.rs_api.get(&name).await?;
                let ours = controller_ref(&existing.metadata)
                    .is_some_and(|r| Some(&r.uid) == self.d.metadata.uid.as_ref());
                let same = existing
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.as_ref())
                    .is_some_and(|t| equal_ignore_hash(t, &spec.template));
                if ours && same {
                    return Ok(existing);
                }
                // A different ReplicaSet holds the name: change the hash and try again.
                self.status.collision_count = Some(self.status.collision_count.unwrap_or(0) + 1);
                self.write_status(self.status.clone()).await?;
                Err(crate::Error::Config(format!(
                    "hash collision for ReplicaSet {name} of deployment {d_name}; retrying with collisionCount {}",
                    self.status.collision_count.unwrap_or(0)
                )))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The spec.replicas of a ReplicaSet to scale, for messages.
pub fn describe_scale(rs: &ReplicaSet, to: i32) -> String {
    let from = replicas(rs);
    let op = if to > from { "up" } else { "down" };
    format!(
        "Scaled {op} replica set {} from {from} to {to}",
        rs.metadata.name.as_deref().unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::DeploymentSpec;

    #[test]
    fn annotations_are_copied_and_rollback_keeps_history() {
        let d = Deployment {
            metadata: ObjectMeta {
                annotations: Some(
                    [
                        ("kubernetes.io/change-cause".to_string(), "v2".to_string()),
                        (REVISION.to_string(), "9".to_string()),
                    ]
                    .into(),
                ),
                ..Default::default()
            },
            spec: Some(DeploymentSpec {
                replicas: Some(3),
                ..Default::default()
            }),
            status: None,
        };
        let mut rs = ReplicaSet::default();
        assert!(set_new_rs_annotations(&d, &mut rs, 1, false));
        let a = rs.metadata.annotations.clone().unwrap();
        assert_eq!(a["kubernetes.io/change-cause"], "v2");
        assert_eq!(a[REVISION], "1");
        assert_eq!(a[DESIRED_REPLICAS], "3");
        assert!(!a.contains_key(REVISION_HISTORY));
        // Rolled back to: revision 1 becomes 3, 1 goes to the history.
        assert!(set_new_rs_annotations(&d, &mut rs, 3, true));
        let a = rs.metadata.annotations.clone().unwrap();
        assert_eq!(a[REVISION], "3");
        assert_eq!(a[REVISION_HISTORY], "1");
        assert!(!set_new_rs_annotations(&d, &mut rs, 3, true));
    }
}
