//! Shared pieces for the kube-rs tests: a client for a [`Cluster`], Service objects, a
//! throwaway etcd, and waiting helpers.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Service;
use kube::api::WatchEvent;
use serde_json::json;

use crate::harness::Cluster;

/// A kube-rs client built from the cluster's kubeconfig, as a user would build one.
pub async fn client(c: &Cluster) -> kube::Client {
    client_from(&c.kubeconfig).await
}

/// A kube-rs client for the kubeconfig at `path`.
pub async fn client_from(path: &Path) -> kube::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kc = kube::config::Kubeconfig::read_from(path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

/// A Service named `name` with one TCP port, of type NodePort when `node_port`.
pub fn service(name: &str, node_port: bool, labels: serde_json::Value) -> Service {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "type": if node_port { "NodePort" } else { "ClusterIP" },
            "selector": {"app": name},
            "ports": [{"port": 80, "targetPort": 8080}],
        },
    }))
    .unwrap()
}

/// The Service's `spec.clusterIP`.
pub fn cluster_ip(s: &Service) -> String {
    s.spec
        .as_ref()
        .and_then(|sp| sp.cluster_ip.clone())
        .unwrap_or_default()
}

/// The first port's `nodePort`, if any.
pub fn node_port(s: &Service) -> Option<i32> {
    s.spec.as_ref()?.ports.as_ref()?.first()?.node_port
}

/// The object's `metadata.resourceVersion`.
pub fn rv(s: &Service) -> String {
    s.metadata.resource_version.clone().unwrap_or_default()
}

/// A short summary of one raw watch event: (type, name, resourceVersion).
pub fn summary(e: &WatchEvent<Service>) -> (String, String, String) {
    let (kind, obj) = match e {
        WatchEvent::Added(o) => ("ADDED", o),
        WatchEvent::Modified(o) => ("MODIFIED", o),
        WatchEvent::Deleted(o) => ("DELETED", o),
        WatchEvent::Bookmark(b) => {
            return (
                "BOOKMARK".into(),
                String::new(),
                b.metadata.resource_version.clone(),
            )
        }
        WatchEvent::Error(s) => return ("ERROR".into(), format!("{s:?}"), String::new()),
    };
    (
        kind.into(),
        obj.metadata.name.clone().unwrap_or_default(),
        rv(obj),
    )
}

/// Reads non-bookmark events from `stream` until `n` have arrived; panics after `secs`.
pub async fn take_events<S>(stream: &mut S, n: usize, secs: u64) -> Vec<(String, String, String)>
where
    S: Stream<Item = kube::Result<WatchEvent<Service>>> + Unpin,
{
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while out.len() < n {
        let next = tokio::time::timeout_at(deadline, stream.next()).await;
        match next {
            Ok(Some(Ok(WatchEvent::Bookmark(_)))) => {}
            Ok(Some(Ok(e))) => out.push(summary(&e)),
            Ok(Some(Err(e))) => panic!("watch failed after {out:?}: {e}"),
            Ok(None) => panic!("watch ended after {out:?}, wanted {n} events"),
            Err(_) => panic!(
                "only {} of {n} watch events within {secs}s: {out:?}",
                out.len()
            ),
        }
    }
    out
}

/// Asserts that `stream` yields no further (non-bookmark) event within `millis`.
pub async fn assert_quiet<S>(stream: &mut S, millis: u64)
where
    S: Stream<Item = kube::Result<WatchEvent<Service>>> + Unpin,
{
    let deadline = tokio::time::Instant::now() + Duration::from_millis(millis);
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => return,
            Ok(Some(Ok(WatchEvent::Bookmark(_)))) => {}
            Ok(Some(Ok(e))) => panic!("unexpected extra watch event {:?}", summary(&e)),
            Ok(Some(Err(e))) => panic!("watch failed: {e}"),
            Ok(None) => panic!("watch ended early"),
        }
    }
}

/// The Status of an API error; panics on any other error.
pub fn api_error(e: kube::Error) -> Box<kube::core::Status> {
    match e {
        kube::Error::Api(s) => s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Runs blocking harness code (start, kill, restart) from inside a multi-threaded test.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A throwaway single-member etcd on free loopback ports, killed on drop.
pub struct Etcd {
    child: Child,
    _dir: tempfile::TempDir,
    /// The client URL, `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Etcd {
    /// Starts `/usr/bin/etcd` and waits until it reports healthy.
    pub fn start() -> Etcd {
        let dir = tempfile::tempdir().unwrap();
        let (client, peer) = (free_port(), free_port());
        let url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let child = Command::new("/usr/bin/etcd")
            .arg("--name=e2e")
            .arg(format!("--data-dir={}", dir.path().join("etcd").display()))
            .arg(format!("--listen-client-urls={url}"))
            .arg(format!("--advertise-client-urls={url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=e2e={peer_url}"))
            .arg("--log-level=error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start /usr/bin/etcd");
        let etcd = Etcd {
            child,
            _dir: dir,
            url,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !healthy(client) {
            assert!(Instant::now() < deadline, "etcd did not become healthy");
            std::thread::sleep(Duration::from_millis(100));
        }
        etcd
    }
}

fn healthy(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.contains("\"health\":\"true\"")
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Compacts etcd's whole history up to its current revision.
pub async fn compact_etcd(url: &str) {
    let mut c = etcd_client::Client::connect([url], None).await.unwrap();
    let status = c.status().await.unwrap();
    let rev = status.header().unwrap().revision();
    c.compact(
        rev,
        Some(etcd_client::CompactionOptions::new().with_physical()),
    )
    .await
    .unwrap();
}
