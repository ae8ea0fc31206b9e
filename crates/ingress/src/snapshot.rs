//! The pure core: Ingresses, IngressClasses, Services, EndpointSlices and Secrets in, a
//! [`Snapshot`] out. No I/O here; [`crate::feed`] calls [`Snapshot::build`] on every change and
//! [`crate::server`] answers each request from the newest snapshot with [`RouteTable::route`].

mod backends;
mod build;
pub(crate) mod hosts;
mod paths;
mod render;
#[cfg(test)]
mod tests;

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

/// The merged routing rules: one "server" per host name as ingress-nginx writes them.
#[derive(Debug, Default, Clone)]
pub struct RouteTable {
    /// Servers for exact host names (lower case).
    exact: BTreeMap<String, Server>,
    /// Servers for `*.` wildcard hosts, by the part after `*.`.
    wildcard: BTreeMap<String, Server>,
    /// The catch-all server (`_`): rules without a host, and hosts no server names.
    default_server: Server,
    /// Host names (exact and wildcard) in the `spec.tls` of served Ingresses.
    tls: hosts::HostSet,
}

/// The routes of one host.
#[derive(Debug, Default, Clone)]
struct Server {
    /// True when an Ingress of this host asks for regular expressions (`use-regex` or
    /// `rewrite-target`): every path of the host is then a case-insensitive regex anchored at
    /// the start, as ingress-nginx enforces.
    regex: bool,
    /// The paths, in the order they are tried.
    paths: Vec<paths::PathRoute>,
    /// What answers when no path matches (an Ingress's `defaultBackend`).
    fallback: Option<Route>,
}

/// One place a request can go.
#[derive(Debug, Clone)]
struct Route {
    /// `namespace/name` of the Ingress.
    ingress: String,
    /// The backend.
    backend: Backend,
    /// The rule's path as written; empty for a default backend.
    path: String,
    /// The Ingress's options.
    options: Arc<RouteOptions>,
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
    /// When the host's paths are regular expressions (`use-regex`, `rewrite-target`): the
    /// groups of the match, `captures[0]` being `$1`, `captures[1]` `$2` and so on (a group
    /// that did not take part is empty). Empty otherwise.
    pub captures: Vec<String>,
    /// Options from the Ingress's annotations.
    pub options: &'a RouteOptions,
    /// True when the request's host is covered by a `spec.tls` entry of a served Ingress.
    pub tls_host: bool,
}

impl Snapshot {
    /// Builds a snapshot from the cluster's objects for the IngressClass `class`.
    pub fn build(inputs: &Inputs, class: &str, controller: &str) -> Snapshot {
        build::build(inputs, class, controller)
    }
}

impl RouteTable {
    /// Finds the route for a request: `host` is the request's host without port (lower case;
    /// `None` when the request has none), `path` the URI path (not decoded, no query).
    ///
    /// As ingress-nginx: the host picks one server (exact name, else a `*.` wildcard covering
    /// one label, else the catch-all server with the rules without host); within it, Exact
    /// paths before Prefix, longest first (or, when the host uses regular expressions, the
    /// longest pattern that matches first); then the server's default backend. `None` means
    /// 404.
    pub fn route(&self, host: Option<&str>, path: &str) -> Option<RouteMatch<'_>> {
        let host = host.map(hosts::normalize);
        let server = host
            .as_deref()
            .and_then(|host| self.server(host))
            .unwrap_or(&self.default_server);
        let tls_host = host.as_deref().is_some_and(|host| self.tls.contains(host));
        let (route, captures) = server.route(path)?;
        Some(RouteMatch {
            ingress: &route.ingress,
            backend: &route.backend,
            path: &route.path,
            captures,
            options: &route.options,
            tls_host,
        })
    }

    /// True when `host` appears in a served Ingress's `spec.tls` (for the 308 redirect);
    /// `*.` entries cover one label.
    pub fn is_tls_host(&self, host: &str) -> bool {
        self.tls.contains(&hosts::normalize(host))
    }

    /// True when no Ingress contributes anything.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty()
            && self.wildcard.is_empty()
            && self.default_server.paths.is_empty()
            && self.default_server.fallback.is_none()
    }

    /// The server for a host name other than the catch-all one.
    fn server(&self, host: &str) -> Option<&Server> {
        self.exact
            .get(host)
            .or_else(|| hosts::wildcard_suffix(host).and_then(|suffix| self.wildcard.get(suffix)))
    }
}

impl Server {
    /// The first path matching `path`, else the fallback; with the regex captures.
    fn route(&self, path: &str) -> Option<(&Route, Vec<String>)> {
        self.paths
            .iter()
            .find_map(|candidate| {
                candidate
                    .matcher
                    .matches(path)
                    .map(|captures| (&candidate.route, captures))
            })
            .or_else(|| self.fallback.as_ref().map(|route| (route, Vec::new())))
    }
}
