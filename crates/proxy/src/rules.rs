//! What a datapath holds, as text for people: `GET /rules` on the metrics server.
//!
//! The run loop keeps the last state a datapath applied together with the datapath's
//! [`Renderer`]; the text is made only when someone asks, so the sync path pays for one
//! `Arc` swap. The nftables datapath renders the table it committed as the nft script that
//! builds it ([`crate::nftables::render_full`]), in kube-proxy's chain names; the userspace
//! datapath lists its listeners and, for each, the endpoints new connections go to
//! ([`userspace_rules`]).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use crate::model::{usable, Protocol, ProxyState, ServicePort};

/// Renders a state as a datapath would program it.
pub type Renderer = Arc<dyn Fn(&ProxyState) -> String + Send + Sync>;

/// A state shared between the run loop, which updates it in place
/// ([`Arc::make_mut`]: no copy unless someone is rendering it at that moment), and the view.
pub type SharedState = Arc<Mutex<Arc<ProxyState>>>;

/// The last applied state and how to show it.
#[derive(Default)]
pub struct RulesView {
    current: Mutex<Option<(SharedState, Renderer)>>,
}

impl std::fmt::Debug for RulesView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RulesView").finish_non_exhaustive()
    }
}

impl RulesView {
    /// Remembers `state` as applied, shown with `render`.
    pub fn set(&self, state: Arc<ProxyState>, render: Renderer) {
        self.set_shared(Arc::new(Mutex::new(state)), render);
    }

    /// Shows whatever `state` holds when asked, with `render`.
    pub fn set_shared(&self, state: SharedState, render: Renderer) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some((state, render));
    }

    /// The rules as text; `None` before the first successful apply.
    pub fn render(&self) -> Option<String> {
        let current = self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        current.map(|(shared, render)| {
            let state = shared.lock().unwrap_or_else(|e| e.into_inner()).clone();
            render(&state)
        })
    }
}

/// The userspace datapath's view of `state`: one line per listener, sorted by address, with
/// the service port it serves and the endpoints it relays to now, e.g.
///
/// ```text
/// # userspace proxy: 2 listeners
/// TCP 10.96.0.1:443 default/kubernetes:https -> 172.18.0.1:6443
/// UDP 10.96.0.10:53 kube-system/kube-dns:dns -> 10.244.2.2:53 10.244.2.3:53
/// ```
///
/// Service ports without a usable endpoint have no listener (the kernel refuses their
/// traffic); they are listed as `refused` at the end. Node ports listen on the wildcard
/// address; `(external)` marks traffic under `externalTrafficPolicy`, `(affinity Ns)`
/// `sessionAffinity: ClientIP`.
pub fn userspace_rules(state: &ProxyState) -> String {
    let mut lines: Vec<(Protocol, SocketAddr, String)> = Vec::new();
    let mut refused = Vec::new();
    for (key, sp) in &state.services {
        if key.protocol == Protocol::Sctp {
            continue;
        }
        let name = key.display_name();
        let mut listen = |ip: IpAddr, port: u16, external: bool| {
            let eps: Vec<String> = usable(sp, external)
                .iter()
                .map(|e| e.addr().to_string())
                .collect();
            let mut line = name.clone();
            if external {
                line.push_str(" (external)");
            }
            if let Some(t) = sp.affinity {
                let _ = write!(line, " (affinity {}s)", t.as_secs());
            }
            let _ = write!(line, " -> {}", eps.join(" "));
            lines.push((key.protocol, SocketAddr::new(ip, port), line));
        };
        let internal = !usable(sp, false).is_empty();
        let external = !usable(sp, true).is_empty();
        if internal {
            for ip in &sp.cluster_ips {
                listen(*ip, sp.port, false);
            }
        }
        if external {
            if let Some(np) = sp.node_port {
                listen(wildcard(sp), np, true);
            }
            for ip in sp.external_ips.iter().chain(&sp.load_balancer_ips) {
                listen(*ip, sp.port, true);
            }
        }
        if !internal || (!external && sp.externally_accessible()) {
            refused.push(format!(
                "{} {}:{} {name}",
                key.protocol.as_str(),
                sp.cluster_ips
                    .first()
                    .map_or_else(|| "-".to_string(), IpAddr::to_string),
                sp.port
            ));
        }
    }
    lines.sort_by_key(|l| (l.0, l.1));
    lines.dedup_by(|a, b| (a.0, a.1) == (b.0, b.1));
    let mut out = format!("# userspace proxy: {} listeners\n", lines.len());
    for (protocol, addr, line) in &lines {
        let _ = writeln!(out, "{} {addr} {line}", protocol.as_str());
    }
    if !refused.is_empty() {
        let _ = writeln!(out, "# refused (no usable endpoint)");
        for r in refused {
            let _ = writeln!(out, "{r}");
        }
    }
    out
}

fn wildcard(sp: &ServicePort) -> IpAddr {
    match sp.cluster_ips.first() {
        Some(IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Endpoint, ServiceKey};
    use std::time::Duration;

    fn key(name: &str, port_name: &str, protocol: Protocol) -> ServiceKey {
        ServiceKey {
            namespace: "default".into(),
            name: name.into(),
            port_name: port_name.into(),
            protocol,
        }
    }

    fn sp(ip: [u8; 4], port: u16, eps: &[([u8; 4], bool)]) -> ServicePort {
        ServicePort {
            cluster_ips: vec![IpAddr::from(ip)],
            port,
            node_port: None,
            external_ips: vec![],
            load_balancer_ips: vec![],
            affinity: None,
            external_local: false,
            internal_local: false,
            health_check_node_port: None,
            endpoints: eps
                .iter()
                .map(|(ip, ready)| Endpoint {
                    ip: IpAddr::from(*ip),
                    port: 8080,
                    ready: *ready,
                    serving: *ready,
                    terminating: false,
                    local: false,
                })
                .collect(),
        }
    }

    #[test]
    fn lists_listeners_with_their_endpoints_and_the_refused_ports() {
        let mut state = ProxyState::default();
        let mut web = sp(
            [10, 96, 0, 20],
            80,
            &[([10, 244, 1, 2], true), ([10, 244, 2, 2], false)],
        );
        web.node_port = Some(30123);
        web.affinity = Some(Duration::from_secs(60));
        state.services.insert(key("web", "", Protocol::Tcp), web);
        state.services.insert(
            key("dns", "dns", Protocol::Udp),
            sp([10, 96, 0, 10], 53, &[([10, 244, 2, 3], true)]),
        );
        state.services.insert(
            key("nobody", "", Protocol::Tcp),
            sp([10, 96, 0, 30], 80, &[]),
        );
        let text = userspace_rules(&state);
        assert_eq!(
            text,
            "# userspace proxy: 3 listeners\n\
             TCP 0.0.0.0:30123 default/web (external) (affinity 60s) -> 10.244.1.2:8080\n\
             TCP 10.96.0.20:80 default/web (affinity 60s) -> 10.244.1.2:8080\n\
             UDP 10.96.0.10:53 default/dns:dns -> 10.244.2.3:8080\n\
             # refused (no usable endpoint)\n\
             TCP 10.96.0.30:80 default/nobody\n"
        );
    }

    #[test]
    fn the_view_shows_the_last_state_set() {
        let view = RulesView::default();
        assert_eq!(view.render(), None);
        let mut state = ProxyState::default();
        state.services.insert(
            key("dns", "dns", Protocol::Udp),
            sp([10, 96, 0, 10], 53, &[([10, 244, 2, 3], true)]),
        );
        view.set(Arc::new(state), Arc::new(userspace_rules));
        assert!(view
            .render()
            .is_some_and(|t| t.contains("UDP 10.96.0.10:53 default/dns:dns")));
    }
}
