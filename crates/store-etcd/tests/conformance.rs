//! The shared store conformance suite against a real etcd (started from `/usr/bin/etcd`;
//! the test fails if etcd is not installed).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use portico_store::testing::{self, Fixture};
use portico_store::Store;
use portico_store_etcd::testing::EtcdProcess;
use portico_store_etcd::EtcdStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_store_passes_the_conformance_suite() {
    let etcd = EtcdProcess::start()
        .await
        .unwrap_or_else(|err| panic!("cannot start etcd for the tests: {err}"));
    let endpoints = etcd.endpoints();
    let next = AtomicUsize::new(0);
    // Every check gets its own namespace on the one etcd.
    testing::run_all(|| {
        let n = next.fetch_add(1, Ordering::SeqCst);
        let endpoints = endpoints.clone();
        async move {
            let prefix = format!("/conformance-{n:03}");
            let store = EtcdStore::connect(&endpoints, Some(&prefix)).await.unwrap();
            Fixture::new(Arc::new(store))
        }
    })
    .await;
    drop(etcd);
}

#[tokio::test]
async fn namespaces_do_not_see_each_other() {
    let etcd = EtcdProcess::start().await.unwrap();
    let a = EtcdStore::connect(&etcd.endpoints(), Some("/a"))
        .await
        .unwrap();
    let b = EtcdStore::connect(&etcd.endpoints(), Some("/b"))
        .await
        .unwrap();
    let plain = EtcdStore::connect(&etcd.endpoints(), None).await.unwrap();
    assert_eq!(a.prefix(), "/a");
    a.create("/registry/x", b"a".to_vec()).await.unwrap();
    assert_eq!(b.get("/registry/x").await.unwrap(), None);
    assert!(b
        .list("/registry/", 0, None, 0)
        .await
        .unwrap()
        .items
        .is_empty());
    let everything = plain.list("", 0, None, 0).await.unwrap();
    let keys: Vec<_> = everything.items.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["/a/registry/x"]);
}

#[tokio::test]
async fn connecting_to_nothing_fails() {
    let err = EtcdStore::connect(&["http://127.0.0.1:1".to_string()], None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
    assert!(EtcdStore::connect(&[], None).await.is_err());
}

#[tokio::test]
async fn the_test_etcd_is_killed_on_drop() {
    let etcd = EtcdProcess::start().await.unwrap();
    let pid = etcd.pid();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    drop(etcd);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    assert!(
        status.is_empty() || status.contains("State:\tZ"),
        "etcd {pid} still running"
    );
}
