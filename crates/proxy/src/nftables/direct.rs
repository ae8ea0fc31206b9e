//! The direct layout: service ports with at most 16 endpoints and no special policy served
//! by static objects, so that adding one is elements only.
//!
//! The kernel re-validates the whole chain graph at commit whenever a transaction adds a
//! rule with NAT or a jump, or a verdict-map element with `goto` (about 20 ms with 10,000
//! services), and creating a set costs a walk of the table's set list (about 4 ms); plain
//! elements cost well under a millisecond. So the fixed part of the table (see
//! [`base_objects`], [`base_rules`]) holds, once:
//!
//! * the set `direct-services` (cluster `ip . protocol . port`), looked up first in
//!   `services`, which then goes to `direct-dnat`;
//! * the set `direct-external` (external and LoadBalancer `ip . protocol . port`), which
//!   goes to `direct-external`: mark for masquerade (all external traffic, as kube-proxy
//!   does under `externalTrafficPolicy: Cluster`), then `direct-dnat`;
//! * the maps `direct-1` … `direct-16`: `ip . protocol . port . index → address . port`,
//!   for cluster, external and LoadBalancer IPs alike;
//! * the chain `direct-dnat`: masquerade traffic from outside the pod network, then for E
//!   from 1 to 16 `dnat … to ip daddr . meta l4proto . th dport . numgen random mod E map
//!   @direct-E`. A lookup miss ends a rule, so a packet falls through to the map of its
//!   service's endpoint count;
//! * for node ports the same without the address: the set `direct-nodeports`
//!   (`protocol . port`, looked up for local destinations where `service-nodeports` is),
//!   the maps `direct-nodeport-1` … `-16` and the chain `direct-nodeport-dnat` (mark for
//!   masquerade, then the 16 `dnat` rules).
//!
//! A service port with E usable endpoints (1 ≤ E ≤ [`DIRECT_MAX`]), no session affinity,
//! `internalTrafficPolicy: Cluster` and, if it has a node port, external or LoadBalancer
//! IP, `externalTrafficPolicy: Cluster`, then owns only elements: its cluster IP in
//! `cluster-ips` and `direct-services`, its external addresses in `direct-external`, its
//! node port in `direct-nodeports`, one element per endpoint and address in `direct-E` or
//! `direct-nodeport-E` (index i → the i-th endpoint in address order: an exactly uniform
//! choice), and the `hairpin` elements of its endpoints.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use super::rule::{ElemKey, ElemValue};
use super::ruleset::{v4s, Collection, ServiceRules};
use super::NftConfig;
use crate::model::{Endpoint, Protocol, ServicePort};

/// The most endpoints a service port of the direct layout has (the number of `direct-E`
/// maps).
pub(crate) const DIRECT_MAX: usize = 16;

/// The fixed sets and maps of the direct layout, as nft script lines for table `t`
/// (`ip <name>`).
pub(crate) fn base_objects(t: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "add set {t} direct-services {{ type ipv4_addr . inet_proto . inet_service ; comment \"ClusterIP service ports served by direct-dnat\" ; }}"
    );
    let _ = writeln!(
        s,
        "add set {t} direct-external {{ type ipv4_addr . inet_proto . inet_service ; comment \"ExternalIP and LoadBalancer IP service ports served by direct-external\" ; }}"
    );
    let _ = writeln!(
        s,
        "add set {t} direct-nodeports {{ type inet_proto . inet_service ; comment \"node ports served by direct-nodeport-dnat\" ; }}"
    );
    for e in 1..=DIRECT_MAX {
        let _ = writeln!(
            s,
            "add map {t} direct-{e} {{ typeof ip daddr . meta l4proto . th dport . numgen random mod {e} : ip daddr . th dport ; }}"
        );
    }
    for e in 1..=DIRECT_MAX {
        let _ = writeln!(
            s,
            "add map {t} direct-nodeport-{e} {{ typeof meta l4proto . th dport . numgen random mod {e} : ip daddr . th dport ; }}"
        );
    }
    s
}

/// The chains of the direct layout, in the order they are created.
pub(crate) const CHAINS: [&str; 3] = ["direct-dnat", "direct-external", "direct-nodeport-dnat"];

/// The rules of chain `services` that send direct cluster and external addresses on.
pub(crate) const SERVICES_RULES: [&str; 2] = [
    "ip daddr . meta l4proto . th dport @direct-services goto direct-dnat",
    "ip daddr . meta l4proto . th dport @direct-external goto direct-external",
];

/// The rule of chain `services` that sends direct node ports on (`nodeport_match`: the
/// match of local destinations and their `protocol . port`).
pub(crate) fn nodeports_rule(nodeport_match: &str) -> String {
    format!("{nodeport_match} @direct-nodeports goto direct-nodeport-dnat")
}

/// The rules of the direct layout's chains, as (chain, rule) in order.
pub(crate) fn base_rules(config: &NftConfig) -> Vec<(&'static str, String)> {
    let mut rules = vec![
        (
            "direct-dnat",
            format!("ip saddr != {} jump mark-for-masquerade", config.pod_cidr),
        ),
        ("direct-external", "jump mark-for-masquerade".to_string()),
        ("direct-external", "goto direct-dnat".to_string()),
        (
            "direct-nodeport-dnat",
            "jump mark-for-masquerade".to_string(),
        ),
    ];
    for e in 1..=DIRECT_MAX {
        rules.push((
            "direct-dnat",
            format!("meta l4proto {{ tcp, udp }} dnat ip addr . port to ip daddr . meta l4proto . th dport . numgen random mod {e} map @direct-{e}"),
        ));
    }
    for e in 1..=DIRECT_MAX {
        rules.push((
            "direct-nodeport-dnat",
            format!("meta l4proto {{ tcp, udp }} dnat ip addr . port to meta l4proto . th dport . numgen random mod {e} map @direct-nodeport-{e}"),
        ));
    }
    rules
}

/// The endpoints of `sp` if it qualifies for the direct layout, in address order (`eps`:
/// its usable endpoints cluster-wide).
fn targets(sp: &ServicePort, eps: &[&Endpoint]) -> Option<Vec<(Ipv4Addr, u16)>> {
    if sp.affinity.is_some()
        || sp.internal_local
        || (sp.externally_accessible() && sp.external_local)
    {
        return None;
    }
    let mut targets: Vec<(Ipv4Addr, u16)> = eps
        .iter()
        .filter_map(|ep| match ep.ip {
            IpAddr::V4(a) => Some((a, ep.port)),
            IpAddr::V6(_) => None,
        })
        .collect();
    targets.sort_unstable();
    targets.dedup();
    (1..=DIRECT_MAX).contains(&targets.len()).then_some(targets)
}

impl ServiceRules {
    /// Adds the elements of `sp` (protocol `p`, usable endpoints `eps`) in the direct
    /// layout if it qualifies; `false` (and nothing added) if it does not.
    pub(super) fn add_direct(&mut self, sp: &ServicePort, p: Protocol, eps: &[&Endpoint]) -> bool {
        let Some(targets) = targets(sp, eps) else {
            return false;
        };
        if p == Protocol::Sctp || v4s(&sp.cluster_ips).next().is_none() {
            return false;
        }
        // At most DIRECT_MAX (16): fits both.
        let e = targets.len() as u8;
        for cip in v4s(&sp.cluster_ips) {
            self.element(Collection::ClusterIps, ElemKey::Addr(cip), None);
            let lookup = ElemKey::AddrProtoPort(cip, p, sp.port);
            self.direct_choice(Collection::DirectServices, lookup, &targets, |i| {
                (
                    Collection::Direct(e),
                    ElemKey::AddrProtoPortIndex(cip, p, sp.port, i),
                )
            });
        }
        for ip in v4s(&sp.external_ips).chain(v4s(&sp.load_balancer_ips)) {
            let lookup = ElemKey::AddrProtoPort(ip, p, sp.port);
            self.direct_choice(Collection::DirectExternal, lookup, &targets, |i| {
                (
                    Collection::Direct(e),
                    ElemKey::AddrProtoPortIndex(ip, p, sp.port, i),
                )
            });
        }
        if let Some(np) = sp.node_port {
            let lookup = ElemKey::ProtoPort(p, np);
            self.direct_choice(Collection::DirectNodePorts, lookup, &targets, |i| {
                (
                    Collection::DirectNodePort(e),
                    ElemKey::ProtoPortIndex(p, np, i),
                )
            });
        }
        for (addr, _) in &targets {
            self.element(Collection::Hairpin, ElemKey::AddrPair(*addr, *addr), None);
        }
        true
    }

    /// One address of a direct service port: `lookup` in the set `set`, and the element
    /// `choice(i) → targets[i]` for each endpoint index i.
    fn direct_choice(
        &mut self,
        set: Collection,
        lookup: ElemKey,
        targets: &[(Ipv4Addr, u16)],
        choice: impl Fn(u32) -> (Collection, ElemKey),
    ) {
        self.element(set, lookup, None);
        for (i, (addr, port)) in (0u32..).zip(targets) {
            let (map, key) = choice(i);
            self.element(map, key, Some(ElemValue::Target(*addr, *port)));
        }
    }
}
