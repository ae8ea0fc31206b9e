//! The pod builders and the wait-and-compare helpers of test/e2e/network/endpointslice.go
//! (`expectEndpointsAndSlices`, `hasMatchingEndpointSlices`, ...).

use super::*;

/// A pod of the upstream test: one nginx container `container1` with these named ports.
pub(super) fn pod(name: &str, labels: serde_json::Value, ports: &[(&str, i32)]) -> Pod {
    let ports: Vec<_> = ports
        .iter()
        .map(|(n, p)| json!({"name": n, "containerPort": p}))
        .collect();
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "container1", "image": NGINX_IMAGE, "ports": ports}]},
    }))
    .unwrap()
}

pub(super) fn pod_ip(pod: &Pod) -> String {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .unwrap_or_default()
}

pub(super) fn pod_ips(pod: &Pod) -> usize {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ips.as_ref())
        .map_or(0, Vec::len)
}

/// The upstream `ensurePodTargetRef`.
pub(super) fn ensure_pod_target_ref(pod: &Pod, target_ref: Option<&ObjectReference>) {
    let target_ref = target_ref.expect("Expected TargetRef to not be nil");
    assert_eq!(
        target_ref.kind.as_deref(),
        Some("Pod"),
        "Expected TargetRef.Kind to be Pod"
    );
    assert_eq!(
        target_ref.namespace, pod.metadata.namespace,
        "TargetRef.Namespace"
    );
    assert_eq!(target_ref.name, pod.metadata.name, "TargetRef.Name");
    assert_eq!(target_ref.uid, pod.metadata.uid, "TargetRef.UID");
}

/// The upstream `hasMatchingEndpointSlices`.
pub(super) async fn has_matching_endpoint_slices(
    cs: &kube::Client,
    ns: &str,
    svc_name: &str,
    num_endpoints: usize,
    num_slices: usize,
) -> (Vec<EndpointSlice>, bool) {
    let list = Api::<EndpointSlice>::namespaced(cs.clone(), ns)
        .list(&service_selector(svc_name))
        .await
        .unwrap_or_else(|e| {
            panic!("Error fetching EndpointSlice for Service {ns}/{svc_name}: {e}")
        });
    if list.items.is_empty() {
        return (Vec::new(), false);
    }
    // More slices than necessary are valid; fewer are not.
    if list.items.len() < num_slices {
        return (list.items, false);
    }
    let endpoints: usize = list.items.iter().map(|s| s.endpoints.len()).sum();
    let ok = endpoints >= num_endpoints;
    (list.items, ok)
}

/// The upstream `hasMatchingEndpoints`.
pub(super) async fn has_matching_endpoints(
    cs: &kube::Client,
    ns: &str,
    svc_name: &str,
    num_ips: usize,
    num_subsets: usize,
) -> Option<Endpoints> {
    let endpoints = match Api::<Endpoints>::namespaced(cs.clone(), ns)
        .get(svc_name)
        .await
    {
        Err(kube::Error::Api(s)) if s.code == 404 => return None,
        Err(e) => panic!("Error fetching Endpoints for {ns}/{svc_name} Service: {e}"),
        Ok(e) => e,
    };
    let subsets = endpoints.subsets.clone().unwrap_or_default();
    if subsets.len() != num_subsets {
        return None;
    }
    let ips: usize = subsets
        .iter()
        .map(|s| {
            s.addresses.as_ref().map_or(0, Vec::len)
                + s.not_ready_addresses.as_ref().map_or(0, Vec::len)
        })
        .sum();
    (ips == num_ips).then_some(endpoints)
}

/// The upstream `expectEndpointsAndSlices`.
pub(super) async fn expect_endpoints_and_slices(
    cs: &kube::Client,
    ns: &str,
    svc: &Service,
    pods: &[&Pod],
    num_subsets: usize,
    num_slices: usize,
    named_port: bool,
) {
    let svc_name = svc.metadata.name.clone().unwrap();
    let endpoint_slices = RefCell::new(Vec::new());
    framework::poll(secs(5), secs(120), true, || async {
        let (found, ok) =
            has_matching_endpoint_slices(cs, ns, &svc_name, pods.len(), num_slices).await;
        if ok {
            *endpoint_slices.borrow_mut() = found;
        }
        Ok(ok)
    })
    .await
    .unwrap_or_else(|e| panic!("Timed out waiting for EndpointSlices to match expectations: {e}"));
    let endpoint_slices = endpoint_slices.into_inner();

    let endpoints = RefCell::new(None);
    framework::poll(secs(5), secs(120), false, || async {
        let found = has_matching_endpoints(cs, ns, &svc_name, pods.len(), num_subsets).await;
        let ok = found.is_some();
        *endpoints.borrow_mut() = found;
        Ok(ok)
    })
    .await
    .unwrap_or_else(|e| panic!("Timed out waiting for Endpoints to match expectations: {e}"));
    let endpoints = endpoints.into_inner().unwrap();

    let pods_by_ip: BTreeMap<String, &Pod> = pods.iter().map(|p| (pod_ip(p), *p)).collect();
    for p in pods {
        assert_eq!(
            p.spec.as_ref().unwrap().containers.len(),
            1,
            "Expected pod to have 1 container"
        );
    }
    assert_eq!(endpoints.metadata.name.as_deref(), Some(svc_name.as_str()));
    let svc_ports = svc.spec.as_ref().unwrap().ports.clone().unwrap_or_default();
    let target_port_str = |i: usize| match &svc_ports[i].target_port {
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s)) => s.clone(),
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n)) => n.to_string(),
        None => String::new(),
    };
    let target_port_int = |i: usize| match &svc_ports[i].target_port {
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n)) => *n,
        _ => 0,
    };

    let mut total_addresses = 0;
    for subset in endpoints.subsets.iter().flatten() {
        let addresses: Vec<_> = subset
            .addresses
            .iter()
            .flatten()
            .chain(subset.not_ready_addresses.iter().flatten())
            .collect();
        total_addresses += addresses.len();
        let ports = subset.ports.clone().unwrap_or_default();
        assert_eq!(
            ports.len(),
            svc_ports.len(),
            "Expected subset to have {} ports",
            svc_ports.len()
        );
        if !named_port {
            for (i, p) in ports.iter().enumerate() {
                assert_eq!(p.name.as_deref(), svc_ports[i].name.as_deref(), "port name");
                assert_eq!(p.protocol, svc_ports[i].protocol, "protocol");
                assert_eq!(p.port, target_port_int(i), "port");
            }
        }
        for address in addresses {
            let pod = pods_by_ip
                .get(&address.ip)
                .unwrap_or_else(|| panic!("Unexpected address with IP: {}", address.ip));
            ensure_pod_target_ref(pod, address.target_ref.as_ref());
            if named_port {
                for cp in pod.spec.as_ref().unwrap().containers[0]
                    .ports
                    .iter()
                    .flatten()
                {
                    if cp.name.as_deref() == Some(&target_port_str(0)) {
                        assert_eq!(ports[0].port, cp.container_port, "Expected subset port");
                        assert_eq!(
                            ports[0].name, svc_ports[0].name,
                            "Expected subset port name"
                        );
                    }
                }
            }
        }
    }
    assert_eq!(
        pods.len(),
        total_addresses,
        "Expected {} addresses",
        pods.len()
    );

    if pods.is_empty() {
        assert_eq!(endpoint_slices.len(), 1, "Expected 1 EndpointSlice");
    }
    let mut es_addresses = BTreeSet::new();
    for slice in &endpoint_slices {
        for e in &slice.endpoints {
            es_addresses.insert(e.addresses[0].clone());
        }
        let es_ports = slice.ports.clone().unwrap_or_default();
        if pods.is_empty() {
            assert!(
                es_ports.is_empty(),
                "Expected EndpointSlice to have 0 ports, got {}",
                es_ports.len()
            );
        } else {
            assert_eq!(
                es_ports.len(),
                svc_ports.len(),
                "Expected EndpointSlice to have {} ports",
                svc_ports.len()
            );
        }
        if !named_port {
            for (i, p) in es_ports.iter().enumerate() {
                assert_eq!(p.name, svc_ports[i].name, "port name");
                assert_eq!(p.protocol, svc_ports[i].protocol, "protocol");
                assert_eq!(p.port, Some(target_port_int(i)), "port");
            }
        }
        for e in &slice.endpoints {
            assert!(
                !e.addresses.is_empty(),
                "Expected EndpointSlice endpoint to have at least 1 address"
            );
            let pod = pods_by_ip
                .get(&e.addresses[0])
                .unwrap_or_else(|| panic!("Unexpected address with IP: {}", e.addresses[0]));
            ensure_pod_target_ref(pod, e.target_ref.as_ref());
            if named_port {
                for cp in pod.spec.as_ref().unwrap().containers[0]
                    .ports
                    .iter()
                    .flatten()
                {
                    if cp.name.as_deref() == Some(&target_port_str(0)) {
                        assert_eq!(
                            es_ports[0].port,
                            Some(cp.container_port),
                            "Expected EndpointSlice port"
                        );
                        assert_eq!(
                            es_ports[0].name, svc_ports[0].name,
                            "Expected EndpointSlice port name"
                        );
                    }
                }
            }
        }
    }
    assert_eq!(
        pods.len(),
        es_addresses.len(),
        "Expected {} addresses",
        pods.len()
    );
}

/// The upstream `deleteEndpointSlices`.
pub(super) async fn delete_endpoint_slices(cs: &kube::Client, ns: &str, svc: &Service) {
    let api: Api<EndpointSlice> = Api::namespaced(cs.clone(), ns);
    let name = svc.metadata.name.clone().unwrap();
    let list = api.list(&service_selector(&name)).await.unwrap();
    for slice in list.items {
        api.delete(&slice.metadata.name.unwrap(), &DeleteParams::default())
            .await
            .unwrap();
    }
}
