//! Checks of `list`: ordering, prefixes, lists at older revisions and paging.

use super::{current, keys_and_values, must_create, must_delete, must_update};
use crate::{Store, StoreError};

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Lists are sorted by key, contain exactly the keys that start with the prefix (a pure
/// string prefix), skip deleted keys and are consistent at the current revision.
pub async fn list_sorted_with_prefix(store: &dyn Store) {
    for (key, value) in [
        ("/registry/services/ns1/c", "c"),
        ("/registry/servicesx/ns1/a", "x"),
        ("/registry/services/ns1/a", "a"),
        ("/registry/pods/ns1/a", "pod"),
        ("/registry/services/ns2/a", "a2"),
        ("/registry/services/ns1/b", "b"),
        ("/registry/services/ns1/gone", "gone"),
    ] {
        must_create(store, key, value).await;
    }
    let gone = store
        .get("/registry/services/ns1/gone")
        .await
        .unwrap()
        .unwrap();
    must_delete(store, &gone).await;
    let rev = current(store).await;

    let services = store.list("/registry/services/", 0, None, 0).await.unwrap();
    assert_eq!(
        keys_and_values(&services.items),
        pairs(&[
            ("/registry/services/ns1/a", "a"),
            ("/registry/services/ns1/b", "b"),
            ("/registry/services/ns1/c", "c"),
            ("/registry/services/ns2/a", "a2"),
        ])
    );
    assert_eq!(services.revision, rev);
    assert!(!services.more);
    for kv in &services.items {
        assert_eq!(store.get(&kv.key).await.unwrap().as_ref(), Some(kv));
    }

    let ns1 = store
        .list("/registry/services/ns1/", 0, None, 0)
        .await
        .unwrap();
    assert_eq!(ns1.items.len(), 3);

    let serv = store.list("/registry/serv", 0, None, 0).await.unwrap();
    let keys: Vec<_> = serv.items.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "/registry/services/ns1/a",
            "/registry/services/ns1/b",
            "/registry/services/ns1/c",
            "/registry/services/ns2/a",
            "/registry/servicesx/ns1/a",
        ]
    );

    let all = store.list("/registry/", 0, None, 0).await.unwrap();
    assert_eq!(all.items.len(), 6);
    assert!(all.items.windows(2).all(|w| w[0].key < w[1].key));

    let none = store.list("/registry/nothing/", 0, None, 0).await.unwrap();
    assert!(none.items.is_empty());
    assert!(!none.more);
    assert_eq!(none.revision, rev);
}

/// A list at an older revision returns the state as of that revision (values, revisions,
/// deleted and not yet created keys); a future revision is refused.
pub async fn list_at_revision(store: &dyn Store) {
    let p = "/registry/configmaps/hist/";
    let a1 = must_create(store, "/registry/configmaps/hist/a", "a1").await;
    let b1 = must_create(store, "/registry/configmaps/hist/b", "b1").await;
    let a2 = must_update(store, &a1, "a2").await;
    let b_gone = must_delete(store, &b1).await;
    let c1 = must_create(store, "/registry/configmaps/hist/c", "c1").await;

    let at = |rev| async move {
        let list = store.list(p, rev, None, 0).await.unwrap();
        assert_eq!(
            list.revision, rev,
            "a list at a revision is consistent at it"
        );
        list.items
    };
    assert_eq!(at(a1.mod_revision).await, vec![a1.clone()]);
    assert_eq!(at(b1.mod_revision).await, vec![a1.clone(), b1.clone()]);
    assert_eq!(at(a2.mod_revision).await, vec![a2.clone(), b1.clone()]);
    assert_eq!(at(b_gone.mod_revision).await, vec![a2.clone()]);
    assert_eq!(at(c1.mod_revision).await, vec![a2.clone(), c1.clone()]);
    let latest = store.list(p, 0, None, 0).await.unwrap();
    assert_eq!(latest.items, vec![a2.clone(), c1.clone()]);
    assert_eq!(latest.revision, c1.mod_revision);

    let future = c1.mod_revision + 1000;
    match store.list(p, future, None, 0).await {
        Err(StoreError::FutureRevision { requested, current }) => {
            assert_eq!(requested, future);
            assert_eq!(current, c1.mod_revision);
        }
        other => panic!("list at a future revision must fail, got {other:?}"),
    }
}

/// Paging with `limit` and `start_after` walks the keys in order, `more` tells when keys are
/// left, and paging at a fixed revision ignores writes made meanwhile.
pub async fn list_paging(store: &dyn Store) {
    let p = "/registry/pods/paged/";
    for i in (0..10).rev() {
        must_create(store, &format!("{p}k{i:02}"), &i.to_string()).await;
    }
    must_create(store, "/registry/pods/pagedx/k00", "outside").await;
    let expected: Vec<String> = (0..10).map(|i| format!("{p}k{i:02}")).collect();

    let mut seen = Vec::new();
    let mut start_after: Option<String> = None;
    let mut pages = 0;
    let mut revision = 0;
    loop {
        let page = store
            .list(p, revision, start_after.as_deref(), 3)
            .await
            .unwrap();
        revision = page.revision;
        pages += 1;
        assert!(page.items.len() <= 3);
        seen.extend(page.items.iter().map(|kv| kv.key.clone()));
        if pages == 1 {
            // Writes after the first page must not show in the next pages.
            must_create(store, &format!("{p}k035"), "new").await;
            let k07 = store.get(&format!("{p}k07")).await.unwrap().unwrap();
            must_delete(store, &k07).await;
        }
        if !page.more {
            break;
        }
        start_after = page.items.last().map(|kv| kv.key.clone());
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(seen, expected);
    assert_eq!(pages, 4, "10 keys in pages of 3");

    // Exactly one full page left: no more.
    let last5 = store
        .list(p, revision, Some(&format!("{p}k04")), 5)
        .await
        .unwrap();
    assert_eq!(last5.items.len(), 5);
    assert!(!last5.more);
    let first5 = store.list(p, revision, None, 5).await.unwrap();
    assert!(first5.more);

    // start_after a key that does not exist starts at the next one.
    let from = store
        .list(p, 0, Some(&format!("{p}k035")), 2)
        .await
        .unwrap();
    let keys: Vec<_> = from.items.iter().map(|kv| kv.key.clone()).collect();
    assert_eq!(keys, [format!("{p}k04"), format!("{p}k05")]);
    assert!(from.more);

    // Latest state: k035 added, k07 gone.
    let now = store.list(p, 0, None, 0).await.unwrap();
    assert_eq!(now.items.len(), 10);
    assert!(now.items.iter().any(|kv| kv.key.ends_with("k035")));
    assert!(!now.items.iter().any(|kv| kv.key.ends_with("k07")));
    let exact = store.list(p, 0, None, 10).await.unwrap();
    assert_eq!(exact.items.len(), 10);
    assert!(!exact.more);
}
