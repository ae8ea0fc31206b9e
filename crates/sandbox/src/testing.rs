//! Test support: running a test's body inside a sandbox, by re-running the test binary.
//!
//! Tests that need privileges never touch the host: the test re-executes its own binary,
//! limited to that one test, through [`crate::userns::sandbox_command_with`] (new user, net,
//! mount, UTS and IPC namespaces); the run inside sees [`ROLE_ENV`] set to its name and
//! executes the body. Where the kernel refuses user namespaces, the test prints why and
//! passes without running.

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::userns::{check_available, sandbox_command_with, PidNamespace};

/// Set (to a role name) in processes that a test started from its own binary.
pub(crate) const ROLE_ENV: &str = "PORTICO_SANDBOX_TEST_ROLE";

/// The role of this process, if a test started it. A process with a role is killed by
/// `SIGALRM` after a minute, so that a hung sub-process cannot hang the test run.
pub(crate) fn role() -> Option<String> {
    let role = std::env::var(ROLE_ENV).ok();
    if role.is_some() {
        nix::unistd::alarm::set(60);
    }
    role
}

/// The test binary, running only test `test` (its full path below the crate root) with
/// `role` in [`ROLE_ENV`].
pub(crate) fn self_command(test: &str, role: &str) -> Command {
    let exe: PathBuf = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE_ENV, role);
    cmd
}

/// True if user namespaces are available; else prints why the test is skipped.
pub(crate) fn userns_or_skip() -> bool {
    match check_available() {
        Ok(()) => true,
        Err(e) => {
            eprintln!("skipped: {e}");
            false
        }
    }
}

/// In the sandboxed run of `test`, returns true: the caller runs its body. Otherwise runs
/// `test` again inside a sandbox, asserts that it passed, and returns false.
pub(crate) fn in_sandbox(test: &str) -> bool {
    if role().as_deref() == Some(test) {
        return true;
    }
    if !userns_or_skip() {
        return false;
    }
    let mut cmd = self_command(test, test);
    sandbox_command_with(&mut cmd, PidNamespace::Inherit);
    let out = cmd.output().unwrap();
    assert_ran(test, &out);
    false
}

/// Asserts that a re-run of `test` ran it (not zero tests) and passed.
pub(crate) fn assert_ran(test: &str, out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "sandboxed run of {test} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
}
