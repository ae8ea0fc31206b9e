use serde_json::{json, Value};

use crate::cells;

fn now() -> jiff::Timestamp {
    "2025-06-01T12:00:00Z".parse().unwrap()
}

fn row(obj: Value) -> Vec<Value> {
    cells("pods", &obj, now())
}

/// READY, STATUS and RESTARTS of a pod.
fn status(obj: Value) -> (String, String, String) {
    let r = row(obj);
    let s = |i: usize| r[i].as_str().unwrap().to_owned();
    (s(1), s(2), s(3))
}

fn running(name: &str, ready: bool, restarts: i64) -> Value {
    json!({"name": name, "ready": ready, "restartCount": restarts,
           "state": {"running": {"startedAt": "2025-06-01T11:00:00Z"}}})
}

#[test]
fn running_pod_full_row() {
    let pod = json!({
        "metadata": {"name": "web-7d4b9", "namespace": "default", "creationTimestamp": "2025-06-01T11:59:35Z"},
        "spec": {"nodeName": "node-1", "containers": [{"name": "web", "image": "nginx"}]},
        "status": {"phase": "Running", "podIP": "10.244.0.5", "podIPs": [{"ip": "10.244.0.5"}, {"ip": "fd00::5"}],
                   "conditions": [{"type": "Ready", "status": "True"}],
                   "containerStatuses": [running("web", true, 0)]}
    });
    assert_eq!(
        row(pod),
        vec![
            json!("web-7d4b9"),
            json!("1/1"),
            json!("Running"),
            json!("0"),
            json!("25s"),
            json!("10.244.0.5"),
            json!("node-1"),
            json!("<none>"),
            json!("<none>"),
        ]
    );
}

#[test]
fn pending_pod_has_none_placeholders() {
    let pod = json!({
        "metadata": {"name": "p", "creationTimestamp": "2025-06-01T11:59:00Z"},
        "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
        "status": {"phase": "Pending"}
    });
    let r = row(pod);
    assert_eq!(
        r[1..5],
        [json!("0/2"), json!("Pending"), json!("0"), json!("60s")]
    );
    assert_eq!(
        r[5..],
        [
            json!("<none>"),
            json!("<none>"),
            json!("<none>"),
            json!("<none>")
        ]
    );
}

#[test]
fn legacy_pod_ip_is_used_without_pod_ips() {
    let pod = json!({"metadata": {"name": "p"}, "status": {"podIP": "10.1.2.3"}});
    assert_eq!(row(pod)[5], json!("10.1.2.3"));
}

#[test]
fn restarts_show_when_the_last_one_ended() {
    let mut c = running("web", true, 5);
    c["lastState"] = json!({"terminated": {"exitCode": 1, "finishedAt": "2025-06-01T11:55:00Z"}});
    let mut other = running("side", true, 2);
    other["lastState"] =
        json!({"terminated": {"exitCode": 1, "finishedAt": "2025-06-01T11:40:00Z"}});
    let pod = json!({
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "web"}, {"name": "side"}]},
        "status": {"phase": "Running", "containerStatuses": [c, other]}
    });
    assert_eq!(
        status(pod),
        ("2/2".into(), "Running".into(), "7 (5m ago)".into())
    );

    // Restarts without a recorded end print the bare count.
    let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]},
                     "status": {"phase": "Running", "containerStatuses": [running("a", false, 3)]}});
    assert_eq!(status(pod), ("0/1".into(), "Running".into(), "3".into()));
}

#[test]
fn container_waiting_and_terminated_reasons_win() {
    let pod = json!({
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
        "status": {"phase": "Running", "containerStatuses": [
            {"name": "a", "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
            running("b", true, 0)
        ]}
    });
    assert_eq!(
        status(pod),
        ("1/2".into(), "CrashLoopBackOff".into(), "4".into())
    );

    let pod = json!({
        "metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]},
        "status": {"phase": "Running", "containerStatuses": [
            {"name": "a", "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}
    });
    assert_eq!(status(pod).1, "ImagePullBackOff");

    let pod = json!({
        "metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]},
        "status": {"phase": "Failed", "containerStatuses": [
            {"name": "a", "state": {"terminated": {"exitCode": 137, "signal": 9}}}]}
    });
    assert_eq!(status(pod).1, "Signal:9");

    let pod = json!({
        "metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]},
        "status": {"phase": "Failed", "containerStatuses": [
            {"name": "a", "state": {"terminated": {"exitCode": 2}}}]}
    });
    assert_eq!(status(pod).1, "ExitCode:2");
}

#[test]
fn completed_pod_and_completed_with_a_running_container() {
    let done =
        json!({"name": "job", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}});
    let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "job"}]},
                     "status": {"phase": "Succeeded", "containerStatuses": [done.clone()]}});
    assert_eq!(status(pod), ("0/1".into(), "Completed".into(), "0".into()));

    // The first container in the list is examined last, so its Completed reason stands.
    let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "job"}, {"name": "svc"}]},
                     "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
                                "containerStatuses": [done.clone(), running("svc", true, 0)]}});
    assert_eq!(status(pod), ("1/2".into(), "NotReady".into(), "0".into()));

    let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "job"}, {"name": "svc"}]},
                     "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                                "containerStatuses": [done, running("svc", true, 0)]}});
    assert_eq!(status(pod).1, "Running");
}

#[test]
fn init_containers_report_progress_and_failures() {
    let spec = json!({"initContainers": [{"name": "migrate"}, {"name": "seed"}], "containers": [{"name": "app"}]});
    let pod = json!({"metadata": {"name": "p"}, "spec": spec.clone(),
        "status": {"phase": "Pending", "initContainerStatuses": [
            {"name": "migrate", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
            {"name": "seed", "state": {"running": {}}}],
            "containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "PodInitializing"}}}]}});
    assert_eq!(status(pod), ("0/1".into(), "Init:1/2".into(), "0".into()));

    let pod = json!({"metadata": {"name": "p"}, "spec": spec.clone(),
        "status": {"phase": "Pending", "initContainerStatuses": [
            {"name": "migrate", "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
             "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2025-06-01T11:59:00Z"}}}]}});
    assert_eq!(
        status(pod),
        (
            "0/1".into(),
            "Init:CrashLoopBackOff".into(),
            "3 (60s ago)".into()
        )
    );

    let pod = json!({"metadata": {"name": "p"}, "spec": spec.clone(),
        "status": {"phase": "Pending", "initContainerStatuses": [
            {"name": "migrate", "state": {"terminated": {"exitCode": 3}}}]}});
    assert_eq!(status(pod).1, "Init:ExitCode:3");

    let pod = json!({"metadata": {"name": "p"}, "spec": spec,
        "status": {"phase": "Pending", "initContainerStatuses": [
            {"name": "migrate", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}});
    assert_eq!(status(pod).1, "Init:Error");
}

#[test]
fn sidecars_count_as_containers_and_keep_their_restarts() {
    let mut sidecar = json!({"name": "proxy", "ready": true, "started": true, "restartCount": 2,
                             "state": {"running": {}}});
    sidecar["lastState"] =
        json!({"terminated": {"exitCode": 1, "finishedAt": "2025-06-01T11:57:00Z"}});
    let pod = json!({"metadata": {"name": "p"},
        "spec": {"initContainers": [{"name": "proxy", "restartPolicy": "Always"}], "containers": [{"name": "app"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}],
                   "initContainerStatuses": [sidecar], "containerStatuses": [running("app", true, 1)]}});
    assert_eq!(
        status(pod),
        ("2/2".into(), "Running".into(), "3 (3m ago)".into())
    );
}

#[test]
fn deletion_means_terminating_unless_finished_or_node_lost() {
    let base = |phase: &str, reason: &str| {
        json!({
            "metadata": {"name": "p", "deletionTimestamp": "2025-06-01T11:59:00Z"},
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": phase, "reason": reason, "containerStatuses": [running("a", true, 0)]}
        })
    };
    assert_eq!(status(base("Running", "")).1, "Terminating");
    assert_eq!(status(base("Succeeded", "")).1, "Succeeded");
    assert_eq!(status(base("Running", "NodeLost")).1, "Unknown");
}

#[test]
fn status_reason_and_scheduling_gates() {
    let evicted =
        json!({"metadata": {"name": "p"}, "status": {"phase": "Failed", "reason": "Evicted"}});
    assert_eq!(status(evicted).1, "Evicted");
    let gated = json!({"metadata": {"name": "p"}, "status": {"phase": "Pending",
        "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}});
    assert_eq!(status(gated).1, "SchedulingGated");
}

#[test]
fn wide_columns_show_nomination_and_readiness_gates() {
    let pod = json!({
        "metadata": {"name": "p"},
        "spec": {"readinessGates": [{"conditionType": "example.com/lb"}, {"conditionType": "example.com/dns"}]},
        "status": {"phase": "Pending", "nominatedNodeName": "node-2",
                   "conditions": [{"type": "example.com/lb", "status": "True"},
                                  {"type": "example.com/dns", "status": "False"}]}
    });
    let r = row(pod);
    assert_eq!(r[7], json!("node-2"));
    assert_eq!(r[8], json!("1/2"));
}
