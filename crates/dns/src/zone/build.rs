//! Building a [`Zone`] from Kubernetes objects: Services give names and
//! cluster IPs, EndpointSlices the endpoints of headless Services (and the
//! per-endpoint names), Pods the hostnames of endpoints whose slice has none
//! (`spec.hostname` with `spec.subdomain` naming the Service), Namespaces
//! which `<ns>.svc` names exist.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use hickory_proto::rr::Name;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::{EndpointEntry, PortEntry, ServiceEntry, ServiceKind, Zone};
use crate::{names, Error};

/// The label an EndpointSlice names its Service with.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// An endpoint as read from a slice, before readiness and naming are applied.
#[derive(Debug, Clone)]
struct RawEndpoint {
    ip: IpAddr,
    ready: bool,
    hostname: Option<String>,
    pod: Option<String>,
    ports: Vec<PortEntry>,
}

/// A Service as read, before its endpoints are attached.
#[derive(Debug, Clone)]
struct RawService {
    kind: ServiceKind,
    ports: Vec<PortEntry>,
    publish_not_ready: bool,
}

/// Collects Kubernetes objects and builds a [`Zone`] from them.
#[derive(Debug, Clone)]
pub struct ZoneBuilder {
    origin: Name,
    origin_labels: Vec<String>,
    ttl: u32,
    serial: u32,
    namespaces: BTreeSet<String>,
    services: HashMap<(String, String), RawService>,
    endpoints: HashMap<(String, String), Vec<RawEndpoint>>,
    /// (namespace, pod name) → (spec.hostname, spec.subdomain)
    pods: HashMap<(String, String), (String, String)>,
}

impl ZoneBuilder {
    /// A builder for the zone `domain` (e.g. `cluster.local`) whose records
    /// have TTL `ttl`.
    pub fn new(domain: &str, ttl: u32) -> Result<Self, Error> {
        let trimmed = domain.trim_end_matches('.');
        let mut origin = Name::from_ascii(trimmed)
            .map_err(|e| Error::Domain(format!("{domain}: {e}")))?
            .to_lowercase();
        origin.set_fqdn(true);
        if origin.is_root() {
            return Err(Error::Domain(
                "the cluster domain must not be the root".to_string(),
            ));
        }
        Ok(Self {
            origin_labels: names::labels(&origin),
            origin,
            ttl,
            serial: 0,
            namespaces: BTreeSet::new(),
            services: HashMap::new(),
            endpoints: HashMap::new(),
            pods: HashMap::new(),
        })
    }

    /// Sets the SOA serial (CoreDNS uses the time of the last change).
    pub fn serial(mut self, serial: u32) -> Self {
        self.serial = serial;
        self
    }

    /// Adds a Namespace (its `<ns>.svc` name then exists even without Services).
    pub fn add_namespace(&mut self, namespace: &Namespace) {
        if let Some(name) = &namespace.metadata.name {
            self.namespaces.insert(name.to_ascii_lowercase());
        }
    }

    /// Adds a Service; ignored without a name and namespace.
    pub fn add_service(&mut self, service: &Service) {
        let (Some(name), Some(namespace)) = (&service.metadata.name, &service.metadata.namespace)
        else {
            return;
        };
        let Some(spec) = &service.spec else { return };
        let kind = if spec.type_.as_deref() == Some("ExternalName") {
            let Some(target) = spec.external_name.as_deref().and_then(external_target) else {
                return;
            };
            ServiceKind::ExternalName(target)
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
                    name: p.name.clone().unwrap_or_default().to_ascii_lowercase(),
                    protocol: p.protocol.as_deref().unwrap_or("TCP").to_ascii_lowercase(),
                    port: u16::try_from(p.port).ok()?,
                })
            })
            .collect();
        let namespace = namespace.to_ascii_lowercase();
        self.namespaces.insert(namespace.clone());
        self.services.insert(
            (namespace, name.to_ascii_lowercase()),
            RawService {
                kind,
                ports,
                publish_not_ready: spec.publish_not_ready_addresses.unwrap_or(false),
            },
        );
    }

    /// Adds an EndpointSlice (IPv4 and IPv6 slices; FQDN slices are ignored).
    pub fn add_endpoint_slice(&mut self, slice: &EndpointSlice) {
        let Some(namespace) = &slice.metadata.namespace else {
            return;
        };
        let Some(service) = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SERVICE_NAME_LABEL))
        else {
            return;
        };
        if slice.address_type != "IPv4" && slice.address_type != "IPv6" {
            return;
        }
        let ports: Vec<PortEntry> = slice
            .ports
            .iter()
            .flatten()
            .filter_map(|p| {
                Some(PortEntry {
                    name: p.name.clone().unwrap_or_default().to_ascii_lowercase(),
                    protocol: p.protocol.as_deref().unwrap_or("TCP").to_ascii_lowercase(),
                    port: u16::try_from(p.port?).ok()?,
                })
            })
            .collect();
        let list = self
            .endpoints
            .entry((namespace.to_ascii_lowercase(), service.to_ascii_lowercase()))
            .or_default();
        for endpoint in &slice.endpoints {
            // A nil ready condition means "unknown", which consumers treat as ready.
            let ready = endpoint
                .conditions
                .as_ref()
                .and_then(|c| c.ready)
                .unwrap_or(true);
            let hostname = endpoint.hostname.clone().filter(|h| !h.is_empty());
            let pod = endpoint
                .target_ref
                .as_ref()
                .filter(|r| r.kind.as_deref() == Some("Pod"))
                .and_then(|r| r.name.clone());
            for address in &endpoint.addresses {
                let Ok(ip) = address.parse::<IpAddr>() else {
                    continue;
                };
                list.push(RawEndpoint {
                    ip,
                    ready,
                    hostname: hostname.clone(),
                    pod: pod.clone(),
                    ports: ports.clone(),
                });
            }
        }
    }

    /// Adds a Pod: its namespace exists, and its `spec.hostname` names its
    /// endpoints in the headless Service named by `spec.subdomain`.
    pub fn add_pod(&mut self, pod: &Pod) {
        let (Some(name), Some(namespace)) = (&pod.metadata.name, &pod.metadata.namespace) else {
            return;
        };
        let namespace = namespace.to_ascii_lowercase();
        self.namespaces.insert(namespace.clone());
        let Some(spec) = &pod.spec else { return };
        if let (Some(hostname), Some(subdomain)) = (&spec.hostname, &spec.subdomain) {
            self.pods.insert(
                (namespace, name.clone()),
                (
                    hostname.to_ascii_lowercase(),
                    subdomain.to_ascii_lowercase(),
                ),
            );
        }
    }

    /// Builds the immutable zone.
    pub fn build(self) -> Zone {
        let mut zone = Zone {
            origin: self.origin,
            origin_labels: self.origin_labels,
            ttl: self.ttl,
            serial: self.serial,
            namespaces: self.namespaces,
            services: HashMap::new(),
            reverse: HashMap::new(),
            nameservers: Vec::new(),
        };
        for ((namespace, name), raw) in self.services {
            let mut endpoints = Vec::new();
            let mut seen = HashSet::new();
            let slices = self.endpoints.get(&(namespace.clone(), name.clone()));
            for endpoint in slices.into_iter().flatten() {
                if !(endpoint.ready || raw.publish_not_ready) || !seen.insert(endpoint.ip) {
                    continue;
                }
                let from_pod = endpoint.pod.as_ref().and_then(|pod| {
                    self.pods
                        .get(&(namespace.clone(), pod.clone()))
                        .filter(|(_, subdomain)| *subdomain == name)
                        .map(|(hostname, _)| hostname.clone())
                });
                let label = endpoint
                    .hostname
                    .as_ref()
                    .map(|h| h.to_ascii_lowercase())
                    .or(from_pod)
                    .unwrap_or_else(|| names::dashed(endpoint.ip));
                endpoints.push(EndpointEntry {
                    label,
                    ip: endpoint.ip,
                    ports: endpoint.ports.clone(),
                });
            }
            let entry = ServiceEntry {
                name,
                namespace,
                kind: raw.kind,
                ports: raw.ports,
                endpoints,
            };
            let service_name = zone.service_name(&entry);
            if let ServiceKind::ClusterIp(ips) = &entry.kind {
                for ip in ips {
                    zone.reverse
                        .entry(*ip)
                        .or_default()
                        .push(service_name.clone());
                }
                if entry.namespace == "kube-system" && entry.name == "kube-dns" {
                    zone.nameservers = ips.clone();
                }
            }
            for endpoint in &entry.endpoints {
                let target = zone.child(&[&endpoint.label, &entry.name, &entry.namespace, "svc"]);
                zone.reverse.entry(endpoint.ip).or_default().push(target);
            }
            zone.services
                .insert((entry.namespace.clone(), entry.name.clone()), entry);
        }
        for targets in zone.reverse.values_mut() {
            targets.sort();
            targets.dedup();
        }
        zone
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
