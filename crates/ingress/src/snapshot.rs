//! The pure core: Ingresses, IngressClasses, Services, EndpointSlices and Secrets in, a
//! [`Snapshot`] out. No I/O here; [`crate::feed`] calls [`Snapshot::build`] on every change and
//! [`crate::server`] answers each request from the newest snapshot with [`RouteTable::route`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};

use crate::annotations::RouteOptions;

/// The objects a snapshot is built from (all namespaces).
#[derive(Debug, Default, Clone)]
pub struct Inputs {
    /// Every Ingress (the build keeps those of our class).
    pub ingresses: Vec<Arc<Ingress>>,
    /// Every IngressClass (to know ours and whether it is the default).
    pub classes: Vec<Arc<IngressClass>>,
    /// Every Service.
    pub services: Vec<Arc<Service>>,
    /// Every EndpointSlice.
    pub slices: Vec<Arc<EndpointSlice>>,
    /// The `kubernetes.io/tls` Secrets named by served Ingresses' `spec.tls`.
    pub secrets: Vec<Arc<Secret>>,
}

/// Everything the server needs to answer requests; immutable, swapped whole.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// Host and path rules of every served Ingress, merged.
    pub routes: RouteTable,
    /// PEM certificate chain and key per host name (exact or `*.` wildcard) from `spec.tls`.
    pub certs: BTreeMap<String, TlsPair>,
    /// `namespace/name` of the Ingresses this snapshot serves (for status writing).
    pub served: Vec<(String, String)>,
}

/// A certificate chain and its private key, PEM, from a `kubernetes.io/tls` Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPair {
    /// `namespace/name` of the Secret.
    pub secret: String,
    /// `tls.crt`.
    pub cert_pem: Vec<u8>,
    /// `tls.key`.
    pub key_pem: Vec<u8>,
}

/// The merged routing rules.
#[derive(Debug, Default, Clone)]
pub struct RouteTable {
    // Filled in by the implementation.
}

/// A Service port an Ingress backend names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceRef {
    /// Namespace (the Ingress's).
    pub namespace: String,
    /// Service name.
    pub name: String,
    /// The port as the Ingress names it: a number or a port name.
    pub port: PortRef,
}

/// A Service port by number or name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PortRef {
    /// `service.port.number`.
    Number(i32),
    /// `service.port.name`.
    Name(String),
}

/// Where a route sends traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// The Service port named by the Ingress.
    pub service: ServiceRef,
    /// Ready endpoints of that port (pod IP and target port), from EndpointSlices; empty means
    /// 503. Sorted, so the same inputs give the same order.
    pub endpoints: Vec<SocketAddr>,
    /// False when the Service (or the named port) does not exist: also 503, logged differently.
    pub service_found: bool,
}

/// The answer to "where does this request go".
#[derive(Debug, Clone)]
pub struct RouteMatch<'a> {
    /// `namespace/name` of the Ingress the rule came from.
    pub ingress: &'a str,
    /// The backend.
    pub backend: &'a Backend,
    /// The rule's path as written (`/kubia`); empty for a default backend. For rewrite-target.
    pub path: &'a str,
    /// True when the path is a regular expression (`use-regex`); `captures` then holds its
    /// groups (`$1`, ...) for rewrite-target.
    pub captures: Vec<String>,
    /// Options from the Ingress's annotations.
    pub options: &'a RouteOptions,
    /// True when the request's host is covered by a `spec.tls` entry of a served Ingress.
    pub tls_host: bool,
}

impl Snapshot {
    /// Builds a snapshot from the cluster's objects for the IngressClass `class`.
    pub fn build(inputs: &Inputs, class: &str, controller: &str) -> Snapshot {
        let _ = (inputs, class, controller);
        Snapshot::default()
    }
}

impl RouteTable {
    /// Finds the route for a request: `host` is the request's host without port (lower case;
    /// `None` when the request has none), `path` the URI path (not decoded, no query).
    /// Exact host rules before wildcard ones before rules without host; within a host, Exact
    /// paths before Prefix, longest first; the default backend last. `None` means 404.
    pub fn route(&self, host: Option<&str>, path: &str) -> Option<RouteMatch<'_>> {
        let _ = (host, path);
        None
    }

    /// True when `host` appears in a served Ingress's `spec.tls` (for the 308 redirect).
    pub fn is_tls_host(&self, host: &str) -> bool {
        let _ = host;
        false
    }
}
