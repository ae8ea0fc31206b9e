//! Ported from test/e2e/network/ingress.go: the Ingress API conformance test (the rest of
//! that file needs a cloud load balancer and is not conformance).

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchParams,
};
use kube::discovery::ApiResource;
use serde_json::{json, Value};

use super::framework;
use super::framework::annotation;
use crate::kube_client::support::blocking;

/// `wait.ForeverTestTimeout`.
const FOREVER_TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The upstream `ingTemplate` with its one rule's host set to `host`.
fn ingress(unique: &str, host: &str) -> Ingress {
    serde_json::from_value(json!({
        "metadata": {"generateName": "e2e-example-ing", "labels": {"special-label": unique}},
        "spec": {
            "defaultBackend": {"service": {"name": "default-backend", "port": {"number": 8080}}},
            "rules": [{
                "host": host,
                "http": {"paths": [{
                    "path": "/",
                    "pathType": "ImplementationSpecific",
                    "backend": {"service": {"name": "test-backend", "port": {"number": 8080}}},
                }]},
            }],
        },
        "status": {"loadBalancer": {}},
    }))
    .unwrap()
}

fn load_balancer(ing: &Ingress) -> Value {
    serde_json::to_value(ing.status.as_ref().and_then(|s| s.load_balancer.as_ref())).unwrap()
}

/// The upstream `expectFinalizer`: an Ingress still listed after its deletion must be
/// terminating and held by a finalizer.
fn expect_finalizer(ing: &Ingress, msg: &str) {
    assert!(
        ing.metadata.deletion_timestamp.is_some(),
        "expected deletionTimestamp, got nil on step: {msg:?}, ingress: {ing:?}"
    );
    assert!(
        ing.metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| !f.is_empty()),
        "expected finalizers on ingress, got none on step: {msg:?}, ingress: {ing:?}"
    );
}

// Ported from test/e2e/network/ingress.go, "should support creating Ingress API operations".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingress_api_should_support_creating_ingress_api_operations() {
    let _case = framework::case(
        "[sig-network] Ingress API should support creating Ingress API operations [Conformance]",
    );
    let c = blocking(|| framework::cluster(1));
    let ns = blocking(|| framework::namespace(&c, "ingress"));
    let unique = ns.clone();
    let client = framework::client(&c).await;
    let ing_client: Api<Ingress> = Api::namespaced(client.clone(), &ns);
    let selector = format!("special-label={unique}");
    let labelled = || ListParams::default().labels(&selector);

    // Discovery.
    framework::expect_discovery(&client, "networking.k8s.io", "v1", "ingresses").await;

    // creating
    let pp = PostParams::default();
    ing_client
        .create(&pp, &ingress(&unique, "host1.bar.com"))
        .await
        .unwrap();
    ing_client
        .create(&pp, &ingress(&unique, "host2.bar.com"))
        .await
        .unwrap();
    let created = ing_client
        .create(&pp, &ingress(&unique, "host3.bar.com"))
        .await
        .unwrap();
    let name = created.metadata.name.clone().unwrap();

    // getting
    let gotten = ing_client.get(&name).await.unwrap();
    assert_eq!(gotten.metadata.uid, created.metadata.uid);

    // listing
    let ings = ing_client.list(&labelled()).await.unwrap();
    assert_eq!(ings.items.len(), 3, "filtered list should have 3 items");

    // watching
    let list_rv = ings.metadata.resource_version.clone().unwrap_or_default();
    let mut ing_watch = ing_client
        .watch(&WatchParams::default().labels(&selector), &list_rv)
        .await
        .unwrap()
        .boxed();

    // cluster-wide listing and watching
    let cluster_client: Api<Ingress> = Api::all(client.clone());
    let cluster_ings = cluster_client.list(&labelled()).await.unwrap();
    assert_eq!(
        cluster_ings.items.len(),
        3,
        "filtered list should have 3 items"
    );
    let _cluster_watch = cluster_client
        .watch(&WatchParams::default().labels(&selector), &list_rv)
        .await
        .unwrap();

    // patching
    let patched = ing_client
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"patched": "true"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        annotation(&patched, "patched"),
        Some("true"),
        "patched object should have the applied annotation"
    );

    // updating
    let updated = framework::retry_on_conflict(|| async {
        let mut to_update = ing_client.get(&name).await?;
        to_update
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert("updated".into(), "true".into());
        ing_client.replace(&name, &pp, &to_update).await
    })
    .await
    .unwrap();
    assert_eq!(
        annotation(&updated, "updated"),
        Some("true"),
        "updated object should have the applied annotation"
    );

    // waiting for watch events with expected annotations
    framework::await_modified_with_annotation(&mut ing_watch, "patched", FOREVER_TEST_TIMEOUT)
        .await;
    drop(ing_watch);

    // patching /status
    let lb_status = json!({"ingress": [{"ip": "169.1.1.1"}]});
    let patched_status = ing_client
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({
                "metadata": {"annotations": {"patchedstatus": "true"}},
                "status": {"loadBalancer": lb_status},
            })),
        )
        .await
        .unwrap();
    assert_eq!(
        load_balancer(&patched_status),
        lb_status,
        "patched object should have the applied loadBalancer status"
    );
    assert_eq!(
        annotation(&patched_status, "patchedstatus"),
        Some("true"),
        "patched object should have the applied annotation"
    );

    // updating /status
    let wanted = json!({"ingress": [{"ip": "169.1.1.2"}]});
    let updated_status = framework::retry_on_conflict(|| async {
        let mut to_update = ing_client.get(&name).await?;
        to_update
            .status
            .get_or_insert_with(Default::default)
            .load_balancer = Some(serde_json::from_value(wanted.clone()).unwrap());
        ing_client.replace_status(&name, &pp, &to_update).await
    })
    .await
    .unwrap();
    assert_eq!(
        load_balancer(&updated_status),
        wanted,
        "updated object expected to have updated loadbalancer status"
    );

    // get /status, with a dynamic client as upstream
    let resource = ApiResource::erase::<Ingress>(&());
    let dynamic: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &resource);
    let gotten_status = dynamic.get_subresource("status", &name).await.unwrap();
    assert_eq!(
        gotten_status.metadata.uid, created.metadata.uid,
        "createdIngress.UID expected to match statusUID"
    );

    // deleting
    ing_client
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    // Without finalizers support the Ingress is gone (404); otherwise it is terminating.
    match ing_client.get(&name).await {
        Ok(ing) => expect_finalizer(&ing, "deleting createdIngress"),
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => panic!("expected 404, got {e:?}"),
    }
    let ings = ing_client.list(&labelled()).await.unwrap();
    assert!(
        ings.items.len() <= 3,
        "filtered list should have <= 3 items"
    );
    for ing in &ings.items {
        if ing.metadata.name.as_deref() == Some(&name) {
            expect_finalizer(ing, "listing after deleting createdIngress");
        }
    }

    // deleting a collection
    ing_client
        .delete_collection(&DeleteParams::default(), &labelled())
        .await
        .unwrap();
    let ings = ing_client.list(&labelled()).await.unwrap();
    assert!(
        ings.items.len() <= 3,
        "filtered list should have <= 3 items"
    );
    for ing in &ings.items {
        expect_finalizer(ing, "deleting ingress collection");
    }
}
