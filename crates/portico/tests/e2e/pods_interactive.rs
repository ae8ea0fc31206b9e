//! Interactive sessions against `portico up`: a terminal (`exec -it`, `run -it --rm`,
//! `attach -it`), kubectl's SPDY fallback, `logs -f`, the newest kubectl, and `portico down`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::KUBECTL;
use crate::sandbox::Up;

/// Runs kubectl under a pseudo-terminal (`script`), typing `lines` one by one after a pause;
/// returns the terminal's output with carriage returns removed, and the exit code.
fn with_terminal(c: &Up, kubectl_args: &str, lines: &[&str]) -> (String, i32) {
    let mut child = Command::new("script")
        .args(["-qec", &format!("{KUBECTL} {kubectl_args}"), "/dev/null"])
        .env("KUBECONFIG", &c.kubeconfig)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux");
    let mut stdin = child.stdin.take().expect("stdin");
    for line in lines {
        std::thread::sleep(Duration::from_millis(1500));
        let _ = stdin.write_all(format!("{line}\n").as_bytes());
        let _ = stdin.flush();
    }
    let out = child.wait_with_output().expect("script output");
    (
        String::from_utf8_lossy(&out.stdout).replace('\r', ""),
        out.status.code().unwrap_or(-1),
    )
}

#[test]
fn terminals_spdy_fallback_follow_logs_and_down() {
    let c = Up::start(1);
    c.ok(&["run", "web", "--image=luksa/kubia"]);
    c.eventually(60, || {
        (c.get_json(&["pod", "web"])["status"]["phase"] == "Running").then_some(())
    });

    // exec -it: a shell on a terminal, with the exit code carried back.
    let (out, code) = with_terminal(
        &c,
        "exec -it web -- sh",
        &["echo TTY-$((6*7)); tty; exit 4"],
    );
    assert!(out.contains("TTY-42"), "{out}");
    assert!(out.contains("/dev/pts/"), "{out}");
    assert_eq!(code, 4, "{out}");

    // The SPDY fallback that kubectl takes when WebSockets are off.
    let r = c.kubectl_env(
        &["exec", "web", "--", "sh", "-c", "echo spdy; exit 2"],
        &[("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")],
    );
    assert_eq!((r.code, r.stdout.as_str()), (2, "spdy\n"), "{}", r.stderr);

    // run -it --rm: attach to a shell on a terminal, then the pod is deleted.
    let (out, _) = with_terminal(
        &c,
        "run -it --rm shell --image=busybox --restart=Never -- sh",
        &["echo ATTACHED-$((2+3))", "exit"],
    );
    assert!(out.contains("ATTACHED-5"), "{out}");
    c.eventually(30, || {
        (!c.ok(&["get", "pods"]).contains("shell")).then_some(())
    });

    // attach -it to a pod that keeps a shell on stdin, as the notes' `testnet` does.
    c.apply(
        "apiVersion: v1
kind: Pod
metadata: {name: testnet}
spec:
  containers:
  - name: testnet
    image: busybox
    command: [sh]
    stdin: true
    tty: true
",
    );
    c.eventually(60, || {
        (c.get_json(&["pod", "testnet"])["status"]["phase"] == "Running").then_some(())
    });
    let (out, _) = with_terminal(&c, "attach testnet -it", &["hostname", "exit"]);
    assert!(
        out.contains("If you don't see a command prompt, try pressing enter."),
        "{out}"
    );
    assert!(out.lines().any(|l| l.trim() == "testnet"), "{out}");

    // logs -f streams new lines as they come.
    let ip = c.get_json(&["pod", "web"])["status"]["podIP"]
        .as_str()
        .expect("ip")
        .to_string();
    let mut follow = Command::new(KUBECTL)
        .args(["logs", "-f", "web"])
        .env("KUBECONFIG", &c.kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("logs -f");
    let lines = BufReader::new(follow.stdout.take().expect("stdout")).lines();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(30))
            .expect("first line"),
        "Kubia server starting..."
    );
    c.ok(&[
        "run",
        "client",
        "--image=busybox",
        "--restart=Never",
        "--",
        "curl",
        "-s",
        &format!("http://{ip}:8080/"),
    ]);
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("a followed line");
    assert!(line.starts_with("Received request from"), "{line}");
    let _ = follow.kill();
    let _ = follow.wait();

    // The newest kubectl speaks the same protocols.
    let newest = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/kubectl-new/bin/kubectl");
    if newest.exists() {
        let out = Command::new(&newest)
            .args(["exec", "web", "--", "hostname"])
            .env("KUBECONFIG", &c.kubeconfig)
            .output()
            .expect("newest kubectl");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "web\n");
    }

    // portico down stops it; nothing of it stays.
    let down = Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["down", "--home"])
        .arg(c.home())
        .output()
        .expect("portico down");
    assert!(
        down.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&down.stderr),
        std::fs::read_to_string(c.home().join("portico.log")).unwrap_or_default()
    );
    assert_eq!(String::from_utf8_lossy(&down.stdout), "Portico stopped.\n");
    assert!(c.processes().is_empty(), "{:?}", c.processes());
}
