//! A pod's status as the kubelet reports it: phase, addresses, conditions and one status per
//! container, rendered as the JSON of `PodStatus`.

use std::collections::HashMap;

use serde_json::{json, Value};

/// The state of one container.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Not running yet, or waiting to be restarted.
    Waiting {
        /// `ContainerCreating`, `CrashLoopBackOff`, `ErrImagePull`, ...
        reason: String,
        /// Details for the user.
        message: Option<String>,
    },
    /// Running since a time.
    Running {
        /// RFC 3339 start time.
        started_at: String,
    },
    /// Exited.
    Terminated {
        /// Exit code (128 + signal when killed by one).
        exit_code: i32,
        /// The signal that killed it.
        signal: Option<i32>,
        /// `Completed`, `Error`, `StartError`, ...
        reason: String,
        /// Details for the user.
        message: Option<String>,
        /// RFC 3339 start time.
        started_at: String,
        /// RFC 3339 end time.
        finished_at: String,
    },
}

impl State {
    fn to_json(&self) -> Value {
        match self {
            State::Waiting { reason, message } => {
                let mut w = json!({"reason": reason});
                if let Some(m) = message {
                    w["message"] = json!(m);
                }
                json!({"waiting": w})
            }
            State::Running { started_at } => json!({"running": {"startedAt": started_at}}),
            State::Terminated {
                exit_code,
                signal,
                reason,
                message,
                started_at,
                finished_at,
            } => {
                let mut t = json!({
                    "exitCode": exit_code, "reason": reason,
                    "startedAt": started_at, "finishedAt": finished_at,
                });
                if let Some(s) = signal {
                    t["signal"] = json!(s);
                }
                if let Some(m) = message {
                    t["message"] = json!(m);
                }
                json!({"terminated": t})
            }
        }
    }
}

/// What is known about one container.
#[derive(Debug, Clone)]
pub struct ContainerStatus {
    /// The container's name.
    pub name: String,
    /// Its image, as written in the spec.
    pub image: String,
    /// Current state.
    pub state: State,
    /// The previous run's end, if any.
    pub last_state: Option<State>,
    /// Restarts so far.
    pub restart_count: i32,
    /// Readiness probe verdict (true without a probe once running).
    pub ready: bool,
    /// Started (startup probe passed, or none).
    pub started: bool,
    /// Id of the current run.
    pub container_id: Option<String>,
}

impl ContainerStatus {
    /// A container that has not been created yet.
    pub fn new(name: &str, image: &str) -> ContainerStatus {
        ContainerStatus {
            name: name.into(),
            image: image.into(),
            state: State::Waiting {
                reason: "ContainerCreating".into(),
                message: None,
            },
            last_state: None,
            restart_count: 0,
            ready: false,
            started: false,
            container_id: None,
        }
    }

    fn to_json(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "image": self.image,
            "imageID": format!("portico://images/{}", self.image),
            "ready": self.ready,
            "restartCount": self.restart_count,
            "started": self.started,
            "state": self.state.to_json(),
            "lastState": self.last_state.as_ref().map_or(json!({}), State::to_json),
        });
        if let Some(id) = &self.container_id {
            v["containerID"] = json!(id);
        }
        v
    }

    /// Whether the container is running now.
    pub fn running(&self) -> bool {
        matches!(self.state, State::Running { .. })
    }
}

/// The pod-level picture a worker keeps and publishes.
#[derive(Debug, Clone, Default)]
pub struct PodStatus {
    /// `Pending`, `Running`, `Succeeded` or `Failed`.
    pub phase: String,
    /// The pod's address.
    pub pod_ip: Option<String>,
    /// The node's address.
    pub host_ip: String,
    /// When the node took the pod.
    pub start_time: String,
    /// The sandbox (network, mounts) is up.
    pub sandbox_ready: bool,
    /// Every init container finished successfully.
    pub initialized: bool,
    /// Init containers.
    pub init: Vec<ContainerStatus>,
    /// App containers.
    pub containers: Vec<ContainerStatus>,
    /// Pod-level reason and message (e.g. failed sandbox).
    pub message: Option<String>,
    /// When each condition last changed: type → (status, time).
    pub(crate) transitions: HashMap<String, (bool, String)>,
}

/// The current time in RFC 3339, to the second.
pub fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

impl PodStatus {
    fn condition(&mut self, type_: &str, status: bool, reason: Option<&str>) -> Value {
        let at = match self.transitions.get(type_) {
            Some((s, at)) if *s == status => at.clone(),
            _ => {
                let at = now();
                self.transitions.insert(type_.into(), (status, at.clone()));
                at
            }
        };
        let mut c = json!({
            "type": type_, "status": if status { "True" } else { "False" },
            "lastProbeTime": null, "lastTransitionTime": at,
        });
        if let Some(r) = reason {
            c["reason"] = json!(r);
        }
        c
    }

    /// Whether every app container is ready.
    pub fn containers_ready(&self) -> bool {
        !self.containers.is_empty() && self.containers.iter().all(|c| c.ready)
    }

    /// The `status` object to write.
    pub fn to_json(&mut self) -> Value {
        let terminal = matches!(self.phase.as_str(), "Succeeded" | "Failed");
        let ready = self.containers_ready() && !terminal;
        let not_ready_reason = if terminal {
            "PodCompleted"
        } else {
            "ContainersNotReady"
        };
        let not_init_reason = if terminal {
            "PodCompleted"
        } else {
            "ContainersNotInitialized"
        };
        let conditions = vec![
            self.condition("PodReadyToStartContainers", self.sandbox_ready, None),
            self.condition(
                "Initialized",
                self.initialized,
                (!self.initialized).then_some(not_init_reason),
            ),
            self.condition("Ready", ready, (!ready).then_some(not_ready_reason)),
            self.condition(
                "ContainersReady",
                ready,
                (!ready).then_some(not_ready_reason),
            ),
            self.condition("PodScheduled", true, None),
        ];
        let mut v = json!({
            "phase": self.phase,
            "conditions": conditions,
            "hostIP": self.host_ip,
            "hostIPs": [{"ip": self.host_ip}],
            "startTime": self.start_time,
            "containerStatuses": self.containers.iter().map(ContainerStatus::to_json).collect::<Vec<_>>(),
        });
        if !self.init.is_empty() {
            v["initContainerStatuses"] = json!(self
                .init
                .iter()
                .map(ContainerStatus::to_json)
                .collect::<Vec<_>>());
        }
        if let Some(ip) = &self.pod_ip {
            v["podIP"] = json!(ip);
            v["podIPs"] = json!([{"ip": ip}]);
        }
        if let Some(m) = &self.message {
            v["message"] = json!(m);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_conditions_follow_the_containers() {
        let mut s = PodStatus {
            phase: "Running".into(),
            host_ip: "172.18.0.2".into(),
            pod_ip: Some("10.244.1.2".into()),
            sandbox_ready: true,
            initialized: true,
            containers: vec![ContainerStatus::new("web", "luksa/kubia")],
            ..Default::default()
        };
        let v = s.to_json();
        let ready = v["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap();
        assert_eq!(ready["status"], "False");
        assert_eq!(ready["reason"], "ContainersNotReady");
        assert_eq!(
            v["containerStatuses"][0]["state"]["waiting"]["reason"],
            "ContainerCreating"
        );
        s.containers[0].ready = true;
        s.containers[0].state = State::Running { started_at: now() };
        let v = s.to_json();
        let ready = v["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap();
        assert_eq!(ready["status"], "True");
        assert_eq!(v["podIPs"][0]["ip"], "10.244.1.2");
    }
}
