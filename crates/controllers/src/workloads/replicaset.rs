//! The ReplicaSet and ReplicationController controllers (one implementation, as in
//! Kubernetes): keep `replicas` active pods matching the selector, adopt matching orphans,
//! release pods that stopped matching, replace pods that fail or are deleted, and report
//! `replicas`, `fullyLabeledReplicas`, `readyReplicas`, `availableReplicas` and
//! `observedGeneration`.

mod manage;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{ObjectReference, Pod, PodTemplateSpec, ReplicationController};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Patch, PatchParams};
use kube::Api;
use portico_api::selector::LabelSelector;
use serde_json::{json, Value};

use super::claim::{self, Claim};
use super::expectations::{self, Expectations};
use super::hash::normalize;
use super::pods::{self, owner_ref};
use super::queue::ObjectKey;
use super::{rc_selector, rs_selector, Ctx, SyncResult};
use crate::events::{reference, Recorder};

/// Which of the two kinds a sync is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// apps/v1 ReplicaSet.
    ReplicaSet,
    /// core/v1 ReplicationController.
    ReplicationController,
}

/// The most pods created or deleted in one sync (Kubernetes' burstReplicas).
pub const BURST_REPLICAS: usize = 500;

/// What the controller needs of a ReplicaSet or ReplicationController.
struct Owner {
    flavor: Flavor,
    meta: ObjectMeta,
    replicas: i32,
    min_ready_seconds: i32,
    selector: LabelSelector,
    template: PodTemplateSpec,
    status: Value,
    reference: ObjectReference,
}

impl Owner {
    fn from_rs(rs: &ReplicaSet) -> Owner {
        let spec = rs.spec.clone().unwrap_or_default();
        Owner {
            flavor: Flavor::ReplicaSet,
            meta: rs.metadata.clone(),
            replicas: spec.replicas.unwrap_or(1),
            min_ready_seconds: spec.min_ready_seconds.unwrap_or(0),
            selector: rs_selector(rs),
            template: spec.template.unwrap_or_default(),
            status: serde_json::to_value(&rs.status).unwrap_or(Value::Null),
            reference: reference(rs),
        }
    }

    fn from_rc(rc: &ReplicationController) -> Owner {
        let spec = rc.spec.clone().unwrap_or_default();
        Owner {
            flavor: Flavor::ReplicationController,
            meta: rc.metadata.clone(),
            replicas: spec.replicas.unwrap_or(1),
            min_ready_seconds: spec.min_ready_seconds.unwrap_or(0),
            selector: rc_selector(rc),
            template: spec.template.unwrap_or_default(),
            status: serde_json::to_value(&rc.status).unwrap_or(Value::Null),
            reference: reference(rc),
        }
    }

    fn name(&self) -> &str {
        self.meta.name.as_deref().unwrap_or_default()
    }

    fn namespace(&self) -> &str {
        self.meta.namespace.as_deref().unwrap_or_default()
    }

    fn owner_ref(&self) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
        match self.flavor {
            Flavor::ReplicaSet => owner_ref("apps/v1", "ReplicaSet", &self.meta),
            Flavor::ReplicationController => owner_ref("v1", "ReplicationController", &self.meta),
        }
    }
}

fn parts(ctx: &Ctx, flavor: Flavor) -> (&Expectations, &Recorder) {
    match flavor {
        Flavor::ReplicaSet => (&ctx.rs_expect, &ctx.rs_events),
        Flavor::ReplicationController => (&ctx.rc_expect, &ctx.rc_events),
    }
}

/// Syncs one ReplicaSet or ReplicationController.
pub async fn sync(ctx: &Ctx, flavor: Flavor, key: ObjectKey) -> SyncResult {
    let owner = match flavor {
        Flavor::ReplicaSet => ctx
            .replica_sets
            .get(&key.namespace, &key.name)
            .map(|o| Owner::from_rs(&o)),
        Flavor::ReplicationController => ctx
            .replication_controllers
            .get(&key.namespace, &key.name)
            .map(|o| Owner::from_rc(&o)),
    };
    let (expect, _) = parts(ctx, flavor);
    let Some(owner) = owner else {
        expect.forget(&key);
        return Ok(None);
    };
    let deleting = owner.meta.deletion_timestamp.is_some();
    let uid = owner.meta.uid.clone().unwrap_or_default();
    let owner_ref = owner.owner_ref();
    let pod_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &key.namespace);

    // Claim the active pods of the namespace.
    let mut mine: Vec<Arc<Pod>> = Vec::new();
    for pod in ctx.pods.list(&key.namespace) {
        if !pods::is_active(&pod) {
            continue;
        }
        let matches = owner.selector.matches(&pods::labels(&pod.metadata));
        match claim::decide(&pod.metadata, &uid, matches, deleting) {
            Claim::Owned => mine.push(pod),
            Claim::Adopt => match claim::adopt(&pod_api, &pod.metadata, &owner_ref).await {
                Ok(p) => mine.push(Arc::new(p)),
                Err(e) => {
                    tracing::debug!(pod = ?pod.metadata.name, error = %e, "adopting a pod failed")
                }
            },
            Claim::Release => claim::release(&pod_api, &pod.metadata, &uid).await?,
            Claim::Ignore => {}
        }
    }

    let present: Vec<(String, String)> = mine
        .iter()
        .map(|p| {
            (
                p.metadata.name.clone().unwrap_or_default(),
                p.metadata.uid.clone().unwrap_or_default(),
            )
        })
        .collect();
    let (pending_creates, pending_deletes) = expect.outstanding(&key, &present);
    let counted: Vec<&Pod> = mine
        .iter()
        .map(|p| p.as_ref())
        .filter(|p| {
            !pending_deletes
                .iter()
                .any(|u| Some(u) == p.metadata.uid.as_ref())
        })
        .collect();

    let mut failure = None;
    if !deleting {
        failure = manage::manage(ctx, &owner, &key, &counted, pending_creates).await;
    }

    let now = jiff::Timestamp::now();
    let requeue = write_status(ctx, &owner, &mine, failure, now).await?;
    let (pending_creates, pending_deletes) = expect.outstanding(&key, &present);
    let mut after = requeue;
    if pending_creates > 0 || !pending_deletes.is_empty() {
        let t = expectations::TIMEOUT + Duration::from_secs(1);
        after = Some(after.map_or(t, |a| a.min(t)));
    }
    Ok(after)
}

/// The status a ReplicaSet reports for its pods, zero counts left out as Kubernetes does.
fn calculate_status(
    owner: &Owner,
    pods: &[Arc<Pod>],
    now: jiff::Timestamp,
) -> (Value, Option<Duration>) {
    let template_labels = owner
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let mut fully_labeled = 0;
    let mut ready = 0;
    let mut available = 0;
    let mut next: Option<Duration> = None;
    for p in pods {
        let labels = pods::labels(&p.metadata);
        if template_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
        {
            fully_labeled += 1;
        }
        if pods::is_ready(p) {
            ready += 1;
            if pods::is_available(p, owner.min_ready_seconds, now) {
                available += 1;
            } else if let Some(d) = pods::until_available(p, owner.min_ready_seconds, now) {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
    }
    let nz = |n: i32| if n == 0 { Value::Null } else { json!(n) };
    let status = json!({
        "replicas": pods.len(),
        "fullyLabeledReplicas": nz(fully_labeled),
        "readyReplicas": nz(ready),
        "availableReplicas": nz(available),
        "observedGeneration": owner.meta.generation,
    });
    (status, next)
}

/// Writes the status if it changed; returns when to look again for pods turning available.
async fn write_status(
    ctx: &Ctx,
    owner: &Owner,
    pods: &[Arc<Pod>],
    failure: Option<(&'static str, String)>,
    now: jiff::Timestamp,
) -> Result<Option<Duration>, crate::Error> {
    let (mut status, next) = calculate_status(owner, pods, now);
    let mut conditions: Vec<Value> = owner.status["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c["type"] != "ReplicaFailure")
        .collect();
    if let Some((reason, message)) = failure {
        let old = owner.status["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "ReplicaFailure").cloned());
        let since = old
            .filter(|c| c["status"] == "True")
            .map(|c| c["lastTransitionTime"].clone())
            .unwrap_or_else(|| json!(jiff::Timestamp::now().round(jiff::Unit::Second).ok()));
        conditions.push(json!({
            "type": "ReplicaFailure",
            "status": "True",
            "reason": reason,
            "message": message,
            "lastTransitionTime": since,
        }));
    }
    status["conditions"] = if conditions.is_empty() {
        Value::Null
    } else {
        Value::Array(conditions)
    };
    if normalize(&status) != normalize(&owner.status) {
        // Explicit nulls remove the counts that dropped to zero.
        let patch = json!({ "status": status });
        let pp = PatchParams::default();
        match owner.flavor {
            Flavor::ReplicaSet => {
                let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), owner.namespace());
                api.patch_status(owner.name(), &pp, &Patch::Merge(&patch))
                    .await
                    .map(|_| ())
            }
            Flavor::ReplicationController => {
                let api: Api<ReplicationController> =
                    Api::namespaced(ctx.client.clone(), owner.namespace());
                api.patch_status(owner.name(), &pp, &Patch::Merge(&patch))
                    .await
                    .map(|_| ())
            }
        }
        .or_else(|e| match e {
            kube::Error::Api(s) if s.code == 404 => Ok(()),
            e => Err(e),
        })?;
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::pods::tests::pod;

    #[test]
    fn status_counts_labeled_ready_and_available_pods() {
        let rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some("web".into()),
                generation: Some(3),
                ..Default::default()
            },
            spec: Some(k8s_openapi::api::apps::v1::ReplicaSetSpec {
                min_ready_seconds: Some(10),
                template: Some(PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some([("app".to_string(), "web".to_string())].into()),
                        ..Default::default()
                    }),
                    spec: None,
                }),
                ..Default::default()
            }),
            status: None,
        };
        let owner = Owner::from_rs(&rs);
        let mut labeled = pod("a", "n", "Running", Some(100), 1);
        labeled.metadata.labels = Some([("app".to_string(), "web".to_string())].into());
        let pods = vec![
            Arc::new(labeled),
            Arc::new(pod("b", "n", "Running", Some(195), 1)),
            Arc::new(pod("c", "n", "Pending", None, 1)),
        ];
        let now = jiff::Timestamp::from_second(200).unwrap();
        let (status, next) = calculate_status(&owner, &pods, now);
        assert_eq!(status["replicas"], 3);
        assert_eq!(status["fullyLabeledReplicas"], 1);
        assert_eq!(status["readyReplicas"], 2);
        assert_eq!(status["availableReplicas"], 1);
        assert_eq!(status["observedGeneration"], 3);
        assert_eq!(next, Some(Duration::from_secs(6)));
    }
}
