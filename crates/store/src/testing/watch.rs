//! Checks of `watch`: replay of missed events, live events, prefixes, many and slow watchers.

use std::time::Duration;

use futures::future::join_all;

use super::{
    assert_quiet, current, delete_event, must_create, must_delete, must_update, next_event,
    next_events, open_watch, put_event,
};
use crate::{Event, Store};

fn revisions(events: &[Event]) -> Vec<i64> {
    events.iter().map(|e| e.kv.mod_revision).collect()
}

/// A watch from the current revision sees only later changes, in order, each once.
pub async fn watch_from_current(store: &dyn Store) {
    let p = "/registry/services/live/";
    let before = must_create(store, "/registry/services/live/before", "b").await;
    let mut watch = open_watch(store, p, current(store).await).await;
    assert_quiet(&mut watch).await;

    let a1 = must_create(store, "/registry/services/live/a", "1").await;
    let a2 = must_update(store, &a1, "2").await;
    let gone = must_delete(store, &a2).await;
    let gone_before = must_delete(store, &before).await;
    let events = next_events(&mut watch, 4).await;
    assert_eq!(
        events,
        vec![
            put_event(&a1, None),
            put_event(&a2, Some(&a1)),
            delete_event(&gone, &a2),
            delete_event(&gone_before, &before),
        ]
    );
    assert_quiet(&mut watch).await;
}

/// A watch from an older revision replays exactly the events after it, in order, then
/// carries on with live events without gaps or duplicates.
pub async fn watch_replays_history(store: &dyn Store) {
    let p = "/registry/services/replay/";
    let start = current(store).await;
    let a1 = must_create(store, "/registry/services/replay/a", "a1").await;
    let b1 = must_create(store, "/registry/services/replay/b", "b1").await;
    let a2 = must_update(store, &a1, "a2").await;
    let b_gone = must_delete(store, &b1).await;
    let history = vec![
        put_event(&a1, None),
        put_event(&b1, None),
        put_event(&a2, Some(&a1)),
        delete_event(&b_gone, &b1),
    ];

    let mut all = open_watch(store, p, start).await;
    let mut tail = open_watch(store, p, b1.mod_revision).await;
    assert_eq!(next_events(&mut all, 4).await, history);
    assert_eq!(next_events(&mut tail, 2).await, history[2..].to_vec());

    let c1 = must_create(store, "/registry/services/replay/c", "c1").await;
    assert_eq!(next_event(&mut all).await, put_event(&c1, None));
    assert_eq!(next_event(&mut tail).await, put_event(&c1, None));
    assert_quiet(&mut all).await;
    assert_quiet(&mut tail).await;

    // Writes racing with the start of a watch are neither lost nor duplicated.
    let from = current(store).await;
    let writer = async {
        let mut kvs = Vec::new();
        for i in 0..40 {
            kvs.push(must_create(store, &format!("{p}race{i:02}"), "r").await);
        }
        kvs
    };
    let watcher = async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let mut watch = open_watch(store, p, from).await;
        let events = next_events(&mut watch, 40).await;
        assert_quiet(&mut watch).await;
        events
    };
    let (kvs, events) = futures::join!(writer, watcher);
    let expected: Vec<_> = kvs.iter().map(|kv| put_event(kv, None)).collect();
    assert_eq!(events, expected);
}

/// A watch from revision 0 replays the whole history under the prefix, then live events.
pub async fn watch_from_zero(store: &dyn Store) {
    let p = "/registry/secrets/zero/";
    let a1 = must_create(store, "/registry/secrets/zero/a", "a1").await;
    let a2 = must_update(store, &a1, "a2").await;
    let b1 = must_create(store, "/registry/secrets/zero/b", "b1").await;
    must_create(store, "/registry/secrets/zeroes/z", "not under the prefix").await;

    let mut watch = open_watch(store, p, 0).await;
    assert_eq!(
        next_events(&mut watch, 3).await,
        vec![
            put_event(&a1, None),
            put_event(&a2, Some(&a1)),
            put_event(&b1, None)
        ]
    );
    let gone = must_delete(store, &b1).await;
    assert_eq!(next_event(&mut watch).await, delete_event(&gone, &b1));
    assert_quiet(&mut watch).await;
}

/// Events carry the new value, the previous value, and for a delete the last value at the
/// deletion revision: the same whether seen live or replayed.
pub async fn watch_event_contents(store: &dyn Store) {
    let p = "/registry/configmaps/contents/";
    let start = current(store).await;
    let mut live = open_watch(store, p, start).await;
    let key = "/registry/configmaps/contents/cm";
    let kv1 = must_create(store, key, "{\"v\":1}").await;
    let kv2 = must_update(store, &kv1, "{\"v\":2}").await;
    let gone = store.delete(key, None).await.unwrap();
    assert_eq!(gone.value, kv2.value);
    assert_eq!(gone.create_revision, kv1.create_revision);

    let expected = vec![
        put_event(&kv1, None),
        put_event(&kv2, Some(&kv1)),
        delete_event(&gone, &kv2),
    ];
    assert_eq!(next_events(&mut live, 3).await, expected);
    let mut replay = open_watch(store, p, start).await;
    assert_eq!(next_events(&mut replay, 3).await, expected);
    assert_eq!(revisions(&expected).len(), 3);
}

/// A watch sees only keys that start with its prefix (a pure string prefix).
pub async fn watch_prefix_filter(store: &dyn Store) {
    let start = current(store).await;
    let mut services = open_watch(store, "/registry/services/", start).await;
    let mut serv = open_watch(store, "/registry/serv", start).await;
    let mut exact_ns = open_watch(store, "/registry/services/ns/", start).await;

    let x = must_create(store, "/registry/servicesx/ns/a", "x").await;
    must_create(store, "/registry/pods/ns/a", "pod").await;
    let a = must_create(store, "/registry/services/ns/a", "a").await;
    let bare = must_create(store, "/registry/service", "bare").await;
    let other_ns = must_create(store, "/registry/services/ns2/b", "b").await;

    assert_eq!(
        next_events(&mut services, 2).await,
        vec![put_event(&a, None), put_event(&other_ns, None)]
    );
    assert_eq!(
        next_events(&mut serv, 4).await,
        vec![
            put_event(&x, None),
            put_event(&a, None),
            put_event(&bare, None),
            put_event(&other_ns, None),
        ]
    );
    assert_eq!(next_event(&mut exact_ns).await, put_event(&a, None));
    assert_quiet(&mut services).await;
    assert_quiet(&mut serv).await;
    assert_quiet(&mut exact_ns).await;
}

/// Many watchers, started before and after concurrent writers, all see every event exactly
/// once in the same, strictly increasing revision order.
pub async fn concurrent_watchers(store: &dyn Store) {
    let p = "/registry/pods/many/";
    let start = current(store).await;
    let mut early = Vec::new();
    for _ in 0..16 {
        early.push(open_watch(store, p, start).await);
    }
    let writers = (0..4).map(|w| async move {
        let mut kvs = Vec::new();
        for i in 0..25 {
            kvs.push(must_create(store, &format!("{p}w{w}-{i:02}"), "x").await);
        }
        kvs
    });
    let mut written: Vec<_> = join_all(writers).await.into_iter().flatten().collect();
    written.sort_by_key(|kv| kv.mod_revision);
    let expected: Vec<_> = written.iter().map(|kv| put_event(kv, None)).collect();

    let mut late = Vec::new();
    for _ in 0..4 {
        late.push(open_watch(store, p, start).await);
    }
    let results = join_all(early.iter_mut().chain(late.iter_mut()).map(|w| async {
        let events = next_events(w, 100).await;
        assert_quiet(w).await;
        events
    }))
    .await;
    for events in results {
        assert_eq!(events, expected);
    }
    let revs = revisions(&expected);
    assert!(revs.windows(2).all(|w| w[0] < w[1]));
}

/// A watcher that does not read does not block writers, and once it reads it gets every
/// event in order (the backend may have to re-read its history).
pub async fn slow_watcher(store: &dyn Store) {
    let p = "/registry/events/slow/";
    let start = current(store).await;
    let mut slow = open_watch(store, p, start).await;
    let writers = (0..8).map(|w| async move {
        let mut kvs = Vec::new();
        for i in 0..250 {
            kvs.push(must_create(store, &format!("{p}w{w}-{i:03}"), "payload").await);
        }
        kvs
    });
    let written = tokio::time::timeout(Duration::from_secs(120), join_all(writers))
        .await
        .unwrap_or_else(|_| panic!("writers blocked by a watcher that does not read"));
    let mut written: Vec<_> = written.into_iter().flatten().collect();
    written.sort_by_key(|kv| kv.mod_revision);

    let events = next_events(&mut slow, written.len()).await;
    let got: Vec<_> = events.iter().map(|e| e.kv.clone()).collect();
    assert_eq!(got, written);
    assert_quiet(&mut slow).await;
}
