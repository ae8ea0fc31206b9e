//! Shared pieces for the kube-rs tests: a client for a [`Cluster`], Service objects, a
//! throwaway etcd, and waiting helpers.

use std::path::Path;
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Service;
use kube::api::WatchEvent;
use portico_store_etcd::testing::EtcdProcess;
use serde_json::json;

use crate::harness::Cluster;

/// A kube-rs client built from the cluster's kubeconfig, as a user would build one.
pub async fn client(c: &Cluster) -> kube::Client {
    client_from(&c.kubeconfig).await
}

/// A kube-rs client for the kubeconfig at `path`.
pub async fn client_from(path: &Path) -> kube::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
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

/// Starts a throwaway etcd (the store crate's test helper), killed when dropped.
pub async fn etcd() -> EtcdProcess {
    match EtcdProcess::start().await {
        Ok(e) => e,
        Err(e) => panic!("cannot start etcd: {e}"),
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
