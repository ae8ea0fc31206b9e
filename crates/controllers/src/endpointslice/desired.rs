//! The endpoints a Service's EndpointSlices should hold (pure): one endpoint per pod and IP
//! family, grouped by the ports the pod offers (pods resolving named ports differently end up
//! in different slices), with ready / serving / terminating conditions, node, zone, hostname
//! and target reference, as kube-controller-manager builds them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort};

use crate::endpoints::model::{self, keys, Family};
use crate::endpoints::order;

/// Identity of an endpoint within a slice group: sorted addresses, hostname, target
/// namespace/name (what Kubernetes hashes; other fields may change in place).
pub type EndpointKey = (Vec<String>, String, String, String);

/// Identity of a set of ports (in the controller's canonical order).
pub type PortsKey = String;

/// The desired endpoints sharing one set of ports.
#[derive(Debug, Clone, Default)]
pub struct Group {
    /// The ports, in canonical order.
    pub ports: Vec<EndpointPort>,
    /// The endpoints, by identity.
    pub endpoints: BTreeMap<EndpointKey, Endpoint>,
}

/// The desired state for one address family.
#[derive(Debug, Default)]
pub struct Desired {
    /// Groups by ports key.
    pub groups: BTreeMap<PortsKey, Group>,
    /// Pods left out because their node is unknown (the sync should be retried).
    pub missing_nodes: Vec<String>,
}

/// The identity of an endpoint.
pub fn endpoint_key(ep: &Endpoint) -> EndpointKey {
    let mut addresses = ep.addresses.clone();
    addresses.sort();
    let (ns, name) = ep
        .target_ref
        .as_ref()
        .map(|r| {
            (
                r.namespace.clone().unwrap_or_default(),
                r.name.clone().unwrap_or_default(),
            )
        })
        .unwrap_or_default();
    (addresses, ep.hostname.clone().unwrap_or_default(), ns, name)
}

/// Whether two endpoints of the same identity are equal in what the controller manages.
pub fn endpoint_equal(a: &Endpoint, b: &Endpoint) -> bool {
    let strip = |r: &Option<k8s_openapi::api::core::v1::ObjectReference>| {
        r.clone().map(|mut r| {
            r.resource_version = None;
            r
        })
    };
    let cond = |e: &Endpoint| {
        let c = e.conditions.clone().unwrap_or_default();
        (c.ready, c.serving, c.terminating)
    };
    a.node_name == b.node_name
        && a.zone == b.zone
        && cond(a) == cond(b)
        && strip(&a.target_ref) == strip(&b.target_ref)
}

/// Sorts ports in canonical order and returns the key of the set.
pub fn ports_key(ports: &mut [EndpointPort]) -> PortsKey {
    order::sort_slice_ports(ports);
    ports
        .iter()
        .map(order::dump_slice_port)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The slice ports a pod offers for the Service (in canonical order).
pub fn pod_ports(svc: &Service, pod: &Pod) -> Vec<EndpointPort> {
    let mut out: Vec<EndpointPort> = model::service_ports(svc)
        .iter()
        .filter_map(|p| {
            let n = model::find_port(pod, p)?;
            Some(EndpointPort {
                name: Some(p.name.clone().unwrap_or_default()),
                port: Some(n),
                protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".into())),
                app_protocol: p.app_protocol.clone(),
            })
        })
        .collect();
    order::sort_slice_ports(&mut out);
    out
}

/// The endpoint of a pod for the Service and family (None: the pod has no IP of the family).
pub fn pod_endpoint(
    pod: &Pod,
    node: Option<&Node>,
    svc: &Service,
    family: Family,
) -> Option<Endpoint> {
    let addresses: Vec<String> = model::pod_ips(pod)
        .into_iter()
        .filter(|ip| Family::of(ip) == Some(family))
        .filter_map(|ip| ip.parse::<std::net::IpAddr>().ok().map(|a| a.to_string()))
        .collect();
    if addresses.is_empty() {
        return None;
    }
    let serving = model::pod_ready(pod);
    let terminating = model::pod_terminating(pod);
    let zone = node
        .and_then(|n| n.metadata.labels.as_ref())
        .and_then(|l| l.get(keys::ZONE))
        .filter(|z| !z.is_empty())
        .cloned();
    Some(Endpoint {
        addresses,
        conditions: Some(EndpointConditions {
            ready: Some(model::publish_not_ready(svc) || (serving && !terminating)),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        target_ref: Some(model::pod_reference(pod)),
        node_name: pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty()),
        zone,
        hostname: model::hostname_for(pod, svc),
        ..Default::default()
    })
}

/// The desired endpoints of `svc` for `family`, given its pods and a node lookup.
pub fn desired<'n>(
    svc: &Service,
    pods: &[&Pod],
    family: Family,
    node: impl Fn(&str) -> Option<&'n Node>,
) -> Desired {
    let mut out = Desired::default();
    let publish = model::publish_not_ready(svc);
    for pod in pods {
        if !model::pod_in_endpoints(pod, true) {
            continue;
        }
        let mut ports = if model::service_ports(svc).is_empty() && model::is_headless(svc) {
            Vec::new()
        } else {
            pod_ports(svc, pod)
        };
        let node_name = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .unwrap_or("");
        let found = node(node_name);
        if found.is_none() && !publish {
            out.missing_nodes
                .push(pod.metadata.name.clone().unwrap_or_default());
            continue;
        }
        let Some(ep) = pod_endpoint(pod, found, svc, family) else {
            continue;
        };
        let key = ports_key(&mut ports);
        let group = out.groups.entry(key).or_insert_with(|| Group {
            ports,
            endpoints: BTreeMap::new(),
        });
        group.endpoints.insert(endpoint_key(&ep), ep);
    }
    out
}

#[cfg(test)]
#[path = "desired_tests.rs"]
mod tests;
