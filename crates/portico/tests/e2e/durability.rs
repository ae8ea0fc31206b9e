//! Crash durability: Services acknowledged before a `kill -9` survive the restart with the
//! same clusterIP and nodePort, nothing is allocated twice, creates keep working, and a
//! watch from before the crash resumes. Run against the SQLite store and against etcd.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

use crate::harness::Cluster;
use crate::kube_client::support::{blocking, client, cluster_ip, node_port, service, summary};

/// What the writer got back for one acknowledged create.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Acked {
    cluster_ip: String,
    node_port: Option<i32>,
}

/// Writers that create Services as fast as the server takes them until a request fails.
fn spawn_writers(
    svcs: &Api<Service>,
    acked: &Arc<Mutex<BTreeMap<String, Acked>>>,
    writers: usize,
) -> Vec<tokio::task::JoinHandle<usize>> {
    (0..writers)
        .map(|w| {
            let (svcs, acked) = (svcs.clone(), Arc::clone(acked));
            tokio::spawn(async move {
                let mut i = 0;
                loop {
                    let name = format!("d{w}-{i}");
                    // Every fourth Service is a NodePort one: 2768 ports is plenty for a few seconds.
                    let obj = service(&name, i % 4 == 0, json!({"suite": "durability"}));
                    let Ok(s) = svcs.create(&PostParams::default(), &obj).await else {
                        // The server is gone: stop at the first failure.
                        return i;
                    };
                    let a = Acked {
                        cluster_ip: cluster_ip(&s),
                        node_port: node_port(&s),
                    };
                    acked.lock().unwrap().insert(name, a);
                    i += 1;
                }
            })
        })
        .collect()
}

/// Asserts no clusterIP and no nodePort is held by two Services (listing every clash);
/// returns both sets.
fn assert_unique(items: &[Service]) -> (BTreeSet<String>, BTreeSet<i32>) {
    let mut ips: HashMap<String, String> = HashMap::new();
    let mut ports: HashMap<i32, String> = HashMap::new();
    let mut clashes = Vec::new();
    for s in items {
        let name = s.metadata.name.clone().unwrap();
        let ip = cluster_ip(s);
        assert!(!ip.is_empty() && ip != "None", "{name} has no clusterIP");
        if let Some(other) = ips.insert(ip.clone(), name.clone()) {
            clashes.push(format!("clusterIP {ip}: {other} and {name}"));
        }
        for p in s.spec.as_ref().unwrap().ports.iter().flatten() {
            if let Some(np) = p.node_port {
                if let Some(other) = ports.insert(np, name.clone()) {
                    clashes.push(format!("nodePort {np}: {other} and {name}"));
                }
            }
        }
    }
    assert!(
        clashes.is_empty(),
        "{} allocations held twice:\n{}",
        clashes.len(),
        clashes.join("\n")
    );
    (ips.into_keys().collect(), ports.into_keys().collect())
}

async fn acknowledged_services_survive_kill9(extra: &[&str]) {
    let mut c = blocking(|| Cluster::start_with(extra));
    let svcs: Api<Service> = Api::namespaced(client(&c).await, "default");
    let before = svcs.list(&ListParams::default()).await.unwrap();
    let before_names: BTreeSet<String> = before
        .items
        .iter()
        .map(|s| s.metadata.name.clone().unwrap())
        .collect();
    let pre_crash_rv = before.metadata.resource_version.unwrap();

    let acked = Arc::new(Mutex::new(BTreeMap::new()));
    let writers = spawn_writers(&svcs, &acked, 8);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let at_kill = acked.lock().unwrap().len();
    blocking(|| c.kill9());
    for w in writers {
        tokio::time::timeout(Duration::from_secs(60), w)
            .await
            .unwrap()
            .unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        at_kill >= 20,
        "only {at_kill} creates acknowledged in 1.5 s"
    );
    assert!(acked.values().any(|a| a.node_port.is_some()));

    blocking(|| c.restart());
    let svcs: Api<Service> = Api::namespaced(client(&c).await, "default");
    let after = svcs.list(&ListParams::default()).await.unwrap();
    let found: HashMap<String, &Service> = after
        .items
        .iter()
        .map(|s| (s.metadata.name.clone().unwrap(), s))
        .collect();
    for (name, a) in &acked {
        let s = found
            .get(name)
            .unwrap_or_else(|| panic!("acknowledged Service {name} lost"));
        assert_eq!(cluster_ip(s), a.cluster_ip, "{name} changed its clusterIP");
        assert_eq!(node_port(s), a.node_port, "{name} changed its nodePort");
    }
    // Creates that were in flight at the kill may or may not have landed; nothing else may.
    let unacked: Vec<&String> = found
        .keys()
        .filter(|n| !acked.contains_key(*n) && !before_names.contains(*n))
        .collect();
    assert!(
        unacked.len() <= 8,
        "more in-flight creates landed than writers: {unacked:?}"
    );
    let (held_ips, held_ports) = assert_unique(&after.items);

    // New creates work and never reuse what is held.
    let pp = PostParams::default();
    let mut new_names = Vec::new();
    for i in 0..40 {
        let name = format!("post-{i}");
        let s = svcs
            .create(&pp, &service(&name, i % 2 == 0, json!({})))
            .await
            .unwrap();
        assert!(
            !held_ips.contains(&cluster_ip(&s)),
            "{name} reuses {}",
            cluster_ip(&s)
        );
        if let Some(np) = node_port(&s) {
            assert!(!held_ports.contains(&np), "{name} reuses nodePort {np}");
        }
        new_names.push(name);
    }
    let final_list = svcs.list(&ListParams::default()).await.unwrap();
    assert_unique(&final_list.items);

    // A watch from before the crash replays every Service created since, exactly once.
    let mut want: BTreeSet<String> = found
        .keys()
        .filter(|n| !before_names.contains(*n))
        .cloned()
        .collect();
    want.extend(new_names);
    let mut w = svcs
        .watch(&WatchParams::default(), &pre_crash_rv)
        .await
        .unwrap()
        .boxed();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < want.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        let ev = tokio::time::timeout(left, w.next())
            .await
            .unwrap_or_else(|_| panic!("watch replayed {} of {} creates", seen.len(), want.len()))
            .unwrap()
            .unwrap();
        match ev {
            WatchEvent::Added(s) => *seen.entry(s.metadata.name.unwrap()).or_default() += 1,
            WatchEvent::Bookmark(_) => {}
            other => panic!("unexpected event {:?}", summary(&other)),
        }
    }
    // Nothing more (no duplicates) arrives afterwards.
    if let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(500), w.next()).await {
        let ev = ev.unwrap();
        assert!(
            matches!(ev, WatchEvent::Bookmark(_)),
            "extra event {:?}",
            summary(&ev)
        );
    }
    let dups: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "duplicated ADDED events: {dups:?}");
    assert_eq!(seen.keys().cloned().collect::<BTreeSet<_>>(), want);
    eprintln!(
        "durability: {} acknowledged before kill (at {at_kill} when kill started), {} in-flight landed",
        acked.len(),
        unacked.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_services_survive_kill9_sqlite() {
    acknowledged_services_survive_kill9(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_services_survive_kill9_etcd() {
    let etcd = crate::kube_client::support::etcd().await;
    acknowledged_services_survive_kill9(&["--etcd", etcd.endpoint()]).await;
}

/// Two API servers on one etcd (the design's way to scale out) must not hand out the same
/// clusterIP or nodePort to Services created through different servers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_etcd_never_share_an_allocation() {
    let etcd = crate::kube_client::support::etcd().await;
    let one = blocking(|| Cluster::start_with(&["--etcd", etcd.endpoint()]));
    let two = blocking(|| Cluster::start_with(&["--etcd", etcd.endpoint()]));
    let apis: Vec<Api<Service>> = vec![
        Api::namespaced(client(&one).await, "default"),
        Api::namespaced(client(&two).await, "default"),
    ];
    let mut tasks = Vec::new();
    for (s, api) in apis.iter().enumerate() {
        for w in 0..4 {
            let api = api.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..25 {
                    let name = format!("s{s}-w{w}-{i}");
                    // All NodePort: 200 draws from 2768 ports collide by chance if the two
                    // servers do not coordinate (about 3.6 expected collisions).
                    let obj = service(&name, true, json!({}));
                    api.create(&PostParams::default(), &obj).await.unwrap();
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let all = apis[0].list(&ListParams::default()).await.unwrap();
    assert_eq!(all.items.len(), 201, "200 Services plus `kubernetes`");
    assert_unique(&all.items);
}
