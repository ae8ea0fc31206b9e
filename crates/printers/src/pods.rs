//! Pod rows: READY, the STATUS reason logic, RESTARTS with the last restart's age, and the
//! wide IP / NODE / NOMINATED NODE / READINESS GATES columns.

use std::collections::HashSet;

use serde_json::Value;

use crate::fields::{age, int_at, list_at, name, opt_str, str_at, timestamp};

/// Status reason of a pod whose node stopped answering (`node.NodeUnreachablePodReason`).
const NODE_UNREACHABLE_REASON: &str = "NodeLost";

/// The sub-object at `ptr` when it is a JSON object (a set Go pointer).
fn present<'a>(obj: &'a Value, ptr: &str) -> Option<&'a Value> {
    obj.pointer(ptr).filter(|v| v.is_object())
}

/// Restart bookkeeping over a group of container statuses.
#[derive(Default, Clone, Copy)]
struct Restarts {
    count: i64,
    last: Option<jiff::Timestamp>,
}

impl Restarts {
    /// Adds a container's restart count and the end of its previous run.
    fn add(&mut self, status: &Value) {
        self.count += int_at(status, "/restartCount").unwrap_or(0);
        if present(status, "/lastState/terminated").is_some() {
            let finished = timestamp(status, "/lastState/terminated/finishedAt");
            if finished > self.last {
                self.last = finished;
            }
        }
    }
}

/// `Init:`-less text for a terminated container without a reason: `Signal:N` or `ExitCode:N`.
fn exit_text(terminated: &Value) -> String {
    match int_at(terminated, "/signal").unwrap_or(0) {
        0 => format!("ExitCode:{}", int_at(terminated, "/exitCode").unwrap_or(0)),
        signal => format!("Signal:{signal}"),
    }
}

/// Whether the pod has a condition of `ty` whose status is `True` (the first of that type counts).
fn condition_true(pod: &Value, ty: &str) -> bool {
    list_at(pod, "/status/conditions")
        .iter()
        .find(|c| str_at(c, "/type") == ty)
        .is_some_and(|c| str_at(c, "/status") == "True")
}

/// NAME, READY, STATUS, RESTARTS, AGE, IP, NODE, NOMINATED NODE, READINESS GATES.
pub(crate) fn pod(pod: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let phase = str_at(pod, "/status/phase");
    let mut reason = match str_at(pod, "/status/reason") {
        "" => phase.to_owned(),
        r => r.to_owned(),
    };
    if list_at(pod, "/status/conditions")
        .iter()
        .any(|c| str_at(c, "/type") == "PodScheduled" && str_at(c, "/reason") == "SchedulingGated")
    {
        reason = "SchedulingGated".to_owned();
    }

    let init_specs = list_at(pod, "/spec/initContainers");
    // Sidecars: init containers that keep running (restartPolicy Always) count as containers.
    let sidecars: HashSet<&str> = init_specs
        .iter()
        .filter(|c| str_at(c, "/restartPolicy") == "Always")
        .map(|c| str_at(c, "/name"))
        .collect();
    let total = crate::fields::count(list_at(pod, "/spec/containers").len())
        + crate::fields::count(sidecars.len());
    let mut ready = 0i64;
    let mut all = Restarts::default();
    let mut sidecar_restarts = Restarts::default();

    let mut initializing = false;
    for (i, status) in list_at(pod, "/status/initContainerStatuses")
        .iter()
        .enumerate()
    {
        all.add(status);
        let is_sidecar = sidecars.contains(str_at(status, "/name"));
        if is_sidecar {
            sidecar_restarts.add(status);
        }
        let terminated = present(status, "/state/terminated");
        let waiting_reason = present(status, "/state/waiting").map(|w| str_at(w, "/reason"));
        if terminated.is_some_and(|t| int_at(t, "/exitCode").unwrap_or(0) == 0) {
            continue;
        }
        if is_sidecar && status.get("started").and_then(Value::as_bool) == Some(true) {
            if status.get("ready").and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
            continue;
        }
        reason = if let Some(t) = terminated {
            match str_at(t, "/reason") {
                "" => format!("Init:{}", exit_text(t)),
                r => format!("Init:{r}"),
            }
        } else if let Some(w) = waiting_reason.filter(|r| !r.is_empty() && *r != "PodInitializing")
        {
            format!("Init:{w}")
        } else {
            format!("Init:{i}/{}", init_specs.len())
        };
        initializing = true;
        break;
    }

    let mut restarts = all;
    if !initializing || condition_true(pod, "Initialized") {
        restarts = sidecar_restarts;
        let mut has_running = false;
        for status in list_at(pod, "/status/containerStatuses").iter().rev() {
            restarts.add(status);
            let waiting = present(status, "/state/waiting").map(|w| str_at(w, "/reason"));
            let terminated = present(status, "/state/terminated");
            if let Some(w) = waiting.filter(|w| !w.is_empty()) {
                reason = w.to_owned();
            } else if let Some(t) = terminated {
                reason = match str_at(t, "/reason") {
                    "" => exit_text(t),
                    r => r.to_owned(),
                };
            } else if status.get("ready").and_then(Value::as_bool) == Some(true)
                && present(status, "/state/running").is_some()
            {
                has_running = true;
                ready += 1;
            }
        }
        // A pod whose finished containers say Completed is still running if one container runs.
        if reason == "Completed" && has_running {
            reason = if condition_true(pod, "Ready") {
                "Running"
            } else {
                "NotReady"
            }
            .to_owned();
        }
    }

    let deleting = pod
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null());
    if deleting && str_at(pod, "/status/reason") == NODE_UNREACHABLE_REASON {
        reason = "Unknown".to_owned();
    } else if deleting && phase != "Failed" && phase != "Succeeded" {
        reason = "Terminating".to_owned();
    }

    let restarts_text = match restarts.last {
        Some(last) if restarts.count != 0 => format!(
            "{} ({} ago)",
            restarts.count,
            crate::duration::since(last, now)
        ),
        _ => restarts.count.to_string(),
    };

    vec![
        name(pod).into(),
        format!("{ready}/{total}").into(),
        reason.into(),
        restarts_text.into(),
        age(pod, now).into(),
        or_none(pod_ip(pod)).into(),
        or_none(str_at(pod, "/spec/nodeName")).into(),
        or_none(str_at(pod, "/status/nominatedNodeName")).into(),
        readiness_gates(pod).into(),
    ]
}

/// The first pod IP (`status.podIPs[0]`, else the legacy `status.podIP`).
fn pod_ip(pod: &Value) -> &str {
    match list_at(pod, "/status/podIPs").first() {
        Some(first) => str_at(first, "/ip"),
        None => opt_str(pod, "/status/podIP").unwrap_or(""),
    }
}

/// The text itself, or `<none>` when empty.
fn or_none(s: &str) -> &str {
    if s.is_empty() {
        "<none>"
    } else {
        s
    }
}

/// `true/total` over the readiness gates, or `<none>` when the pod has none.
fn readiness_gates(pod: &Value) -> String {
    let gates = list_at(pod, "/spec/readinessGates");
    if gates.is_empty() {
        return "<none>".to_owned();
    }
    let met = gates
        .iter()
        .filter(|g| condition_true(pod, str_at(g, "/conditionType")))
        .count();
    format!("{met}/{}", gates.len())
}

#[cfg(test)]
mod tests;
