//! Reading Kubernetes objects into the few fields the zone needs (Services
//! give names and cluster IPs, EndpointSlices the endpoints, Pods the
//! hostnames of endpoints whose slice has none), and [`ZoneBuilder`], which
//! collects objects and builds a [`Zone`] at once.

use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::rr::Name;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::state::ZoneState;
use super::{PortEntry, ServiceKind, Zone};
use crate::Error;

/// The label an EndpointSlice names its Service with.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// A Service as the zone needs it (name and namespace lower-cased).
#[derive(Debug, Clone)]
pub(crate) struct RawService {
    pub(crate) namespace: Box<str>,
    pub(crate) name: Box<str>,
    pub(crate) kind: ServiceKind,
    pub(crate) ports: Arc<[PortEntry]>,
    pub(crate) publish_not_ready: bool,
}

/// An EndpointSlice as the zone needs it.
#[derive(Debug, Clone)]
pub(crate) struct RawSlice {
    /// Its namespace, lower-cased.
    pub(crate) namespace: Box<str>,
    /// Its own name (as written: slices are keyed by it).
    pub(crate) name: Box<str>,
    /// The Service it belongs to, lower-cased.
    pub(crate) service: Box<str>,
    /// The ports of its endpoints.
    pub(crate) ports: Arc<[PortEntry]>,
    pub(crate) endpoints: Box<[RawEndpoint]>,
}

/// An endpoint as read from a slice, before readiness and naming are applied.
#[derive(Debug, Clone)]
pub(crate) struct RawEndpoint {
    pub(crate) ip: IpAddr,
    pub(crate) ready: bool,
    /// The slice's hostname for it, lower-cased.
    pub(crate) hostname: Option<Box<str>>,
    /// The Pod it targets (only kept when Pods are).
    pub(crate) pod: Option<Box<str>>,
}

/// A Pod's DNS fields: (namespace, name) and (`spec.hostname`, `spec.subdomain`), lower-cased.
pub(crate) type RawPod = ((Box<str>, Box<str>), Option<(Box<str>, Box<str>)>);

fn lower(s: &str) -> Box<str> {
    s.to_ascii_lowercase().into_boxed_str()
}

/// The zone's view of `service`; `None` without a name, namespace or spec,
/// or for an ExternalName that is not a DNS name.
pub(crate) fn read_service(service: &Service) -> Option<RawService> {
    let name = service.metadata.name.as_deref()?;
    let namespace = service.metadata.namespace.as_deref()?;
    let spec = service.spec.as_ref()?;
    let kind = if spec.type_.as_deref() == Some("ExternalName") {
        ServiceKind::ExternalName(spec.external_name.as_deref().and_then(external_target)?)
    } else {
        let ips: Vec<&String> = match &spec.cluster_ips {
            Some(ips) if !ips.is_empty() => ips.iter().collect(),
            _ => spec.cluster_ip.iter().collect(),
        };
        if ips.iter().any(|ip| ip.as_str() == "None") {
            ServiceKind::Headless
        } else {
            ServiceKind::ClusterIp(ips.iter().filter_map(|ip| ip.parse().ok()).collect())
        }
    };
    let ports = spec
        .ports
        .iter()
        .flatten()
        .filter_map(|p| {
            Some(PortEntry {
                name: lower(p.name.as_deref().unwrap_or_default()),
                protocol: lower(p.protocol.as_deref().unwrap_or("TCP")),
                port: u16::try_from(p.port).ok()?,
            })
        })
        .collect();
    Some(RawService {
        namespace: lower(namespace),
        name: lower(name),
        kind,
        ports,
        publish_not_ready: spec.publish_not_ready_addresses.unwrap_or(false),
    })
}

/// The zone's view of `slice` (IPv4 and IPv6 slices; FQDN slices and
/// slices without a Service label are `None`), with the names of the Pods
/// behind the endpoints when `pods`.
pub(crate) fn read_slice(slice: &EndpointSlice, pods: bool) -> Option<RawSlice> {
    let namespace = slice.metadata.namespace.as_deref()?;
    let service = slice
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SERVICE_NAME_LABEL))?;
    if slice.address_type != "IPv4" && slice.address_type != "IPv6" {
        return None;
    }
    let ports: Arc<[PortEntry]> = slice
        .ports
        .iter()
        .flatten()
        .filter_map(|p| {
            Some(PortEntry {
                name: lower(p.name.as_deref().unwrap_or_default()),
                protocol: lower(p.protocol.as_deref().unwrap_or("TCP")),
                port: u16::try_from(p.port?).ok()?,
            })
        })
        .collect();
    let mut endpoints = Vec::new();
    for endpoint in &slice.endpoints {
        // A nil ready condition means "unknown", which consumers treat as ready.
        let ready = endpoint
            .conditions
            .as_ref()
            .and_then(|c| c.ready)
            .unwrap_or(true);
        let hostname = endpoint
            .hostname
            .as_deref()
            .filter(|h| !h.is_empty())
            .map(lower);
        let pod: Option<Box<str>> = endpoint
            .target_ref
            .as_ref()
            .filter(|r| pods && r.kind.as_deref() == Some("Pod"))
            .and_then(|r| r.name.as_deref())
            .map(Into::into);
        for address in &endpoint.addresses {
            let Ok(ip) = address.parse::<IpAddr>() else {
                continue;
            };
            endpoints.push(RawEndpoint {
                ip,
                ready,
                hostname: hostname.clone(),
                pod: pod.clone(),
            });
        }
    }
    Some(RawSlice {
        namespace: lower(namespace),
        name: slice.metadata.name.as_deref().unwrap_or_default().into(),
        service: lower(service),
        ports,
        endpoints: endpoints.into_boxed_slice(),
    })
}

/// The zone's view of `pod`: its key and, when it has both, its
/// `spec.hostname` and `spec.subdomain`.
pub(crate) fn read_pod(pod: &Pod) -> Option<RawPod> {
    let name = pod.metadata.name.as_deref()?;
    let namespace = pod.metadata.namespace.as_deref()?;
    let naming = pod.spec.as_ref().and_then(|spec| {
        Some((
            lower(spec.hostname.as_deref()?),
            lower(spec.subdomain.as_deref()?),
        ))
    });
    Some(((lower(namespace), name.into()), naming))
}

/// The name of a Namespace, lower-cased.
pub(crate) fn read_namespace(namespace: &Namespace) -> Option<Box<str>> {
    namespace.metadata.name.as_deref().map(lower)
}

/// Collects Kubernetes objects and builds a [`Zone`] from them (a
/// [`ZoneState`] filled at once).
#[derive(Debug, Clone)]
pub struct ZoneBuilder {
    state: ZoneState,
}

impl ZoneBuilder {
    /// A builder for the zone `domain` (e.g. `cluster.local`) whose records
    /// have TTL `ttl`.
    pub fn new(domain: &str, ttl: u32) -> Result<Self, Error> {
        Ok(Self {
            state: ZoneState::new(domain, ttl)?,
        })
    }

    /// Sets the SOA serial (CoreDNS uses the time of the last change).
    pub fn serial(mut self, serial: u32) -> Self {
        self.state.set_serial(serial);
        self
    }

    /// Adds a Namespace (its `<ns>.svc` name then exists even without Services).
    pub fn add_namespace(&mut self, namespace: &Namespace) {
        self.state.apply_namespace(namespace);
    }

    /// Adds a Service; ignored without a name and namespace.
    pub fn add_service(&mut self, service: &Service) {
        self.state.apply_service(service);
    }

    /// Adds an EndpointSlice (IPv4 and IPv6 slices; FQDN slices are ignored).
    pub fn add_endpoint_slice(&mut self, slice: &EndpointSlice) {
        self.state.apply_slice(slice);
    }

    /// Adds a Pod: its namespace exists, and its `spec.hostname` names its
    /// endpoints in the headless Service named by `spec.subdomain`.
    pub fn add_pod(&mut self, pod: &Pod) {
        self.state.apply_pod(pod);
    }

    /// Builds the immutable zone.
    pub fn build(mut self) -> Zone {
        self.state.zone()
    }
}

/// The CNAME target of an ExternalName Service: a valid DNS name that is
/// not an IP address (CoreDNS publishes nothing for an IP there).
fn external_target(external_name: &str) -> Option<Name> {
    let trimmed = external_name.trim_end_matches('.');
    if trimmed.is_empty() || trimmed.parse::<IpAddr>().is_ok() {
        return None;
    }
    let mut name = Name::from_ascii(trimmed).ok()?.to_lowercase();
    name.set_fqdn(true);
    Some(name)
}
