//! The API server driven by kube-rs, the Rust client every Portico component uses: typed
//! CRUD and optimistic concurrency here; watches, resumption across a `kill -9`, 410 Gone
//! after compaction and a reflector cache in `watch`.

pub mod support;
mod watch;

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

use crate::harness::Cluster;
use support::{api_error, blocking, client, cluster_ip, rv, service};

fn in_service_cidr(ip: &str) -> bool {
    // 10.96.0.0/12 is 10.96.0.0 – 10.111.255.255.
    let o: Vec<u8> = ip.split('.').map(|p| p.parse().unwrap()).collect();
    o.len() == 4 && o[0] == 10 && (96..=111).contains(&o[1])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_api_creates_gets_and_lists_services() {
    let c = blocking(Cluster::start);
    let svcs: Api<Service> = Api::namespaced(client(&c).await, "default");
    let pp = PostParams::default();
    let mut ips = BTreeSet::new();
    for name in ["alpha", "beta", "gamma"] {
        let created = svcs
            .create(
                &pp,
                &service(name, name == "gamma", json!({"suite": "typed"})),
            )
            .await
            .unwrap();
        assert!(in_service_cidr(&cluster_ip(&created)), "{:?}", created.spec);
        assert!(
            ips.insert(cluster_ip(&created)),
            "clusterIP handed out twice"
        );
        assert!(!rv(&created).is_empty());
        assert!(created.metadata.uid.is_some() && created.metadata.creation_timestamp.is_some());
        let port = &created.spec.as_ref().unwrap().ports.as_ref().unwrap()[0];
        assert_eq!(port.protocol.as_deref(), Some("TCP"));
        if name == "gamma" {
            let np = port.node_port.expect("NodePort Service without a nodePort");
            assert!((30000..=32767).contains(&np), "{np}");
        } else {
            assert_eq!(port.node_port, None);
        }
        let got = svcs.get(name).await.unwrap();
        assert_eq!(got.metadata.uid, created.metadata.uid);
        assert_eq!(rv(&got), rv(&created));
        assert_eq!(cluster_ip(&got), cluster_ip(&created));
    }
    let list = svcs
        .list(&ListParams::default().labels("suite=typed"))
        .await
        .unwrap();
    let names: Vec<_> = list
        .items
        .iter()
        .map(|s| s.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "beta", "gamma"]);
    assert!(list
        .metadata
        .resource_version
        .is_some_and(|v| !v.is_empty()));
    let all = svcs.list(&ListParams::default()).await.unwrap();
    assert_eq!(all.items.len(), 4, "the three plus `kubernetes`");

    let dup = svcs
        .create(&pp, &service("alpha", false, json!({})))
        .await
        .unwrap_err();
    let status = api_error(dup);
    assert_eq!(
        (status.code, status.reason.as_str()),
        (409, "AlreadyExists")
    );
    assert_eq!(status.message, "services \"alpha\" already exists");
    let missing = api_error(svcs.get("nope").await.unwrap_err());
    assert_eq!((missing.code, missing.reason.as_str()), (404, "NotFound"));
    assert_eq!(missing.message, "services \"nope\" not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_with_a_stale_resource_version_is_a_409_conflict() {
    let c = blocking(Cluster::start);
    let svcs: Api<Service> = Api::namespaced(client(&c).await, "default");
    let pp = PostParams::default();
    let original = svcs
        .create(&pp, &service("web", false, json!({})))
        .await
        .unwrap();
    let mut fresh = original.clone();
    fresh.metadata.labels = Some(BTreeMap::from([("tier".into(), "front".into())]));
    let updated = svcs.replace("web", &pp, &fresh).await.unwrap();
    assert_ne!(rv(&updated), rv(&original));
    assert_eq!(cluster_ip(&updated), cluster_ip(&original));

    let mut stale = original.clone();
    stale.metadata.labels = Some(BTreeMap::from([("tier".into(), "back".into())]));
    let status = api_error(svcs.replace("web", &pp, &stale).await.unwrap_err());
    assert_eq!(status.code, 409, "{status:?}");
    assert_eq!(status.reason, "Conflict");
    assert_eq!(
        status.message,
        "Operation cannot be fulfilled on services \"web\": the object has been modified; \
         please apply your changes to the latest version and try again"
    );
    let now = svcs.get("web").await.unwrap();
    assert_eq!(
        now.metadata.labels.as_ref().unwrap()["tier"],
        "front",
        "the stale write must not land"
    );
    assert_eq!(rv(&now), rv(&updated));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_modify_replace_retries_converge_under_concurrent_writers() {
    let c = blocking(Cluster::start);
    let svcs: Api<Service> = Api::namespaced(client(&c).await, "default");
    svcs.create(
        &PostParams::default(),
        &service("counter", false, json!({})),
    )
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let svcs = svcs.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0u32;
            for _ in 0..20 {
                loop {
                    let mut s = svcs.get("counter").await.unwrap();
                    let ann = s.metadata.annotations.get_or_insert_with(BTreeMap::new);
                    let n: u32 = ann.get("count").map_or(0, |v| v.parse().unwrap());
                    ann.insert("count".into(), (n + 1).to_string());
                    match svcs.replace("counter", &PostParams::default(), &s).await {
                        Ok(_) => break,
                        Err(kube::Error::Api(st)) if st.code == 409 => conflicts += 1,
                        Err(e) => panic!("replace failed: {e}"),
                    }
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for t in tasks {
        conflicts += t.await.unwrap();
    }
    let s = svcs.get("counter").await.unwrap();
    assert_eq!(
        s.metadata.annotations.unwrap()["count"],
        "160",
        "({conflicts} conflicts retried)"
    );
}

/// A list body larger than gRPC's default 4 MiB message limit (kube-rs and client-go list
/// without a limit unless told otherwise), and a watch that starts with the current state.
async fn big_lists_work(extra: &[&str]) {
    let c = blocking(|| Cluster::start_with(extra));
    let svcs: Api<Service> = Api::namespaced(client(&c).await, "default");
    let filler = "x".repeat(200 * 1024);
    for i in 0..30 {
        let mut s = service(
            &format!("big-{i}"),
            false,
            serde_json::json!({"size": "big"}),
        );
        s.metadata.annotations = Some(BTreeMap::from([("filler".into(), filler.clone())]));
        svcs.create(&PostParams::default(), &s).await.unwrap();
    }
    let list = svcs
        .list(&ListParams::default().labels("size=big"))
        .await
        .unwrap_or_else(|e| panic!("list of 30 x 200 KiB Services failed: {e}"));
    assert_eq!(list.items.len(), 30);
    // A watch without a resourceVersion starts with ADDED events for the current state.
    let mut w = svcs
        .watch(&kube::api::WatchParams::default().labels("size=big"), "0")
        .await
        .unwrap()
        .boxed();
    let got = support::take_events(&mut w, 30, 30).await;
    assert!(got.iter().all(|(t, _, _)| t == "ADDED"), "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_larger_than_4_mib_work_sqlite() {
    big_lists_work(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_larger_than_4_mib_work_etcd() {
    let etcd = support::etcd().await;
    big_lists_work(&["--etcd", etcd.endpoint()]).await;
}
