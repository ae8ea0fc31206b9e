//! What Kubernetes' e2e framework gives every conformance test, for the ports: a cluster of
//! its own (`portico up`), a fresh namespace named like the framework's (`<base>-<n>`), a
//! kube-rs client for the verbs kubectl lacks, and the record of each case for the report.

#![allow(dead_code)]

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use crate::harness::Cluster;
use crate::sandbox::Up;

static NAMESPACES: AtomicU32 = AtomicU32::new(0);

/// One running conformance case: on drop (pass, or unwinding from a failed assertion) it
/// appends `PASS|FAIL <seconds> <codename>` to the file named by
/// `PORTICO_CONFORMANCE_REPORT`, if set.
pub struct Case {
    codename: &'static str,
    started: Instant,
}

/// Starts the case with this exact conformance codename, e.g.
/// `"[sig-network] Services should provide secure master service [Conformance]"`.
pub fn case(codename: &'static str) -> Case {
    Case {
        codename,
        started: Instant::now(),
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        let Ok(path) = std::env::var("PORTICO_CONFORMANCE_REPORT") else {
            return;
        };
        let verdict = if std::thread::panicking() {
            "FAIL"
        } else {
            "PASS"
        };
        let line = format!(
            "{verdict}\t{:.1}\t{}\n",
            self.started.elapsed().as_secs_f64(),
            self.codename
        );
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// A cluster for one case: `portico up` with `nodes` nodes (the upstream tests assume at least
/// two schedulable nodes where they spread pods; most need one).
pub fn cluster(nodes: u32) -> Up {
    Up::start(nodes)
}

/// Creates a namespace named as the framework names them (`<base>-<n>`) and returns its name.
#[track_caller]
pub fn namespace(c: &Cluster, base: &str) -> String {
    let n = NAMESPACES.fetch_add(1, Ordering::SeqCst);
    let name = format!("{base}-{}{n}", std::process::id() % 10000);
    c.ok(&["create", "namespace", &name]);
    name
}

/// A kube-rs client for the cluster, built from its kubeconfig as a user would.
pub async fn client(c: &Cluster) -> kube::Client {
    crate::kube_client::support::client(c).await
}
