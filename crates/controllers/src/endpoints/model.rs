//! Which pods, addresses and ports a Service gets: the pure part shared by the Endpoints and
//! EndpointSlice controllers, following kube-controller-manager's rules.
//!
//! * a pod counts if it is not terminal (Succeeded/Failed) and has an IP; terminating pods
//!   (deletionTimestamp set) count for EndpointSlices, and for Endpoints only with
//!   `publishNotReadyAddresses`;
//! * it is ready when its `Ready` condition is `True` (or always, with
//!   `publishNotReadyAddresses`);
//! * each service port maps to the pod's port: a number as is, a name looked up in the pod's
//!   container ports (and restartable init containers) with the same protocol; a pod without
//!   that named port is left out of that port.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, ObjectReference, Pod, Service, ServicePort,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Label and annotation names shared with Kubernetes.
pub mod keys {
    /// Label naming the Service an EndpointSlice belongs to.
    pub const SERVICE_NAME: &str = "kubernetes.io/service-name";
    /// Label naming the controller that manages an EndpointSlice.
    pub const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
    /// Label telling the mirroring controller to leave an Endpoints object alone.
    pub const SKIP_MIRROR: &str = "endpointslice.kubernetes.io/skip-mirror";
    /// Label set on the endpoints of headless Services.
    pub const HEADLESS: &str = "service.kubernetes.io/headless";
    /// Annotation: when the change that led to this endpoints object happened.
    pub const LAST_CHANGE_TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";
    /// Annotation set when an Endpoints object was cut to its capacity.
    pub const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";
    /// Annotation of `kubectl apply`, never mirrored.
    pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
    /// Annotation of leader-election records kept in Endpoints, never mirrored nor deleted.
    pub const LEADER: &str = "control-plane.alpha.kubernetes.io/leader";
    /// The zone label of a Node.
    pub const ZONE: &str = "topology.kubernetes.io/zone";
}

/// An IP family of a Service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4 (`addressType: IPv4`).
    V4,
    /// IPv6 (`addressType: IPv6`).
    V6,
}

impl Family {
    /// The family of an address, if it parses.
    pub fn of(ip: &str) -> Option<Family> {
        match ip.parse::<std::net::IpAddr>().ok()? {
            std::net::IpAddr::V4(_) => Some(Family::V4),
            std::net::IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => Some(Family::V4),
            std::net::IpAddr::V6(_) => Some(Family::V6),
        }
    }

    /// The EndpointSlice `addressType`.
    pub fn address_type(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }
}

/// The selector of a Service, if it has a non-empty one (an empty selector is no selector:
/// it does not survive the JSON round trip in Kubernetes either).
pub fn selector(svc: &Service) -> Option<&BTreeMap<String, String>> {
    svc.spec
        .as_ref()?
        .selector
        .as_ref()
        .filter(|s| !s.is_empty())
}

/// Whether every pair of `selector` is among `labels`.
pub fn selector_matches(
    selector: &BTreeMap<String, String>,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    selector
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// The Service type (`ClusterIP` when unset).
pub fn service_type(svc: &Service) -> &str {
    svc.spec
        .as_ref()
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("ClusterIP")
}

/// Whether the Service has a cluster IP (not headless).
pub fn is_service_ip_set(svc: &Service) -> bool {
    let ip = svc
        .spec
        .as_ref()
        .and_then(|s| s.cluster_ip.as_deref())
        .unwrap_or("");
    !ip.is_empty() && ip != "None"
}

/// Whether the Service is headless (`clusterIP: None`).
pub fn is_headless(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

/// `publishNotReadyAddresses`.
pub fn publish_not_ready(svc: &Service) -> bool {
    svc.spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false)
}

/// The Service's ports.
pub fn service_ports(svc: &Service) -> &[ServicePort] {
    svc.spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or(&[])
}

/// The IP families the Service's endpoints use: `spec.ipFamilies`, or the family of its
/// cluster IP, or both for a headless Service the API server did not default.
pub fn families(svc: &Service) -> Vec<Family> {
    let spec = svc.spec.as_ref();
    let mut out: Vec<Family> = spec
        .and_then(|s| s.ip_families.as_ref())
        .map(|f| {
            f.iter()
                .filter_map(|f| match f.as_str() {
                    "IPv4" => Some(Family::V4),
                    "IPv6" => Some(Family::V6),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    out.dedup();
    if !out.is_empty() {
        return out;
    }
    if is_service_ip_set(svc) {
        let ip = spec.and_then(|s| s.cluster_ip.as_deref()).unwrap_or("");
        return vec![Family::of(ip).unwrap_or(Family::V4)];
    }
    vec![Family::V4, Family::V6]
}

/// Whether the pod's `Ready` condition is `True`.
pub fn pod_ready(pod: &Pod) -> bool {
    ready_condition(pod).is_some_and(|c| c.status == "True")
}

fn ready_condition(pod: &Pod) -> Option<&k8s_openapi::api::core::v1::PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

/// When the pod's readiness last changed (the Ready condition's lastTransitionTime).
pub fn pod_trigger_time(pod: &Pod) -> Option<jiff::Timestamp> {
    ready_condition(pod)?
        .last_transition_time
        .as_ref()
        .map(|t| t.0)
}

/// Whether the pod is being deleted.
pub fn pod_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// All the pod's IPs (`podIPs`, or `podIP` alone).
pub fn pod_ips(pod: &Pod) -> Vec<&str> {
    let Some(status) = pod.status.as_ref() else {
        return Vec::new();
    };
    let ips: Vec<&str> = status
        .pod_ips
        .as_ref()
        .map(|v| {
            v.iter()
                .map(|p| p.ip.as_str())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if !ips.is_empty() {
        return ips;
    }
    status
        .pod_ip
        .as_deref()
        .filter(|s| !s.is_empty())
        .into_iter()
        .collect()
}

/// Whether the pod belongs in endpoints at all (kube's `ShouldPodBeInEndpoints`).
pub fn pod_in_endpoints(pod: &Pod, include_terminating: bool) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if matches!(phase, Some("Succeeded") | Some("Failed")) {
        return false;
    }
    if pod_ips(pod).is_empty() {
        return false;
    }
    include_terminating || !pod_terminating(pod)
}

/// Whether the endpoint of this pod carries its hostname (pod `hostname` set and `subdomain`
/// equal to the Service name).
pub fn hostname_for(pod: &Pod, svc: &Service) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let hostname = spec.hostname.as_deref().filter(|h| !h.is_empty())?;
    (spec.subdomain.as_deref() == svc.metadata.name.as_deref()
        && pod.metadata.namespace == svc.metadata.namespace)
        .then(|| hostname.to_string())
}

/// The pod port a service port reaches: the number itself, or the named container port with
/// the same protocol. `None` when the pod has no such named port.
pub fn find_port(pod: &Pod, port: &ServicePort) -> Option<i32> {
    let protocol = port.protocol.as_deref().unwrap_or("TCP");
    match port.target_port.as_ref() {
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => {
            let spec = pod.spec.as_ref()?;
            let sidecars = spec
                .init_containers
                .iter()
                .flatten()
                .filter(|c| c.restart_policy.as_deref() == Some("Always"));
            spec.containers
                .iter()
                .chain(sidecars)
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| {
                    p.name.as_deref() == Some(name.as_str())
                        && p.protocol.as_deref().unwrap_or("TCP") == protocol
                })
                .map(|p| p.container_port)
        }
        // The API server defaults targetPort to port; be as lenient for objects that lack it.
        None => Some(port.port),
    }
}

/// The Endpoints port for a service port reaching `number` on the pod.
pub fn endpoint_port(port: &ServicePort, number: i32) -> EndpointPort {
    EndpointPort {
        name: Some(port.name.clone().unwrap_or_default()),
        port: number,
        protocol: Some(port.protocol.clone().unwrap_or_else(|| "TCP".into())),
        app_protocol: port.app_protocol.clone(),
    }
}

/// The reference to a pod that endpoints carry.
pub fn pod_reference(pod: &Pod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".into()),
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
        ..Default::default()
    }
}

/// The pod's address of `family` for an Endpoints object, as the Endpoints controller builds
/// it (nodeName always present, hostname when [`hostname_for`] says so).
pub fn pod_address(pod: &Pod, svc: &Service, family: Family) -> Option<EndpointAddress> {
    let ip = pod_ips(pod)
        .into_iter()
        .find(|ip| Family::of(ip) == Some(family))?;
    Some(EndpointAddress {
        ip: ip.to_string(),
        hostname: hostname_for(pod, svc),
        node_name: Some(
            pod.spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_default(),
        ),
        target_ref: Some(pod_reference(pod)),
    })
}

/// Tracks, per Service, the trigger times seen at the last sync, to compute the
/// `last-change-trigger-time` annotation as Kubernetes does: the earliest change (pod
/// readiness transition, or Service creation) not yet reflected in the endpoints.
#[derive(Debug, Default)]
pub struct TriggerTimes {
    states: std::collections::HashMap<String, TriggerState>,
}

#[derive(Debug, Default)]
struct TriggerState {
    service: Option<jiff::Timestamp>,
    pods: std::collections::HashMap<String, jiff::Timestamp>,
}

impl TriggerTimes {
    /// Records this sync of `key` and returns the trigger time to publish (`None`: clear it).
    pub fn compute(&mut self, key: &str, svc: &Service, pods: &[&Pod]) -> Option<jiff::Timestamp> {
        let created = svc.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let known = self.states.contains_key(key);
        let state = self.states.entry(key.to_string()).or_default();
        let mut min: Option<jiff::Timestamp> = None;
        let mut seen = std::collections::HashMap::new();
        for pod in pods {
            let (Some(t), Some(name)) = (pod_trigger_time(pod), pod.metadata.name.as_ref()) else {
                continue;
            };
            if state.pods.get(name).is_none_or(|old| t > *old) {
                min = Some(min.map_or(t, |m| m.min(t)));
            }
            seen.insert(name.clone(), t);
        }
        if let Some(c) = created {
            if state.service.is_none_or(|old| c > old) {
                min = Some(min.map_or(c, |m| m.min(c)));
            }
        }
        state.pods = seen;
        state.service = created;
        if known {
            min
        } else {
            created
        }
    }

    /// Forgets a deleted Service.
    pub fn forget(&mut self, key: &str) {
        self.states.remove(key);
    }
}

/// Formats a trigger time as Go's RFC 3339 with nanoseconds (trailing zeros dropped), UTC.
pub fn format_trigger_time(t: jiff::Timestamp) -> String {
    t.to_string()
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
