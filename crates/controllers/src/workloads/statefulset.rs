//! The StatefulSet controller: pods with stable names `<set>-<ordinal>`, `hostname` and
//! `subdomain` (the governing Service) for their per-pod DNS names, created in order and each
//! only once the previous one is Running and Ready (OrderedReady) or all at once (Parallel),
//! removed from the highest ordinal down, replaced when they fail, rolled to a new template
//! from the highest ordinal down (RollingUpdate with partition; OnDelete waits for deletes).
//!
//! Revisions are named `<set>-<hash of the template>` as Kubernetes names its
//! ControllerRevisions; the revision objects themselves are not written.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::{json, Value};

use super::claim::{self, Claim};
use super::hash::{compute_hash, normalize};
use super::pods::{self, owner_ref, pod_from_template};
use super::queue::ObjectKey;
use super::{selector_of, Ctx, SyncResult};
use crate::events::reference;

/// The label naming a StatefulSet pod.
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// The label with a StatefulSet pod's ordinal.
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
/// The label with the revision a pod was made from.
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// The ordinal of `pod_name` in the set `set`, if it is one of its pods.
pub fn ordinal(set: &str, pod_name: &str) -> Option<i32> {
    let rest = pod_name.strip_prefix(set)?.strip_prefix('-')?;
    if rest.is_empty()
        || !rest.bytes().all(|b| b.is_ascii_digit())
        || (rest.len() > 1 && rest.starts_with('0'))
    {
        return None;
    }
    rest.parse().ok()
}

fn running_and_ready(p: &Pod) -> bool {
    pods::phase(p) == "Running" && pods::is_ready(p)
}

fn revision_of(p: &Pod) -> Option<&str> {
    p.metadata
        .labels
        .as_ref()?
        .get(REVISION_LABEL)
        .map(String::as_str)
}

/// What one pass decided to do: at most these pod operations.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Create the pod of this ordinal.
    Create(i32),
    /// Delete the pod of this ordinal.
    Delete(i32),
}

/// Plans the pod operations of one pass over `existing` pods by ordinal (Kubernetes'
/// `updateStatefulSet`): create missing and replace failed pods in order, remove condemned
/// ones from the top, then roll outdated ones from the top down to `partition`.
pub fn plan(
    existing: &BTreeMap<i32, &Pod>,
    start: i32,
    replicas: i32,
    parallel: bool,
    update_revision: &str,
    rolling_partition: Option<i32>,
) -> Vec<Step> {
    let mut steps = Vec::new();
    let end = start + replicas;
    for ord in start..end {
        match existing.get(&ord) {
            None => {
                steps.push(Step::Create(ord));
                if !parallel {
                    return steps;
                }
            }
            Some(p)
                if matches!(pods::phase(p), "Failed" | "Succeeded")
                    && p.metadata.deletion_timestamp.is_none() =>
            {
                steps.push(Step::Delete(ord));
                if !parallel {
                    return steps;
                }
            }
            Some(p)
                if !parallel
                    && (p.metadata.deletion_timestamp.is_some() || !running_and_ready(p)) =>
            {
                return steps
            }
            Some(_) => {}
        }
    }
    if !steps.is_empty() {
        return steps;
    }
    let condemned: Vec<(&i32, &&Pod)> = existing
        .iter()
        .rev()
        .filter(|(o, _)| **o >= end || **o < start)
        .collect();
    for (ord, p) in condemned {
        if p.metadata.deletion_timestamp.is_some() {
            if !parallel {
                return steps;
            }
            continue;
        }
        steps.push(Step::Delete(*ord));
        if !parallel {
            return steps;
        }
    }
    if !steps.is_empty() {
        return steps;
    }
    if let Some(partition) = rolling_partition {
        for ord in (start.max(partition)..end).rev() {
            let Some(p) = existing.get(&ord) else {
                continue;
            };
            if revision_of(p) != Some(update_revision) {
                if p.metadata.deletion_timestamp.is_none() {
                    steps.push(Step::Delete(ord));
                }
                return steps;
            }
            if !running_and_ready(p) {
                return steps;
            }
        }
    }
    steps
}

/// Syncs one StatefulSet.
pub async fn sync(ctx: &Ctx, key: ObjectKey) -> SyncResult {
    let Some(set) = ctx.stateful_sets.get(&key.namespace, &key.name) else {
        return Ok(None);
    };
    let spec = set.spec.clone().unwrap_or_default();
    let selector = selector_of(&Some(&spec.selector));
    let uid = set.metadata.uid.clone().unwrap_or_default();
    let deleting = set.metadata.deletion_timestamp.is_some();
    let owner = owner_ref("apps/v1", "StatefulSet", &set.metadata);
    let pod_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &key.namespace);
    let reference = reference(set.as_ref());

    let mut mine = Vec::new();
    for pod in ctx.pods.list(&key.namespace) {
        let matches = selector.matches(&pods::labels(&pod.metadata))
            && ordinal(&key.name, pod.metadata.name.as_deref().unwrap_or_default()).is_some();
        match claim::decide(&pod.metadata, &uid, matches, deleting) {
            Claim::Owned => mine.push((*pod).clone()),
            Claim::Adopt => match claim::adopt(&pod_api, &pod.metadata, &owner).await {
                Ok(p) => mine.push(p),
                Err(e) => {
                    tracing::debug!(pod = ?pod.metadata.name, error = %e, "adopting a pod failed")
                }
            },
            Claim::Release => claim::release(&pod_api, &pod.metadata, &uid).await?,
            Claim::Ignore => {}
        }
    }
    let by_ordinal: BTreeMap<i32, &Pod> = mine
        .iter()
        .filter_map(|p| ordinal(&key.name, p.metadata.name.as_deref()?).map(|o| (o, p)))
        .collect();

    let status = set.status.clone().unwrap_or_default();
    let update_revision = format!(
        "{}-{}",
        key.name,
        compute_hash(&spec.template, Some(status.collision_count.unwrap_or(0)))
    );
    let start = spec.ordinals.as_ref().and_then(|o| o.start).unwrap_or(0);
    let replicas = spec.replicas.unwrap_or(1);
    let parallel = spec.pod_management_policy.as_deref() == Some("Parallel");
    let strategy = spec.update_strategy.clone().unwrap_or_default();
    let partition = match strategy.type_.as_deref() {
        Some("OnDelete") => None,
        _ => Some(
            strategy
                .rolling_update
                .and_then(|r| r.partition)
                .unwrap_or(0),
        ),
    };

    if !deleting {
        for step in plan(
            &by_ordinal,
            start,
            replicas,
            parallel,
            &update_revision,
            partition,
        ) {
            match step {
                Step::Create(ord) => {
                    let name = format!("{}-{ord}", key.name);
                    let mut pod = pod_from_template(
                        &spec.template,
                        &key.namespace,
                        Some(name.clone()),
                        None,
                        owner.clone(),
                    );
                    let labels = pod.metadata.labels.get_or_insert_with(BTreeMap::new);
                    labels.insert(POD_NAME_LABEL.into(), name.clone());
                    labels.insert(POD_INDEX_LABEL.into(), ord.to_string());
                    labels.insert(REVISION_LABEL.into(), update_revision.clone());
                    if let Some(ps) = pod.spec.as_mut() {
                        ps.hostname = Some(name.clone());
                        ps.subdomain = spec.service_name.clone().filter(|s| !s.is_empty());
                    }
                    match pod_api.create(&PostParams::default(), &pod).await {
                        Ok(_) => {
                            ctx.sts_events
                                .normal(
                                    &reference,
                                    "SuccessfulCreate",
                                    &format!(
                                        "create Pod {name} in StatefulSet {} successful",
                                        key.name
                                    ),
                                )
                                .await
                        }
                        Err(kube::Error::Api(s)) if s.code == 409 => {}
                        Err(e) => {
                            ctx.sts_events
                                .warning(
                                    &reference,
                                    "FailedCreate",
                                    &format!(
                                        "create Pod {name} in StatefulSet {} failed error: {e}",
                                        key.name
                                    ),
                                )
                                .await;
                            return Err(e.into());
                        }
                    }
                }
                Step::Delete(ord) => {
                    let name = format!("{}-{ord}", key.name);
                    match pod_api.delete(&name, &DeleteParams::default()).await {
                        Ok(_) => {
                            ctx.sts_events
                                .normal(
                                    &reference,
                                    "SuccessfulDelete",
                                    &format!(
                                        "delete Pod {name} in StatefulSet {} successful",
                                        key.name
                                    ),
                                )
                                .await
                        }
                        Err(kube::Error::Api(s)) if s.code == 404 => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
    }

    // Status from the pods the cache shows.
    let now = jiff::Timestamp::now();
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let live: Vec<&Pod> = by_ordinal
        .values()
        .copied()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    let count = |f: &dyn Fn(&Pod) -> bool| live.iter().filter(|p| f(p)).count() as i32;
    let ready = count(&|p| pods::is_ready(p));
    let available = count(&|p| pods::is_available(p, min_ready, now));
    let updated = count(&|p| revision_of(p) == Some(update_revision.as_str()));
    let mut current_revision = status
        .current_revision
        .clone()
        .unwrap_or_else(|| update_revision.clone());
    if updated == replicas && ready == replicas && live.len() as i32 == replicas {
        current_revision = update_revision.clone();
    }
    let current = count(&|p| revision_of(p) == Some(current_revision.as_str()));
    let nz = |n: i32| if n == 0 { Value::Null } else { json!(n) };
    let new_status = json!({
        "observedGeneration": set.metadata.generation,
        "replicas": live.len(),
        "readyReplicas": nz(ready),
        "availableReplicas": nz(available),
        "currentReplicas": nz(current),
        "updatedReplicas": nz(updated),
        "currentRevision": current_revision,
        "updateRevision": update_revision,
        "collisionCount": status.collision_count.unwrap_or(0),
    });
    let stored = serde_json::to_value(&status).unwrap_or(Value::Null);
    if normalize(&stored) != normalize(&new_status) {
        let api: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), &key.namespace);
        match api
            .patch_status(
                &key.name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": new_status})),
            )
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(live
        .iter()
        .filter_map(|p| pods::until_available(p, min_ready, now))
        .min())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::pods::tests::pod;

    fn named(name: &str, ready: bool, rev: &str) -> Pod {
        let mut p = pod(
            name,
            "n",
            if ready { "Running" } else { "Pending" },
            ready.then_some(1),
            1,
        );
        p.metadata.labels = Some([(REVISION_LABEL.to_string(), rev.to_string())].into());
        p
    }

    fn map(pods: &[Pod]) -> BTreeMap<i32, &Pod> {
        pods.iter()
            .map(|p| {
                (
                    ordinal("web", p.metadata.name.as_deref().unwrap()).unwrap(),
                    p,
                )
            })
            .collect()
    }

    #[test]
    fn ordinals_are_parsed_strictly() {
        assert_eq!(ordinal("web", "web-0"), Some(0));
        assert_eq!(ordinal("web", "web-12"), Some(12));
        assert_eq!(ordinal("web", "web-01"), None);
        assert_eq!(ordinal("web", "web-x"), None);
        assert_eq!(ordinal("web", "webby-1"), None);
    }

    #[test]
    fn ordered_ready_creates_one_at_a_time() {
        let none: Vec<Pod> = vec![];
        assert_eq!(
            plan(&map(&none), 0, 3, false, "r", Some(0)),
            vec![Step::Create(0)]
        );
        let one_pending = vec![named("web-0", false, "r")];
        assert!(plan(&map(&one_pending), 0, 3, false, "r", Some(0)).is_empty());
        let one_ready = vec![named("web-0", true, "r")];
        assert_eq!(
            plan(&map(&one_ready), 0, 3, false, "r", Some(0)),
            vec![Step::Create(1)]
        );
        assert_eq!(
            plan(&map(&none), 0, 3, true, "r", Some(0)),
            vec![Step::Create(0), Step::Create(1), Step::Create(2)]
        );
    }

    #[test]
    fn scale_down_and_updates_go_from_the_highest_ordinal() {
        let pods = vec![
            named("web-0", true, "r"),
            named("web-1", true, "r"),
            named("web-2", true, "r"),
        ];
        assert_eq!(
            plan(&map(&pods), 0, 1, false, "r", Some(0)),
            vec![Step::Delete(2)]
        );
        assert_eq!(
            plan(&map(&pods), 0, 3, false, "new", Some(0)),
            vec![Step::Delete(2)]
        );
        // Partition 2 keeps ordinals 0 and 1 at the old revision.
        let rolled = vec![
            named("web-0", true, "r"),
            named("web-1", true, "r"),
            named("web-2", true, "new"),
        ];
        assert!(plan(&map(&rolled), 0, 3, false, "new", Some(2)).is_empty());
        assert_eq!(
            plan(&map(&rolled), 0, 3, false, "new", Some(0)),
            vec![Step::Delete(1)]
        );
        // OnDelete never deletes for an update.
        assert!(plan(&map(&pods), 0, 3, false, "new", None).is_empty());
    }
}
