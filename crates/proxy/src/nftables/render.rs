//! nft text from a [`Ruleset`]: the whole table ([`full`]) or one transaction that turns the
//! committed objects into the desired ones ([`diff`]). Pure functions: same input, same
//! text, which the tests compare line by line.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::ruleset::{Collection, ElemDef, Ruleset};
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
    for name in [
        "services",
        "masquerading",
        "mark-for-masquerade",
        "service-endpoints-check",
        "cluster-ips-check",
        "reject-chain",
    ] {
        let _ = writeln!(s, "add chain {t} {name}");
    }
    let nodeport_match = "fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport";
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
        (
            "services",
            "ip daddr . meta l4proto . th dport vmap @service-ips".to_string(),
        ),
        (
            "services",
            format!("{nodeport_match} vmap @service-nodeports"),
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
    ] {
        let _ = writeln!(s, "add rule {t} {chain} {rule}");
    }
    s
}

fn set_line(t: &str, name: &str, timeout: u64) -> String {
    format!(
        "add set {t} {name} {{ type ipv4_addr ; flags dynamic,timeout ; timeout {timeout}s ; }}\n"
    )
}

fn element_line(
    t: &str,
    verb: &str,
    coll: Collection,
    key: &str,
    elem: Option<&ElemDef>,
) -> String {
    match elem.and_then(|e| e.value.as_ref().map(|v| (e, v))) {
        Some((e, value)) => format!(
            "{verb} element {t} {} {{ {key} comment \"{}\" : {value} }}\n",
            coll.name(),
            e.owner.display_name()
        ),
        None => format!("{verb} element {t} {} {{ {key} }}\n", coll.name()),
    }
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
    let mut owners: BTreeSet<&ServiceKey> = BTreeSet::new();
    owners.extend(rs.chains.values().map(|c| &c.owner));
    owners.extend(rs.elements.values().map(|e| &e.owner));
    for owner in owners {
        let _ = writeln!(
            out,
            "\n# {} ({})",
            owner.display_name(),
            owner.protocol.as_str()
        );
        for (name, set) in rs.sets.iter().filter(|(_, s)| &s.owner == owner) {
            out.push_str(&set_line(&t, name, set.timeout_secs));
        }
        let mut chains: Vec<_> = rs
            .chains
            .iter()
            .filter(|(_, c)| &c.owner == owner)
            .collect();
        chains.sort_by_key(|(name, _)| (chain_rank(name), *name));
        for (name, _) in &chains {
            let _ = writeln!(out, "add chain {t} {name}");
        }
        for (name, chain) in &chains {
            for rule in &chain.rules {
                let _ = writeln!(out, "add rule {t} {name} {rule}");
            }
        }
        for ((coll, key), elem) in rs.elements.iter().filter(|(_, e)| &e.owner == owner) {
            out.push_str(&element_line(&t, "add", *coll, key, Some(elem)));
        }
    }
    out
}

/// What a transaction from `old` to `new` does, and the chains it leaves for later deletion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Transaction {
    /// The nft script (empty when nothing changed).
    pub text: String,
    /// Chains that are no longer used: flushed by `text`, and deleted by it too when
    /// deletion was asked for.
    pub stale_chains: Vec<String>,
}

/// The transaction that turns the committed `old` into `new`: only the elements, sets and
/// chains that differ. Chains in `pending` (flushed earlier, not yet deleted) and chains
/// that become unused are deleted when `delete_chains` is set, else only flushed (see
/// [`super::Nftables`] for why deletion can fail on old kernels).
pub(crate) fn diff(
    old: &Ruleset,
    new: &Ruleset,
    pending: &BTreeSet<String>,
    delete_chains: bool,
    config: &NftConfig,
) -> Transaction {
    let t = format!("ip {}", config.table);
    let mut out = String::new();

    // 1. New sets and chains, so that rules and elements below can refer to them.
    for (name, set) in &new.sets {
        if !old.sets.contains_key(name) {
            out.push_str(&set_line(&t, name, set.timeout_secs));
        }
    }
    for name in new.chains.keys() {
        if !old.chains.contains_key(name) && !pending.contains(name) {
            let _ = writeln!(out, "add chain {t} {name}");
        }
    }
    // 2. Elements that go away or change their verdict.
    let changed_elem = |k: &(Collection, String), e: &ElemDef| match new.elements.get(k) {
        None => true,
        Some(n) => n.value != e.value || n.owner != e.owner,
    };
    for (k, e) in &old.elements {
        if changed_elem(k, e) {
            out.push_str(&element_line(&t, "delete", k.0, &k.1, None));
        }
    }
    // 3. Chains whose rules change are flushed and refilled; new chains are filled.
    let mut stale: Vec<String> = Vec::new();
    for (name, chain) in &new.chains {
        match old.chains.get(name) {
            Some(prev) if prev.rules == chain.rules => continue,
            Some(_) => {
                let _ = writeln!(out, "flush chain {t} {name}");
            }
            None => {}
        }
        for rule in &chain.rules {
            let _ = writeln!(out, "add rule {t} {name} {rule}");
        }
    }
    for name in old.chains.keys() {
        if !new.chains.contains_key(name) {
            let _ = writeln!(out, "flush chain {t} {name}");
            stale.push(name.clone());
        }
    }
    // 4. New and changed elements.
    for (k, e) in &new.elements {
        let add = match old.elements.get(k) {
            None => true,
            Some(prev) => changed_elem(k, prev),
        };
        if add {
            out.push_str(&element_line(&t, "add", k.0, &k.1, Some(e)));
        }
    }
    // 5. Sets no longer referenced (their chains were flushed above), then unused chains.
    for name in old.sets.keys() {
        if !new.sets.contains_key(name) {
            let _ = writeln!(out, "delete set {t} {name}");
        }
    }
    for name in pending.iter().filter(|n| !new.chains.contains_key(*n)) {
        if !stale.contains(name) {
            stale.push(name.clone());
        }
    }
    stale.sort();
    if delete_chains {
        for name in &stale {
            let _ = writeln!(out, "delete chain {t} {name}");
        }
    }
    Transaction {
        text: out,
        stale_chains: stale,
    }
}
