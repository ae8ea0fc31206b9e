//! [`ZoneState`]: what the zone is made of (the few fields it needs of each
//! Service, EndpointSlice, Pod and Namespace), updated one object at a time.
//! A change marks the Services it touches; [`ZoneState::zone`] rebuilds only
//! those and republishes the zone by copying the few shards they live in, so
//! one change at 10,000 Services costs microseconds, not a rebuild.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::rr::Name;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::build::{read_namespace, read_pod, read_service, read_slice, RawService, RawSlice};
use super::{cache, names_wire, Base, EndpointEntry, Key, ServiceEntry, ServiceKind, Zone};
use crate::{names, Error};

/// A Pod's `spec.hostname` and `spec.subdomain`.
type Naming = (Box<str>, Box<str>);

/// The Service whose cluster IPs are the zone's name servers.
const NAMESERVER: (&str, &str) = ("kube-dns", "kube-system");

/// The objects of a zone, kept compact, with the zone published from them.
#[derive(Debug, Clone)]
pub struct ZoneState {
    services: HashMap<Key, RawService>,
    /// `namespace/name` of each slice → the slice.
    slices: HashMap<Box<str>, RawSlice>,
    /// Each Service's slices (`namespace/name`), in the order they came.
    slices_of: HashMap<Key, Vec<Box<str>>>,
    /// `namespace/name` of each Pod → its (`spec.hostname`, `spec.subdomain`).
    pods: HashMap<Box<str>, Option<Naming>>,
    /// Namespaces seen as objects.
    namespace_objects: HashSet<Box<str>>,
    /// Services and Pods per namespace (a namespace with either exists).
    namespace_refs: HashMap<Box<str>, usize>,
    /// Services to rebuild before the next snapshot.
    dirty: HashSet<Key>,
    namespaces_changed: bool,
    /// Names given to nameless slices.
    anonymous: u64,
    /// Whether Pods name endpoints (else the endpoints' Pod names are not kept).
    pods_name_endpoints: bool,
    /// The zone as of the last [`zone`](ZoneState::zone) (plus the serial).
    published: Zone,
}

impl ZoneState {
    /// An empty zone `domain` (e.g. `cluster.local`) whose records have TTL `ttl`.
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
        let base = Base {
            origin_labels: names::labels(&origin),
            origin_wire: names_wire(&origin),
            origin,
            ttl,
        };
        Ok(Self {
            services: HashMap::new(),
            slices: HashMap::new(),
            slices_of: HashMap::new(),
            pods: HashMap::new(),
            namespace_objects: HashSet::new(),
            namespace_refs: HashMap::new(),
            dirty: HashSet::new(),
            namespaces_changed: false,
            anonymous: 0,
            pods_name_endpoints: true,
            published: Zone {
                base: Arc::new(base),
                serial: 0,
                namespaces: Arc::default(),
                services: Default::default(),
                reverse: Default::default(),
                nameservers: Arc::new([]),
            },
        })
    }

    /// Forgets the Pods behind endpoints, for a state fed no Pods (as
    /// `feed`, like CoreDNS, watches none): per-endpoint names then come
    /// from the slices' hostnames alone, and 100,000 endpoints keep no Pod
    /// names. Call before adding slices.
    pub fn without_pod_names(mut self) -> Self {
        self.pods_name_endpoints = false;
        self
    }

    /// Sets the SOA serial of the next snapshots (CoreDNS uses the time of the last change).
    pub fn set_serial(&mut self, serial: u32) {
        self.published.serial = serial;
    }

    /// True when changes wait for the next [`zone`](ZoneState::zone).
    pub fn has_changes(&self) -> bool {
        !self.dirty.is_empty() || self.namespaces_changed
    }

    /// Adds or replaces a Service (one without name, namespace or spec is removed).
    pub fn apply_service(&mut self, service: &Service) {
        let (Some(name), Some(namespace)) = (&service.metadata.name, &service.metadata.namespace)
        else {
            return;
        };
        self.remove_service(namespace, name);
        let Some(raw) = read_service(service) else {
            return;
        };
        let Some(key) = Key::new(&raw.name, &raw.namespace) else {
            return;
        };
        self.add_ref(&raw.namespace);
        self.dirty.insert(key.clone());
        self.services.insert(key, raw);
    }

    /// Removes the Service `namespace/name`.
    pub fn remove_service(&mut self, namespace: &str, name: &str) {
        let Some(key) = Key::new(name, namespace) else {
            return;
        };
        if let Some(old) = self.services.remove(&key) {
            self.drop_ref(&old.namespace);
            self.dirty.insert(key);
        }
    }

    /// Adds or replaces an EndpointSlice (IPv4 and IPv6 slices; others are removed).
    pub fn apply_slice(&mut self, slice: &EndpointSlice) {
        let Some(namespace) = &slice.metadata.namespace else {
            return;
        };
        let id = match slice.metadata.name.as_deref() {
            Some(name) if !name.is_empty() => slice_id(namespace, name),
            _ => {
                self.anonymous += 1;
                format!("{}/\0{}", namespace.to_ascii_lowercase(), self.anonymous).into()
            }
        };
        self.remove_slice_id(&id);
        let Some(raw) = read_slice(slice, self.pods_name_endpoints) else {
            return;
        };
        let Some(key) = Key::new(&raw.service, &raw.namespace) else {
            return;
        };
        self.slices_of
            .entry(key.clone())
            .or_default()
            .push(id.clone());
        self.dirty.insert(key);
        self.slices.insert(id, raw);
    }

    /// Removes the EndpointSlice `namespace/name`.
    pub fn remove_slice(&mut self, namespace: &str, name: &str) {
        self.remove_slice_id(&slice_id(namespace, name));
    }

    fn remove_slice_id(&mut self, id: &str) {
        let Some(old) = self.slices.remove(id) else {
            return;
        };
        let Some(key) = Key::new(&old.service, &old.namespace) else {
            return;
        };
        if let Some(ids) = self.slices_of.get_mut(&key) {
            ids.retain(|i| **i != *id);
            if ids.is_empty() {
                self.slices_of.remove(&key);
            }
        }
        self.dirty.insert(key);
    }

    /// Adds or replaces a Pod: its namespace exists, and its `spec.hostname`
    /// names its endpoints in the headless Service named by `spec.subdomain`.
    pub fn apply_pod(&mut self, pod: &Pod) {
        let Some(((namespace, name), naming)) = read_pod(pod) else {
            return;
        };
        self.remove_pod(&namespace, &name);
        self.add_ref(&namespace);
        if let Some((_, subdomain)) = &naming {
            self.touch(subdomain, &namespace);
        }
        self.pods.insert(pod_id(&namespace, &name), naming);
    }

    /// Removes the Pod `namespace/name`.
    pub fn remove_pod(&mut self, namespace: &str, name: &str) {
        let namespace = namespace.to_ascii_lowercase();
        if let Some(naming) = self.pods.remove(&*pod_id(&namespace, name)) {
            self.drop_ref(&namespace);
            if let Some((_, subdomain)) = naming {
                self.touch(&subdomain, &namespace);
            }
        }
    }

    /// Adds a Namespace (its `<ns>.svc` name then exists even without Services).
    pub fn apply_namespace(&mut self, namespace: &Namespace) {
        if let Some(name) = read_namespace(namespace) {
            self.namespaces_changed |= self.namespace_objects.insert(name);
        }
    }

    /// Removes the Namespace `name` (its name stays while Services or Pods are in it).
    pub fn remove_namespace(&mut self, name: &str) {
        self.namespaces_changed |= self.namespace_objects.remove(&*name.to_ascii_lowercase());
    }

    /// The `(namespace, name)` of every Service held (lower-cased).
    pub fn service_names(&self) -> Vec<(String, String)> {
        let names = self.services.values();
        names
            .map(|s| (s.namespace.to_string(), s.name.to_string()))
            .collect()
    }

    /// The `(namespace, name)` of every EndpointSlice held.
    pub fn slice_names(&self) -> Vec<(String, String)> {
        let names = self.slices.values();
        names
            .map(|s| (s.namespace.to_string(), s.name.to_string()))
            .collect()
    }

    /// The name of every Namespace object held.
    pub fn namespace_names(&self) -> Vec<String> {
        self.namespace_objects
            .iter()
            .map(|n| n.to_string())
            .collect()
    }

    /// The zone as of now: the changed Services rebuilt, everything else
    /// shared with the previous snapshot.
    pub fn zone(&mut self) -> Zone {
        for key in std::mem::take(&mut self.dirty) {
            self.publish(&key);
        }
        if std::mem::take(&mut self.namespaces_changed) {
            let mut all: HashSet<Box<str>> = self.namespace_objects.clone();
            all.extend(self.namespace_refs.keys().cloned());
            self.published.namespaces = Arc::new(all);
        }
        self.published.clone()
    }

    fn add_ref(&mut self, namespace: &str) {
        match self.namespace_refs.get_mut(namespace) {
            Some(count) => *count += 1,
            None => {
                self.namespace_refs.insert(namespace.into(), 1);
                self.namespaces_changed = true;
            }
        }
    }

    fn drop_ref(&mut self, namespace: &str) {
        if let Some(count) = self.namespace_refs.get_mut(namespace) {
            *count -= 1;
            if *count == 0 {
                self.namespace_refs.remove(namespace);
                self.namespaces_changed = true;
            }
        }
    }

    /// Marks the Service `namespace/name` for a rebuild.
    fn touch(&mut self, name: &str, namespace: &str) {
        if let Some(key) = Key::new(name, namespace) {
            self.dirty.insert(key);
        }
    }

    /// The zone's entry for the Service `key`, from its object, slices and pods.
    fn entry(&self, key: &Key) -> Option<ServiceEntry> {
        let raw = self.services.get(key)?;
        let mut endpoints = Vec::new();
        let mut seen = HashSet::new();
        let slices = self.slices_of.get(key).into_iter().flatten();
        let slices = slices.filter_map(|id| self.slices.get(id));
        for (endpoint, ports) in slices.flat_map(|s| s.endpoints.iter().map(move |e| (e, &s.ports)))
        {
            if !(endpoint.ready || raw.publish_not_ready) || !seen.insert(endpoint.ip) {
                continue;
            }
            let from_pod = || {
                let pod = endpoint.pod.as_deref().filter(|_| !self.pods.is_empty())?;
                match self.pods.get(&*pod_id(&raw.namespace, pod))? {
                    Some((hostname, subdomain)) if *subdomain == raw.name => Some(hostname.clone()),
                    _ => None,
                }
            };
            endpoints.push(EndpointEntry {
                hostname: endpoint.hostname.clone().or_else(from_pod),
                ip: endpoint.ip,
                ports: ports.clone(),
            });
        }
        Some(ServiceEntry {
            key: key.clone(),
            name: raw.name.clone(),
            namespace: raw.namespace.clone(),
            kind: raw.kind.clone(),
            ports: raw.ports.clone(),
            endpoints: endpoints.into_boxed_slice(),
            cache: cache::Cache::default(),
        })
    }

    /// Rebuilds the Service `key` in the published zone: its entry, the
    /// reverse names of its old and new addresses, the name servers.
    fn publish(&mut self, key: &Key) {
        let new = self.entry(key).map(Arc::new);
        let zone = &mut self.published;
        let old = match &new {
            Some(entry) => zone.services.insert(key.clone(), entry.clone()),
            None => zone.services.remove(key),
        };
        let mut ips: Vec<IpAddr> = old.iter().chain(&new).flat_map(|e| addresses(e)).collect();
        ips.sort_unstable();
        ips.dedup();
        for ip in ips {
            let now = new.as_ref().filter(|e| addresses(e).any(|a| a == ip));
            zone.reverse.replace(ip, |e| e.key == *key, now.cloned());
        }
        if Key::new(NAMESERVER.0, NAMESERVER.1).as_ref() == Some(key) {
            zone.nameservers = match new.as_deref().map(|e| &e.kind) {
                Some(ServiceKind::ClusterIp(ips)) => ips.iter().copied().collect(),
                _ => Arc::new([]),
            };
        }
    }
}

/// The addresses of a Service: cluster IPs and endpoints.
fn addresses(entry: &ServiceEntry) -> impl Iterator<Item = IpAddr> + '_ {
    let cluster: &[IpAddr] = match &entry.kind {
        ServiceKind::ClusterIp(ips) => ips,
        _ => &[],
    };
    cluster
        .iter()
        .copied()
        .chain(entry.endpoints.iter().map(|e| e.ip))
}

fn slice_id(namespace: &str, name: &str) -> Box<str> {
    format!("{}/{name}", namespace.to_ascii_lowercase()).into()
}

fn pod_id(namespace: &str, name: &str) -> Box<str> {
    format!("{namespace}/{name}").into()
}

#[cfg(test)]
mod tests;
