//! Checks of single-key operations: create, get, compare-and-swap update, delete, revisions.

use futures::future::join_all;

use super::{current, must_create, must_delete, must_update, next_events, open_watch, put_event};
use crate::{Store, StoreError};

/// `create` stores a value with both revisions set to a new revision; `get` returns it;
/// a second `create` fails with `AlreadyExists` and changes nothing. Values are opaque bytes.
pub async fn create_and_get(store: &dyn Store) {
    let key = "/registry/configmaps/default/one";
    assert_eq!(store.get(key).await.unwrap(), None);
    let before = current(store).await;

    let kv = store.create(key, b"v1".to_vec()).await.unwrap();
    assert_eq!(kv.key, key);
    assert_eq!(kv.value, b"v1");
    assert!(kv.mod_revision > before, "{kv:?} after revision {before}");
    assert_eq!(kv.create_revision, kv.mod_revision);
    assert_eq!(current(store).await, kv.mod_revision);
    assert_eq!(store.get(key).await.unwrap(), Some(kv.clone()));

    match store.create(key, b"v2".to_vec()).await {
        Err(StoreError::AlreadyExists { key: k }) => assert_eq!(k, key),
        other => panic!("second create must fail with AlreadyExists, got {other:?}"),
    }
    assert_eq!(store.get(key).await.unwrap(), Some(kv.clone()));
    assert_eq!(
        current(store).await,
        kv.mod_revision,
        "a failed create is not a write"
    );

    let binary = vec![0u8, 159, 255, 10, 0];
    let bin = store
        .create("/registry/secrets/default/bin", binary.clone())
        .await
        .unwrap();
    assert_eq!(bin.value, binary);
    let got = store.get("/registry/secrets/default/bin").await.unwrap();
    assert_eq!(got.map(|kv| kv.value), Some(binary));

    let empty = store
        .create("/registry/secrets/default/empty", Vec::new())
        .await
        .unwrap();
    assert_eq!(
        store.get("/registry/secrets/default/empty").await.unwrap(),
        Some(empty)
    );
}

/// `update` succeeds only with the key's current `mod_revision`, keeps `create_revision`,
/// and a stale revision gives `Conflict` naming the revision found.
pub async fn update_compare_and_swap(store: &dyn Store) {
    let key = "/registry/services/default/web";
    let kv1 = must_create(store, key, "v1").await;
    let kv2 = store
        .update(key, b"v2".to_vec(), kv1.mod_revision)
        .await
        .unwrap();
    assert_eq!(kv2.value, b"v2");
    assert_eq!(kv2.create_revision, kv1.create_revision);
    assert!(kv2.mod_revision > kv1.mod_revision);
    assert_eq!(store.get(key).await.unwrap(), Some(kv2.clone()));

    match store.update(key, b"v3".to_vec(), kv1.mod_revision).await {
        Err(StoreError::Conflict {
            key: k,
            expected,
            found,
        }) => {
            assert_eq!(k, key);
            assert_eq!(expected, kv1.mod_revision);
            assert_eq!(found, kv2.mod_revision);
        }
        other => panic!("stale update must fail with Conflict, got {other:?}"),
    }
    assert_eq!(store.get(key).await.unwrap(), Some(kv2.clone()));
    assert_eq!(current(store).await, kv2.mod_revision);

    match store.update(key, b"v3".to_vec(), 0).await {
        Err(StoreError::Conflict { found, .. }) => assert_eq!(found, kv2.mod_revision),
        other => panic!("update expecting revision 0 must conflict, got {other:?}"),
    }

    let kv3 = must_update(store, &kv2, "v3").await;
    assert_eq!(kv3.value, b"v3");
    assert!(kv3.mod_revision > kv2.mod_revision);
    assert_eq!(kv3.create_revision, kv1.create_revision);
}

/// Operations on a key that does not exist: `get` gives `None`, `update` and `delete`
/// give `NotFound`, and none of them is a write.
pub async fn missing_keys(store: &dyn Store) {
    let other = must_create(store, "/registry/pods/default/present", "x").await;
    let key = "/registry/pods/default/missing";
    assert_eq!(store.get(key).await.unwrap(), None);
    match store.update(key, b"v".to_vec(), other.mod_revision).await {
        Err(StoreError::NotFound { key: k }) => assert_eq!(k, key),
        other => panic!("update of a missing key must fail with NotFound, got {other:?}"),
    }
    match store.delete(key, None).await {
        Err(StoreError::NotFound { key: k }) => assert_eq!(k, key),
        other => panic!("delete of a missing key must fail with NotFound, got {other:?}"),
    }
    match store.delete(key, Some(other.mod_revision)).await {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("delete of a missing key must fail with NotFound, got {other:?}"),
    }
    // A key that is a prefix of an existing key does not exist.
    assert_eq!(
        store.get("/registry/pods/default/pres").await.unwrap(),
        None
    );
    assert_eq!(current(store).await, other.mod_revision);
}

/// `delete` honours the expected revision, returns the last value at the deletion revision,
/// and the key is gone afterwards.
pub async fn delete_semantics(store: &dyn Store) {
    let key = "/registry/endpoints/default/web";
    let kv1 = must_create(store, key, "v1").await;
    let kv2 = must_update(store, &kv1, "v2").await;

    match store.delete(key, Some(kv1.mod_revision)).await {
        Err(StoreError::Conflict {
            key: k,
            expected,
            found,
        }) => {
            assert_eq!(k, key);
            assert_eq!(expected, kv1.mod_revision);
            assert_eq!(found, kv2.mod_revision);
        }
        other => panic!("stale delete must fail with Conflict, got {other:?}"),
    }
    assert_eq!(store.get(key).await.unwrap(), Some(kv2.clone()));

    let deleted = store.delete(key, Some(kv2.mod_revision)).await.unwrap();
    assert_eq!(deleted.key, key);
    assert_eq!(deleted.value, b"v2", "delete returns the last value");
    assert_eq!(deleted.create_revision, kv1.create_revision);
    assert!(deleted.mod_revision > kv2.mod_revision);
    assert_eq!(current(store).await, deleted.mod_revision);
    assert_eq!(store.get(key).await.unwrap(), None);
    assert!(matches!(
        store.delete(key, None).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store
            .update(key, b"v3".to_vec(), deleted.mod_revision)
            .await,
        Err(StoreError::NotFound { .. })
    ));

    let other = must_create(store, "/registry/endpoints/default/other", "o").await;
    let gone = store.delete(&other.key, None).await.unwrap();
    assert_eq!(gone.value, b"o");
    assert!(gone.mod_revision > other.mod_revision);
    assert_eq!(store.get(&other.key).await.unwrap(), None);
}

/// Every write gets a new revision, greater than every earlier one whatever the key, and
/// `current_revision` is the revision of the last write; concurrent writes get distinct ones.
pub async fn revisions_increase(store: &dyn Store) {
    let mut last = current(store).await;
    let a = must_create(store, "/registry/pods/ns/a", "1").await;
    let b = must_create(store, "/registry/services/ns/b", "1").await;
    let a2 = must_update(store, &a, "2").await;
    let c = must_create(store, "/registry/pods/ns/c", "1").await;
    let b_gone = must_delete(store, &b).await;
    for rev in [
        a.mod_revision,
        b.mod_revision,
        a2.mod_revision,
        c.mod_revision,
        b_gone.mod_revision,
    ] {
        assert!(rev > last, "revision {rev} must follow {last}");
        last = rev;
    }
    assert_eq!(current(store).await, last);

    let writes = (0..24).map(|i| {
        let key = format!("/registry/pods/concurrent/p{i:02}");
        async move { store.create(&key, vec![b'x'; i]).await.unwrap() }
    });
    let created = join_all(writes).await;
    let mut revs: Vec<_> = created.iter().map(|kv| kv.mod_revision).collect();
    revs.sort_unstable();
    revs.dedup();
    assert_eq!(
        revs.len(),
        created.len(),
        "concurrent writes share a revision"
    );
    assert!(revs[0] > last);
    assert_eq!(current(store).await, revs[revs.len() - 1]);
    for kv in &created {
        assert_eq!(store.get(&kv.key).await.unwrap().as_ref(), Some(kv));
    }
}

/// A key created again after a delete is a new incarnation: new `create_revision`, old
/// revisions conflict, and a watch sees create, delete, create.
pub async fn recreate_after_delete(store: &dyn Store) {
    let prefix = "/registry/pods/again/";
    let start = current(store).await;
    let key = "/registry/pods/again/p";
    let kv1 = must_create(store, key, "first").await;
    let deleted = must_delete(store, &kv1).await;
    let kv3 = must_create(store, key, "second").await;
    assert!(kv3.mod_revision > deleted.mod_revision);
    assert_eq!(kv3.create_revision, kv3.mod_revision);
    assert_ne!(kv3.create_revision, kv1.create_revision);
    assert!(matches!(
        store.update(key, b"x".to_vec(), kv1.mod_revision).await,
        Err(StoreError::Conflict { .. })
    ));
    let list = store.list(prefix, 0, None, 0).await.unwrap();
    assert_eq!(list.items, vec![kv3.clone()]);

    let mut watch = open_watch(store, prefix, start).await;
    let events = next_events(&mut watch, 3).await;
    assert_eq!(
        events,
        vec![
            put_event(&kv1, None),
            super::delete_event(&deleted, &kv1),
            put_event(&kv3, None),
        ]
    );
}
