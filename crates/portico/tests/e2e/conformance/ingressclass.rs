//! Ported from test/e2e/network/ingressclass.go: the IngressClass API conformance test.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::networking::v1::IngressClass;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchParams};
use serde_json::json;

use super::framework;
use super::framework::annotation;
use crate::kube_client::support::blocking;

/// `wait.ForeverTestTimeout`.
const FOREVER_TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The upstream `createIngressClass(cs, name, isDefault=false, uniqueName)`.
async fn create_ingress_class(
    api: &Api<IngressClass>,
    name: &str,
    unique_name: &str,
) -> kube::Result<IngressClass> {
    let class: IngressClass = serde_json::from_value(json!({
        "metadata": {
            "name": name,
            "labels": {"ingressclass": unique_name, "special-label": "generic"},
        },
        "spec": {"controller": "example.com/controller"},
    }))
    .unwrap();
    api.create(&PostParams::default(), &class).await
}

// Ported from test/e2e/network/ingressclass.go, "should support creating IngressClass API
// operations".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingressclass_api_should_support_creating_ingressclass_api_operations() {
    let _case = framework::case(
        "[sig-network] IngressClass API should support creating IngressClass API operations [Conformance]",
    );
    let c = blocking(|| framework::cluster(1));
    // The framework's namespace; its name is the test's UniqueName.
    let unique = blocking(|| framework::namespace(&c, "ingressclass"));
    let client = framework::client(&c).await;
    let ic_client: Api<IngressClass> = Api::all(client.clone());

    // Discovery.
    framework::expect_discovery(&client, "networking.k8s.io", "v1", "ingressclasses").await;

    // creating
    let ingress_class1 = create_ingress_class(&ic_client, "ingressclass1", &unique)
        .await
        .unwrap();
    create_ingress_class(&ic_client, "ingressclass2", &unique)
        .await
        .unwrap();
    create_ingress_class(&ic_client, "ingressclass3", &unique)
        .await
        .unwrap();
    let name1 = ingress_class1.metadata.name.clone().unwrap();

    // getting
    let gotten = ic_client.get(&name1).await.unwrap();
    assert_eq!(gotten.metadata.uid, ingress_class1.metadata.uid);

    // listing
    let ics = ic_client
        .list(&ListParams::default().labels("special-label=generic"))
        .await
        .unwrap();
    assert_eq!(ics.items.len(), 3, "filtered list should have 3 items");

    // watching
    let selector = format!("ingressclass={unique}");
    let list_rv = ics.metadata.resource_version.clone().unwrap_or_default();
    let mut ic_watch = ic_client
        .watch(&WatchParams::default().labels(&selector), &list_rv)
        .await
        .unwrap()
        .boxed();

    // patching
    let patched = ic_client
        .patch(
            &name1,
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
    let mut to_update = patched.clone();
    to_update
        .metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert("updated".into(), "true".into());
    let updated = ic_client
        .replace(&name1, &PostParams::default(), &to_update)
        .await
        .unwrap();
    assert_eq!(
        annotation(&updated, "updated"),
        Some("true"),
        "updated object should have the applied annotation"
    );

    // waiting for watch events with expected annotations
    framework::await_modified_with_annotation(&mut ic_watch, "patched", FOREVER_TEST_TIMEOUT).await;
    drop(ic_watch);

    // deleting
    ic_client
        .delete(&name1, &DeleteParams::default())
        .await
        .unwrap();
    match ic_client.get(&name1).await {
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        other => panic!("expected 404, got {other:?}"),
    }
    let ics = ic_client
        .list(&ListParams::default().labels(&selector))
        .await
        .unwrap();
    assert_eq!(ics.items.len(), 2, "filtered list should have 2 items");

    // deleting a collection
    ic_client
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels(&selector),
        )
        .await
        .unwrap();
    let ics = ic_client
        .list(&ListParams::default().labels(&selector))
        .await
        .unwrap();
    assert!(ics.items.is_empty(), "filtered list should have 0 items");
}
