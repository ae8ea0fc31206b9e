//! Portico's cluster DNS: what CoreDNS with the kubernetes plugin does in a
//! real cluster.
//!
//! - [`zone`]: the `cluster.local` zone built from Services, EndpointSlices,
//!   Pods and Namespaces, and its pure lookup;
//! - [`handler`]: DNS messages in, DNS messages out (EDNS0, truncation,
//!   FORMERR), forwarding what is not in the zone through [`forward`];
//! - [`server`]: UDP and TCP listeners, and [`health`] for the probes;
//! - [`run`]: all of it fed by kube-rs reflectors.

pub mod feed;
pub mod forward;
pub mod handler;
pub mod health;
pub mod names;
pub mod server;
mod wire;
pub mod zone;

/// Kubernetes objects for tests, shared with the integration tests.
#[cfg(test)]
#[path = "../tests/fixtures/objects.rs"]
mod test_objects;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

pub use handler::{respond_local, Handler, Local, Transport, ZoneHandle};
pub use server::Server;
pub use zone::{Lookup, Zone, ZoneAnswer, ZoneBuilder, ZoneState};

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configured cluster domain is not a valid DNS name.
    #[error("invalid cluster domain {0}")]
    Domain(String),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Any other I/O failure of a listener.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// No upstream server answered a forwarded question.
    #[error("upstream: {0}")]
    Upstream(String),
}

/// How to run the DNS server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where to answer DNS, over UDP and TCP (default `0.0.0.0:53`).
    pub listen: SocketAddr,
    /// The cluster domain (default `cluster.local`).
    pub domain: String,
    /// TTL of the zone's records (default 30, as in kubeadm's Corefile).
    pub ttl: u32,
    /// Servers to forward other names to; none means SERVFAIL for them.
    pub upstream: Vec<SocketAddr>,
    /// Where to answer `GET /health` (CoreDNS' health plugin is on :8080).
    pub health: Option<SocketAddr>,
    /// Where to answer `GET /ready` once the caches synced (CoreDNS' ready plugin is on :8181).
    pub ready: Option<SocketAddr>,
}

impl Default for Config {
    fn default() -> Self {
        let any = |port| SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port));
        Self {
            listen: any(53),
            domain: "cluster.local".to_string(),
            ttl: 30,
            upstream: Vec::new(),
            health: Some(any(8080)),
            ready: Some(any(8181)),
        }
    }
}

/// The `nameserver` lines of a resolv.conf, as upstream addresses on port 53.
pub fn upstreams_from_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver")).then_some(())?;
            let ip: std::net::IpAddr = words.next()?.split('%').next()?.parse().ok()?;
            Some(SocketAddr::new(ip, 53))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_nameservers() {
        let text = "search default.svc.cluster.local\nnameserver 127.0.0.53\n# nameserver 1.1.1.1\nnameserver ::1\noptions ndots:5\n";
        assert_eq!(
            upstreams_from_resolv_conf(text),
            vec![
                "127.0.0.53:53".parse().unwrap(),
                "[::1]:53".parse().unwrap()
            ]
        );
    }
}
