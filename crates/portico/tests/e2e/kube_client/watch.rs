//! Watches through kube-rs: raw `Api::watch` and the runtime watcher, resumption from a
//! resourceVersion across `kill -9` and restart, 410 Gone after compaction, and a reflector.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, ListParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use serde_json::json;

use super::support::{self, api_error, assert_quiet, blocking, client, rv, service, take_events};
use crate::harness::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_see_added_modified_and_deleted() {
    let c = blocking(Cluster::start);
    let svcs: Api<Service> = Api::namespaced(client(&c).await, "default");
    let start = svcs.list(&ListParams::default()).await.unwrap();
    let from = start.metadata.resource_version.unwrap();
    let mut raw = svcs
        .watch(&WatchParams::default(), &from)
        .await
        .unwrap()
        .boxed();
    let cfg = watcher::Config::default().labels("app=watched");
    let mut rt = watcher(svcs.clone(), cfg).boxed();
    // The runtime watcher starts with an (empty) initial list.
    loop {
        match tokio::time::timeout(Duration::from_secs(10), rt.try_next()).await {
            Ok(Ok(Some(watcher::Event::InitDone))) => break,
            Ok(Ok(Some(_))) => {}
            other => panic!("watcher did not initialise: {other:?}"),
        }
    }

    let pp = PostParams::default();
    let created = svcs
        .create(&pp, &service("w", false, json!({"app": "watched"})))
        .await
        .unwrap();
    let mut s = created.clone();
    s.metadata.annotations = Some(BTreeMap::from([("note".into(), "changed".into())]));
    let modified = svcs.replace("w", &pp, &s).await.unwrap();
    svcs.delete("w", &DeleteParams::default()).await.unwrap();

    let events = take_events(&mut raw, 3, 10).await;
    assert_eq!(
        events,
        [
            ("ADDED".into(), "w".into(), rv(&created)),
            ("MODIFIED".into(), "w".into(), rv(&modified)),
            ("DELETED".into(), "w".into(), events[2].2.clone()),
        ]
    );
    assert!(!events[2].2.is_empty() && events[2].2 != rv(&modified));
    assert_quiet(&mut raw, 300).await;

    let mut seen = Vec::new();
    while seen.len() < 3 {
        let ev = tokio::time::timeout(Duration::from_secs(10), rt.try_next())
            .await
            .expect("runtime watcher event")
            .unwrap()
            .unwrap();
        match ev {
            watcher::Event::Apply(o) => seen.push(("apply", o.metadata.annotations.is_some())),
            watcher::Event::Delete(_) => seen.push(("delete", false)),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, [("apply", false), ("apply", true), ("delete", false)]);
}

/// Changes made to `svcs` in the resumption test: (expected event type, name).
async fn make_changes(svcs: &Api<Service>, round: &str) -> Vec<(String, String, String)> {
    let pp = PostParams::default();
    let mut out = Vec::new();
    let a = svcs
        .create(&pp, &service(&format!("{round}-a"), false, json!({})))
        .await
        .unwrap();
    out.push(("ADDED".into(), format!("{round}-a"), rv(&a)));
    let b = svcs
        .create(&pp, &service(&format!("{round}-b"), true, json!({})))
        .await
        .unwrap();
    out.push(("ADDED".into(), format!("{round}-b"), rv(&b)));
    let mut a2 = a.clone();
    a2.metadata.labels = Some(BTreeMap::from([("round".into(), round.into())]));
    let a2 = svcs.replace(&format!("{round}-a"), &pp, &a2).await.unwrap();
    out.push(("MODIFIED".into(), format!("{round}-a"), rv(&a2)));
    svcs.delete(&format!("{round}-b"), &DeleteParams::default())
        .await
        .unwrap();
    out.push(("DELETED".into(), format!("{round}-b"), String::new()));
    out
}

/// Compares watch events with expected ones, ignoring the (unknown) rv of deletions.
fn assert_events(got: &[(String, String, String)], want: &[(String, String, String)]) {
    let strip = |v: &[(String, String, String)]| -> Vec<(String, String, String)> {
        v.iter()
            .map(|(t, n, r)| {
                (
                    t.clone(),
                    n.clone(),
                    if t == "DELETED" {
                        String::new()
                    } else {
                        r.clone()
                    },
                )
            })
            .collect()
    };
    assert_eq!(strip(got), strip(want));
}

async fn watch_resumes_across_a_crash(extra: &[&str]) {
    let mut c = blocking(|| Cluster::start_with(extra));
    let svcs: Api<Service> = Api::namespaced(client(&c).await, "default");
    let from = svcs
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut w = svcs
        .watch(&WatchParams::default(), &from)
        .await
        .unwrap()
        .boxed();
    let before = make_changes(&svcs, "one").await;
    let got = take_events(&mut w, before.len(), 10).await;
    assert_events(&got, &before);
    let last_rv = got.last().unwrap().2.clone();
    drop(w);

    blocking(|| c.restart());
    // Changes made once the server is back, before anyone resumes watching.
    let svcs: Api<Service> = Api::namespaced(client(&c).await, "default");
    let after = make_changes(&svcs, "two").await;
    let mut w = svcs
        .watch(&WatchParams::default(), &last_rv)
        .await
        .unwrap()
        .boxed();
    let got = take_events(&mut w, after.len(), 10).await;
    assert_events(&got, &after);
    assert_quiet(&mut w, 500).await;
    // And the resumed watch stays live.
    let live = make_changes(&svcs, "three").await;
    let got = take_events(&mut w, live.len(), 10).await;
    assert_events(&got, &live);
    assert_quiet(&mut w, 300).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_exactly_after_kill9_and_restart_sqlite() {
    watch_resumes_across_a_crash(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_exactly_after_kill9_and_restart_etcd() {
    let etcd = support::etcd().await;
    watch_resumes_across_a_crash(&["--etcd", etcd.endpoint()]).await;
}

/// Watching from a compacted revision: Kubernetes answers 200 and then an ERROR event
/// carrying a 410 `Expired` Status ("too old resource version"); a 410 response to the
/// request itself is accepted as well.
async fn assert_watch_gone(svcs: &Api<Service>, from: &str) {
    match svcs.watch(&WatchParams::default(), from).await {
        Err(e) => {
            let s = api_error(e);
            assert_eq!((s.code, s.reason.as_str()), (410, "Expired"), "{s:?}");
        }
        Ok(stream) => {
            let mut stream = stream.boxed();
            let first = tokio::time::timeout(Duration::from_secs(10), stream.next())
                .await
                .expect("an event from a compacted watch");
            match first {
                Some(Ok(WatchEvent::Error(s))) => {
                    assert_eq!((s.code, s.reason.as_str()), (410, "Expired"), "{s:?}");
                    assert!(s.message.starts_with("too old resource version"), "{s:?}");
                }
                Some(Err(kube::Error::Api(s))) => assert_eq!(s.code, 410, "{s:?}"),
                other => panic!("expected a 410 from a compacted watch, got {other:?}"),
            }
        }
    }
}

async fn churn(svcs: &Api<Service>) -> String {
    let pp = PostParams::default();
    let s = svcs
        .create(&pp, &service("old", false, json!({})))
        .await
        .unwrap();
    let old_rv = rv(&s);
    let mut cur = s;
    for i in 0..5 {
        cur.metadata.labels = Some(BTreeMap::from([("i".into(), i.to_string())]));
        cur = svcs.replace("old", &pp, &cur).await.unwrap();
    }
    old_rv
}

/// Whether a watch from `from` is refused as expired (rather than replaying history).
async fn watch_is_gone(svcs: &Api<Service>, from: &str) -> bool {
    let stream = match svcs.watch(&WatchParams::default(), from).await {
        Err(kube::Error::Api(s)) if s.code == 410 => return true,
        Err(e) => panic!("watch failed: {e}"),
        Ok(s) => s,
    };
    let mut stream = stream.boxed();
    match tokio::time::timeout(Duration::from_secs(5), stream.next()).await {
        Ok(Some(Ok(WatchEvent::Error(s)))) => s.code == 410,
        Ok(Some(Ok(_))) => false,
        other => panic!("unexpected watch answer {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_own_compaction_makes_old_revisions_410_gone_sqlite() {
    // The server compacts every interval, at the revision it saw one interval before.
    let c = blocking(|| Cluster::start_with(&["--compaction-interval", "1s"]));
    let svcs: Api<Service> = Api::namespaced(client(&c).await, "default");
    let old_rv = churn(&svcs).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !watch_is_gone(&svcs, &old_rv).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "history at {old_rv} was not compacted within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_watch_gone(&svcs, &old_rv).await;
    // An exact list at the compacted revision is expired too.
    let exact = ListParams::default()
        .at(&old_rv)
        .matching(kube::api::VersionMatch::Exact);
    let s = api_error(svcs.list(&exact).await.unwrap_err());
    assert_eq!((s.code, s.reason.as_str()), (410, "Expired"), "{s:?}");
    // The current state is still there and watchable from now.
    let list = svcs.list(&ListParams::default()).await.unwrap();
    assert!(list
        .items
        .iter()
        .any(|s| s.metadata.name.as_deref() == Some("old")));
    let mut w = svcs
        .watch(
            &WatchParams::default(),
            list.metadata.resource_version.as_deref().unwrap(),
        )
        .await
        .unwrap()
        .boxed();
    svcs.delete("old", &DeleteParams::default()).await.unwrap();
    let got = take_events(&mut w, 1, 10).await;
    assert_eq!((got[0].0.as_str(), got[0].1.as_str()), ("DELETED", "old"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_from_a_compacted_revision_is_410_gone_etcd() {
    let etcd = support::etcd().await;
    let c = blocking(|| Cluster::start_with(&["--etcd", etcd.endpoint()]));
    let svcs: Api<Service> = Api::namespaced(client(&c).await, "default");
    let old_rv = churn(&svcs).await;
    support::compact_etcd(etcd.endpoint()).await;
    assert_watch_gone(&svcs, &old_rv).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reflector_store_converges_to_the_list() {
    let c = blocking(Cluster::start);
    let svcs: Api<Service> = Api::namespaced(client(&c).await, "default");
    let pp = PostParams::default();
    for i in 0..20 {
        svcs.create(
            &pp,
            &service(&format!("r{i}"), i % 4 == 0, json!({"set": "r"})),
        )
        .await
        .unwrap();
    }
    let (reader, writer) = reflector::store();
    let stream = reflector(
        writer,
        watcher(svcs.clone(), watcher::Config::default().labels("set=r")),
    )
    .applied_objects()
    .for_each(|_| futures::future::ready(()));
    let task = tokio::spawn(stream);
    tokio::time::timeout(Duration::from_secs(10), reader.wait_until_ready())
        .await
        .unwrap()
        .unwrap();
    for i in 20..30 {
        svcs.create(&pp, &service(&format!("r{i}"), false, json!({"set": "r"})))
            .await
            .unwrap();
    }
    for i in 0..5 {
        svcs.delete(&format!("r{i}"), &DeleteParams::default())
            .await
            .unwrap();
    }
    for i in 5..10 {
        let mut s = svcs.get(&format!("r{i}")).await.unwrap();
        s.metadata.annotations = Some(BTreeMap::from([("v".into(), "2".into())]));
        svcs.replace(&format!("r{i}"), &pp, &s).await.unwrap();
    }
    // An unlabelled Service must stay out of the cache.
    svcs.create(&pp, &service("outsider", false, json!({})))
        .await
        .unwrap();

    let want: BTreeMap<String, String> = svcs
        .list(&ListParams::default().labels("set=r"))
        .await
        .unwrap()
        .items
        .iter()
        .map(|s| (s.metadata.name.clone().unwrap(), rv(s)))
        .collect();
    assert_eq!(want.len(), 25);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let have: BTreeMap<String, String> = reader
            .state()
            .iter()
            .map(|s| (s.metadata.name.clone().unwrap(), rv(s)))
            .collect();
        if have == want {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "cache {have:?}\n != list {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.abort();
}
