//! From an Ingress backend (Service name and port) to the ready endpoints that serve it: the
//! Service port by number or name, then the ports of the EndpointSlices labelled
//! `kubernetes.io/service-name` that carry that Service port's name (their number is the
//! resolved `targetPort`), and the addresses of endpoints whose `conditions.ready` is not
//! false.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};

use k8s_openapi::api::core::v1::{Service, ServicePort};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::IngressServiceBackend;

use super::{Backend, Inputs, PortRef, ServiceRef};

/// The label tying an EndpointSlice to its Service.
pub(crate) const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Services and EndpointSlices indexed by namespace and Service name.
pub(crate) struct Cluster<'a> {
    services: HashMap<(&'a str, &'a str), &'a Service>,
    slices: HashMap<(&'a str, &'a str), Vec<&'a EndpointSlice>>,
}

impl<'a> Cluster<'a> {
    /// Indexes the Services and EndpointSlices of `inputs`.
    pub(crate) fn new(inputs: &'a Inputs) -> Cluster<'a> {
        let mut services = HashMap::new();
        for service in &inputs.services {
            if let (Some(namespace), Some(name)) = (
                service.metadata.namespace.as_deref(),
                service.metadata.name.as_deref(),
            ) {
                services.insert((namespace, name), &**service);
            }
        }
        let mut slices: HashMap<_, Vec<_>> = HashMap::new();
        for slice in &inputs.slices {
            let service = slice
                .metadata
                .labels
                .as_ref()
                .and_then(|labels| labels.get(SERVICE_NAME_LABEL));
            if let (Some(namespace), Some(service)) = (slice.metadata.namespace.as_deref(), service)
            {
                slices
                    .entry((namespace, service.as_str()))
                    .or_default()
                    .push(&**slice);
            }
        }
        Cluster { services, slices }
    }

    /// The backend an Ingress in `namespace` names; `None` when it names no port at all.
    pub(crate) fn backend(
        &self,
        namespace: &str,
        backend: &IngressServiceBackend,
    ) -> Option<Backend> {
        let port = backend.port.as_ref()?;
        let port = match (&port.name, port.number) {
            (Some(name), _) if !name.is_empty() => PortRef::Name(name.clone()),
            (_, Some(number)) => PortRef::Number(number),
            _ => return None,
        };
        let service = ServiceRef {
            namespace: namespace.to_string(),
            name: backend.name.clone(),
            port,
        };
        let service_port = self
            .services
            .get(&(namespace, backend.name.as_str()))
            .and_then(|found| service_port(found, &service.port));
        let Some(service_port) = service_port else {
            return Some(Backend {
                service,
                endpoints: Vec::new(),
                service_found: false,
            });
        };
        let endpoints = self.endpoints(namespace, &backend.name, service_port);
        Some(Backend {
            service,
            endpoints,
            service_found: true,
        })
    }

    /// Ready endpoints of `port` of Service `namespace/name`, sorted and without duplicates.
    fn endpoints(&self, namespace: &str, name: &str, port: &ServicePort) -> Vec<SocketAddr> {
        let wanted = port.name.as_deref().unwrap_or("");
        let mut endpoints = BTreeSet::new();
        for slice in self.slices.get(&(namespace, name)).into_iter().flatten() {
            let number = slice
                .ports
                .iter()
                .flatten()
                .find(|candidate| candidate.name.as_deref().unwrap_or("") == wanted)
                .and_then(|found| found.port)
                .and_then(|number| u16::try_from(number).ok());
            let Some(number) = number else { continue };
            for endpoint in &slice.endpoints {
                let ready = endpoint
                    .conditions
                    .as_ref()
                    .and_then(|conditions| conditions.ready)
                    != Some(false);
                if !ready {
                    continue;
                }
                endpoints.extend(
                    endpoint
                        .addresses
                        .iter()
                        .filter_map(|address| address.parse::<IpAddr>().ok())
                        .map(|ip| SocketAddr::new(ip, number)),
                );
            }
        }
        endpoints.into_iter().collect()
    }
}

/// The port of `service` an Ingress names by number (`port`) or by name.
fn service_port<'s>(service: &'s Service, port: &PortRef) -> Option<&'s ServicePort> {
    let ports = service.spec.as_ref()?.ports.as_ref()?;
    ports.iter().find(|candidate| match port {
        PortRef::Number(number) => candidate.port == *number,
        PortRef::Name(name) => candidate.name.as_deref() == Some(name.as_str()),
    })
}
