//! The sandbox chain, run for real: `portico up` → keeper → PID 1.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::*;
use crate::testing::{self, self_command};

const CHAIN: &str = "userns::tests::killing_portico_up_kills_the_whole_sandbox";
const INIT: &str = "userns::tests::pid1_mounts_proc_and_a_run_dir";
const MARKER_ENV: &str = "PORTICO_SANDBOX_TEST_MARKER";
const OUT_ENV: &str = "PORTICO_SANDBOX_TEST_OUT";

/// Pids of processes whose environment holds `marker`.
fn marked(marker: &str) -> Vec<u32> {
    let needle = format!("{MARKER_ENV}={marker}");
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Ok(env) = std::fs::read(entry.path().join("environ")) {
            if env.split(|b| *b == 0).any(|var| var == needle.as_bytes()) {
                pids.push(pid);
            }
        }
    }
    pids
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn env_path(name: &str) -> PathBuf {
    PathBuf::from(std::env::var_os(name).unwrap())
}

/// Keepers cannot run under libtest: after `unshare(CLONE_NEWPID)` the kernel refuses to
/// create threads, and libtest runs each test on a thread. So the test binary checks for the
/// keeper roles before `main`, from a constructor.
#[allow(unsafe_code)]
#[used]
// SAFETY: a plain function pointer in .init_array, run once by the loader before main; the
// function only reads the environment and, in keeper roles, runs and exits.
#[link_section = ".init_array"]
static KEEPER_HOOK: extern "C" fn() = keeper_hook;

extern "C" fn keeper_hook() {
    let code = match testing::role().as_deref() {
        Some("chain-keeper") => chain_keeper(),
        Some("init-keeper") => {
            let mut pid1 = self_command(INIT, "pid1");
            let status = run_keeper(&mut pid1).unwrap();
            status.code().unwrap_or(1)
        }
        _ => return,
    };
    std::process::exit(code);
}

/// The keeper names the sandbox and starts PID 1, a shell.
fn chain_keeper() -> i32 {
    set_hostname("portico-test").unwrap();
    let out = std::fs::File::create(env_path(OUT_ENV)).unwrap();
    let mut pid1 = Command::new("sh");
    pid1.args(["-c", "echo $$; id -u; uname -n; sleep 1000 & wait"])
        .stdout(out);
    run_keeper(&mut pid1).unwrap();
    0
}

#[test]
fn killing_portico_up_kills_the_whole_sandbox() {
    match testing::role().as_deref() {
        // Stands for `portico up`: starts the keeper and waits.
        Some("up") => {
            let mut keeper = self_command(CHAIN, "chain-keeper");
            sandbox_command(&mut keeper);
            keeper.status().unwrap();
            return;
        }
        Some(_) => return,
        None => {}
    }
    if !testing::userns_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let marker = format!("{}-{:?}", std::process::id(), Instant::now());
    let mut up = self_command(CHAIN, "up")
        .env(MARKER_ENV, &marker)
        .env(OUT_ENV, &out)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let read = || std::fs::read_to_string(&out).unwrap_or_default();
    wait_for("the shell's report", || read().lines().count() >= 3);
    let report: Vec<String> = read().lines().map(str::to_string).collect();
    assert_eq!(
        report,
        ["1", "0", "portico-test"],
        "pid, uid, hostname in the sandbox"
    );

    // up, keeper, sh (PID 1) and sleep.
    wait_for("the sleep", || marked(&marker).len() >= 4);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(up.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    up.wait().unwrap();
    let start = Instant::now();
    while !marked(&marker).is_empty() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = marked(&marker);
    for pid in &left {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

#[test]
fn pid1_mounts_proc_and_a_run_dir() {
    match testing::role().as_deref() {
        Some("pid1") => return pid1_checks(&env_path(OUT_ENV)),
        Some(_) => return,
        None => {}
    }
    if !testing::userns_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let mut keeper = self_command(INIT, "init-keeper");
    keeper.env(OUT_ENV, &run);
    sandbox_command(&mut keeper);
    let out = keeper.output().unwrap();
    testing::assert_ran(INIT, &out);
    // The tmpfs and what was written on it stayed inside the sandbox.
    assert!(run.is_dir());
    assert_eq!(std::fs::read_dir(&run).unwrap().count(), 0);
}

fn pid1_checks(run: &Path) {
    assert_eq!(std::process::id(), 1);
    init_mounts(&InitMounts {
        proc: true,
        run_dir: Some(run.to_path_buf()),
        hostname: Some("sandbox-test".into()),
    })
    .unwrap();
    assert_eq!(std::fs::read_link("/proc/self").unwrap(), Path::new("1"));
    let pids: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.parse::<u32>().is_ok())
        .collect();
    assert_eq!(pids, ["1"], "only PID 1 is visible in the new /proc");
    let fs = nix::sys::statfs::statfs(run).unwrap();
    assert_eq!(fs.filesystem_type(), nix::sys::statfs::TMPFS_MAGIC);
    std::fs::write(run.join("state"), "x").unwrap();
    assert_eq!(
        nix::sys::utsname::uname().unwrap().nodename(),
        "sandbox-test"
    );

    // As an init: an orphan is reaped, and the main child's status comes back.
    let main = Command::new("sh")
        .args(["-c", "sleep 0.1 & exit 3"])
        .spawn()
        .unwrap();
    let status = reap_until_exit(main).unwrap();
    assert_eq!(status.code(), Some(3));
}
