//! Two pods on the same sandbox: each sees its own writes, the host sees none.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::*;
use crate::spawn::{enter_in_child, new_pod_sandbox_command, PodNamespaces};
use crate::testing::{self, self_command};
use crate::userns::{init_mounts, set_hostname, InitMounts};
use crate::Error;

const TEST: &str = "podfs::tests::pods_write_to_their_own_layers";
const POD: &str = "podfs::tests::pod_sandbox_role";
const SA: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The pod's sandbox process: hostname, mounts, then sleep until killed.
#[test]
fn pod_sandbox_role() {
    if testing::role().as_deref() != Some("pod") {
        return;
    }
    let var = |k: &str| std::env::var(k).unwrap();
    let name = var("POD_NAME");
    set_hostname(&name).unwrap();
    if std::env::var_os("POD_WRITE_HOST").is_some() {
        // Nothing outside the pod's private directories may be created or written.
        // (Without a private root: with one, every path is the pod's own.)
        let mut spec = PodMounts::new(var("POD_LAYER")).file("/usr/lib/portico-test", "x");
        spec.private_root = false;
        let err = setup_pod_mounts(&spec).unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "{err}");
        println!("POD-ERROR {err}");
        return;
    }
    let spec = PodMounts::new(var("POD_LAYER"))
        .file("/etc/hostname", format!("{name}\n"))
        .file(
            "/etc/resolv.conf",
            "nameserver 10.96.0.10\noptions ndots:5\n",
        )
        .file(
            "/etc/hosts",
            format!("127.0.0.1\tlocalhost\n10.244.1.2\t{name}\n"),
        )
        .bind(var("POD_SA"), SA, true);
    setup_pod_mounts(&spec).unwrap();
    println!("POD-READY");
    loop {
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
}

fn start_pod(name: &str, layer: &Path, sa: &Path) -> Child {
    let (child, _) = start_pod_with(name, layer, sa, false);
    child
}

/// Starts a pod sandbox; returns it and its last line (`POD-READY` or `POD-ERROR ...`).
fn start_pod_with(name: &str, layer: &Path, sa: &Path, write_host: bool) -> (Child, String) {
    let mut cmd = self_command(POD, "pod");
    if write_host {
        cmd.env("POD_WRITE_HOST", "1");
    }
    cmd.env("POD_NAME", name)
        .env("POD_LAYER", layer)
        .env("POD_SA", sa)
        .stdout(Stdio::piped());
    new_pod_sandbox_command(&mut cmd);
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(at) = line.find("POD-") {
            return (child, line[at..].to_string());
        }
    }
    panic!("pod {name} ended before it was ready: {:?}", child.wait());
}

/// Runs `script` with `sh -c` inside the pod of `pod`; returns its stdout.
fn run_in_pod(pod: &Child, script: &str) -> String {
    let ns = PodNamespaces::open(pod.id()).unwrap();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script]);
    enter_in_child(&mut cmd, &ns, true, Some(Path::new("/etc"))).unwrap();
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn pods_write_to_their_own_layers() {
    if !testing::in_sandbox(TEST) {
        return;
    }
    // Under an overlaid directory, as `~/.portico/run` is when /root is overlaid.
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let run = dir.path().join("run");
    init_mounts(&InitMounts {
        proc: false,
        run_dir: Some(run.clone()),
        hostname: None,
    })
    .unwrap();
    let sa: PathBuf = dir.path().join("sa");
    std::fs::create_dir(&sa).unwrap();
    std::fs::write(sa.join("token"), "secret-token").unwrap();
    let host_hostname = std::fs::read("/etc/hostname").ok();

    let mut a = start_pod("pod-a", &run.join("pod-a"), &sa);
    let mut b = start_pod("pod-b", &run.join("pod-b"), &sa);

    let out = run_in_pod(
        &a,
        "touch /var/ready && pwd && cat /etc/hostname && uname -n && cat /etc/resolv.conf \
         && cat /var/run/secrets/kubernetes.io/serviceaccount/token && echo \
         && (echo x 2>/dev/null >/var/run/secrets/kubernetes.io/serviceaccount/token && echo writable || echo read-only) \
         && ls -A /tmp | wc -l && echo $$ $(cut -d' ' -f6 /proc/$$/stat)",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..8],
        [
            "/etc",
            "pod-a",
            "pod-a",
            "nameserver 10.96.0.10",
            "options ndots:5",
            "secret-token",
            "read-only",
            "0"
        ],
        "{out}"
    );
    let ids: Vec<&str> = lines[8].split(' ').collect();
    assert_eq!(ids[0], ids[1], "the container leads its own session");

    assert!(
        !Path::new("/var/ready").exists(),
        "the sandbox sees pod A's file"
    );
    assert_eq!(
        run_in_pod(
            &b,
            "test -e /var/ready && echo yes || echo no; cat /etc/hostname"
        ),
        "no\npod-b\n"
    );
    assert_eq!(run_in_pod(&a, "test -e /var/ready && echo yes"), "yes\n");
    assert_eq!(std::fs::read("/etc/hostname").ok(), host_hostname);
    assert_eq!(
        std::fs::read_to_string(sa.join("token")).unwrap(),
        "secret-token"
    );

    for pod in [&mut a, &mut b] {
        pod.kill().unwrap();
        pod.wait().unwrap();
    }

    let (mut c, said) = start_pod_with("pod-c", &run.join("pod-c"), &sa, true);
    c.wait().unwrap();
    assert_eq!(
        said,
        "POD-ERROR cannot write /usr/lib/portico-test in the pod: it is not under a directory private to the pod"
    );
    assert!(!Path::new("/usr/lib/portico-test").exists());

    nix::mount::umount2(&run, nix::mount::MntFlags::MNT_DETACH).unwrap();
}

#[test]
fn defaults_overlay_system_dirs_and_give_fresh_tmpfs() {
    let spec = PodMounts::new("/nonexistent/layers");
    assert!(spec.overlay.contains(&PathBuf::from("/etc")));
    assert!(spec.overlay.contains(&PathBuf::from("/var")));
    assert!(spec.tmpfs.contains(&PathBuf::from("/tmp")));
    assert!(spec.tmpfs.contains(&PathBuf::from("/run")));
}
