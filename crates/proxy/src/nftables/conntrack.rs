//! Stale UDP conntrack entries, cleared as kube-proxy clears them.
//!
//! The kernel keeps a NAT decision for a UDP flow in its conntrack entry for as long as packets
//! keep coming (30 s after the last one). When an endpoint goes away, a client that keeps
//! sending from the same socket — a resolver retrying a DNS query — would keep reaching the
//! dead pod, and the rules in the table no longer matter for it. So after each transaction the
//! datapath deletes:
//! - entries DNATed to an endpoint that no UDP service port uses any more (per service
//!   address and port, and per node port), and
//! - entries of a UDP service address that had no endpoint before (those flows were dropped
//!   and would stay dropped until the entry expires).
//!
//! [`plan`] is pure; [`flush`] runs the `conntrack` tool (conntrack-tools), which filters the
//! table in the kernel and deletes what matches, as kube-proxy did before it spoke netlink
//! itself. Without the tool the datapath still works; flows then follow a change only once
//! their entry expires (logged once).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::model::{usable, Protocol, ProxyState, ServicePort};

/// One `conntrack -D` filter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Flush {
    /// Flows to `service:port` that were translated to `endpoint`.
    ServiceEndpoint {
        /// A cluster IP, external IP or load-balancer IP of the service port.
        service: IpAddr,
        /// The service port.
        port: u16,
        /// The endpoint that is gone.
        endpoint: IpAddr,
    },
    /// Flows to any address on `node_port` that were translated to `endpoint`.
    NodePortEndpoint {
        /// The node port.
        node_port: u16,
        /// The endpoint that is gone.
        endpoint: IpAddr,
    },
    /// Every flow to `service:port` (it had no endpoint; its flows were dropped).
    Service {
        /// The service address.
        service: IpAddr,
        /// The service port.
        port: u16,
    },
}

impl Flush {
    /// The `conntrack` arguments that delete what this names.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = ["-D", "-p", "udp"].map(String::from).to_vec();
        match self {
            Flush::ServiceEndpoint {
                service,
                port,
                endpoint,
            } => a.extend([
                "--orig-dst".into(),
                service.to_string(),
                "--orig-port-dst".into(),
                port.to_string(),
                "--dst-nat".into(),
                endpoint.to_string(),
            ]),
            Flush::NodePortEndpoint {
                node_port,
                endpoint,
            } => a.extend([
                "--orig-port-dst".into(),
                node_port.to_string(),
                "--dst-nat".into(),
                endpoint.to_string(),
            ]),
            Flush::Service { service, port } => a.extend([
                "--orig-dst".into(),
                service.to_string(),
                "--orig-port-dst".into(),
                port.to_string(),
            ]),
        }
        a
    }
}

/// Every address a service port answers on.
fn addresses(sp: &ServicePort) -> impl Iterator<Item = IpAddr> + '_ {
    sp.cluster_ips
        .iter()
        .chain(&sp.external_ips)
        .chain(&sp.load_balancer_ips)
        .copied()
}

/// Endpoint addresses any path of `sp` may send to.
fn in_use(sp: &ServicePort) -> BTreeSet<IpAddr> {
    usable(sp, false)
        .into_iter()
        .chain(usable(sp, true))
        .map(|e| e.ip)
        .collect()
}

/// What to clear after going from `old` to `new`.
pub fn plan(old: &ProxyState, new: &ProxyState) -> Vec<Flush> {
    let mut out = BTreeSet::new();
    for (key, before) in &old.services {
        if key.protocol != Protocol::Udp {
            continue;
        }
        let now = new.services.get(key);
        let still: BTreeSet<IpAddr> = now.map(in_use).unwrap_or_default();
        for endpoint in in_use(before).difference(&still) {
            for service in addresses(before) {
                out.insert(Flush::ServiceEndpoint {
                    service,
                    port: before.port,
                    endpoint: *endpoint,
                });
            }
            if let Some(node_port) = before.node_port {
                out.insert(Flush::NodePortEndpoint {
                    node_port,
                    endpoint: *endpoint,
                });
            }
        }
    }
    for (key, after) in &new.services {
        if key.protocol != Protocol::Udp || in_use(after).is_empty() {
            continue;
        }
        let had = old.services.get(key).map(in_use).unwrap_or_default();
        if had.is_empty() {
            for service in addresses(after) {
                out.insert(Flush::Service {
                    service,
                    port: after.port,
                });
            }
        }
    }
    out.into_iter().collect()
}

/// Whether the missing tool was reported already.
static REPORTED: AtomicBool = AtomicBool::new(false);

/// Runs `conntrack` for each flush; failures are logged, never fatal (exit status 1 with
/// "0 flow entries have been deleted" is the normal "nothing matched").
pub async fn flush(program: &str, flushes: &[Flush]) {
    for f in flushes {
        let out = tokio::process::Command::new(program)
            .args(f.args())
            .stdin(std::process::Stdio::null())
            .output()
            .await;
        match out {
            Ok(o) => {
                let text = String::from_utf8_lossy(&o.stderr);
                tracing::debug!(flush = ?f, result = %text.trim(), "conntrack entries cleared");
            }
            Err(e) => {
                if !REPORTED.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        error = %e,
                        "cannot run {program}: UDP flows to removed endpoints last until their \
                         conntrack entries expire (install conntrack-tools)"
                    );
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Endpoint, ServiceKey};
    use std::time::Duration;

    fn ep(ip: &str, ready: bool) -> Endpoint {
        Endpoint {
            ip: ip.parse().unwrap(),
            port: 53,
            ready,
            serving: ready,
            terminating: !ready,
            local: true,
        }
    }

    fn state(protocol: Protocol, endpoints: Vec<Endpoint>) -> ProxyState {
        let key = ServiceKey {
            namespace: "kube-system".into(),
            name: "kube-dns".into(),
            port_name: "dns".into(),
            protocol,
        };
        let sp = ServicePort {
            cluster_ips: vec!["10.96.0.10".parse().unwrap()],
            port: 53,
            node_port: Some(30053),
            external_ips: vec![],
            load_balancer_ips: vec![],
            affinity: None::<Duration>,
            external_local: false,
            internal_local: false,
            health_check_node_port: None,
            endpoints,
        };
        ProxyState {
            services: [(key, sp)].into_iter().collect(),
        }
    }

    #[test]
    fn a_removed_udp_endpoint_is_cleared_for_its_service_and_node_port() {
        let old = state(
            Protocol::Udp,
            vec![ep("10.244.1.5", true), ep("10.244.1.6", true)],
        );
        let new = state(Protocol::Udp, vec![ep("10.244.1.6", true)]);
        let plan = plan(&old, &new);
        let gone: IpAddr = "10.244.1.5".parse().unwrap();
        assert_eq!(
            plan,
            vec![
                Flush::ServiceEndpoint {
                    service: "10.96.0.10".parse().unwrap(),
                    port: 53,
                    endpoint: gone
                },
                Flush::NodePortEndpoint {
                    node_port: 30053,
                    endpoint: gone
                },
            ]
        );
        assert_eq!(
            plan[0].args().join(" "),
            "-D -p udp --orig-dst 10.96.0.10 --orig-port-dst 53 --dst-nat 10.244.1.5"
        );
    }

    #[test]
    fn a_terminating_endpoint_counts_as_gone_once_another_is_ready() {
        let old = state(Protocol::Udp, vec![ep("10.244.1.5", true)]);
        let new = state(
            Protocol::Udp,
            vec![ep("10.244.1.5", false), ep("10.244.1.7", true)],
        );
        assert!(plan(&old, &new).iter().any(|f| matches!(
            f,
            Flush::ServiceEndpoint { endpoint, .. } if endpoint.to_string() == "10.244.1.5"
        )));
    }

    #[test]
    fn a_udp_service_getting_its_first_endpoint_is_cleared_whole() {
        let old = state(Protocol::Udp, vec![]);
        let new = state(Protocol::Udp, vec![ep("10.244.1.5", true)]);
        assert_eq!(
            plan(&old, &new),
            vec![Flush::Service {
                service: "10.96.0.10".parse().unwrap(),
                port: 53
            }]
        );
    }

    #[test]
    fn tcp_and_unchanged_services_need_nothing() {
        let a = state(Protocol::Tcp, vec![ep("10.244.1.5", true)]);
        let b = state(Protocol::Tcp, vec![]);
        assert!(plan(&a, &b).is_empty());
        let u = state(Protocol::Udp, vec![ep("10.244.1.5", true)]);
        assert!(plan(&u, &u.clone()).is_empty());
    }
}
