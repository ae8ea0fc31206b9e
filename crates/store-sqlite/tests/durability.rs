//! What survives closing and reopening a SQLite store.

use portico_store::{Store, StoreError};
use portico_store_sqlite::{Durability, Options, SqliteStore};

#[tokio::test]
async fn data_and_revision_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/store.db");
    let (a, gone) = {
        let store = SqliteStore::open(&path).unwrap();
        let a = store.create("/registry/a", b"1".to_vec()).await.unwrap();
        let a = store
            .update("/registry/a", b"2".to_vec(), a.mod_revision)
            .await
            .unwrap();
        store.create("/registry/b", b"b".to_vec()).await.unwrap();
        let gone = store.delete("/registry/b", None).await.unwrap();
        (a, gone)
    };
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.current_revision().await.unwrap(), gone.mod_revision);
    assert_eq!(store.get("/registry/a").await.unwrap(), Some(a.clone()));
    assert_eq!(store.get("/registry/b").await.unwrap(), None);
    let c = store.create("/registry/c", b"c".to_vec()).await.unwrap();
    assert_eq!(c.mod_revision, gone.mod_revision + 1);
    // History survives too: a list at an old revision still sees b.
    let old = store
        .list("/registry/", gone.mod_revision - 1, None, 0)
        .await
        .unwrap();
    assert_eq!(old.items.len(), 2);
}

#[tokio::test]
async fn compaction_point_and_revision_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let (kv, gone) = {
        let store =
            SqliteStore::open_with(Options::new(&path).durability(Durability::Full)).unwrap();
        let kv = store.create("/registry/x", b"x".to_vec()).await.unwrap();
        let kv = store
            .update("/registry/x", b"y".to_vec(), kv.mod_revision)
            .await
            .unwrap();
        store.create("/registry/z", b"z".to_vec()).await.unwrap();
        // The newest row is a tombstone, which compaction removes.
        let gone = store.delete("/registry/z", None).await.unwrap();
        store.compact(gone.mod_revision).await.unwrap();
        (kv, gone)
    };
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.current_revision().await.unwrap(),
        gone.mod_revision,
        "the revision must not go backwards when the newest rows were compacted"
    );
    assert_eq!(store.get("/registry/x").await.unwrap(), Some(kv.clone()));
    match store.list("/registry/", kv.mod_revision, None, 0).await {
        Err(StoreError::Compacted { compacted, .. }) => assert_eq!(compacted, gone.mod_revision),
        other => panic!("expected Compacted, got {other:?}"),
    }
    assert!(matches!(
        store.watch("/registry/", kv.mod_revision).await,
        Err(StoreError::Compacted { .. })
    ));
    let next = store
        .create("/registry/z", b"again".to_vec())
        .await
        .unwrap();
    assert_eq!(next.mod_revision, gone.mod_revision + 1);
}

#[tokio::test]
async fn a_closed_store_ends_its_watches_with_an_error() {
    use futures::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("store.db")).unwrap();
    let mut watch = store.watch("/registry/", 0).await.unwrap();
    store.create("/registry/a", b"a".to_vec()).await.unwrap();
    assert!(matches!(watch.next().await, Some(Ok(_))));
    drop(store);
    let end = tokio::time::timeout(std::time::Duration::from_secs(10), watch.next())
        .await
        .unwrap();
    assert!(matches!(end, Some(Err(StoreError::Backend(_)))), "{end:?}");
    assert!(watch.next().await.is_none());
}
