//! Probe workers: one task per (container, probe kind) that runs the probe every
//! `periodSeconds`, counts consecutive results against `successThreshold` and
//! `failureThreshold`, and reports to the pod runtime.
//!
//! Timing follows the kubelet's worker: the first probe runs when the worker starts and then
//! on every period tick; ticks before `initialDelaySeconds` (counted from the container's
//! start) are skipped; liveness and readiness ticks are skipped until the startup probe has
//! succeeded, and readiness probes right away when it does. A liveness worker stops after it
//! reports the container unhealthy, and a startup worker after it reports either way: the
//! container is then restarted and gets new workers.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::pending;
use k8s_openapi::api::core::v1::{Container, Probe};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::{check_within, Exec, Kind, Outcome, Timing};

/// How many times a probe that could not run is retried within one period.
const RETRIES: usize = 3;

/// What a worker tells the pod runtime.
///
/// A worker sends one on every failed or errored probe (with the event text) and on every
/// change of state once a threshold is reached. Readiness starts unready and liveness
/// healthy, and startup starts not started; the first event comes only when something
/// happens. Act on `changed` events: readiness `result` is the container's Ready
/// condition, liveness `false` means restart it ("Container X failed liveness probe, will
/// be restarted"), startup `true` means `started: true` and `false` means restart it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeEvent {
    /// The container's name.
    pub container: String,
    /// Which probe.
    pub kind: Kind,
    /// The probe's state after this run: ready, alive, or started.
    pub result: bool,
    /// Whether `result` just changed (a threshold was reached).
    pub changed: bool,
    /// For a failed or errored run, the `Unhealthy` Warning event's message, e.g.
    /// `Readiness probe failed: HTTP probe failed with statuscode: 500`.
    pub message: Option<String>,
}

/// One probe of one container, ready to run with [`Worker::start`].
pub struct Worker {
    kind: Kind,
    probe: Probe,
    pod_ip: IpAddr,
    container: Container,
    exec: Arc<dyn Exec>,
    started_at: std::time::Instant,
    report: mpsc::Sender<ProbeEvent>,
    cancel: CancellationToken,
    unit: Duration,
    wait_for: Option<watch::Receiver<bool>>,
    announce: Option<watch::Sender<bool>>,
}

impl Worker {
    /// A worker for `probe` of `container` (started at `started_at`) in a pod at `pod_ip`;
    /// it reports on `report` and stops when `cancel` fires.
    #[allow(clippy::too_many_arguments)] // mirrors what the kubelet's worker is made of
    pub fn new(
        kind: Kind,
        probe: Probe,
        pod_ip: IpAddr,
        container: Container,
        exec: Arc<dyn Exec>,
        started_at: std::time::Instant,
        report: mpsc::Sender<ProbeEvent>,
        cancel: CancellationToken,
    ) -> Worker {
        Worker {
            kind,
            probe,
            pod_ip,
            container,
            exec,
            started_at,
            report,
            cancel,
            unit: Duration::from_secs(1),
            wait_for: None,
            announce: None,
        }
    }

    /// Holds this worker back until `started` turns true (a liveness or readiness probe of a
    /// container that has a startup probe).
    pub fn after_startup(mut self, started: watch::Receiver<bool>) -> Worker {
        self.wait_for = Some(started);
        self
    }

    /// Sets `started` to true when this (startup) probe succeeds.
    pub fn announce_startup(mut self, started: watch::Sender<bool>) -> Worker {
        self.announce = Some(started);
        self
    }

    /// Counts the probe's seconds in `unit` instead (tests run on milliseconds).
    pub(crate) fn with_time_unit(mut self, unit: Duration) -> Worker {
        self.unit = unit;
        self
    }

    /// Runs the worker on the Tokio runtime.
    pub fn start(self) -> JoinHandle<()> {
        tokio::spawn(self.run())
    }

    /// [`Worker::new`] and [`Worker::start`] in one, without startup gating.
    #[allow(clippy::too_many_arguments)] // the parameters of `new`
    pub fn spawn(
        kind: Kind,
        probe: Probe,
        pod_ip: IpAddr,
        container: Container,
        exec: Arc<dyn Exec>,
        started_at: std::time::Instant,
        report: mpsc::Sender<ProbeEvent>,
        cancel: CancellationToken,
    ) -> JoinHandle<()> {
        Worker::new(
            kind, probe, pod_ip, container, exec, started_at, report, cancel,
        )
        .start()
    }

    async fn run(self) {
        let Worker {
            kind,
            probe,
            pod_ip,
            container,
            exec,
            started_at,
            report,
            cancel,
            unit,
            mut wait_for,
            announce,
        } = self;
        let timing = Timing::of(&probe, unit);
        let mut tracker = Tracker::new(kind, &timing);
        let mut ticker = tokio::time::interval(timing.period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let started_at = tokio::time::Instant::from_std(started_at);
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return,
                _ = ticker.tick() => {}
                _ = gate_opened(&mut wait_for) => {
                    if kind != Kind::Readiness {
                        continue;
                    }
                    // The kubelet probes readiness as soon as the container has started.
                    ticker.reset();
                }
            }
            if !gate_is_open(&wait_for) || started_at.elapsed() < timing.initial_delay {
                continue;
            }
            let outcome = tokio::select! {
                biased;
                _ = cancel.cancelled() => return,
                outcome = probe_with_retries(&probe, pod_ip, &container, exec.as_ref(), timing.timeout) => outcome,
            };
            tracing::debug!(container = %container.name, %kind, ?outcome, "probe ran");
            let (message, step) = match outcome {
                Outcome::Success => (None, tracker.observe(true)),
                Outcome::Failure(text) => (
                    Some(format!("{kind} probe failed: {text}")),
                    tracker.observe(false),
                ),
                Outcome::Unknown(text) => (
                    Some(format!(
                        "{kind} probe errored and resulted in unknown state: {text}"
                    )),
                    Step::default(),
                ),
            };
            if step.changed || message.is_some() {
                let event = ProbeEvent {
                    container: container.name.clone(),
                    kind,
                    result: tracker.healthy(),
                    changed: step.changed,
                    message,
                };
                if report.send(event).await.is_err() {
                    return;
                }
            }
            if step.reached {
                if kind == Kind::Startup && tracker.healthy() {
                    if let Some(started) = &announce {
                        started.send_replace(true);
                    }
                }
                if kind == Kind::Startup || (kind == Kind::Liveness && !tracker.healthy()) {
                    return;
                }
            }
        }
    }
}

/// Starts the workers for every probe `container` has, for a container that starts now.
/// With a startup probe, liveness and readiness wait for it to succeed. A container without
/// a readiness probe is ready once it runs (and has started); the caller decides that, no
/// worker is spawned for it. The workers end when `cancel` fires (or on their own, see
/// [`ProbeEvent`]); the handles may be dropped.
pub fn spawn_all(
    container: &Container,
    pod_ip: IpAddr,
    exec: Arc<dyn Exec>,
    report: mpsc::Sender<ProbeEvent>,
    cancel: CancellationToken,
) -> Vec<JoinHandle<()>> {
    let target = Target {
        container,
        pod_ip,
        exec,
        started_at: std::time::Instant::now(),
        report,
        cancel,
    };
    spawn_probes_in(target, Duration::from_secs(1))
}

/// The per-container parts every worker of a container shares.
pub(crate) struct Target<'a> {
    pub container: &'a Container,
    pub pod_ip: IpAddr,
    pub exec: Arc<dyn Exec>,
    pub started_at: std::time::Instant,
    pub report: mpsc::Sender<ProbeEvent>,
    pub cancel: CancellationToken,
}

/// [`spawn_all`] for a container started at `target.started_at`, counting seconds in `unit`.
pub(crate) fn spawn_probes_in(target: Target<'_>, unit: Duration) -> Vec<JoinHandle<()>> {
    let worker = |kind: Kind, probe: &Probe| {
        Worker::new(
            kind,
            probe.clone(),
            target.pod_ip,
            target.container.clone(),
            target.exec.clone(),
            target.started_at,
            target.report.clone(),
            target.cancel.clone(),
        )
        .with_time_unit(unit)
    };
    let mut handles = Vec::new();
    let mut started = None;
    if let Some(probe) = &target.container.startup_probe {
        let (announce, wait) = watch::channel(false);
        handles.push(
            worker(Kind::Startup, probe)
                .announce_startup(announce)
                .start(),
        );
        started = Some(wait);
    }
    for (kind, probe) in [
        (Kind::Liveness, &target.container.liveness_probe),
        (Kind::Readiness, &target.container.readiness_probe),
    ] {
        if let Some(probe) = probe {
            let mut w = worker(kind, probe);
            if let Some(wait) = &started {
                w = w.after_startup(wait.clone());
            }
            handles.push(w.start());
        }
    }
    handles
}

/// Runs the probe, again up to [`RETRIES`] times in all while it cannot run.
async fn probe_with_retries(
    probe: &Probe,
    pod_ip: IpAddr,
    container: &Container,
    exec: &dyn Exec,
    timeout: Duration,
) -> Outcome {
    let mut outcome = Outcome::Unknown(String::new());
    for _ in 0..RETRIES {
        outcome = check_within(probe, pod_ip, container, exec, timeout).await;
        if !matches!(outcome, Outcome::Unknown(_)) {
            break;
        }
    }
    outcome
}

/// Whether the startup gate (if any) is open.
fn gate_is_open(gate: &Option<watch::Receiver<bool>>) -> bool {
    gate.as_ref().is_none_or(|rx| *rx.borrow())
}

/// Completes when a closed gate opens; never completes otherwise.
async fn gate_opened(gate: &mut Option<watch::Receiver<bool>>) {
    let Some(rx) = gate else {
        return pending().await;
    };
    if *rx.borrow_and_update() {
        return pending().await;
    }
    loop {
        if rx.changed().await.is_err() {
            // The startup worker ended without success: the container will be restarted.
            return pending().await;
        }
        if *rx.borrow_and_update() {
            return;
        }
    }
}

/// What one result did to the state.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Step {
    /// A threshold was reached (the state was set, changed or not).
    reached: bool,
    /// The state changed.
    changed: bool,
}

/// Consecutive results against the thresholds, as the kubelet's worker counts them.
#[derive(Debug)]
struct Tracker {
    state: Option<bool>,
    last: Option<bool>,
    run: u32,
    success_threshold: u32,
    failure_threshold: u32,
}

impl Tracker {
    fn new(kind: Kind, timing: &Timing) -> Tracker {
        Tracker {
            state: match kind {
                Kind::Readiness => Some(false),
                Kind::Liveness => Some(true),
                Kind::Startup => None,
            },
            last: None,
            run: 0,
            success_threshold: timing.success_threshold,
            failure_threshold: timing.failure_threshold,
        }
    }

    fn observe(&mut self, ok: bool) -> Step {
        if self.last == Some(ok) {
            self.run = self.run.saturating_add(1);
        } else {
            self.last = Some(ok);
            self.run = 1;
        }
        let threshold = if ok {
            self.success_threshold
        } else {
            self.failure_threshold
        };
        if self.run < threshold {
            return Step::default();
        }
        let changed = self.state != Some(ok);
        self.state = Some(ok);
        Step {
            reached: true,
            changed,
        }
    }

    fn healthy(&self) -> bool {
        self.state.unwrap_or(false)
    }
}

#[cfg(test)]
mod tests;
