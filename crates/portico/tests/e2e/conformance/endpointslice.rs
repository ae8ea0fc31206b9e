//! Ported from test/e2e/network/endpointslice.go: the EndpointSlice conformance tests (the
//! `kubernetes` Service's Endpoints and slices, the controller creating and deleting slices,
//! slices for pods matching a Service, and the EndpointSlice API verbs).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Endpoints, ObjectReference, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchParams};
use serde_json::json;

use super::framework;
use super::framework::annotation;

mod expect;
use crate::kube_client::support::blocking;
use expect::*;

/// `wait.ForeverTestTimeout`.
const FOREVER_TEST_TIMEOUT: Duration = Duration::from_secs(30);
/// `imageutils.GetE2EImage(imageutils.Nginx)`.
const NGINX_IMAGE: &str = "registry.k8s.io/e2e-test-images/nginx:1.14-4";

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn service_selector(name: &str) -> ListParams {
    ListParams::default().labels(&format!("kubernetes.io/service-name={name}"))
}

/// The upstream `createServiceReportErr`.
async fn create_service(cs: &kube::Client, ns: &str, svc: serde_json::Value) -> Service {
    let svc: Service = serde_json::from_value(svc).unwrap();
    Api::<Service>::namespaced(cs.clone(), ns)
        .create(&PostParams::default(), &svc)
        .await
        .expect("error creating Service")
}

// Ported from test/e2e/network/endpointslice.go, "should have Endpoints and EndpointSlices
// pointing to API Server".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpointslice_should_have_endpoints_and_endpointslices_pointing_to_api_server() {
    let _case = framework::case(
        "[sig-network] EndpointSlice should have Endpoints and EndpointSlices pointing to API Server [Conformance]",
    );
    let c = blocking(|| framework::cluster(1));
    blocking(|| framework::namespace(&c, "endpointslice"));
    let cs = framework::client(&c).await;
    let (namespace, name) = ("default", "kubernetes");

    Api::<Service>::namespaced(cs.clone(), namespace)
        .get(name)
        .await
        .expect(
            "error obtaining API server \"kubernetes\" Service resource on \"default\" namespace",
        );
    let endpoints = Api::<Endpoints>::namespaced(cs.clone(), namespace)
        .get(name)
        .await
        .expect(
            "error obtaining API server \"kubernetes\" Endpoint resource on \"default\" namespace",
        );
    let subsets = endpoints.subsets.clone().unwrap_or_default();
    assert!(
        !subsets.is_empty(),
        "Expected at least 1 subset in endpoints, got 0: {subsets:?}"
    );
    let slices = Api::<EndpointSlice>::namespaced(cs.clone(), namespace)
        .list(&service_selector(name))
        .await
        .expect("error obtaining API server \"kubernetes\" EndpointSlice resource");
    assert!(
        !slices.items.is_empty(),
        "Expected at least 1 EndpointSlice, got 0"
    );

    // endpointSlicesEqual: the same addresses and ports, over the slices of the Service's
    // (IPv4) family.
    let mut ep_addresses = BTreeSet::new();
    let mut ep_ports = BTreeSet::new();
    for subset in &subsets {
        for a in subset.addresses.iter().flatten() {
            ep_addresses.insert(a.ip.clone());
        }
        for a in subset.not_ready_addresses.iter().flatten() {
            ep_addresses.insert(a.ip.clone());
        }
        for p in subset.ports.iter().flatten() {
            ep_ports.insert(p.port);
        }
    }
    let mut slice_addresses = BTreeSet::new();
    let mut slice_ports = BTreeSet::new();
    for slice in slices.items.iter().filter(|s| s.address_type == "IPv4") {
        for e in &slice.endpoints {
            slice_addresses.extend(e.addresses.iter().cloned());
        }
        for p in slice.ports.iter().flatten() {
            if let Some(port) = p.port {
                slice_ports.insert(port);
            }
        }
    }
    assert!(
        slice_addresses == ep_addresses && slice_ports == ep_ports,
        "Expected EndpointSlice to have same addresses and port as Endpoints, got {endpoints:?}: {:?}",
        slices.items
    );
}

// Ported from test/e2e/network/endpointslice.go, "should create and delete Endpoints and
// EndpointSlices for a Service with a selector specified".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpointslice_should_create_and_delete_endpoints_and_endpointslices_for_a_service_with_a_selector_specified(
) {
    let _case = framework::case(
        "[sig-network] EndpointSlice should create and delete Endpoints and EndpointSlices for a Service with a selector specified [Conformance]",
    );
    let c = blocking(|| framework::cluster(1));
    let ns = blocking(|| framework::namespace(&c, "endpointslice"));
    let cs = framework::client(&c).await;
    let svc = create_service(
        &cs,
        &ns,
        json!({
            "metadata": {"name": "example-empty-selector"},
            "spec": {
                "selector": {"does-not-match-anything": "endpoints-and-endpoint-slices-should-still-be-created"},
                "ports": [{"name": "example", "port": 80, "protocol": "TCP"}],
            },
        }),
    )
    .await;
    let name = svc.metadata.name.clone().unwrap();
    let endpoints_api: Api<Endpoints> = Api::namespaced(cs.clone(), &ns);
    let slices_api: Api<EndpointSlice> = Api::namespaced(cs.clone(), &ns);

    // Expect Endpoints resource to be created.
    framework::poll(secs(2), FOREVER_TEST_TIMEOUT, true, || async {
        Ok(endpoints_api.get(&name).await.is_ok())
    })
    .await
    .unwrap_or_else(|e| panic!("No Endpoints found for Service {ns}/{name}: {e}"));

    // Expect EndpointSlice resource to be created.
    let slice = RefCell::new(None);
    framework::poll(secs(2), FOREVER_TEST_TIMEOUT, true, || async {
        let list = slices_api
            .list(&service_selector(&name))
            .await
            .map_err(|e| e.to_string())?;
        *slice.borrow_mut() = list.items.into_iter().next();
        Ok(slice.borrow().is_some())
    })
    .await
    .unwrap_or_else(|e| panic!("No EndpointSlice found for Service {ns}/{name}: {e}"));
    let slice = slice.into_inner().unwrap();

    // Ensure EndpointSlice has expected values.
    let labels = slice.metadata.labels.clone().unwrap_or_default();
    match labels.get("endpointslice.kubernetes.io/managed-by") {
        None => panic!("Expected EndpointSlice to have endpointslice.kubernetes.io/managed-by label, got {labels:?}"),
        Some(m) => assert_eq!(
            m, "endpointslice-controller.k8s.io",
            "Expected EndpointSlice to have the managed-by label with endpointslice-controller.k8s.io value"
        ),
    }
    assert!(
        slice.endpoints.is_empty(),
        "Expected EndpointSlice to have 0 endpoints, got {}: {:?}",
        slice.endpoints.len(),
        slice.endpoints
    );

    Api::<Service>::namespaced(cs.clone(), &ns)
        .delete(&name, &DeleteParams::default())
        .await
        .expect("error deleting Service");

    // Expect Endpoints resource to be deleted when Service is.
    framework::poll(secs(2), FOREVER_TEST_TIMEOUT, true, || async {
        match endpoints_api.get(&name).await {
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(true),
            Err(e) => Err(e.to_string()),
            Ok(_) => Ok(false),
        }
    })
    .await
    .unwrap_or_else(|e| {
        panic!("Endpoints resource not deleted after Service {ns}/{name} was deleted: {e}")
    });

    // Expect EndpointSlice resource to be deleted when Service is (upstream allows 90 s for
    // the garbage collector).
    framework::poll(secs(2), secs(90), true, || async {
        let list = slices_api
            .list(&service_selector(&name))
            .await
            .map_err(|e| e.to_string())?;
        Ok(list.items.is_empty())
    })
    .await
    .unwrap_or_else(|e| {
        panic!("EndpointSlice resource not deleted after Service {ns}/{name} was deleted: {e}")
    });
}

// Ported from test/e2e/network/endpointslice.go, "should create Endpoints and EndpointSlices
// for Pods matching a Service".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpointslice_should_create_endpoints_and_endpointslices_for_pods_matching_a_service() {
    let _case = framework::case(
        "[sig-network] EndpointSlice should create Endpoints and EndpointSlices for Pods matching a Service [Conformance]",
    );
    let c = blocking(|| framework::cluster(1));
    let ns = blocking(|| framework::namespace(&c, "endpointslice"));
    let cs = framework::client(&c).await;
    let pods: Api<Pod> = Api::namespaced(cs.clone(), &ns);
    let pp = PostParams::default();

    let pod1 = pods
        .create(
            &pp,
            &pod(
                "pod1",
                json!({"pod1": "on", "shared12": "on"}),
                &[("example-name", 3000)],
            ),
        )
        .await
        .unwrap();
    let pod2 = pods
        .create(
            &pp,
            &pod(
                "pod2",
                json!({"pod2": "on", "shared12": "on"}),
                &[("example-name", 3001), ("other-port", 3002)],
            ),
        )
        .await
        .unwrap();
    let svc1 = create_service(
        &cs,
        &ns,
        json!({"metadata": {"name": "example-int-port"}, "spec": {
            "selector": {"pod1": "on"}, "publishNotReadyAddresses": true,
            "ports": [{"name": "example", "port": 80, "targetPort": 3000, "protocol": "TCP"}]}}),
    )
    .await;
    let svc2 = create_service(
        &cs,
        &ns,
        json!({"metadata": {"name": "example-named-port"}, "spec": {
            "selector": {"shared12": "on"}, "publishNotReadyAddresses": true,
            "ports": [{"name": "http", "port": 80, "targetPort": "example-name", "protocol": "TCP"}]}}),
    )
    .await;
    let svc3 = create_service(
        &cs,
        &ns,
        json!({"metadata": {"name": "example-no-match"}, "spec": {
            "selector": {"pod3": "on"}, "publishNotReadyAddresses": true,
            "ports": [{"name": "example-no-match", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}}),
    )
    .await;

    let (pod1, pod2) = (RefCell::new(pod1), RefCell::new(pod2));
    framework::poll(secs(5), secs(180), false, || async {
        *pod1.borrow_mut() = pods.get("pod1").await.map_err(|e| e.to_string())?;
        if pod_ips(&pod1.borrow()) == 0 {
            return Ok(false);
        }
        *pod2.borrow_mut() = pods.get("pod2").await.map_err(|e| e.to_string())?;
        Ok(pod_ips(&pod2.borrow()) > 0)
    })
    .await
    .expect("timed out waiting for Pods to have IPs assigned");
    let (pod1, pod2) = (pod1.into_inner(), pod2.into_inner());

    // referencing a single matching pod
    expect_endpoints_and_slices(&cs, &ns, &svc1, &[&pod1], 1, 1, false).await;
    // referencing matching pods with named port
    expect_endpoints_and_slices(&cs, &ns, &svc2, &[&pod1, &pod2], 2, 2, true).await;
    // creating empty Endpoints and EndpointSlices for no matching Pods
    expect_endpoints_and_slices(&cs, &ns, &svc3, &[], 0, 1, false).await;
    // recreating EndpointSlices after they've been deleted
    delete_endpoint_slices(&cs, &ns, &svc2).await;
    expect_endpoints_and_slices(&cs, &ns, &svc2, &[&pod1, &pod2], 2, 2, true).await;
}

// Ported from test/e2e/network/endpointslice.go, "should support creating EndpointSlice API
// operations".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpointslice_should_support_creating_endpointslice_api_operations() {
    let _case = framework::case(
        "[sig-network] EndpointSlice should support creating EndpointSlice API operations [Conformance]",
    );
    let c = blocking(|| framework::cluster(1));
    let ns = blocking(|| framework::namespace(&c, "endpointslice"));
    let unique = ns.clone();
    let cs = framework::client(&c).await;
    let eps_client: Api<EndpointSlice> = Api::namespaced(cs.clone(), &ns);
    let selector = format!("special-label={unique}");
    let labelled = || ListParams::default().labels(&selector);
    let template: EndpointSlice = serde_json::from_value(json!({
        "metadata": {"generateName": "e2e-example-ing", "labels": {"special-label": unique}},
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": ["1.2.3.4", "5.6.7.8"]},
            {"addresses": ["2.2.3.4", "6.6.7.8"]},
        ],
    }))
    .unwrap();

    // Discovery.
    framework::expect_discovery(&cs, "discovery.k8s.io", "v1", "endpointslices").await;

    // creating
    let pp = PostParams::default();
    eps_client.create(&pp, &template).await.unwrap();
    eps_client.create(&pp, &template).await.unwrap();
    let created = eps_client.create(&pp, &template).await.unwrap();
    let name = created.metadata.name.clone().unwrap();

    // getting
    let queried = eps_client.get(&name).await.unwrap();
    assert_eq!(queried.metadata.uid, created.metadata.uid);

    // listing
    let eps_list = eps_client.list(&labelled()).await.unwrap();
    assert_eq!(eps_list.items.len(), 3, "filtered list should have 3 items");

    // watching
    let list_rv = eps_list
        .metadata
        .resource_version
        .clone()
        .unwrap_or_default();
    let mut eps_watch = eps_client
        .watch(&WatchParams::default().labels(&selector), &list_rv)
        .await
        .unwrap()
        .boxed();

    // cluster-wide listing and watching
    let cluster_client: Api<EndpointSlice> = Api::all(cs.clone());
    let cluster_list = cluster_client.list(&labelled()).await.unwrap();
    assert_eq!(
        cluster_list.items.len(),
        3,
        "filtered list should have 3 items"
    );
    let _cluster_watch = cluster_client
        .watch(&WatchParams::default().labels(&selector), &list_rv)
        .await
        .unwrap();

    // patching
    let patched = eps_client
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
        let mut to_update = eps_client.get(&name).await?;
        to_update
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert("updated".into(), "true".into());
        eps_client.replace(&name, &pp, &to_update).await
    })
    .await
    .unwrap();
    assert_eq!(
        annotation(&updated, "updated"),
        Some("true"),
        "updated object should have the applied annotation"
    );

    // waiting for watch events with expected annotations
    framework::await_modified_with_annotation(&mut eps_watch, "patched", FOREVER_TEST_TIMEOUT)
        .await;
    drop(eps_watch);

    // deleting
    eps_client
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    match eps_client.get(&name).await {
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        other => panic!("expected 404, got {other:?}"),
    }
    let eps_list = eps_client.list(&labelled()).await.unwrap();
    assert_eq!(eps_list.items.len(), 2, "filtered list should have 2 items");
    assert!(
        eps_list
            .items
            .iter()
            .all(|e| e.metadata.name.as_deref() != Some(&name)),
        "listing after deleting createdEPS"
    );

    // deleting a collection
    eps_client
        .delete_collection(&DeleteParams::default(), &labelled())
        .await
        .unwrap();
    let eps_list = eps_client.list(&labelled()).await.unwrap();
    assert!(
        eps_list.items.is_empty(),
        "filtered list should have 0 items"
    );
}
