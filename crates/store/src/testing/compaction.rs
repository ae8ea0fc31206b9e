//! Checks of `compact`: old revisions become `Compacted`, current values and the revision
//! counter survive.

use futures::StreamExt;

use super::{
    assert_compacted, current, must_create, must_delete, must_update, next_events, open_watch,
    put_event, EVENT_TIMEOUT,
};
use crate::{Revision, Store, StoreError};

/// Asserts a watch from `after` fails with `Compacted`, either at once or as its first item.
async fn assert_watch_compacted(store: &dyn Store, prefix: &str, after: Revision) {
    match store.watch(prefix, after).await {
        Err(err) => assert_compacted::<()>(Err(err), after),
        Ok(mut stream) => match tokio::time::timeout(EVENT_TIMEOUT, stream.next()).await {
            Ok(Some(Err(err))) => assert_compacted::<()>(Err(err), after),
            other => panic!("watch from compacted revision {after} must fail, got {other:?}"),
        },
    }
}

/// After `compact(r)`: lists and watches before `r` fail with `Compacted`, lists at `r` and
/// later and watches from `r` work, every current value survives, the revision counter is
/// unchanged; compacting again at `r` or earlier is a no-op, beyond the current revision an
/// error.
pub async fn compaction(store: &dyn Store) {
    let p = "/registry/leases/compact/";
    let a1 = must_create(store, "/registry/leases/compact/a", "a1").await;
    let a2 = must_update(store, &a1, "a2").await;
    let b1 = must_create(store, "/registry/leases/compact/b", "b1").await;
    let b_gone = must_delete(store, &b1).await;
    let c1 = must_create(store, "/registry/leases/compact/c", "c1").await;
    let c2 = must_update(store, &c1, "c2").await;
    let point = b_gone.mod_revision;

    store.compact(point).await.unwrap();
    assert_eq!(current(store).await, c2.mod_revision);

    assert_compacted(
        store.list(p, b1.mod_revision, None, 0).await,
        b1.mod_revision,
    );
    assert_compacted(
        store.list(p, a1.mod_revision, None, 0).await,
        a1.mod_revision,
    );
    assert_watch_compacted(store, p, a1.mod_revision).await;
    assert_watch_compacted(store, p, a2.mod_revision).await;

    let at_point = store.list(p, point, None, 0).await.unwrap();
    assert_eq!(at_point.items, vec![a2.clone()]);
    let at_c1 = store.list(p, c1.mod_revision, None, 0).await.unwrap();
    assert_eq!(at_c1.items, vec![a2.clone(), c1.clone()]);
    let latest = store.list(p, 0, None, 0).await.unwrap();
    assert_eq!(latest.items, vec![a2.clone(), c2.clone()]);
    assert_eq!(store.get(&a2.key).await.unwrap(), Some(a2.clone()));

    let mut watch = open_watch(store, p, point).await;
    assert_eq!(
        next_events(&mut watch, 2).await,
        vec![put_event(&c1, None), put_event(&c2, Some(&c1))]
    );

    store.compact(point).await.unwrap();
    store.compact(a1.mod_revision).await.unwrap();

    let future = c2.mod_revision + 1000;
    match store.compact(future).await {
        Err(StoreError::FutureRevision { requested, .. }) => assert_eq!(requested, future),
        other => panic!("compacting a future revision must fail, got {other:?}"),
    }

    // Writes carry on after compaction, and the live watch sees them.
    let a3 = must_update(store, &a2, "a3").await;
    assert!(a3.mod_revision > c2.mod_revision);
    assert_eq!(
        next_events(&mut watch, 1).await,
        vec![put_event(&a3, Some(&a2))]
    );
}

/// Compacting at the current revision, when the last write was a delete, keeps the revision
/// counter: the next write still gets a greater revision, and deleted keys stay deleted.
pub async fn compaction_keeps_revision(store: &dyn Store) {
    let p = "/registry/leases/tail/";
    let keep = must_create(store, "/registry/leases/tail/keep", "k").await;
    let kv = must_create(store, "/registry/leases/tail/x", "x").await;
    let kv2 = must_update(store, &kv, "x2").await;
    let gone = must_delete(store, &kv2).await;
    store.compact(gone.mod_revision).await.unwrap();
    assert_eq!(current(store).await, gone.mod_revision);
    assert_eq!(store.get(&kv.key).await.unwrap(), None);
    let list = store.list(p, 0, None, 0).await.unwrap();
    assert_eq!(list.items, vec![keep.clone()]);
    assert_eq!(list.revision, gone.mod_revision);
    let at = store.list(p, gone.mod_revision, None, 0).await.unwrap();
    assert_eq!(at.items, vec![keep.clone()]);

    let mut watch = open_watch(store, p, gone.mod_revision).await;
    let again = must_create(store, &kv.key, "again").await;
    assert!(again.mod_revision > gone.mod_revision);
    assert_eq!(again.create_revision, again.mod_revision);
    assert_eq!(
        next_events(&mut watch, 1).await,
        vec![put_event(&again, None)]
    );
    assert_compacted(
        store.list(p, kv2.mod_revision, None, 0).await,
        kv2.mod_revision,
    );
}
