//! `kubectl get -w`: a background watcher sees services appear, change and go away as rows.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use crate::harness::{Cluster, KUBECTL};
use crate::support::{apply_file, seed};

struct Watcher {
    child: std::process::Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Watcher {
    fn start(c: &Cluster, args: &[&str]) -> Watcher {
        let mut child = Command::new(KUBECTL)
            .args(args)
            .env("KUBECONFIG", &c.kubeconfig)
            .env("HOME", c.data_dir().parent().unwrap())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start kubectl get -w");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Watcher {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Waits for a line satisfying `f`, returning it.
    fn wait_for(&mut self, what: &str, f: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if f(&l) {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "no line with {what} from kubectl get -w; saw:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cells(l: &str) -> Vec<&str> {
    l.split_whitespace().collect()
}

#[test]
fn get_svc_watch_shows_new_and_changed_services() {
    let c = Cluster::start();
    let mut w = Watcher::start(&c, &["get", "svc", "-w"]);
    let head = w.wait_for("the header", |l| l.starts_with("NAME"));
    assert_eq!(
        cells(&head),
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ]
    );
    w.wait_for("kubernetes", |l| l.starts_with("kubernetes "));

    assert!(apply_file(&c, &seed("000-kubia-nodeport.yaml")).ok);
    let row = w.wait_for("kubia-nodeport", |l| l.starts_with("kubia-nodeport "));
    let r = cells(&row);
    assert_eq!(r[1], "NodePort");
    assert_eq!(r[4], "80:30123/TCP");

    c.ok(&[
        "patch",
        "svc",
        "kubia-nodeport",
        "-p",
        r#"{"spec":{"type":"LoadBalancer"}}"#,
    ]);
    let row = w.wait_for("kubia-nodeport as LoadBalancer", |l| {
        l.starts_with("kubia-nodeport ") && l.contains("LoadBalancer")
    });
    assert_eq!(cells(&row)[3], "<pending>");
    assert_eq!(cells(&row)[4], "80:30123/TCP");

    // With --output-watch-events the deletion shows as a DELETED event.
    let mut ev = Watcher::start(&c, &["get", "svc", "-w", "--output-watch-events"]);
    ev.wait_for("ADDED kubia-nodeport", |l| {
        l.starts_with("ADDED") && l.contains("kubia-nodeport")
    });
    c.ok(&["delete", "svc", "kubia-nodeport"]);
    ev.wait_for("DELETED kubia-nodeport", |l| {
        l.starts_with("DELETED") && l.contains("kubia-nodeport")
    });
}

#[test]
fn watch_only_shows_changes_after_watch_only_starts() {
    let c = Cluster::start();
    assert!(apply_file(&c, &seed("000-kubia.yaml")).ok);
    let mut w = Watcher::start(&c, &["get", "svc", "--watch-only", "-o", "name"]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(apply_file(&c, &seed("002-myapp-svc.yaml")).ok);
    let l = w.wait_for("service/myapp-svc", |l| l == "service/myapp-svc");
    assert_eq!(l, "service/myapp-svc");
    assert!(
        !w.seen
            .iter()
            .any(|l| l == "service/kubia" || l == "service/kubernetes"),
        "--watch-only listed existing objects: {:?}",
        w.seen
    );
}

#[test]
fn watch_endpoints_in_another_namespace() {
    let c = Cluster::start();
    c.ok(&["create", "namespace", "ext"]);
    let mut w = Watcher::start(&c, &["get", "endpoints", "-n", "ext", "-w"]);
    std::thread::sleep(Duration::from_millis(300));
    // An object in another namespace must not show up.
    assert!(apply_file(&c, &seed("004-external-service-endpoints.yaml")).ok);
    assert!(
        c.kubectl(&[
            "apply",
            "-n",
            "ext",
            "-f",
            &seed("000-external-service-endpoints.yaml")
        ])
        .ok
    );
    let row = w.wait_for("external-service", |l| l.starts_with("external-service "));
    assert_eq!(cells(&row)[1], "11.11.11.11:80,22.22.22.22:80");
}
