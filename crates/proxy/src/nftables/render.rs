//! nft text from a [`Ruleset`]: the whole table ([`full`]), and the operations of one
//! transaction that turns the committed objects into the desired ones ([`diff`],
//! [`changes`]; their text is [`ops::script`], their netlink form
//! [`super::netlink::Batch`]). Pure functions: same input, same output, which the tests
//! compare line by line.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use super::buckets::EndpointMap;
use super::direct;
use super::ops::{self, Op};
use super::rule::{ElemKey, ElemValue};
use super::ruleset::{Collection, Ruleset, ServiceRules};
use super::NftConfig;
use crate::model::ServiceKey;

/// The fixed part of the table: dispatch sets and maps, hooked chains, masquerading and
/// the checks that reject or drop what no service takes.
pub(crate) fn base(config: &NftConfig) -> String {
    let t = format!("ip {}", config.table);
    let mark = config.mark();
    let addr_key = "ipv4_addr . inet_proto . inet_service : verdict";
    let port_key = "inet_proto . inet_service : verdict";
    let mut s = String::new();
    let _ = writeln!(s, "add table {t} {{ comment \"portico service proxy\" ; }}");
    let _ = writeln!(
        s,
        "add set {t} cluster-ips {{ type ipv4_addr ; comment \"Active ClusterIPs\" ; }}"
    );
    let _ = writeln!(s, "add map {t} service-ips {{ type {addr_key} ; comment \"ClusterIP, ExternalIP and LoadBalancer IP traffic\" ; }}");
    let _ = writeln!(
        s,
        "add map {t} service-nodeports {{ type {port_key} ; comment \"NodePort traffic\" ; }}"
    );
    let _ = writeln!(s, "add map {t} no-endpoint-services {{ type {addr_key} ; comment \"reject or drop traffic to services without endpoints\" ; }}");
    let _ = writeln!(s, "add map {t} no-endpoint-nodeports {{ type {port_key} ; comment \"reject or drop traffic to node ports without endpoints\" ; }}");
    let _ = writeln!(
        s,
        "add set {t} hairpin {{ type ipv4_addr . ipv4_addr ; comment \"endpoints reaching themselves through a service\" ; }}"
    );
    s.push_str(&direct::base_objects(&t));
    for (name, spec) in [
        ("nat-prerouting", "type nat hook prerouting priority -100"),
        ("nat-output", "type nat hook output priority -100"),
        ("nat-postrouting", "type nat hook postrouting priority 100"),
        (
            "filter-prerouting",
            "type filter hook prerouting priority -90",
        ),
        ("filter-output", "type filter hook output priority -90"),
    ] {
        let _ = writeln!(s, "add chain {t} {name} {{ {spec} ; }}");
    }
    for name in ["services"].into_iter().chain(direct::CHAINS).chain([
        "masquerading",
        "mark-for-masquerade",
        "service-endpoints-check",
        "cluster-ips-check",
        "reject-chain",
    ]) {
        let _ = writeln!(s, "add chain {t} {name}");
    }
    let nodeport_match = "fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport";
    let direct_rules = direct::base_rules(config);
    for (chain, rule) in [
        ("nat-prerouting", "jump services".to_string()),
        ("nat-output", "jump services".to_string()),
        ("nat-postrouting", "jump masquerading".to_string()),
        (
            "filter-prerouting",
            "ct state new jump service-endpoints-check".to_string(),
        ),
        (
            "filter-prerouting",
            "ct state new jump cluster-ips-check".to_string(),
        ),
        (
            "filter-output",
            "ct state new jump service-endpoints-check".to_string(),
        ),
        (
            "filter-output",
            "ct state new jump cluster-ips-check".to_string(),
        ),
        ("services", direct::SERVICES_RULES[0].to_string()),
        ("services", direct::SERVICES_RULES[1].to_string()),
        (
            "services",
            "ip daddr . meta l4proto . th dport vmap @service-ips".to_string(),
        ),
        ("services", direct::nodeports_rule(nodeport_match)),
        (
            "services",
            format!("{nodeport_match} vmap @service-nodeports"),
        ),
        (
            "masquerading",
            "ip saddr . ip daddr @hairpin masquerade fully-random".to_string(),
        ),
        ("masquerading", format!("mark and {mark} == 0 return")),
        ("masquerading", format!("mark set mark xor {mark}")),
        ("masquerading", "masquerade fully-random".to_string()),
        ("mark-for-masquerade", format!("mark set mark or {mark}")),
        (
            "service-endpoints-check",
            "ip daddr . meta l4proto . th dport vmap @no-endpoint-services".to_string(),
        ),
        (
            "service-endpoints-check",
            format!("{nodeport_match} vmap @no-endpoint-nodeports"),
        ),
        (
            "cluster-ips-check",
            "ip daddr @cluster-ips reject comment \"no such port on this cluster IP\"".to_string(),
        ),
        (
            "cluster-ips-check",
            format!(
                "ip daddr {} drop comment \"unallocated cluster IP\"",
                config.service_cidr
            ),
        ),
        ("reject-chain", "reject".to_string()),
    ]
    .into_iter()
    .chain(direct_rules)
    {
        let _ = writeln!(s, "add rule {t} {chain} {rule}");
    }
    s
}

/// Reading order of a service's chains: selection, then entry, then endpoints.
fn chain_rank(name: &str) -> u8 {
    ["service-", "local-", "external-"]
        .iter()
        .position(|p| name.starts_with(p))
        .map_or(3, |i| i as u8)
}

/// The whole table for `rs`, as one nft script that creates it from nothing: the base, then
/// each service port's sets, chains and elements under a `# namespace/name:port` heading.
pub(crate) fn full(rs: &Ruleset, config: &NftConfig) -> String {
    let t = format!("ip {}", config.table);
    let mut out = base(config);
    for (owner, rules) in &rs.services {
        let owned: Vec<_> = rules
            .elements
            .keys()
            .filter_map(|k| rs.owner(k).filter(|(o, _)| *o == owner).map(|e| (k, e)))
            .collect();
        if rules.chains.is_empty() && rules.maps.is_empty() && owned.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "\n# {} ({})",
            owner.display_name(),
            owner.protocol.as_str()
        );
        for (name, timeout) in &rules.sets {
            let op = Op::AddSet {
                name: name.clone(),
                timeout: *timeout,
            };
            out.push_str(&op.line(&config.table));
        }
        for (name, map) in &rules.maps {
            let declare = Op::AddMap {
                name: name.clone(),
                protocol: map.protocol,
            };
            for op in std::iter::once(declare).chain(ops::fill_map(name, map)) {
                out.push_str(&op.line(&config.table));
            }
        }
        let mut chains: Vec<_> = rules.chains.iter().collect();
        chains.sort_by_key(|(name, _)| (chain_rank(name), *name));
        for (name, _) in &chains {
            let _ = writeln!(out, "add chain {t} {name}");
        }
        for (name, chain) in &chains {
            for rule in chain.iter() {
                let _ = writeln!(out, "add rule {t} {name} {rule}");
            }
        }
        for ((coll, key), (owner, value)) in owned {
            let op = Op::AddElement {
                coll: *coll,
                key: key.clone(),
                comment: owner.display_name(),
                value: value.clone(),
            };
            out.push_str(&op.line(&config.table));
        }
    }
    out
}

/// What a transaction from `old` to `new` does, and the chains it leaves for later deletion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Transaction {
    /// The operations, in order (empty when nothing changed).
    pub ops: Vec<Op>,
    /// The same as an nft script (what [`super::Nftables::last_transaction`] shows).
    pub text: String,
    /// Chains that are no longer used: flushed by `ops`, and deleted by them too when
    /// deletion was asked for.
    pub stale_chains: Vec<String>,
}

/// One service port's new objects (`None`: it is gone).
pub(crate) type Update = (ServiceKey, Option<ServiceRules>);

/// The transaction that turns the committed `old` into `new` (whole rulesets: for tests
/// and diagnostics; the datapath uses [`changes`]).
pub(crate) fn diff(
    old: &Ruleset,
    new: &Ruleset,
    pending: &BTreeSet<String>,
    delete_chains: bool,
    config: &NftConfig,
) -> Transaction {
    let mut updates: Vec<Update> = new
        .services
        .iter()
        .filter(|(k, r)| old.services.get(*k) != Some(*r))
        .map(|(k, r)| (k.clone(), Some(r.clone())))
        .collect();
    updates.extend(
        old.services
            .keys()
            .filter(|k| !new.services.contains_key(*k))
            .map(|k| (k.clone(), None)),
    );
    changes(old, &updates, pending, delete_chains, config)
}

type Claim<'a> = Option<(&'a ServiceKey, &'a Option<ElemValue>)>;

/// The claimants an element gets from the updates of one transaction.
type NextClaims<'a> =
    HashMap<&'a (Collection, ElemKey), Vec<(&'a ServiceKey, &'a Option<ElemValue>)>>;

/// The transaction that applies `updates` to the committed `old`: only the elements, sets
/// and chains of those service ports that differ, in work proportional to them. Chains in
/// `pending` (flushed earlier, not yet deleted) and chains that become unused are deleted
/// when `delete_chains` is set, else only flushed (see [`super::Nftables`] for why deletion
/// can fail on old kernels).
pub(crate) fn changes(
    old: &Ruleset,
    updates: &[Update],
    pending: &BTreeSet<String>,
    delete_chains: bool,
    config: &NftConfig,
) -> Transaction {
    let empty = ServiceRules::default();
    let mut new_sets: BTreeMap<&str, u64> = BTreeMap::new();
    let mut gone_sets: BTreeSet<&str> = BTreeSet::new();
    let mut new_maps: BTreeMap<&str, &EndpointMap> = BTreeMap::new();
    let mut refill_maps: BTreeMap<&str, &EndpointMap> = BTreeMap::new();
    let mut gone_maps: BTreeSet<&str> = BTreeSet::new();
    let mut new_chains: BTreeSet<&str> = BTreeSet::new();
    let mut fill: BTreeMap<&str, (bool, &[super::rule::Rule])> = BTreeMap::new();
    let mut gone_chains: BTreeSet<&str> = BTreeSet::new();
    let mut elems: BTreeSet<&(Collection, ElemKey)> = BTreeSet::new();
    let mut kept_chains: BTreeSet<&str> = BTreeSet::new();
    for (key, next) in updates {
        let prev = old.services.get(key).unwrap_or(&empty);
        let next = next.as_ref().unwrap_or(&empty);
        for (name, timeout) in &next.sets {
            if !prev.sets.contains_key(name) {
                new_sets.insert(name, *timeout);
            }
        }
        for name in prev.sets.keys() {
            if !next.sets.contains_key(name) {
                gone_sets.insert(name);
            }
        }
        for (name, map) in &next.maps {
            match prev.maps.get(name) {
                Some(before) if before == map => {}
                Some(_) => {
                    refill_maps.insert(name, map);
                }
                None => {
                    new_maps.insert(name, map);
                }
            }
        }
        for name in prev.maps.keys() {
            if !next.maps.contains_key(name) {
                gone_maps.insert(name);
            }
        }
        for (name, rules) in &next.chains {
            kept_chains.insert(name);
            match prev.chains.get(name) {
                Some(before) if before == rules => {}
                Some(_) => {
                    fill.insert(name, (true, rules));
                }
                None => {
                    if !pending.contains(name) {
                        new_chains.insert(name);
                    }
                    fill.insert(name, (false, rules));
                }
            }
        }
        for name in prev.chains.keys() {
            if !next.chains.contains_key(name) {
                gone_chains.insert(name);
            }
        }
        elems.extend(prev.elements.keys());
        elems.extend(next.elements.keys());
    }
    // Who holds each touched element before and after.
    // (One pass over the updates: a first load of 10,000 services touches 100,000 elements.)
    let updated: BTreeSet<&ServiceKey> = updates.iter().map(|(k, _)| k).collect();
    let mut next_claims: NextClaims<'_> = HashMap::new();
    for (key, next) in updates {
        for (elem, v) in next.iter().flat_map(|n| n.elements.iter()) {
            next_claims.entry(elem).or_default().push((key, v));
        }
    }
    let mut element_changes: Vec<(&(Collection, ElemKey), Claim<'_>, Claim<'_>)> = Vec::new();
    for elem in elems {
        let before = old.owner(elem);
        // The first in key order of the claimants that stay and the new ones.
        // Claimants are sorted: the first that stays is the least (a shared `hairpin`
        // element can have thousands; looking at them all made each change O(services)).
        let stays: Claim<'_> = old
            .claims
            .get(elem)
            .into_iter()
            .flatten()
            .find(|(k, _)| !updated.contains(k))
            .map(|(k, v)| (k, v));
        let after: Claim<'_> = stays
            .into_iter()
            .chain(next_claims.get(elem).into_iter().flatten().copied())
            .min_by(|a, b| a.0.cmp(b.0));
        // A set element (no value) is the same whoever claims it, unless it names its
        // owner in a comment.
        let same_set_element = match (before, after) {
            (Some((owner, None)), Some((next_owner, None))) => {
                !elem.0.commented() || owner == next_owner
            }
            _ => false,
        };
        if before != after && !same_set_element {
            element_changes.push((elem, before, after));
        }
    }

    let mut ops = Vec::new();
    // 1. New sets and chains, so that rules and elements below can refer to them.
    for (name, timeout) in &new_sets {
        ops.push(Op::AddSet {
            name: name.to_string(),
            timeout: *timeout,
        });
    }
    for (name, map) in &new_maps {
        ops.push(Op::AddMap {
            name: name.to_string(),
            protocol: map.protocol,
        });
    }
    for name in &new_chains {
        ops.push(Op::AddChain(name.to_string()));
    }
    // Endpoint maps get their new elements: the only ops of an endpoint change of a
    // service port without session affinity (with the `hairpin` elements below).
    for (name, map) in &refill_maps {
        ops.push(Op::FlushMap(name.to_string()));
        ops.extend(ops::fill_map(name, map));
    }
    for (name, map) in &new_maps {
        ops.extend(ops::fill_map(name, map));
    }
    // 2. Elements that go away or change their verdict.
    for (elem, before, _) in &element_changes {
        if before.is_some() {
            ops.push(Op::DeleteElement(elem.0, elem.1.clone()));
        }
    }
    // 3. Chains whose rules change are flushed and refilled; new chains are filled.
    for (name, (flush, rules)) in &fill {
        if *flush {
            ops.push(Op::FlushChain(name.to_string()));
        }
        for rule in rules.iter() {
            ops.push(Op::AddRule {
                chain: name.to_string(),
                rule: rule.clone(),
            });
        }
    }
    let mut stale: Vec<String> = Vec::new();
    for name in &gone_chains {
        ops.push(Op::FlushChain(name.to_string()));
        stale.push(name.to_string());
    }
    // 4. New and changed elements.
    for (elem, _, after) in element_changes {
        if let Some((owner, value)) = after {
            ops.push(Op::AddElement {
                coll: elem.0,
                key: elem.1.clone(),
                comment: owner.display_name(),
                value: value.clone(),
            });
        }
    }
    // 5. Sets and maps no longer referenced (their chains were flushed above), then unused chains.
    for name in &gone_sets {
        ops.push(Op::DeleteSet(name.to_string()));
    }
    for name in &gone_maps {
        ops.push(Op::DeleteMap(name.to_string()));
    }
    for name in pending.iter().filter(|n| !kept_chains.contains(n.as_str())) {
        if !stale.contains(name) {
            stale.push(name.clone());
        }
    }
    stale.sort();
    if delete_chains {
        for name in &stale {
            ops.push(Op::DeleteChain(name.clone()));
        }
    }
    Transaction {
        text: ops::script(&ops, &config.table),
        ops,
        stale_chains: stale,
    }
}
