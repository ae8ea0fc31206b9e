//! Running a test's body inside a fresh user + network namespace: the test re-executes its
//! own binary, limited to itself, through `portico_sandbox::userns::sandbox_command_with`,
//! and the run inside (marked by an environment variable) executes the body. Nothing
//! touches the host network. Where user namespaces are unavailable, the test says why and
//! passes without running.

use std::future::Future;
use std::process::Command;

use portico_sandbox::userns::{check_available, sandbox_command_with, PidNamespace};

const ROLE_ENV: &str = "PORTICO_PROXY_TEST_ROLE";

/// Runs `body` inside a new network namespace with `lo` up, on a multi-threaded runtime.
pub fn in_netns<F, Fut>(test: &str, body: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    if std::env::var(ROLE_ENV).ok().as_deref() == Some(test) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let nl = portico_sandbox::netlink::Netlink::current().unwrap();
            nl.link_up("lo").await.unwrap();
            body().await;
        });
        return;
    }
    if let Err(e) = check_available() {
        eprintln!("skipped: {e}");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE_ENV, test);
    sandbox_command_with(&mut cmd, PidNamespace::Inherit);
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "sandboxed run of {test} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
}
