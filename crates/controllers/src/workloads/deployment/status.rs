//! Deployment status: counts from its ReplicaSets and the Available and Progressing
//! conditions (Kubernetes' `calculateStatus` and `syncRolloutStatus`).

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{available, max_unavailable, ready, replicas, status_replicas};

/// Progressing reason: the new ReplicaSet is fully available.
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
/// Progressing reason: the rollout advanced.
pub const RS_UPDATED: &str = "ReplicaSetUpdated";
/// Progressing reason: a new ReplicaSet was created.
pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
/// Progressing reason: an existing new ReplicaSet was found.
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
/// Progressing reason: no progress within progressDeadlineSeconds.
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
/// Progressing reason: paused.
pub const PAUSED: &str = "DeploymentPaused";
/// Progressing reason: resumed.
pub const RESUMED: &str = "DeploymentResumed";

/// Now, to the second, as Kubernetes writes times.
pub fn now() -> Time {
    let t = Timestamp::now();
    Time(t.round(jiff::Unit::Second).unwrap_or(t))
}

/// A condition stamped now.
pub fn condition(type_: &str, status: &str, reason: &str, message: String) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(now()),
        last_transition_time: Some(now()),
    }
}

/// The condition of `type_`.
pub fn get<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// Removes the condition of `type_`.
pub fn remove(status: &mut DeploymentStatus, type_: &str) {
    if let Some(cs) = status.conditions.as_mut() {
        cs.retain(|c| c.type_ != type_);
    }
}

/// Sets a condition unless one with the same status and reason exists; keeps the transition
/// time when only the reason changes.
pub fn set(status: &mut DeploymentStatus, mut cond: DeploymentCondition) {
    if let Some(cur) = get(status, &cond.type_) {
        if cur.status == cond.status && cur.reason == cond.reason {
            return;
        }
        if cur.status == cond.status {
            cond.last_transition_time = cur.last_transition_time.clone();
        }
    }
    remove(status, &cond.type_);
    status.conditions.get_or_insert_with(Vec::new).push(cond);
}

fn nz(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

/// The counts and the Available condition for `all` ReplicaSets (`new` among them).
pub fn calculate(
    d: &Deployment,
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
    working: &DeploymentStatus,
) -> DeploymentStatus {
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let avail: i32 = all.iter().map(|r| available(r)).sum();
    let total: i32 = all.iter().map(|r| replicas(r)).sum();
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: nz(all.iter().map(|r| status_replicas(r)).sum()),
        updated_replicas: nz(new.map(status_replicas).unwrap_or(0)),
        ready_replicas: nz(all.iter().map(|r| ready(r)).sum()),
        available_replicas: nz(avail),
        unavailable_replicas: nz((total - avail).max(0)),
        collision_count: working.collision_count,
        conditions: working.conditions.clone(),
    };
    if avail >= desired - max_unavailable(d) {
        set(
            &mut status,
            condition(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.".into(),
            ),
        );
    } else {
        set(
            &mut status,
            condition(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.".into(),
            ),
        );
    }
    status
}

/// Whether the rollout is done: every replica updated and available.
pub fn complete(d: &Deployment, s: &DeploymentStatus) -> bool {
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    s.updated_replicas.unwrap_or(0) == desired
        && s.replicas.unwrap_or(0) == desired
        && s.available_replicas.unwrap_or(0) == desired
        && s.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

fn progressing(old: &DeploymentStatus, new: &DeploymentStatus) -> bool {
    let v = |o: Option<i32>| o.unwrap_or(0);
    let old_old = v(old.replicas) - v(old.updated_replicas);
    let new_old = v(new.replicas) - v(new.updated_replicas);
    v(new.updated_replicas) > v(old.updated_replicas)
        || new_old < old_old
        || v(new.ready_replicas) > v(old.ready_replicas)
        || v(new.available_replicas) > v(old.available_replicas)
}

/// The status after a rollout step, with the Progressing condition brought up to date, and
/// when to look again for a progress deadline.
pub fn rollout(
    d: &Deployment,
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
    working: &DeploymentStatus,
) -> (DeploymentStatus, Option<Duration>) {
    let original = d.status.clone().unwrap_or_default();
    let mut status = calculate(d, all, new, working);
    let deadline = d.spec.as_ref().and_then(|s| s.progress_deadline_seconds);
    let new_name = new
        .and_then(|r| r.metadata.name.clone())
        .unwrap_or_default();
    if deadline.is_none() {
        remove(&mut status, "Progressing");
    }
    let current = get(&status, "Progressing").cloned();
    let is_complete = status.replicas == status.updated_replicas
        && current.as_ref().and_then(|c| c.reason.as_deref()) == Some(NEW_RS_AVAILABLE);
    let mut requeue = None;
    if let (Some(deadline), false) = (deadline, is_complete) {
        if complete(d, &status) {
            set(
                &mut status,
                condition(
                    "Progressing",
                    "True",
                    NEW_RS_AVAILABLE,
                    format!("ReplicaSet \"{new_name}\" has successfully progressed."),
                ),
            );
        } else if progressing(&original, &status) {
            let mut c = condition(
                "Progressing",
                "True",
                RS_UPDATED,
                format!("ReplicaSet \"{new_name}\" is progressing."),
            );
            if let Some(cur) = &current {
                if cur.status == "True" {
                    c.last_transition_time = cur.last_transition_time.clone();
                }
            }
            remove(&mut status, "Progressing");
            status.conditions.get_or_insert_with(Vec::new).push(c);
        } else if let Some(cur) = current.filter(|c| {
            c.reason.as_deref() != Some(TIMED_OUT) && c.reason.as_deref() != Some(NEW_RS_AVAILABLE)
        }) {
            let from = cur
                .last_update_time
                .as_ref()
                .map(|t| t.0.as_second())
                .unwrap_or(0);
            let until = from + i64::from(deadline);
            let now = Timestamp::now().as_second();
            if now > until {
                set(
                    &mut status,
                    condition(
                        "Progressing",
                        "False",
                        TIMED_OUT,
                        format!("ReplicaSet \"{new_name}\" has timed out progressing."),
                    ),
                );
            } else {
                requeue = Some(Duration::from_secs((until - now + 1) as u64));
            }
        }
    }
    (status, requeue)
}
