//! The proxy's desired state, built from API objects; pure functions only.
//!
//! One [`ServicePort`] per (Service, port): its addresses and policies, and the
//! [`Endpoint`]s that serve it, already resolved (named target ports looked up per endpoint,
//! readiness and node locality computed). Datapaths consume this and never look at API objects.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

mod build;
mod select;
#[cfg(test)]
mod tests;

pub use build::{build, build_service, slice_service, SERVICE_NAME_LABEL};
pub use select::{diff, usable, Diff};

/// Transport protocol of a service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP (not served; kept so it can be reported).
    Sctp,
}

/// Identifies one port of one Service: namespace, name, port name (may be empty), protocol.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    /// Namespace.
    pub namespace: String,
    /// Service name.
    pub name: String,
    /// The port's name (`""` for a single unnamed port).
    pub port_name: String,
    /// The port's protocol.
    pub protocol: Protocol,
}

/// One port of one Service, with what a proxy needs to serve it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// Cluster IPs (empty for headless and ExternalName services, which are not proxied).
    pub cluster_ips: Vec<IpAddr>,
    /// The service port.
    pub port: u16,
    /// The node port, for NodePort and LoadBalancer services that have one.
    pub node_port: Option<u16>,
    /// `spec.externalIPs`.
    pub external_ips: Vec<IpAddr>,
    /// `status.loadBalancer.ingress[].ip`.
    pub load_balancer_ips: Vec<IpAddr>,
    /// `sessionAffinity: ClientIP` with its timeout.
    pub affinity: Option<Duration>,
    /// `externalTrafficPolicy: Local` (for NodePort, LoadBalancer and external IPs).
    pub external_local: bool,
    /// `internalTrafficPolicy: Local` (for the cluster IP).
    pub internal_local: bool,
    /// `spec.healthCheckNodePort` (LoadBalancer with `externalTrafficPolicy: Local`).
    pub health_check_node_port: Option<u16>,
    /// The endpoints, deduplicated, in a stable order.
    pub endpoints: Vec<Endpoint>,
}

/// One endpoint of a service port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint {
    /// The pod's address.
    pub ip: IpAddr,
    /// The target port, resolved for this endpoint.
    pub port: u16,
    /// `conditions.ready` (absent counts as ready).
    pub ready: bool,
    /// `conditions.serving` (absent: same as ready).
    pub serving: bool,
    /// `conditions.terminating`.
    pub terminating: bool,
    /// Whether the endpoint runs on this node (`nodeName` equals ours).
    pub local: bool,
}

impl ServiceKey {
    /// `namespace/name:port_name` (without `:` when the port has no name), as kube-proxy
    /// names service ports in its logs.
    pub fn display_name(&self) -> String {
        if self.port_name.is_empty() {
            format!("{}/{}", self.namespace, self.name)
        } else {
            format!("{}/{}:{}", self.namespace, self.name, self.port_name)
        }
    }
}

impl Protocol {
    /// The protocol as the API spells it (`TCP`, `UDP`, `SCTP`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

impl ServicePort {
    /// Whether the port takes traffic from outside the cluster network: it has a node port,
    /// a LoadBalancer IP or an external IP (kube-proxy's `ExternallyAccessible`).
    pub fn externally_accessible(&self) -> bool {
        self.node_port.is_some()
            || !self.load_balancer_ips.is_empty()
            || !self.external_ips.is_empty()
    }
}

impl Endpoint {
    /// The endpoint's socket address.
    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::new(self.ip, self.port)
    }
}

/// Everything a node's proxy serves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyState {
    /// Service ports by key.
    pub services: BTreeMap<ServiceKey, ServicePort>,
}
