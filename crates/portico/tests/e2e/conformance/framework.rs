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

/// Discovery as the upstream API tests check it ("getting /apis", "getting /apis/<group>",
/// "getting /apis/<group>/<version>"): `/apis` (aggregated, as client-go 1.32 asks for it)
/// lists `group` with `version`, the group document lists `version`, and the group-version
/// document lists `resource`.
pub async fn expect_discovery(client: &kube::Client, group: &str, version: &str, resource: &str) {
    let groups = client.list_api_groups_aggregated().await.unwrap();
    let found = groups.items.iter().any(|g| {
        g.metadata.as_ref().and_then(|m| m.name.as_deref()) == Some(group)
            && g.versions
                .iter()
                .any(|v| v.version.as_deref() == Some(version))
    });
    assert!(found, "expected {group}/{version} in /apis");
    let req = http::Request::get(format!("/apis/{group}"))
        .body(Vec::new())
        .unwrap();
    let doc: k8s_openapi::apimachinery::pkg::apis::meta::v1::APIGroup =
        client.request(req).await.unwrap();
    assert!(
        doc.versions.iter().any(|v| v.version == version),
        "expected {version} in /apis/{group}, got {:?}",
        doc.versions
    );
    let resources = client
        .list_api_group_resources(&format!("{group}/{version}"))
        .await
        .unwrap();
    assert!(
        resources.resources.iter().any(|r| r.name == resource),
        "expected {resource} in /apis/{group}/{version}"
    );
}

/// client-go's `retry.RetryOnConflict(retry.DefaultRetry, f)`: up to 5 tries, 10 ms apart,
/// while `f` fails with 409 Conflict.
pub async fn retry_on_conflict<T, F, Fut>(mut f: F) -> kube::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = kube::Result<T>>,
{
    let mut tries = 0;
    loop {
        match f().await {
            Err(kube::Error::Api(s)) if s.code == 409 && tries < 4 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            other => return other,
        }
    }
}

/// `wait.PollUntilContextTimeout(interval, timeout, immediate, condition)`: polls until the
/// condition holds (`Ok(true)`), fails (`Err`, returned as is) or `timeout` passes
/// (`Err("timed out waiting for the condition")`).
pub async fn poll<F, Fut>(
    interval: std::time::Duration,
    timeout: std::time::Duration,
    immediate: bool,
    mut condition: F,
) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, String>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    if !immediate {
        tokio::time::sleep(interval).await;
    }
    loop {
        if condition().await? {
            return Ok(());
        }
        if tokio::time::Instant::now() + interval > deadline {
            return Err("timed out waiting for the condition".into());
        }
        tokio::time::sleep(interval).await;
    }
}

/// The value of annotation `key` of any object.
pub fn annotation<'a, K: kube::Resource>(obj: &'a K, key: &str) -> Option<&'a str> {
    obj.meta()
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// The API-operations tests' "waiting for watch events with expected annotations": reads
/// `watch` (bookmarks skipped) until a MODIFIED event whose object has annotation `key` set to
/// `"true"`; any other event, a closed watch or `timeout` between events fails the test.
pub async fn await_modified_with_annotation<K, S>(
    watch: &mut S,
    key: &str,
    timeout: std::time::Duration,
) where
    K: kube::Resource + std::fmt::Debug,
    S: futures::Stream<Item = kube::Result<kube::api::WatchEvent<K>>> + Unpin,
{
    use futures::StreamExt;
    loop {
        let evt = match tokio::time::timeout(timeout, watch.next()).await {
            Err(_) => panic!("timed out waiting for watch event"),
            Ok(None) => panic!("watch channel should not close"),
            Ok(Some(evt)) => evt.unwrap(),
        };
        let watched = match evt {
            kube::api::WatchEvent::Bookmark(_) => continue,
            kube::api::WatchEvent::Modified(obj) => obj,
            other => panic!("expected a MODIFIED event, got {other:?}"),
        };
        if annotation(&watched, key) == Some("true") {
            return;
        }
    }
}
