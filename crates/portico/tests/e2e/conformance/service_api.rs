//! Ported from test/e2e/network/service.go: the Service conformance tests that exercise the
//! API and the endpoints controllers (the `kubernetes` Service, listing, deleting a
//! collection, the status subresource, a hand-made Endpoints' lifecycle) and, in
//! [`pods`], the two that serve endpoints from pods.

mod pods;

use std::fmt::Debug;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::serde::de::DeserializeOwned;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::discovery::ApiResource;
use serde_json::{json, Value};

use super::framework;
use crate::kube_client::support::blocking;

/// `svcReadyTimeout` of service.go.
const SVC_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// `utilrand.String(n)`: n characters of client-go's alphabet (no vowels, no look-alikes).
fn rand_string(n: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id()).rotate_left(32);
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            ALPHABET[(seed % ALPHABET.len() as u64) as usize] as char
        })
        .collect()
}

/// client-go's `watchtools.Until(ctx, initialResourceVersion, lw, condition)`: watches from
/// `rv` (re-watching from the last seen resourceVersion if the server ends the watch) until
/// `condition` holds for an event; bookmarks are not shown to it.
async fn watch_until<K>(
    api: &Api<K>,
    selector: &str,
    rv: &str,
    timeout: Duration,
    mut condition: impl FnMut(&WatchEvent<K>) -> bool,
) -> Result<(), String>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut rv = rv.to_string();
    loop {
        let mut stream = api
            .watch(&WatchParams::default().labels(selector), &rv)
            .await
            .map_err(|e| e.to_string())?
            .boxed();
        loop {
            let event = match tokio::time::timeout_at(deadline, stream.next()).await {
                Err(_) => return Err("timed out waiting for the condition".into()),
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(e.to_string()),
                Ok(Some(Ok(event))) => event,
            };
            match &event {
                WatchEvent::Bookmark(b) => {
                    rv = b.metadata.resource_version.clone();
                    continue;
                }
                WatchEvent::Error(e) => return Err(format!("watch error: {e:?}")),
                WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => {
                    rv = o.meta().resource_version.clone().unwrap_or_default();
                }
            }
            if condition(&event) {
                return Ok(());
            }
        }
    }
}

// Ported from test/e2e/network/service.go, "should provide secure master service".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_should_provide_secure_master_service() {
    let _case = framework::case(
        "[sig-network] Services should provide secure master service [Conformance]",
    );
    let c = blocking(|| framework::cluster(1));
    blocking(|| framework::namespace(&c, "services"));
    let cs = framework::client(&c).await;
    Api::<Service>::namespaced(cs, "default")
        .get("kubernetes")
        .await
        .expect("failed to fetch the service object for the service named kubernetes");
}

// Ported from test/e2e/network/service.go, "should find a service from listing all
// namespaces".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_should_find_a_service_from_listing_all_namespaces() {
    let _case = framework::case(
        "[sig-network] Services should find a service from listing all namespaces [Conformance]",
    );
    let c = blocking(|| framework::cluster(1));
    blocking(|| framework::namespace(&c, "services"));
    let cs = framework::client(&c).await;
    // fetching services
    let svcs = Api::<Service>::all(cs)
        .list(&ListParams::default())
        .await
        .unwrap();
    let found = svcs.items.iter().any(|s| {
        s.metadata.name.as_deref() == Some("kubernetes")
            && s.metadata.namespace.as_deref() == Some("default")
    });
    assert!(
        found,
        "could not find service 'kubernetes' in service list in all namespaces"
    );
}

// Ported from test/e2e/network/service.go, "should delete a collection of services".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_should_delete_a_collection_of_services() {
    let _case = framework::case(
        "[sig-network] Services should delete a collection of services [Conformance]",
    );
    let c = blocking(|| framework::cluster(1));
    let ns = blocking(|| framework::namespace(&c, "services"));
    let cs = framework::client(&c).await;
    let svc_client: Api<Service> = Api::namespaced(cs.clone(), &ns);
    let resource = ApiResource::erase::<Service>(&());
    let svc_dynamic: Api<DynamicObject> = Api::namespaced_with(cs.clone(), &ns, &resource);
    let delete_label = "e2e-test-service=delete";

    // creating a collection of services
    for (name, label, port) in [
        (format!("e2e-svc-a-{}", rand_string(5)), "delete", 8001),
        (format!("e2e-svc-b-{}", rand_string(5)), "delete", 8002),
        (format!("e2e-svc-c-{}", rand_string(5)), "keep", 8003),
    ] {
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"e2e-test-service": label}},
            "spec": {"type": "ClusterIP", "ports": [
                {"name": "http", "protocol": "TCP", "port": port, "targetPort": port}]},
        }))
        .unwrap();
        svc_client
            .create(&PostParams::default(), &svc)
            .await
            .expect("failed to create Service");
    }
    let list = svc_client.list(&ListParams::default()).await.unwrap();
    assert_eq!(
        list.items.len(),
        3,
        "Required count of services out of sync"
    );

    // deleting service collection
    svc_dynamic
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels(delete_label),
        )
        .await
        .expect("failed to delete service collection");
    let list = svc_client.list(&ListParams::default()).await.unwrap();
    assert_eq!(
        list.items.len(),
        1,
        "Required count of services out of sync"
    );
}

/// The object of an event that carries one.
fn event_object<K>(e: &WatchEvent<K>) -> Option<&K> {
    match e {
        WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => Some(o),
        _ => None,
    }
}

// Ported from test/e2e/network/service.go, "should test the lifecycle of an Endpoint".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_should_test_the_lifecycle_of_an_endpoint() {
    let _case = framework::case(
        "[sig-network] Services should test the lifecycle of an Endpoint [Conformance]",
    );
    let c = blocking(|| framework::cluster(1));
    let ns = blocking(|| framework::namespace(&c, "services"));
    let cs = framework::client(&c).await;
    let name = "testservice";
    let selector = "test-endpoint-static=true";
    let ep_client: Api<Endpoints> = Api::namespaced(cs.clone(), &ns);
    let all_eps: Api<Endpoints> = Api::all(cs.clone());
    let static_label = |e: &Endpoints| {
        e.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("test-endpoint-static"))
            .is_some_and(|v| v == "true")
    };
    let label =
        |e: &Endpoints, key: &str| e.metadata.labels.as_ref().and_then(|l| l.get(key)).cloned();
    let test_endpoints: Endpoints = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"test-endpoint-static": "true"}},
        "subsets": [{
            "addresses": [{"ip": "10.0.0.24"}],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
        }],
    }))
    .unwrap();
    let lp = ListParams::default().labels(selector);
    let endpoints_list = all_eps.list(&lp).await.expect("failed to list Endpoints");
    let list_rv = endpoints_list.metadata.resource_version.unwrap_or_default();

    // creating an Endpoint
    ep_client
        .create(&PostParams::default(), &test_endpoints)
        .await
        .expect("failed to create Endpoint");
    // waiting for available Endpoint
    watch_until(
        &ep_client,
        selector,
        &list_rv,
        Duration::from_secs(30),
        |e| matches!(e, WatchEvent::Added(o) if static_label(o)),
    )
    .await
    .expect("failed to see ADDED event");

    // listing all Endpoints
    let endpoints_list = all_eps.list(&lp).await.expect("failed to list Endpoints");
    let mut found = endpoints_list
        .items
        .iter()
        .find(|e| {
            e.metadata.name.as_deref() == Some(name) && e.metadata.namespace.as_deref() == Some(&ns)
        })
        .cloned()
        .expect("unable to find Endpoint Service in list of Endpoints");
    let list_rv = endpoints_list.metadata.resource_version.unwrap_or_default();

    // updating the Endpoint
    found
        .metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert("test-service".into(), "updated".into());
    ep_client
        .replace(name, &PostParams::default(), &found)
        .await
        .expect("failed to update Endpoint with new label");
    watch_until(
        &ep_client,
        selector,
        &list_rv,
        Duration::from_secs(30),
        |e| matches!(e, WatchEvent::Modified(o) if static_label(o)),
    )
    .await
    .expect("failed to see MODIFIED event");

    // fetching the Endpoint
    let endpoints = ep_client.get(name).await.expect("failed to fetch Endpoint");
    assert_eq!(
        label(&found, "test-service").as_deref(),
        Some("updated"),
        "failed to update Endpoint {name} in namespace {ns} label not updated"
    );

    // patching the Endpoint (strategic merge patch)
    let patch = json!({
        "metadata": {"labels": {"test-service": "patched"}},
        "subsets": [{
            "addresses": [{"ip": "10.0.0.25"}],
            "ports": [{"name": "http-test", "port": 8080}],
        }],
    });
    ep_client
        .patch(name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .expect("failed to patch Endpoint");
    let rv = endpoints
        .metadata
        .resource_version
        .clone()
        .unwrap_or_default();
    watch_until(
        &ep_client,
        selector,
        &rv,
        Duration::from_secs(30),
        |e| matches!(e, WatchEvent::Modified(o) if static_label(o)),
    )
    .await
    .expect("failed to see MODIFIED event");

    // fetching the Endpoint
    let endpoints = ep_client.get(name).await.expect("failed to fetch Endpoint");
    assert_eq!(
        label(&endpoints, "test-service").as_deref(),
        Some("patched"),
        "failed to patch Endpoint with Label"
    );
    let subset = &endpoints.subsets.as_ref().unwrap()[0];
    let address = &subset.addresses.as_ref().unwrap()[0];
    let port = &subset.ports.as_ref().unwrap()[0];
    assert_eq!(address.ip, "10.0.0.25", "failed to patch Endpoint");
    assert_eq!(
        port.name.as_deref(),
        Some("http-test"),
        "failed to patch Endpoint"
    );
    assert_eq!(port.port, 8080, "failed to patch Endpoint");

    // deleting the Endpoint by Collection
    ep_client
        .delete_collection(&DeleteParams::default(), &lp)
        .await
        .expect("failed to delete Endpoint by Collection");
    // waiting for Endpoint deletion
    let rv = endpoints
        .metadata
        .resource_version
        .clone()
        .unwrap_or_default();
    watch_until(
        &ep_client,
        selector,
        &rv,
        Duration::from_secs(30),
        |e| matches!(e, WatchEvent::Deleted(o) if static_label(o)),
    )
    .await
    .expect("failed to see DELETED event");

    // fetching the Endpoint
    assert!(
        ep_client.get(name).await.is_err(),
        "should not be able to fetch Endpoint"
    );
}

fn field<'a>(o: &'a DynamicObject, path: &[&str]) -> &'a Value {
    let mut v = &o.data;
    for p in path {
        v = &v[*p];
    }
    v
}

fn meta_value<'a>(
    map: &'a Option<std::collections::BTreeMap<String, String>>,
    key: &str,
) -> Option<&'a str> {
    map.as_ref()?.get(key).map(String::as_str)
}

// Ported from test/e2e/network/service.go, "should complete a service status lifecycle"
// (v1.32: a LoadBalancer Service of a foreign loadBalancerClass, so that no load-balancer
// implementation writes its status).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_should_complete_a_service_status_lifecycle() {
    let _case = framework::case(
        "[sig-network] Services should complete a service status lifecycle [Conformance]",
    );
    let c = blocking(|| framework::cluster(1));
    let ns = blocking(|| framework::namespace(&c, "services"));
    let cs = framework::client(&c).await;
    // Dynamic objects: a status condition set without lastTransitionTime (as upstream's
    // metav1.Condition{} sends it, `null`) does not fit k8s-openapi's typed Condition.
    let resource = ApiResource::erase::<Service>(&());
    let svc_client: Api<DynamicObject> = Api::namespaced_with(cs.clone(), &ns, &resource);
    let all_svcs: Api<DynamicObject> = Api::all_with(cs.clone(), &resource);
    let name = format!("test-service-{}", rand_string(5));
    let selector = "test-service-static=true";

    let svc_list = all_svcs
        .list(&ListParams::default().labels(selector))
        .await
        .expect("failed to list Services");
    let list_rv = svc_list.metadata.resource_version.unwrap_or_default();

    // creating a Service
    let test_service: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "labels": {"test-service-static": "true"}},
        "spec": {
            "type": "LoadBalancer",
            "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 80}],
            "loadBalancerClass": "example.com/internal-vip",
        },
    }))
    .unwrap();
    svc_client
        .create(&PostParams::default(), &test_service)
        .await
        .expect("failed to create Service");
    let ours = |o: &DynamicObject| {
        o.metadata.name.as_deref() == Some(name.as_str())
            && o.metadata.namespace.as_deref() == Some(ns.as_str())
    };

    // watching for the Service to be added
    watch_until(&svc_client, selector, &list_rv, SVC_READY_TIMEOUT, |e| {
        event_object(e).is_some_and(|o| {
            ours(o) && meta_value(&o.metadata.labels, "test-service-static") == Some("true")
        })
    })
    .await
    .unwrap_or_else(|e| panic!("Failed to locate Service {name} in namespace {ns}: {e}"));

    // Getting /status
    let status = svc_client
        .get_subresource("status", &name)
        .await
        .unwrap_or_else(|e| panic!("Failed to fetch ServiceStatus of Service {name}: {e}"));
    let _: Service = serde_json::from_value(serde_json::to_value(&status).unwrap())
        .expect("Failed to unmarshal JSON bytes to a Service object type");

    // patching the ServiceStatus
    svc_client
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({
                "metadata": {"annotations": {"patchedstatus": "true"}},
                "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.1"}]}},
            })),
        )
        .await
        .expect("Could not patch service status");

    // watching for the Service to be patched
    let patched = |o: &DynamicObject| {
        ours(o) && meta_value(&o.metadata.annotations, "patchedstatus") == Some("true")
    };
    watch_until(&svc_client, selector, &list_rv, SVC_READY_TIMEOUT, |e| {
        event_object(e).is_some_and(patched)
    })
    .await
    .unwrap_or_else(|e| panic!("failed to locate Service {name} in namespace {ns}: {e}"));

    // updating the ServiceStatus
    framework::retry_on_conflict(|| async {
        let mut to_update = svc_client.get(&name).await?;
        let condition = json!({
            "type": "StatusUpdate", "status": "True", "reason": "E2E",
            "message": "Set from e2e test", "lastTransitionTime": null,
        });
        let status = to_update
            .data
            .as_object_mut()
            .unwrap()
            .entry("status")
            .or_insert_with(|| json!({}));
        match status["conditions"].as_array_mut() {
            Some(conditions) => conditions.push(condition),
            None => status["conditions"] = json!([condition]),
        }
        svc_client
            .replace_status(&name, &PostParams::default(), &to_update)
            .await
    })
    .await
    .expect("Failed to UpdateStatus");

    // watching for the Service to be updated: the first condition decides, as upstream
    watch_until(&svc_client, selector, &list_rv, SVC_READY_TIMEOUT, |e| {
        let Some(o) = event_object(e) else {
            return false;
        };
        if !patched(o) {
            return false;
        }
        match field(o, &["status", "conditions"])
            .as_array()
            .and_then(|c| c.first())
        {
            Some(cond) => {
                cond["type"] == "StatusUpdate"
                    && cond["reason"] == "E2E"
                    && cond["message"] == "Set from e2e test"
            }
            None => false,
        }
    })
    .await
    .unwrap_or_else(|e| panic!("failed to locate Service {name} in namespace {ns}: {e}"));

    // patching the service (strategic merge patch of a Service with only labels set)
    svc_client
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Strategic(json!({
                "metadata": {"labels": {"test-service": "patched"}, "creationTimestamp": null},
                "spec": {},
                "status": {"loadBalancer": {}},
            })),
        )
        .await
        .expect("failed to patch service");

    // watching for the Service to be patched
    watch_until(&svc_client, selector, &list_rv, SVC_READY_TIMEOUT, |e| {
        event_object(e).is_some_and(|o| {
            ours(o) && meta_value(&o.metadata.labels, "test-service") == Some("patched")
        })
    })
    .await
    .unwrap_or_else(|e| panic!("failed to locate Service {name} in namespace {ns}: {e}"));

    // deleting the service
    svc_client
        .delete(&name, &DeleteParams::default())
        .await
        .expect("failed to delete the Service");

    // watching for the Service to be deleted
    watch_until(&svc_client, selector, &list_rv, SVC_READY_TIMEOUT, |e| {
        matches!(e, WatchEvent::Deleted(o)
            if ours(o) && meta_value(&o.metadata.labels, "test-service-static") == Some("true"))
    })
    .await
    .unwrap_or_else(|e| panic!("failed to delete Service {name} in namespace {ns}: {e}"));
}
