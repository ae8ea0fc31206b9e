//! What happens when a container ends, a probe changes its verdict, or the pod stops:
//! restarts with the kubelet's back-off, liveness kills, and stopping every container.

use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::sync::mpsc;

use super::{reference, Ev, Worker};
use crate::pods::status::{now, State};
use crate::probe;
use crate::runtime;

/// First back-off after a crash that follows a restart, and the cap (the kubelet's).
pub(super) const BACKOFF_FIRST: Duration = Duration::from_secs(10);
const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// A run this long resets the back-off.
const BACKOFF_RESET: Duration = Duration::from_secs(600);

impl Worker {
    pub(crate) async fn handle_event(&mut self, ev: Ev) {
        match ev {
            Ev::Exited {
                name,
                restart,
                code,
                signal,
            } => self.exited(&name, restart, code, signal).await,
            Ev::Restart { name, restart } => {
                let current = self.runs.get(&name).map_or(-1, |r| r.restart);
                let alive = self.runs.get(&name).is_some_and(|r| r.alive);
                if current == restart && !alive && !self.deleting {
                    self.start(&name, false).await;
                }
            }
            Ev::Probe(p) => self.probe_event(p).await,
        }
    }

    async fn exited(&mut self, name: &str, restart: i32, code: i32, signal: Option<i32>) {
        let Some(run) = self.runs.get_mut(name) else {
            return;
        };
        if run.restart != restart {
            return;
        }
        run.alive = false;
        run.probes.cancel();
        let _ = run.done.send(true);
        let init = run.init;
        let ran = run.started.elapsed();
        let started_at = run.started_at.clone();
        let liveness_kill = run.liveness_kill;
        if ran >= BACKOFF_RESET {
            run.backoff = Duration::ZERO;
        }
        let delay = run.backoff;
        run.backoff = if delay.is_zero() {
            BACKOFF_FIRST
        } else {
            (delay * 2).min(BACKOFF_MAX)
        };
        if let Ok(mut live) = self.handle.live.lock() {
            if let Some(c) = live.containers.get_mut(name) {
                c.running = false;
            }
        }
        if let Some(st) = self.status_mut(name, init) {
            if !matches!(st.state, State::Terminated { .. }) {
                st.state = State::Terminated {
                    exit_code: code,
                    signal,
                    reason: if code == 0 {
                        "Completed".into()
                    } else {
                        "Error".into()
                    },
                    message: None,
                    started_at,
                    finished_at: now(),
                };
            }
            st.ready = false;
            st.started = false;
        }
        if self.deleting || self.stopping {
            return;
        }
        let policy = if init {
            // Init containers are retried unless the pod never restarts.
            match self
                .pod
                .spec
                .as_ref()
                .and_then(|s| s.restart_policy.as_deref())
            {
                Some("Never") => "Never",
                _ => "OnFailure",
            }
        } else {
            match self
                .pod
                .spec
                .as_ref()
                .and_then(|s| s.restart_policy.as_deref())
            {
                Some("Never") => "Never",
                Some("OnFailure") => "OnFailure",
                _ => "Always",
            }
        };
        let again = policy == "Always" || (policy == "OnFailure" && code != 0);
        if !again {
            if init && code != 0 {
                self.status.phase = "Failed".into();
            }
            return;
        }
        let _ = liveness_kill;
        if delay.is_zero() {
            self.start(name, init).await;
            return;
        }
        let pod_ref = reference(&self.pod, Some(name));
        let msg = format!(
            "back-off {} restarting failed container={name} pod={}_{}({})",
            human(delay),
            self.handle.name,
            self.handle.namespace,
            self.handle.uid
        );
        if let Some(st) = self.status_mut(name, init) {
            st.last_state = Some(st.state.clone());
            st.state = State::Waiting {
                reason: "CrashLoopBackOff".into(),
                message: Some(msg),
            };
        }
        self.m
            .recorder
            .warning(
                &pod_ref,
                "BackOff",
                &format!(
                    "Back-off restarting failed container {name} in pod {}_{}({})",
                    self.handle.name, self.handle.namespace, self.handle.uid
                ),
            )
            .await;
        self.schedule_restart(name, restart, delay);
    }

    async fn probe_event(&mut self, p: probe::ProbeEvent) {
        let name = p.container.clone();
        let pod_ref = reference(&self.pod, Some(&name));
        if let Some(msg) = &p.message {
            self.m.recorder.warning(&pod_ref, "Unhealthy", msg).await;
        }
        let alive = self.runs.get(&name).is_some_and(|r| r.alive);
        if !alive || !p.changed {
            return;
        }
        match p.kind {
            probe::Kind::Readiness => {
                if let Some(st) = self.status_mut(&name, false) {
                    st.ready = p.result;
                }
            }
            probe::Kind::Startup => {
                if let Some(st) = self.status_mut(&name, false) {
                    st.started = p.result;
                }
                if !p.result {
                    self.kill_for_restart(&name, "failed startup probe").await;
                }
            }
            probe::Kind::Liveness => {
                if !p.result {
                    self.kill_for_restart(&name, "failed liveness probe").await;
                }
            }
        }
    }

    async fn kill_for_restart(&mut self, name: &str, why: &str) {
        let grace = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.termination_grace_period_seconds)
            .unwrap_or(30)
            .max(0) as u64;
        let Some(run) = self.runs.get_mut(name) else {
            return;
        };
        run.liveness_kill = true;
        run.probes.cancel();
        let pid = run.pid;
        let done = run.done.subscribe();
        let pod_ref = reference(&self.pod, Some(name));
        self.m
            .recorder
            .normal(
                &pod_ref,
                "Killing",
                &format!("Container {name} {why}, will be restarted"),
            )
            .await;
        runtime::signal_group(pid, Signal::SIGTERM);
        tokio::spawn(async move {
            let mut done = done;
            let wait = async {
                while !*done.borrow() {
                    if done.changed().await.is_err() {
                        return;
                    }
                }
            };
            if tokio::time::timeout(Duration::from_secs(grace), wait)
                .await
                .is_err()
            {
                runtime::signal_group(pid, Signal::SIGKILL);
            }
        });
    }

    /// SIGTERM to every running container, SIGKILL to what is left after `grace`.
    pub(crate) async fn stop_all(&mut self, grace: Duration, events_rx: &mut mpsc::Receiver<Ev>) {
        let mut alive: Vec<(String, u32)> = Vec::new();
        for (name, run) in &self.runs {
            run.probes.cancel();
            if run.alive {
                alive.push((name.clone(), run.pid));
            }
        }
        if alive.is_empty() {
            return;
        }
        for (name, pid) in &alive {
            if self.deleting {
                let pod_ref = reference(&self.pod, Some(name));
                self.m
                    .recorder
                    .normal(&pod_ref, "Killing", &format!("Stopping container {name}"))
                    .await;
            }
            runtime::signal_group(*pid, Signal::SIGTERM);
        }
        self.reap_until(tokio::time::Instant::now() + grace, events_rx)
            .await;
        for run in self.runs.values() {
            if run.alive {
                runtime::signal_group(run.pid, Signal::SIGKILL);
            }
        }
        self.reap_until(
            tokio::time::Instant::now() + Duration::from_secs(5),
            events_rx,
        )
        .await;
    }
}

impl Worker {
    /// Takes container exits from `events_rx` until none is alive or `deadline` passes.
    async fn reap_until(
        &mut self,
        deadline: tokio::time::Instant,
        events_rx: &mut mpsc::Receiver<Ev>,
    ) {
        while self.runs.values().any(|r| r.alive) {
            match tokio::time::timeout_at(deadline, events_rx.recv()).await {
                Ok(Some(Ev::Exited {
                    name,
                    restart,
                    code,
                    signal,
                })) => self.exited(&name, restart, code, signal).await,
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }
}

/// A duration as Go prints it (`10s`, `1m20s`, `5m0s`).
fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else {
        format!("{}m{}s", s / 60, s % 60)
    }
}
