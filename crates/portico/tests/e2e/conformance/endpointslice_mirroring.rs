//! Ported from test/e2e/network/endpointslicemirroring.go: a custom Endpoints resource of a
//! Service without selector is mirrored into EndpointSlices through create, update and
//! delete.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

use super::framework;
use crate::kube_client::support::blocking;

fn endpoints(name: &str, ip: &str) -> Endpoints {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "subsets": [{"ports": [{"port": 80}], "addresses": [{"ip": ip}]}],
    }))
    .unwrap()
}

/// Whether the one port of `slice` is 80 and it holds one endpoint with the one address `ip`;
/// otherwise what differs.
fn mirrors(slice: &EndpointSlice, ip: &str) -> Result<(), String> {
    let ports = slice.ports.clone().unwrap_or_default();
    if ports.len() != 1 {
        return Err(format!(
            "Expected EndpointSlice to have 1 Port, got {}",
            ports.len()
        ));
    }
    if ports[0].port != Some(80) {
        return Err(format!("Expected port to be 80, got {:?}", ports[0].port));
    }
    if slice.endpoints.len() != 1 {
        return Err(format!(
            "Expected EndpointSlice to have 1 endpoints, got {}",
            slice.endpoints.len()
        ));
    }
    let addresses = &slice.endpoints[0].addresses;
    if addresses.len() != 1 {
        return Err(format!(
            "Expected EndpointSlice endpoint to have 1 address, got {}",
            addresses.len()
        ));
    }
    if addresses[0] != ip {
        return Err(format!(
            "Expected EndpointSlice to have {ip} as address, got {}",
            addresses[0]
        ));
    }
    Ok(())
}

// Ported from test/e2e/network/endpointslicemirroring.go, "should mirror a custom Endpoints
// resource through create update and delete".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpointslicemirroring_should_mirror_a_custom_endpoints_resource_through_create_update_and_delete(
) {
    let _case = framework::case(
        "[sig-network] EndpointSliceMirroring should mirror a custom Endpoints resource through create update and delete [Conformance]",
    );
    let c = blocking(|| framework::cluster(1));
    let ns = blocking(|| framework::namespace(&c, "endpointslicemirroring"));
    let cs = framework::client(&c).await;
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "example-custom-endpoints"},
        "spec": {"ports": [{"name": "example", "port": 80, "protocol": "TCP"}]},
    }))
    .unwrap();
    let svc = Api::<Service>::namespaced(cs.clone(), &ns)
        .create(&PostParams::default(), &svc)
        .await
        .expect("error creating Service");
    let name = svc.metadata.name.clone().unwrap();
    let endpoints_api: Api<Endpoints> = Api::namespaced(cs.clone(), &ns);
    let slices_api: Api<EndpointSlice> = Api::namespaced(cs.clone(), &ns);
    let by_service = ListParams::default().labels(&format!("kubernetes.io/service-name={name}"));
    let interval = Duration::from_secs(2);
    let timeout = Duration::from_secs(12);

    // mirroring a new custom Endpoint
    endpoints_api
        .create(&PostParams::default(), &endpoints(&name, "10.1.2.3"))
        .await
        .expect("Unexpected error creating Endpoints");
    framework::poll(interval, timeout, true, || async {
        let list = match slices_api.list(&by_service).await {
            Ok(l) => l,
            Err(_) => return Ok(false),
        };
        if list.items.is_empty() {
            return Ok(false);
        }
        // Every slice created must be valid (more than one may appear from stale caches).
        for slice in &list.items {
            mirrors(slice, "10.1.2.3")?;
        }
        Ok(true)
    })
    .await
    .unwrap_or_else(|e| panic!("Did not find matching EndpointSlice for {ns}/{name}: {e}"));

    // mirroring an update to a custom Endpoint (an update without resourceVersion, as
    // upstream sends the object it created from)
    endpoints_api
        .replace(&name, &PostParams::default(), &endpoints(&name, "10.2.3.4"))
        .await
        .expect("Unexpected error updating Endpoints");
    framework::poll(interval, timeout, true, || async {
        let list = slices_api
            .list(&by_service)
            .await
            .map_err(|e| e.to_string())?;
        Ok(list.items.len() == 1 && mirrors(&list.items[0], "10.2.3.4").is_ok())
    })
    .await
    .unwrap_or_else(|e| panic!("Did not find matching EndpointSlice for {ns}/{name}: {e}"));

    // mirroring deletion of a custom Endpoint
    endpoints_api
        .delete(&name, &DeleteParams::default())
        .await
        .expect("Unexpected error deleting Endpoints");
    framework::poll(interval, timeout, true, || async {
        let list = slices_api
            .list(&by_service)
            .await
            .map_err(|e| e.to_string())?;
        Ok(list.items.is_empty())
    })
    .await
    .unwrap_or_else(|e| panic!("Did not find matching EndpointSlice for {ns}/{name}: {e}"));
}
