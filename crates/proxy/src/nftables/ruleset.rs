//! The per-service part of the table as data: chains with their rules, affinity sets,
//! endpoint maps, and the elements of the dispatch sets and maps (and of `hairpin`), each
//! tagged with the service port it serves.
//! Built from a [`ProxyState`] by a pure function; [`super::render`] turns it into nft text,
//! whole or as the difference between two of them.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};

use super::buckets::EndpointMap;
use super::names::ServiceNames;
use super::rule::{ElemKey, ElemValue, Rule, Verdict, MARK_FOR_MASQUERADE};
use super::NftConfig;
use crate::model::{Endpoint, Protocol, ProxyState, ServiceKey, ServicePort};

/// The set or map an element belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Collection {
    /// `cluster-ips`: every cluster IP (rejects traffic to ports a service does not have).
    ClusterIps,
    /// `service-ips`: cluster, external and LoadBalancer IP . protocol . port → chain.
    ServiceIps,
    /// `service-nodeports`: protocol . node port → chain.
    ServiceNodePorts,
    /// `no-endpoint-services`: IP . protocol . port → reject or drop.
    NoEndpointServices,
    /// `no-endpoint-nodeports`: protocol . node port → reject or drop.
    NoEndpointNodePorts,
    /// `hairpin`: endpoint . endpoint, a pod reaching itself through a service port
    /// without session affinity (masqueraded).
    Hairpin,
    /// `direct-services`: cluster IP . protocol . port of the service ports of the direct
    /// layout (see [`super::direct`]).
    DirectServices,
    /// `direct-E` (E from 1 to [`super::direct::DIRECT_MAX`]): cluster, external or
    /// LoadBalancer IP . protocol . port . index → endpoint, for the direct service ports
    /// with E endpoints.
    Direct(u8),
    /// `direct-external`: external and LoadBalancer IP . protocol . port of the direct
    /// service ports.
    DirectExternal,
    /// `direct-nodeports`: protocol . node port of the direct service ports.
    DirectNodePorts,
    /// `direct-nodeport-E`: protocol . node port . index → endpoint.
    DirectNodePort(u8),
}

impl Collection {
    /// Whether its plain elements carry their owner's name as a comment: the lookups of the
    /// direct layout, whose service ports have no chain to name them in `nft list`.
    pub fn commented(self) -> bool {
        matches!(
            self,
            Collection::DirectServices | Collection::DirectExternal | Collection::DirectNodePorts
        )
    }

    /// The set's or map's name in the table.
    pub fn name(self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Collection::ClusterIps => "cluster-ips",
            Collection::ServiceIps => "service-ips",
            Collection::ServiceNodePorts => "service-nodeports",
            Collection::NoEndpointServices => "no-endpoint-services",
            Collection::NoEndpointNodePorts => "no-endpoint-nodeports",
            Collection::Hairpin => "hairpin",
            Collection::DirectServices => "direct-services",
            Collection::Direct(e) => return Cow::Owned(format!("direct-{e}")),
            Collection::DirectExternal => "direct-external",
            Collection::DirectNodePorts => "direct-nodeports",
            Collection::DirectNodePort(e) => return Cow::Owned(format!("direct-nodeport-{e}")),
        })
    }
}

/// The objects one service port owns: its sets and chains, and the elements it puts in
/// the dispatch sets and maps (another service port may claim the same element; then the
/// first in key order has it, see [`Ruleset`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ServiceRules {
    /// Affinity sets by name, with their entry timeout in seconds.
    pub sets: BTreeMap<String, u64>,
    /// Endpoint maps by name (service ports without session affinity).
    pub maps: BTreeMap<String, EndpointMap>,
    /// Chains by name, with their rules in order.
    pub chains: BTreeMap<String, Vec<Rule>>,
    /// Elements by collection and key (e.g. `10.96.0.10 . tcp . 53`), with the value in
    /// maps (`goto <chain>`, `drop`, an endpoint) or `None` in sets.
    pub elements: BTreeMap<(Collection, ElemKey), Option<ElemValue>>,
}

/// Who claims one element: every claimant with its value, sorted by key; the first has it.
/// (A vector: nearly every element has one claimant, and a map's node would take a
/// kilobyte and a half for it, per element.)
pub(crate) type Claimants = Vec<(ServiceKey, Option<ElemValue>)>;

/// The per-service objects of the table, and who holds each element.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Ruleset {
    /// Each service port's objects.
    pub services: BTreeMap<ServiceKey, ServiceRules>,
    /// The claimants of each element.
    pub claims: HashMap<(Collection, ElemKey), Claimants>,
}

/// kube-proxy's `CategorizeEndpoints` for one candidate pool: the ready endpoints, or if
/// none is ready, those still serving while terminating. (A private twin of
/// `model::usable`, which applies the service's policy itself; here both pools are needed.)
pub(super) fn select(sp: &ServicePort, local_only: bool) -> Vec<&Endpoint> {
    let pool = || {
        sp.endpoints
            .iter()
            .filter(move |e| e.ip.is_ipv4() && (!local_only || e.local))
    };
    let ready: Vec<&Endpoint> = pool().filter(|e| e.ready).collect();
    if !ready.is_empty() {
        return ready;
    }
    pool().filter(|e| e.serving && e.terminating).collect()
}

pub(super) fn v4s(ips: &[IpAddr]) -> impl Iterator<Item = Ipv4Addr> + '_ {
    ips.iter().filter_map(|ip| match ip {
        IpAddr::V4(v4) => Some(*v4),
        IpAddr::V6(_) => None,
    })
}

impl Ruleset {
    /// The objects serving `state` (IPv4 addresses only; SCTP ports are skipped).
    pub fn build(state: &ProxyState, config: &NftConfig) -> Ruleset {
        let mut rs = Ruleset::default();
        rs.update(
            state
                .services
                .iter()
                .map(|(key, sp)| (key.clone(), ServiceRules::build(key, sp, config))),
        );
        rs
    }

    /// Replaces the objects of the service ports in `updates` (`None`: the port is gone).
    pub fn update(
        &mut self,
        updates: impl IntoIterator<Item = (ServiceKey, Option<ServiceRules>)>,
    ) {
        for (key, rules) in updates {
            if let Some(old) = self.services.remove(&key) {
                for elem in old.elements.keys() {
                    if let Some(c) = self.claims.get_mut(elem) {
                        if let Ok(i) = c.binary_search_by(|(k, _)| k.cmp(&key)) {
                            c.remove(i);
                        }
                        if c.is_empty() {
                            self.claims.remove(elem);
                        }
                    }
                }
            }
            let Some(rules) = rules else {
                continue;
            };
            for (elem, value) in &rules.elements {
                let claimants = self.claims.entry(elem.clone()).or_default();
                // `hairpin` elements are shared by every service of an endpoint; the others
                // belong to one service.
                let exclusive = elem.0 != Collection::Hairpin;
                let other = exclusive
                    .then(|| {
                        claimants
                            .iter()
                            .find(|(k, _)| k.namespace != key.namespace || k.name != key.name)
                    })
                    .flatten();
                if let Some((other, _)) = other {
                    tracing::warn!(
                        key = %elem.1,
                        service = %key.display_name(),
                        other = %other.display_name(),
                        "two services claim the same address and port; the first in name order has it"
                    );
                }
                match claimants.binary_search_by(|(k, _)| k.cmp(&key)) {
                    Ok(i) => claimants[i].1 = value.clone(),
                    Err(i) => claimants.insert(i, (key.clone(), value.clone())),
                }
            }
            self.services.insert(key, rules);
        }
    }

    /// Who has the element `elem`, with its value.
    pub fn owner(&self, elem: &(Collection, ElemKey)) -> Option<(&ServiceKey, &Option<ElemValue>)> {
        self.claims
            .get(elem)
            .and_then(|c| c.first())
            .map(|(k, v)| (k, v))
    }
}

impl ServiceRules {
    /// The objects of one service port (empty for SCTP).
    pub fn build(key: &ServiceKey, sp: &ServicePort, config: &NftConfig) -> Option<ServiceRules> {
        if key.protocol == Protocol::Sctp {
            return None;
        }
        let mut rules = ServiceRules::default();
        rules.add_service(key, sp, config);
        Some(rules)
    }

    fn chain(&mut self, name: &str, rules: Vec<Rule>) {
        self.chains.insert(name.to_string(), rules);
    }

    /// Adds an element unless this service port claimed the key already (the first claim
    /// stands).
    pub(super) fn element(&mut self, coll: Collection, key: ElemKey, value: Option<ElemValue>) {
        self.elements.entry((coll, key)).or_insert(value);
    }

    fn add_service(&mut self, key: &ServiceKey, sp: &ServicePort, config: &NftConfig) {
        let names = ServiceNames::new(key);
        let p = key.protocol;
        let port = sp.port;
        let external_ok = sp.externally_accessible();
        let ext_local = external_ok && sp.external_local;
        let uses_cluster_eps = !sp.internal_local || external_ok;
        let uses_local_eps = sp.internal_local || ext_local;

        let cluster_eps = select(sp, false);
        let local_eps = select(sp, true);
        let has_endpoints = !cluster_eps.is_empty();
        let has_internal = has_endpoints && (!sp.internal_local || !local_eps.is_empty());
        let has_external = has_endpoints && (!ext_local || !local_eps.is_empty());
        let uses_cluster_chain = has_endpoints && uses_cluster_eps;
        let uses_local_chain = !local_eps.is_empty() && uses_local_eps;
        let uses_external_chain = has_endpoints && external_ok;
        let internal_chain = if sp.internal_local {
            &names.local
        } else {
            &names.service
        };
        let external_policy_chain = if ext_local {
            &names.local
        } else {
            &names.service
        };
        let (internal_verdict, external_verdict) = if has_endpoints {
            (Verdict::Drop, Verdict::Drop)
        } else {
            (
                Verdict::Goto("reject-chain".to_string()),
                Verdict::Goto("reject-chain".to_string()),
            )
        };
        let goto = |chain: &str| Some(ElemValue::Verdict(Verdict::Goto(chain.to_string())));
        if self.add_direct(sp, p, &cluster_eps) {
            return;
        }

        // Dispatch: cluster IPs.
        for cip in v4s(&sp.cluster_ips) {
            self.element(Collection::ClusterIps, ElemKey::Addr(cip), None);
            let k = ElemKey::AddrProtoPort(cip, p, port);
            if has_internal {
                self.element(Collection::ServiceIps, k, goto(internal_chain));
            } else {
                self.element(
                    Collection::NoEndpointServices,
                    k,
                    Some(ElemValue::Verdict(internal_verdict.clone())),
                );
            }
        }
        // External IPs and LoadBalancer IPs.
        for ip in v4s(&sp.external_ips).chain(v4s(&sp.load_balancer_ips)) {
            let k = ElemKey::AddrProtoPort(ip, p, port);
            if has_endpoints {
                self.element(Collection::ServiceIps, k.clone(), goto(&names.external));
            }
            if !has_external {
                self.element(
                    Collection::NoEndpointServices,
                    k,
                    Some(ElemValue::Verdict(external_verdict.clone())),
                );
            }
        }
        // Node port.
        if let Some(np) = sp.node_port {
            let k = ElemKey::ProtoPort(p, np);
            if has_endpoints {
                self.element(
                    Collection::ServiceNodePorts,
                    k.clone(),
                    goto(&names.external),
                );
            }
            if !has_external {
                self.element(
                    Collection::NoEndpointNodePorts,
                    k,
                    Some(ElemValue::Verdict(external_verdict)),
                );
            }
        }

        // Traffic to a cluster IP from outside the pod network is masqueraded, so that
        // replies come back through this node.
        let masq_cluster: Vec<Rule> = if has_internal {
            v4s(&sp.cluster_ips)
                .map(|daddr| Rule::MasqueradeOutside {
                    daddr,
                    pods: config.pod_cidr,
                })
                .collect()
        } else {
            Vec::new()
        };

        if uses_external_chain {
            let mut rules = Vec::new();
            if ext_local {
                // Pods and the node itself keep reaching every endpoint, as if they went
                // out to the load balancer and back; only outside clients are limited to
                // local endpoints, and they keep their source address.
                rules.push(Rule::SourceIn {
                    cidr: config.pod_cidr,
                    verdict: Verdict::Goto(names.service.clone()),
                    comment: "short-circuit pod traffic",
                });
                rules.push(Rule::LocalSource {
                    verdict: Verdict::Jump(MARK_FOR_MASQUERADE.to_string()),
                    comment: "masquerade local traffic",
                });
                rules.push(Rule::LocalSource {
                    verdict: Verdict::Goto(names.service.clone()),
                    comment: "short-circuit local traffic",
                });
            } else {
                rules.push(Rule::Always(Verdict::Jump(MARK_FOR_MASQUERADE.to_string())));
            }
            if has_external {
                rules.push(Rule::Always(Verdict::Goto(external_policy_chain.clone())));
            }
            self.chain(&names.external, rules);
        }

        let affinity = sp.affinity.map(|d| d.as_secs().max(1));
        for (used, chain, eps) in [
            (uses_cluster_chain, &names.service, &cluster_eps),
            (uses_local_chain, &names.local, &local_eps),
        ] {
            if !used {
                continue;
            }
            let mut rules = if chain == internal_chain {
                masq_cluster.clone()
            } else {
                Vec::new()
            };
            let Some(t) = affinity else {
                // Compact: one DNAT through the endpoint map; a pod reaching itself is
                // masqueraded by `hairpin`.
                let map = if chain == &names.service {
                    &names.endpoints
                } else {
                    &names.local_endpoints
                };
                let targets: Vec<(Ipv4Addr, u16)> = eps
                    .iter()
                    .filter_map(|ep| match ep.ip {
                        IpAddr::V4(a) => Some((a, ep.port)),
                        IpAddr::V6(_) => None,
                    })
                    .collect();
                for (a, _) in &targets {
                    self.element(Collection::Hairpin, ElemKey::AddrPair(*a, *a), None);
                }
                self.maps.insert(map.clone(), EndpointMap::new(p, &targets));
                rules.push(Rule::DnatMap {
                    protocol: p,
                    map: map.clone(),
                });
                self.chain(chain, rules);
                continue;
            };
            for ep in eps.iter() {
                rules.push(Rule::Affinity {
                    set: names.affinity(ep.ip, ep.port, t),
                    target: names.endpoint(ep.ip, ep.port),
                });
            }
            // One draw per endpoint, 1/n, 1/(n-1), ... 1/2, then the last one: uniform,
            // and no anonymous map per chain (the kernel binds each of those by walking
            // the whole transaction, which makes loading thousands of services quadratic).
            for (i, ep) in eps.iter().enumerate() {
                let target = names.endpoint(ep.ip, ep.port);
                let left = eps.len() - i;
                if left > 1 {
                    rules.push(Rule::Random {
                        modulus: u32::try_from(left).unwrap_or(u32::MAX),
                        target,
                    });
                } else {
                    rules.push(Rule::Always(Verdict::Goto(target)));
                }
            }
            self.chain(chain, rules);
        }

        // With session affinity: one DNAT chain per reachable endpoint.
        let Some(affinity) = affinity else {
            return;
        };
        let mut reachable: Vec<&Endpoint> = Vec::new();
        if uses_cluster_chain {
            reachable.extend(cluster_eps.iter().copied());
        }
        if uses_local_chain {
            reachable.extend(local_eps.iter().copied());
        }
        for ep in reachable {
            let name = names.endpoint(ep.ip, ep.port);
            if self.chains.contains_key(&name) {
                continue;
            }
            let IpAddr::V4(addr) = ep.ip else {
                continue;
            };
            let set = names.affinity(ep.ip, ep.port, affinity);
            let rules = vec![
                Rule::Hairpin { endpoint: addr },
                Rule::Remember { set: set.clone() },
                Rule::Dnat {
                    protocol: p,
                    addr,
                    port: ep.port,
                },
            ];
            self.sets.insert(set, affinity);
            self.chain(&name, rules);
        }
    }
}
