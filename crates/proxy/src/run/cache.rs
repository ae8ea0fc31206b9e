//! The run loop's copy of the API: Services and EndpointSlices as the watches deliver them,
//! the slices indexed by the Service they belong to, and the Services whose objects changed
//! since the loop last looked ([`Cache::take_dirty`]), so that only those are rebuilt.
//!
//! Objects are kept without `managedFields` and annotations (the proxy reads neither), which
//! is most of a typical object's size. A relist (after a watch expired) is buffered until it
//! completes, then compared with what is cached: only objects that are new, gone or changed
//! (by `resourceVersion`) mark their Service dirty.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher::Event;
use kube::Resource;

use crate::model::{build_service, slice_service, ServiceKey, ServicePort};

/// A namespaced name: (namespace, name).
pub(crate) type Name = (String, String);

/// Services and EndpointSlices; see the [module docs](self).
#[derive(Debug, Default)]
pub(crate) struct Cache {
    services: HashMap<Name, Arc<Service>>,
    /// Slices by their own name, with the Service they were filed under.
    slices: HashMap<Name, (Option<String>, Arc<EndpointSlice>)>,
    /// Slices by the Service they serve (namespace, service name) and slice name.
    by_service: HashMap<Name, BTreeMap<String, Arc<EndpointSlice>>>,
    dirty: HashSet<Name>,
    relist_services: Option<Vec<Service>>,
    relist_slices: Option<Vec<EndpointSlice>>,
    services_listed: bool,
    slices_listed: bool,
}

fn name_of<K: Resource>(obj: &K) -> Option<Name> {
    let meta = obj.meta();
    let name = meta.name.clone()?;
    let namespace = meta.namespace.clone().unwrap_or_else(|| "default".into());
    Some((namespace, name))
}

/// Drops what the proxy never reads.
fn slim<K: Resource>(mut obj: K) -> K {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    meta.annotations = None;
    obj
}

fn same_version<K: Resource>(a: &K, b: &K) -> bool {
    a.meta().resource_version.is_some() && a.meta().resource_version == b.meta().resource_version
}

impl Cache {
    /// Whether both kinds have been listed completely once.
    pub fn ready(&self) -> bool {
        self.services_listed && self.slices_listed
    }

    /// The Services whose ports may have changed since the last call.
    pub fn take_dirty(&mut self) -> HashSet<Name> {
        std::mem::take(&mut self.dirty)
    }

    /// Every Service that has an object or slices (to rebuild everything).
    pub fn all(&self) -> HashSet<Name> {
        self.services
            .keys()
            .chain(self.by_service.keys())
            .cloned()
            .collect()
    }

    /// The service ports of the Service `name` as the cache describes it now (empty if it
    /// is gone or not proxied).
    pub fn build(&self, name: &Name, node_name: &str) -> Vec<(ServiceKey, ServicePort)> {
        let Some(svc) = self.services.get(name) else {
            return Vec::new();
        };
        let slices: Vec<&EndpointSlice> = self
            .by_service
            .get(name)
            .into_iter()
            .flat_map(|m| m.values().map(|s| &**s))
            .collect();
        build_service(svc, &slices, node_name)
    }

    /// Takes in one watch event on Services.
    pub fn service_event(&mut self, event: Event<Service>) {
        match event {
            Event::Apply(svc) | Event::InitApply(svc) if self.relist_services.is_some() => {
                if let Some(buf) = self.relist_services.as_mut() {
                    buf.push(slim(svc));
                }
            }
            Event::Apply(svc) | Event::InitApply(svc) => self.put_service(slim(svc)),
            Event::Delete(svc) => {
                if let Some(name) = name_of(&svc) {
                    self.services.remove(&name);
                    self.dirty.insert(name);
                }
            }
            Event::Init => self.relist_services = Some(Vec::new()),
            Event::InitDone => {
                let listed = self.relist_services.take().unwrap_or_default();
                let keep: HashSet<Name> = listed.iter().filter_map(name_of).collect();
                let gone: Vec<Name> = self
                    .services
                    .keys()
                    .filter(|n| !keep.contains(*n))
                    .cloned()
                    .collect();
                for name in gone {
                    self.services.remove(&name);
                    self.dirty.insert(name);
                }
                for svc in listed {
                    self.put_service(svc);
                }
                self.services_listed = true;
            }
        }
    }

    fn put_service(&mut self, svc: Service) {
        let Some(name) = name_of(&svc) else {
            return;
        };
        if self
            .services
            .get(&name)
            .is_some_and(|old| same_version(&**old, &svc))
        {
            return;
        }
        self.services.insert(name.clone(), Arc::new(svc));
        self.dirty.insert(name);
    }

    /// Takes in one watch event on EndpointSlices.
    pub fn slice_event(&mut self, event: Event<EndpointSlice>) {
        match event {
            Event::Apply(s) | Event::InitApply(s) if self.relist_slices.is_some() => {
                if let Some(buf) = self.relist_slices.as_mut() {
                    buf.push(slim(s));
                }
            }
            Event::Apply(s) | Event::InitApply(s) => self.put_slice(slim(s)),
            Event::Delete(s) => {
                if let Some(name) = name_of(&s) {
                    self.remove_slice(&name);
                }
            }
            Event::Init => self.relist_slices = Some(Vec::new()),
            Event::InitDone => {
                let listed = self.relist_slices.take().unwrap_or_default();
                let keep: HashSet<Name> = listed.iter().filter_map(name_of).collect();
                let gone: Vec<Name> = self
                    .slices
                    .keys()
                    .filter(|n| !keep.contains(*n))
                    .cloned()
                    .collect();
                for name in gone {
                    self.remove_slice(&name);
                }
                for s in listed {
                    self.put_slice(s);
                }
                self.slices_listed = true;
            }
        }
    }

    fn put_slice(&mut self, slice: EndpointSlice) {
        let Some(name) = name_of(&slice) else {
            return;
        };
        if self
            .slices
            .get(&name)
            .is_some_and(|(_, old)| same_version(&**old, &slice))
        {
            return;
        }
        self.remove_slice(&name);
        let service = slice_service(&slice).map(str::to_string);
        let slice = Arc::new(slice);
        if let Some(svc) = &service {
            let key = (name.0.clone(), svc.clone());
            self.by_service
                .entry(key.clone())
                .or_default()
                .insert(name.1.clone(), slice.clone());
            self.dirty.insert(key);
        }
        self.slices.insert(name, (service, slice));
    }

    fn remove_slice(&mut self, name: &Name) {
        let Some((service, _)) = self.slices.remove(name) else {
            return;
        };
        let Some(svc) = service else {
            return;
        };
        let key = (name.0.clone(), svc);
        if let Some(m) = self.by_service.get_mut(&key) {
            m.remove(&name.1);
            if m.is_empty() {
                self.by_service.remove(&key);
            }
        }
        self.dirty.insert(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SERVICE_NAME_LABEL;
    use k8s_openapi::api::core::v1::{ServicePort as ApiPort, ServiceSpec};
    use k8s_openapi::api::discovery::v1::{Endpoint as ApiEndpoint, EndpointPort};
    use kube::api::ObjectMeta;

    fn svc(name: &str, version: &str) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                resource_version: Some(version.into()),
                annotations: Some([("big".to_string(), "x".repeat(100))].into()),
                ..ObjectMeta::default()
            },
            spec: Some(ServiceSpec {
                cluster_ip: Some("10.96.0.20".into()),
                ports: Some(vec![ApiPort {
                    port: 80,
                    ..ApiPort::default()
                }]),
                ..ServiceSpec::default()
            }),
            status: None,
        }
    }

    fn slice(name: &str, service: &str, version: &str, ip: &str) -> EndpointSlice {
        EndpointSlice {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                resource_version: Some(version.into()),
                labels: Some([(SERVICE_NAME_LABEL.to_string(), service.to_string())].into()),
                ..ObjectMeta::default()
            },
            address_type: "IPv4".into(),
            endpoints: vec![ApiEndpoint {
                addresses: vec![ip.into()],
                ..ApiEndpoint::default()
            }],
            ports: Some(vec![EndpointPort {
                name: Some(String::new()),
                port: Some(8080),
                ..EndpointPort::default()
            }]),
        }
    }

    fn n(name: &str) -> Name {
        ("default".into(), name.into())
    }

    fn listed() -> Cache {
        let mut c = Cache::default();
        for e in [Event::Init, Event::InitDone] {
            c.service_event(e);
        }
        for e in [Event::Init, Event::InitDone] {
            c.slice_event(e);
        }
        c
    }

    #[test]
    fn ready_after_both_lists() {
        let mut c = Cache::default();
        c.service_event(Event::Init);
        c.service_event(Event::InitApply(svc("web", "1")));
        assert!(!c.ready());
        c.service_event(Event::InitDone);
        c.slice_event(Event::Init);
        assert!(!c.ready());
        c.slice_event(Event::InitDone);
        assert!(c.ready());
        assert_eq!(c.take_dirty(), HashSet::from([n("web")]));
        assert!(c.services[&n("web")].metadata.annotations.is_none());
    }

    #[test]
    fn changes_mark_only_their_service() {
        let mut c = listed();
        c.service_event(Event::Apply(svc("web", "1")));
        c.service_event(Event::Apply(svc("db", "2")));
        c.take_dirty();
        c.slice_event(Event::Apply(slice("web-1", "web", "3", "10.244.1.2")));
        assert_eq!(c.take_dirty(), HashSet::from([n("web")]));
        let ports = c.build(&n("web"), "node");
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].1.endpoints[0].ip.to_string(), "10.244.1.2");
        // The same version again changes nothing; a relabelled slice moves, both are dirty.
        c.slice_event(Event::Apply(slice("web-1", "web", "3", "10.244.1.2")));
        assert!(c.take_dirty().is_empty());
        c.slice_event(Event::Apply(slice("web-1", "db", "4", "10.244.1.2")));
        assert_eq!(c.take_dirty(), HashSet::from([n("web"), n("db")]));
        assert!(c.build(&n("web"), "node")[0].1.endpoints.is_empty());
        assert_eq!(c.build(&n("db"), "node")[0].1.endpoints.len(), 1);
        c.slice_event(Event::Delete(slice("web-1", "db", "4", "10.244.1.2")));
        assert_eq!(c.take_dirty(), HashSet::from([n("db")]));
        c.service_event(Event::Delete(svc("db", "2")));
        assert_eq!(c.take_dirty(), HashSet::from([n("db")]));
        assert!(c.build(&n("db"), "node").is_empty());
    }

    #[test]
    fn a_relist_marks_what_differs() {
        let mut c = listed();
        c.service_event(Event::Apply(svc("web", "1")));
        c.service_event(Event::Apply(svc("db", "2")));
        c.slice_event(Event::Apply(slice("web-1", "web", "3", "10.244.1.2")));
        c.take_dirty();
        c.service_event(Event::Init);
        c.service_event(Event::InitApply(svc("web", "1")));
        c.service_event(Event::InitApply(svc("cache", "5")));
        // Until the relist is done the old objects stay.
        assert!(c.take_dirty().is_empty());
        c.service_event(Event::InitDone);
        assert_eq!(c.take_dirty(), HashSet::from([n("db"), n("cache")]));
        c.slice_event(Event::Init);
        c.slice_event(Event::InitDone);
        assert_eq!(c.take_dirty(), HashSet::from([n("web")]));
        assert_eq!(c.all(), HashSet::from([n("web"), n("cache")]));
    }
}
