//! Worker tests: thresholds on their own, then real workers on a millisecond clock (one
//! "second" of the probe spec is [`UNIT`]) with scripted `exec` probes.

use std::time::Instant;

use k8s_openapi::api::core::v1::ExecAction;

use super::super::exec::tests::{Answer, Scripted};
use super::*;

const UNIT: Duration = Duration::from_millis(20);
const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

fn timing(success: u32, failure: u32) -> Timing {
    Timing {
        initial_delay: Duration::ZERO,
        period: Duration::from_secs(10),
        timeout: Duration::from_secs(1),
        success_threshold: success,
        failure_threshold: failure,
    }
}

#[test]
fn readiness_needs_consecutive_results() {
    let mut t = Tracker::new(Kind::Readiness, &timing(2, 3));
    assert!(!t.healthy(), "readiness starts unready");
    assert_eq!(t.observe(true), Step::default());
    assert_eq!(
        t.observe(false),
        Step::default(),
        "a failure resets the success run"
    );
    assert_eq!(t.observe(true), Step::default());
    assert_eq!(
        t.observe(true),
        Step {
            reached: true,
            changed: true
        }
    );
    assert!(t.healthy());
    assert_eq!(
        t.observe(true),
        Step {
            reached: true,
            changed: false
        }
    );
    assert_eq!(t.observe(false), Step::default());
    assert_eq!(t.observe(false), Step::default());
    assert_eq!(
        t.observe(false),
        Step {
            reached: true,
            changed: true
        }
    );
    assert!(!t.healthy());
}

#[test]
fn liveness_starts_healthy_and_startup_not_started() {
    let mut live = Tracker::new(Kind::Liveness, &timing(1, 1));
    assert!(live.healthy());
    assert_eq!(
        live.observe(true),
        Step {
            reached: true,
            changed: false
        }
    );
    assert_eq!(
        live.observe(false),
        Step {
            reached: true,
            changed: true
        }
    );
    let mut startup = Tracker::new(Kind::Startup, &timing(1, 3));
    assert!(!startup.healthy());
    assert_eq!(
        startup.observe(true),
        Step {
            reached: true,
            changed: true
        }
    );
    assert!(startup.healthy());
}

fn exec_probe(command: &str, period: i32, success: i32, failure: i32) -> Probe {
    Probe {
        exec: Some(ExecAction {
            command: Some(vec![command.to_string()]),
        }),
        period_seconds: Some(period),
        success_threshold: Some(success),
        failure_threshold: Some(failure),
        ..Default::default()
    }
}

fn container(name: &str) -> Container {
    Container {
        name: name.into(),
        ..Default::default()
    }
}

/// A worker on the millisecond clock.
fn worker(
    kind: Kind,
    probe: Probe,
    exec: Arc<Scripted>,
    report: mpsc::Sender<ProbeEvent>,
    cancel: CancellationToken,
) -> Worker {
    Worker::new(
        kind,
        probe,
        LOCAL,
        container("app"),
        exec,
        Instant::now(),
        report,
        cancel,
    )
    .with_time_unit(UNIT)
}

async fn next(events: &mut mpsc::Receiver<ProbeEvent>) -> ProbeEvent {
    tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("an event within 5s")
        .expect("the channel open")
}

fn event(kind: Kind, result: bool, changed: bool, message: Option<&str>) -> ProbeEvent {
    ProbeEvent {
        container: "app".into(),
        kind,
        result,
        changed,
        message: message.map(String::from),
    }
}

#[tokio::test]
async fn readiness_reports_failures_and_transitions() {
    let exec = Arc::new(Scripted::with(
        "ready",
        vec![
            Answer::Exit(1, "not yet"),
            Answer::Exit(0, ""),
            Answer::Exit(0, ""),
            Answer::Exit(1, "a"),
            Answer::Exit(1, "b"),
            Answer::Exit(0, ""),
        ],
    ));
    let (tx, mut rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let handle = worker(
        Kind::Readiness,
        exec_probe("ready", 1, 2, 2),
        exec.clone(),
        tx,
        cancel.clone(),
    )
    .start();
    let r = Kind::Readiness;
    assert_eq!(
        next(&mut rx).await,
        event(r, false, false, Some("Readiness probe failed: not yet"))
    );
    assert_eq!(next(&mut rx).await, event(r, true, true, None));
    assert_eq!(
        next(&mut rx).await,
        event(r, true, false, Some("Readiness probe failed: a"))
    );
    assert_eq!(
        next(&mut rx).await,
        event(r, false, true, Some("Readiness probe failed: b"))
    );
    assert_eq!(next(&mut rx).await, event(r, true, true, None));
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn liveness_fails_after_the_threshold_and_stops() {
    let exec = Arc::new(Scripted::with("alive", vec![Answer::Exit(1, "dead")]));
    let (tx, mut rx) = mpsc::channel(16);
    let handle = worker(
        Kind::Liveness,
        exec_probe("alive", 1, 1, 3),
        exec.clone(),
        tx,
        CancellationToken::new(),
    )
    .start();
    let l = Kind::Liveness;
    let failed = Some("Liveness probe failed: dead");
    assert_eq!(next(&mut rx).await, event(l, true, false, failed));
    assert_eq!(next(&mut rx).await, event(l, true, false, failed));
    assert_eq!(next(&mut rx).await, event(l, false, true, failed));
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        exec.calls_of("alive").len(),
        3,
        "no probing after the restart decision"
    );
}

#[tokio::test]
async fn probes_that_cannot_run_are_retried_and_not_counted() {
    let exec = Arc::new(Scripted::with(
        "alive",
        vec![Answer::Error(std::io::ErrorKind::Other)],
    ));
    let (tx, mut rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let handle = worker(
        Kind::Liveness,
        exec_probe("alive", 1, 1, 1),
        exec.clone(),
        tx,
        cancel.clone(),
    )
    .start();
    let errored = Some("Liveness probe errored and resulted in unknown state: runner broke");
    assert_eq!(
        next(&mut rx).await,
        event(Kind::Liveness, true, false, errored)
    );
    assert_eq!(
        next(&mut rx).await,
        event(Kind::Liveness, true, false, errored)
    );
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .unwrap()
        .unwrap();
    assert!(exec.calls_of("alive").len() >= 6, "three tries per period");
}

#[tokio::test]
async fn initial_delay_holds_the_first_probe() {
    let exec = Arc::new(Scripted::with("ready", vec![Answer::Exit(0, "")]));
    let (tx, mut rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let mut probe = exec_probe("ready", 1, 1, 3);
    probe.initial_delay_seconds = Some(5);
    let started = Instant::now();
    let _handle = Worker::new(
        Kind::Readiness,
        probe,
        LOCAL,
        container("app"),
        exec.clone(),
        started,
        tx,
        cancel.clone(),
    )
    .with_time_unit(UNIT)
    .start();
    assert_eq!(
        next(&mut rx).await,
        event(Kind::Readiness, true, true, None)
    );
    let first = exec.calls_of("ready")[0];
    assert!(
        first.duration_since(started) >= UNIT * 5,
        "probed after {:?}",
        first.duration_since(started)
    );
    cancel.cancel();
}

#[tokio::test]
async fn startup_gates_liveness_and_readiness() {
    let exec = Arc::new(Scripted::with(
        "started",
        vec![
            Answer::Exit(1, "booting"),
            Answer::Exit(1, "booting"),
            Answer::Exit(0, ""),
        ],
    ));
    exec.set("ready", vec![Answer::Exit(0, "")]);
    exec.set("alive", vec![Answer::Exit(0, "")]);
    let c = Container {
        name: "app".into(),
        startup_probe: Some(exec_probe("started", 1, 1, 10)),
        liveness_probe: Some(exec_probe("alive", 1, 1, 3)),
        readiness_probe: Some(exec_probe("ready", 10, 1, 3)),
        ..Default::default()
    };
    let (tx, mut rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let target = Target {
        container: &c,
        pod_ip: LOCAL,
        exec: exec.clone(),
        started_at: Instant::now(),
        report: tx,
        cancel: cancel.clone(),
    };
    let handles = spawn_probes_in(target, UNIT);
    assert_eq!(handles.len(), 3);
    let s = Kind::Startup;
    assert_eq!(
        next(&mut rx).await,
        event(s, false, false, Some("Startup probe failed: booting"))
    );
    assert_eq!(
        next(&mut rx).await,
        event(s, false, false, Some("Startup probe failed: booting"))
    );
    assert_eq!(next(&mut rx).await, event(s, true, true, None));
    // Readiness runs as soon as the container has started, though its period is 10 units.
    assert_eq!(
        next(&mut rx).await,
        event(Kind::Readiness, true, true, None)
    );
    let started = exec.calls_of("started");
    assert_eq!(
        started.len(),
        3,
        "the startup probe stops once it succeeded"
    );
    let third = started[2];
    tokio::time::sleep(UNIT * 3).await;
    let alive = exec.calls_of("alive");
    assert!(!alive.is_empty(), "liveness runs after startup");
    assert!(alive
        .iter()
        .chain(exec.calls_of("ready").iter())
        .all(|t| *t >= third));
    cancel.cancel();
    for handle in handles {
        tokio::time::timeout(Duration::from_secs(5), handle)
            .await
            .unwrap()
            .unwrap();
    }
}

#[tokio::test]
async fn without_startup_probe_nothing_waits_and_missing_probes_spawn_nothing() {
    let exec = Arc::new(Scripted::with("ready", vec![Answer::Exit(0, "")]));
    let c = Container {
        name: "app".into(),
        readiness_probe: Some(exec_probe("ready", 1, 1, 3)),
        ..Default::default()
    };
    let (tx, mut rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let handles = spawn_all(&c, LOCAL, exec, tx, cancel.clone());
    assert_eq!(handles.len(), 1);
    assert_eq!(
        next(&mut rx).await,
        event(Kind::Readiness, true, true, None)
    );
    cancel.cancel();
    for handle in handles {
        tokio::time::timeout(Duration::from_secs(5), handle)
            .await
            .unwrap()
            .unwrap();
    }
}

#[tokio::test]
async fn a_failed_startup_never_opens_the_gate() {
    let exec = Arc::new(Scripted::with("started", vec![Answer::Exit(1, "crashed")]));
    exec.set("ready", vec![Answer::Exit(0, "")]);
    let c = Container {
        name: "app".into(),
        startup_probe: Some(exec_probe("started", 1, 1, 2)),
        readiness_probe: Some(exec_probe("ready", 1, 1, 3)),
        ..Default::default()
    };
    let (tx, mut rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let target = Target {
        container: &c,
        pod_ip: LOCAL,
        exec: exec.clone(),
        started_at: Instant::now(),
        report: tx,
        cancel: cancel.clone(),
    };
    let mut handles = spawn_probes_in(target, UNIT);
    let failed = Some("Startup probe failed: crashed");
    assert_eq!(
        next(&mut rx).await,
        event(Kind::Startup, false, false, failed)
    );
    assert_eq!(
        next(&mut rx).await,
        event(Kind::Startup, false, true, failed)
    );
    let startup = handles.remove(0);
    tokio::time::timeout(Duration::from_secs(5), startup)
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(UNIT * 5).await;
    assert!(exec.calls_of("ready").is_empty(), "readiness never ran");
    cancel.cancel();
    for handle in handles {
        tokio::time::timeout(Duration::from_secs(5), handle)
            .await
            .unwrap()
            .unwrap();
    }
}
