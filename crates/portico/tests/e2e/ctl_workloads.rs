//! Workload controllers end to end: Deployments, ReplicaSets, ReplicationControllers and
//! StatefulSets driven by the real kubectl. There are no nodes: pods stay Pending until the
//! test writes their status, as a kubelet would.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::harness::Cluster;
use crate::support::{assert_has, fixture_path, seed, Table};

const SAFE: &str = "bcdfghjklmnpqrstvwxz2456789";

/// Live (not terminating) pods matching `selector`, as JSON.
fn pods(c: &Cluster, selector: &str) -> Vec<Value> {
    let list = c.get_json(&["pods", "-l", selector]);
    list["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .collect()
}

fn names(pods: &[Value]) -> BTreeSet<String> {
    pods.iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

fn is_ready(p: &Value) -> bool {
    p["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// Writes Running + Ready into a pod's status, as a kubelet would.
fn mark_ready(c: &Cluster, name: &str) {
    let patch = r#"{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}"#;
    let r = c.kubectl(&[
        "patch",
        "pod",
        name,
        "--subresource=status",
        "--type=merge",
        "-p",
        patch,
    ]);
    // The pod may be deleted meanwhile during a rollout.
    assert!(r.ok || r.stderr.contains("NotFound"), "{}", r.stderr);
}

/// Marks every live pod of `selector` Ready.
fn mark_all_ready(c: &Cluster, selector: &str) {
    for p in pods(c, selector) {
        if !is_ready(&p) {
            mark_ready(c, p["metadata"]["name"].as_str().unwrap());
        }
    }
}

/// Waits until exactly `n` live pods match `selector`; returns them.
#[track_caller]
fn wait_pods(c: &Cluster, selector: &str, n: usize) -> Vec<Value> {
    c.eventually(30, || {
        let p = pods(c, selector);
        (p.len() == n).then_some(p)
    })
}

fn deployment(name: &str, replicas: u32, image: &str, strategy: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
  strategy:
{strategy}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: web
        image: {image}
        ports:
        - containerPort: 80
"#
    )
}

const ROLLING_NO_UNAVAILABLE: &str =
    "    type: RollingUpdate\n    rollingUpdate:\n      maxSurge: 1\n      maxUnavailable: 0";

#[test]
fn deployment_pods_are_named_after_the_template_hash_and_follow_scale() {
    let c = Cluster::start();
    c.ok(&["apply", "-f", &seed("001-hostname-server.yaml")]);
    c.ok(&["scale", "deployment", "hostname-server", "--replicas=3"]);
    let ps = wait_pods(&c, "app=hostname-server", 3);
    let rs = c.get_json(&["rs", "-l", "app=hostname-server"]);
    let items = rs["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "one ReplicaSet");
    let rs_name = items[0]["metadata"]["name"].as_str().unwrap().to_string();
    let hash = items[0]["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(rs_name, format!("hostname-server-{hash}"));
    assert!(
        !hash.is_empty() && hash.len() <= 10 && hash.chars().all(|ch| SAFE.contains(ch)),
        "{hash}"
    );
    assert_eq!(
        items[0]["metadata"]["ownerReferences"][0]["kind"],
        "Deployment"
    );
    assert_eq!(
        items[0]["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "1"
    );
    for p in &ps {
        let name = p["metadata"]["name"].as_str().unwrap();
        let suffix = name.strip_prefix(&format!("{rs_name}-")).expect(name);
        assert!(
            suffix.len() == 5 && suffix.chars().all(|ch| SAFE.contains(ch)),
            "{name}"
        );
        assert_eq!(p["metadata"]["labels"]["pod-template-hash"], hash.as_str());
        let owner = &p["metadata"]["ownerReferences"][0];
        assert_eq!(
            (owner["kind"].as_str(), owner["name"].as_str()),
            (Some("ReplicaSet"), Some(rs_name.as_str()))
        );
        assert_eq!(
            (
                owner["controller"].as_bool(),
                owner["blockOwnerDeletion"].as_bool()
            ),
            (Some(true), Some(true))
        );
    }
    // kubectl's view: 0/3 ready until the pods report Ready.
    let t = Table::parse(&c.ok(&["get", "deploy", "hostname-server"]));
    assert_eq!(t.cell("hostname-server", "UP-TO-DATE"), "3");
    mark_all_ready(&c, "app=hostname-server");
    c.eventually(20, || {
        let t = Table::parse(&c.ok(&["get", "deploy", "hostname-server"]));
        (t.cell("hostname-server", "READY") == "3/3"
            && t.cell("hostname-server", "AVAILABLE") == "3")
            .then_some(())
    });
    let t = Table::parse(&c.ok(&["get", "rs"]));
    assert_eq!(t.cell(&rs_name, "READY"), "3");

    // Scale up and down: unready (Pending) pods go first when scaling down.
    c.ok(&["scale", "deployment", "hostname-server", "--replicas=5"]);
    let five = wait_pods(&c, "app=hostname-server", 5);
    let fresh: BTreeSet<String> = names(&five).difference(&names(&ps)).cloned().collect();
    assert_eq!(fresh.len(), 2);
    c.ok(&["scale", "deployment", "hostname-server", "--replicas=3"]);
    let three = wait_pods(&c, "app=hostname-server", 3);
    assert_eq!(
        names(&three),
        names(&ps),
        "the two Pending pods were deleted, the Ready ones kept"
    );

    // A deleted pod is replaced.
    let victim = ps[0]["metadata"]["name"].as_str().unwrap().to_string();
    c.ok(&["delete", "pod", &victim, "--wait=false"]);
    let after = c.eventually(30, || {
        let p = pods(&c, "app=hostname-server");
        (p.len() == 3 && !names(&p).contains(&victim)).then_some(p)
    });
    assert_eq!(names(&after).intersection(&names(&ps)).count(), 2);

    // Events tell the story.
    let d = c.ok(&["describe", "deployment", "hostname-server"]);
    assert_has(&d, &format!("Scaled up replica set {rs_name} from 0 to 2"));
    assert_has(&d, &format!("Scaled up replica set {rs_name} from 3 to 5"));
    assert_has(
        &d,
        &format!("Scaled down replica set {rs_name} from 5 to 3"),
    );
    let r = c.ok(&["describe", "rs", &rs_name]);
    assert_has(&r, "SuccessfulCreate");
    assert_has(&r, "Created pod: ");
    assert_has(&r, "SuccessfulDelete");
}

#[test]
fn replication_controller_from_the_notes_scales_with_kubectl_edit() {
    let c = Cluster::start();
    c.ok(&["apply", "-f", &fixture_path("kubia-rc.yaml")]);
    let ps = wait_pods(&c, "app=kubia", 3);
    for p in &ps {
        let name = p["metadata"]["name"].as_str().unwrap();
        let suffix = name.strip_prefix("kubia-").expect(name);
        assert!(
            suffix.len() == 5 && suffix.chars().all(|ch| SAFE.contains(ch)),
            "{name}"
        );
    }
    let r = c.kubectl_env(
        &["edit", "rc", "kubia"],
        &[(
            "KUBE_EDITOR",
            "sed -i -e 's/^  replicas: 3$/  replicas: 5/'",
        )],
    );
    assert!(r.ok, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout.trim(), "replicationcontroller/kubia edited");
    wait_pods(&c, "app=kubia", 5);
    c.ok(&["scale", "rc", "kubia", "--replicas=2"]);
    wait_pods(&c, "app=kubia", 2);
    mark_all_ready(&c, "app=kubia");
    c.eventually(20, || {
        let t = Table::parse(&c.ok(&["get", "rc", "kubia"]));
        (t.cell("kubia", "DESIRED") == "2"
            && t.cell("kubia", "CURRENT") == "2"
            && t.cell("kubia", "READY") == "2")
            .then_some(())
    });
    // An orphan pod with matching labels is adopted: one pod too many, so one goes.
    c.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: stray\n  labels:\n    app: kubia\nspec:\n  containers:\n  - name: c\n    image: luksa/kubia\n");
    wait_pods(&c, "app=kubia", 2);
    // Relabelling a pod releases it and a replacement comes.
    let keep = pods(&c, "app=kubia")[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    c.ok(&["label", "pod", &keep, "app=foo", "--overwrite"]);
    wait_pods(&c, "app=kubia", 2);
    let released = c.get_json(&["pod", &keep]);
    assert!(
        released["metadata"]["ownerReferences"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "{released}"
    );
}

#[test]
fn rolling_update_keeps_ready_pods_and_rollout_commands_work() {
    let c = Cluster::start();
    c.apply(&deployment("web", 3, "nginx:1.25", ROLLING_NO_UNAVAILABLE));
    wait_pods(&c, "app=web", 3);
    mark_all_ready(&c, "app=web");
    let done = c.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    assert_has(&done, "deployment \"web\" successfully rolled out");

    // A kubelet stand-in marks new pods Ready; a watcher counts ready pods throughout.
    let stop = AtomicBool::new(false);
    let min_ready = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(300));
                mark_all_ready(&c, "app=web");
            }
        });
        let watcher = s.spawn(|| {
            let mut min = usize::MAX;
            while !stop.load(Ordering::Relaxed) {
                let ready = pods(&c, "app=web").iter().filter(|p| is_ready(p)).count();
                min = min.min(ready);
            }
            min
        });
        c.ok(&["set", "image", "deployment/web", "web=nginx:1.26"]);
        let out = c.ok(&["rollout", "status", "deployment/web", "--timeout=90s"]);
        assert_has(&out, "deployment \"web\" successfully rolled out");
        stop.store(true, Ordering::Relaxed);
        watcher.join().unwrap()
    });
    assert!(
        min_ready >= 3,
        "maxUnavailable 0 keeps 3 ready pods, saw {min_ready}"
    );
    let ps = wait_pods(&c, "app=web", 3);
    assert!(ps
        .iter()
        .all(|p| p["spec"]["containers"][0]["image"] == "nginx:1.26"));
    let d = c.get_json(&["deployment", "web"]);
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "2"
    );
    let conds = d["status"]["conditions"].as_array().unwrap();
    let progressing = conds.iter().find(|c| c["type"] == "Progressing").unwrap();
    assert_eq!(progressing["reason"], "NewReplicaSetAvailable");
    let available = conds.iter().find(|c| c["type"] == "Available").unwrap();
    assert_eq!(available["status"], "True");

    // History, undo, restart.
    let history = c.ok(&["rollout", "history", "deployment/web"]);
    assert_has(&history, "REVISION");
    let revs: Vec<&str> = history
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(revs.contains(&"1") && revs.contains(&"2"), "{history}");
    assert_eq!(
        c.ok(&["rollout", "undo", "deployment/web"]).trim(),
        "deployment.apps/web rolled back"
    );
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(300));
                mark_all_ready(&c, "app=web");
            }
        });
        c.ok(&["rollout", "status", "deployment/web", "--timeout=90s"]);
        stop.store(true, Ordering::Relaxed);
    });
    let ps = wait_pods(&c, "app=web", 3);
    assert!(ps
        .iter()
        .all(|p| p["spec"]["containers"][0]["image"] == "nginx:1.25"));
    let d = c.get_json(&["deployment", "web"]);
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "3"
    );
    assert_eq!(
        c.get_json(&["rs", "-l", "app=web"])["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    c.ok(&["rollout", "restart", "deployment/web"]);
    c.eventually(30, || {
        let rs = c.get_json(&["rs", "-l", "app=web"]);
        (rs["items"].as_array().unwrap().len() == 3).then_some(())
    });
    let d = c.get_json(&["deployment", "web"]);
    assert!(
        d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .is_string()
    );

    // Pause: template changes make no new ReplicaSet until resumed.
    c.ok(&["rollout", "pause", "deployment/web"]);
    c.ok(&["set", "image", "deployment/web", "web=nginx:1.27"]);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        c.get_json(&["rs", "-l", "app=web"])["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    c.ok(&["rollout", "resume", "deployment/web"]);
    c.eventually(30, || {
        let rs = c.get_json(&["rs", "-l", "app=web"]);
        (rs["items"].as_array().unwrap().len() == 4).then_some(())
    });
}

#[test]
fn recreate_replaces_all_pods_at_once() {
    let c = Cluster::start();
    c.apply(&deployment("batch", 2, "busybox:1", "    type: Recreate"));
    let old = wait_pods(&c, "app=batch", 2);
    c.ok(&["set", "image", "deployment/batch", "web=busybox:2"]);
    let new = c.eventually(30, || {
        let p = pods(&c, "app=batch");
        (p.len() == 2 && names(&p).is_disjoint(&names(&old))).then_some(p)
    });
    assert!(new
        .iter()
        .all(|p| p["spec"]["containers"][0]["image"] == "busybox:2"));
}

#[test]
fn deleting_a_deployment_removes_its_replica_sets_and_pods() {
    let c = Cluster::start();
    c.apply(&deployment("gone", 2, "nginx", ROLLING_NO_UNAVAILABLE));
    wait_pods(&c, "app=gone", 2);
    c.ok(&["delete", "deployment", "gone"]);
    c.eventually(30, || {
        let rs = c.get_json(&["rs", "-l", "app=gone"]);
        (rs["items"].as_array().unwrap().is_empty() && pods(&c, "app=gone").is_empty())
            .then_some(())
    });
}

#[test]
fn statefulset_pods_come_in_order_with_stable_names() {
    let c = Cluster::start();
    c.apply(
        r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: nginx
  replicas: 3
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx
"#,
    );
    // OrderedReady: web-1 waits for web-0 to be Running and Ready.
    for n in 0..3 {
        let name = format!("web-{n}");
        let ps = wait_pods(&c, "app=nginx", n + 1);
        assert!(names(&ps).contains(&name), "{:?}", names(&ps));
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            pods(&c, "app=nginx").len(),
            n + 1,
            "no pod before {name} is ready"
        );
        let p = c.get_json(&["pod", &name]);
        assert_eq!(p["spec"]["hostname"], name.as_str());
        assert_eq!(p["spec"]["subdomain"], "nginx");
        assert_eq!(
            p["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"],
            name.as_str()
        );
        mark_ready(&c, &name);
    }
    c.eventually(20, || {
        let t = Table::parse(&c.ok(&["get", "sts", "web"]));
        (t.cell("web", "READY") == "3/3").then_some(())
    });
    // Scale down from the highest ordinal.
    c.ok(&["scale", "sts", "web", "--replicas=1"]);
    let ps = wait_pods(&c, "app=nginx", 1);
    assert_eq!(names(&ps), BTreeSet::from(["web-0".to_string()]));
    let d = c.ok(&["describe", "sts", "web"]);
    assert_has(&d, "create Pod web-0 in StatefulSet web successful");
    assert_has(&d, "delete Pod web-2 in StatefulSet web successful");
}
