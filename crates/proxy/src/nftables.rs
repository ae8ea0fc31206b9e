//! The nftables datapath: kernel DNAT in one table, `ip portico`, updated incrementally.
//!
//! # Layout
//!
//! The layout follows kube-proxy's nftables mode. Fixed part (see [`render_full`]):
//!
//! * `nat-prerouting` and `nat-output` jump to `services`, which first looks the
//!   destination up in the sets `direct-services` and `direct-external` (the direct
//!   layout, below), then in the verdict map `service-ips` (`ip . protocol . port`:
//!   cluster, external and LoadBalancer IPs) and, for any local address but 127/8, in the
//!   set `direct-nodeports` and the verdict map `service-nodeports` (`protocol . port`).
//! * The direct layout (module `direct`): a service port with 1 to 16 usable endpoints, no
//!   session affinity, `internalTrafficPolicy: Cluster` and, if it has a node port,
//!   external or LoadBalancer IP, `externalTrafficPolicy: Cluster`, owns no chain, rule,
//!   set or map, only elements in static objects: its cluster `ip . protocol . port` in
//!   `direct-services`, which sends it to the static chain `direct-dnat` (masquerade from
//!   outside the pod network, then one rule per E from 1 to 16, `dnat ip addr . port to ip
//!   daddr . meta l4proto . th dport . numgen random mod E map @direct-E`), one element
//!   `ip . protocol . port . i : endpoint` per endpoint in the static map `direct-E` of its
//!   endpoint count E (a lookup miss ends a rule, so the packet falls through to its E);
//!   its external and LoadBalancer addresses likewise in `direct-external` (whose chain
//!   marks all traffic for masquerade first) and `direct-E`; its node port in
//!   `direct-nodeports` and `direct-nodeport-E` (`protocol . port . i : endpoint`, chain
//!   `direct-nodeport-dnat`, masquerading all). The lookup elements carry the service
//!   port's name as a comment, so `nft list` still names it. Hairpin is `hairpin`, as
//!   below. Adding such a service port, or changing its endpoints, is element changes
//!   only. Every other service port has the per-service layout:
//! * Per service port `ns/name:port`: `service-HASH-ns/name/proto/port` chooses the
//!   endpoint; `local-…` does the same over this node's endpoints for `Local` traffic
//!   policies; `external-…` is the entry for node ports, external and LoadBalancer IPs
//!   (masquerade, or for `externalTrafficPolicy: Local` keep the client address and
//!   short-circuit pods and the node to all endpoints).
//! * Without session affinity (the compact layout), the choice is one rule,
//!   `meta l4proto tcp dnat ip addr . port to numgen random mod 65536 map @endpoints-…`:
//!   the named interval map `endpoints-HASH-ns/name/proto/port` (`local-endpoints-…` for
//!   `local-…`) splits the 65,536 buckets into one contiguous range per endpoint, sizes
//!   differing by at most one (uniform to 1/65536), each mapped to `address . port`.
//!   There are no per-endpoint chains; a pod reaching itself through such a service is
//!   caught by the static set `hairpin` (`endpoint . endpoint` for every endpoint of these
//!   services, shared by the services that list the endpoint).
//! * With session affinity, per-endpoint chains as kube-proxy has them: the selection
//!   chain first looks the client up, one `ip saddr @affinity-… goto endpoint-…` per
//!   endpoint, then draws `numgen random mod N == 0 goto endpoint-…`, `mod N-1`, …, then
//!   `goto` the last one (uniform; kube-proxy uses one `numgen random mod N vmap { … }`,
//!   but the kernel binds each such anonymous map by walking the whole transaction, which
//!   made loading 10,000 services take minutes). `endpoint-HASH-…__ip/port` marks hairpin
//!   traffic for masquerade, records affinity (`update @affinity-… { ip saddr }`) and
//!   DNATs.
//! * Source NAT: rules jump to `mark-for-masquerade` (traffic to a cluster IP from outside the
//!   pod network, all external traffic under `Cluster` policy, a pod reaching itself
//!   through a service with affinity); `nat-postrouting` masquerades marked packets and,
//!   first, any packet whose `source . destination` is in `hairpin`.
//! * `filter-prerouting` and `filter-output` (after DNAT) reject new connections to service
//!   ports without endpoints (`no-endpoint-services`, `no-endpoint-nodeports`; `drop` when a
//!   `Local` policy finds no local endpoint), reject anything else sent to a cluster IP
//!   (other ports, ping), and drop traffic to unallocated addresses of the service range.
//!
//! # Updates
//!
//! [`Nftables`] keeps the objects it last committed in memory, per service port, with the
//! claimants of each dispatch element (two service ports on one external IP and port: the
//! first in key order holds it). The rules, element keys and verdicts are data (one variant
//! per rule shape), printed as nft text and encoded as netlink messages from the same
//! value. The first `apply` replaces the table with one `nft -f -` script (the text
//! [`render_full`] shows, after `add table`/`delete table`). Every later transaction
//! carries only the elements, sets and chains of the service ports that changed
//! ([`crate::Datapath::apply_changes`]: work in proportion to the change, not to the table)
//! and goes straight to the kernel as one nfnetlink batch on a long-lived
//! `NETLINK_NETFILTER` socket: no `nft` process, and no listing of the kernel's ruleset
//! (nft 1.0 fetches every chain of the table before each script, seconds with 100,000
//! chains). The kernel checks and commits the batch inside the send call and acknowledges
//! each message; a refusal names the object (and carries the kernel's extended-ACK text).
//! What remains per transaction is the kernel's own work. A transaction that only changes
//! set elements without verdicts is cheap (under a millisecond with 10,000 services):
//! adding a service port of the direct layout, or changing its endpoints, adds and deletes
//! elements of the static `direct-…` sets and maps; an endpoint change of a compact service
//! port is `flush map` on its endpoint map, one `add element` with the new ranges, and the
//! `hairpin` elements that appear or go — no rule, no chain. Any transaction that adds a
//! rule with a verdict or NAT, or a verdict-map element with `goto` (adding a service port
//! of the other layouts, going to or from zero endpoints, every endpoint change of a
//! service with affinity), makes the kernel re-validate the whole chain graph at commit, in
//! proportion to the table (about 20 ms with 10,000 services); creating a set or map costs
//! a walk of the table's sets (about 4 ms).
//! [`Nftables::last_transaction`] still shows each transaction as the nft script it is
//! equivalent to.
//!
//! Chains that fall out of use are flushed and deleted in the same transaction; on kernels
//! older than 6.2, which release a chain's references from deleted map elements only a
//! moment later, the deletion can fail: the transaction is then resent without it and the
//! deletion retried with the next one. A transaction too large for the socket
//! (`EMSGSIZE`, `ENOBUFS`) is split by service port. A refused transaction leaves the
//! kernel unchanged (batches apply atomically); any failure drops the socket (the next
//! transaction opens a new one) and makes the next `apply` rewrite the whole table
//! through nft.
//!
//! Only IPv4 is programmed: IPv6 addresses and endpoints are skipped, as are SCTP ports.

mod buckets;
pub mod conntrack;
mod direct;
mod names;
mod netlink;
mod ops;
mod render;
mod rule;
mod ruleset;
mod sync;

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::str::FromStr;

use crate::model::ProxyState;
use crate::Error;
use ruleset::Ruleset;

/// An IPv4 network, `address/prefix`, with the host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    /// The network address.
    pub addr: Ipv4Addr,
    /// The prefix length, 0 to 32.
    pub prefix: u8,
}

impl Ipv4Cidr {
    /// The network `addr/prefix` (host bits of `addr` are cleared); `None` if `prefix > 32`.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<Ipv4Cidr> {
        if prefix > 32 {
            return None;
        }
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        Some(Ipv4Cidr {
            addr: Ipv4Addr::from(u32::from(addr) & mask),
            prefix,
        })
    }
}

impl FromStr for Ipv4Cidr {
    type Err = Error;

    fn from_str(s: &str) -> Result<Ipv4Cidr, Error> {
        let bad = || {
            Error::Other(format!(
                "invalid IPv4 CIDR {s:?} (expected e.g. 10.244.0.0/16)"
            ))
        };
        let (addr, prefix) = s.trim().split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        Ipv4Cidr::new(addr, prefix).ok_or_else(bad)
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Settings of the nftables datapath.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NftConfig {
    /// The table's name (family `ip`); `portico` by default.
    pub table: String,
    /// The cluster's pod network (all nodes), e.g. `10.244.0.0/16`: traffic from elsewhere
    /// to a cluster IP is masqueraded, pods reaching external addresses are short-circuited.
    pub pod_cidr: Ipv4Cidr,
    /// The service network, e.g. `10.96.0.0/12`: traffic to unallocated addresses is dropped.
    pub service_cidr: Ipv4Cidr,
    /// The packet-mark bit that asks for masquerade (14 → `0x4000`, as kube-proxy).
    pub masquerade_bit: u8,
    /// The `nft` program.
    pub nft: PathBuf,
}

impl NftConfig {
    /// Defaults for the given networks: table `portico`, mark bit 14, and `/usr/sbin/nft`
    /// if it exists (else `nft` from `PATH`).
    pub fn new(pod_cidr: Ipv4Cidr, service_cidr: Ipv4Cidr) -> NftConfig {
        let sbin = PathBuf::from("/usr/sbin/nft");
        NftConfig {
            table: "portico".to_string(),
            pod_cidr,
            service_cidr,
            masquerade_bit: 14,
            nft: if sbin.exists() {
                sbin
            } else {
                PathBuf::from("nft")
            },
        }
    }

    /// The masquerade mark as nft writes it, e.g. `0x4000`.
    fn mark(&self) -> String {
        format!("{:#x}", 1u32 << (self.masquerade_bit & 31))
    }

    fn validate(&self) -> Result<(), Error> {
        let ok_name = !self.table.is_empty()
            && self.table.len() <= 64
            && self
                .table
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            && self.table.starts_with(|c: char| c.is_ascii_alphabetic());
        if !ok_name {
            return Err(Error::Nftables(format!(
                "invalid table name {:?}",
                self.table
            )));
        }
        if self.masquerade_bit > 31 {
            return Err(Error::Nftables(format!(
                "masquerade bit {} is out of range (0 to 31)",
                self.masquerade_bit
            )));
        }
        Ok(())
    }
}

/// The whole table for `state` as an nft script that creates it from nothing (what
/// `portico proxy rules` shows): the fixed chains and maps, then each service port's
/// sets, chains and map elements under a `# namespace/name:port (PROTOCOL)` heading.
pub fn render_full(state: &ProxyState, config: &NftConfig) -> String {
    render::full(&Ruleset::build(state, config), config)
}

/// The nftables datapath. See the [module docs](self).
#[derive(Debug)]
pub struct Nftables {
    config: NftConfig,
    /// What the kernel holds, as far as we know; `None` before the first apply and after a
    /// failure (the next apply then rewrites the table).
    committed: Option<Committed>,
    /// Chains flushed but not yet deleted.
    pending_delete: BTreeSet<String>,
    last_transaction: String,
    /// The netlink socket of incremental transactions: opened on first use, dropped after
    /// any failure.
    socket: Option<netlink::Socket>,
    last_timing: NetlinkTiming,
}

/// Where the time of the last [`crate::Datapath::apply`]'s netlink transactions went
/// (zero when it sent none, e.g. on the first apply, which goes through `nft`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetlinkTiming {
    /// Transactions (batches) sent.
    pub batches: u32,
    /// Messages sent, one per changed object.
    pub messages: usize,
    /// Bytes sent.
    pub bytes: usize,
    /// Turning the operations into netlink messages.
    pub encode: std::time::Duration,
    /// From sending a batch to its last acknowledgement: the kernel's work (it checks and
    /// commits the batch inside the send call).
    pub kernel: std::time::Duration,
}

/// What the kernel holds: each service port's objects, and the UDP service ports (for
/// clearing conntrack entries when their endpoints go).
#[derive(Debug)]
struct Committed {
    rules: Ruleset,
    udp: std::collections::BTreeMap<crate::model::ServiceKey, crate::model::ServicePort>,
}

impl Nftables {
    /// A datapath that will program `config.table`. Touches nothing until the first
    /// [`Datapath::apply`](crate::Datapath::apply).
    pub fn new(config: NftConfig) -> Result<Nftables, Error> {
        config.validate()?;
        Ok(Nftables {
            config,
            committed: None,
            pending_delete: BTreeSet::new(),
            last_transaction: String::new(),
            socket: None,
            last_timing: NetlinkTiming::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &NftConfig {
        &self.config
    }

    /// The script(s) the last `apply` sent, in order (empty if it changed nothing).
    pub fn last_transaction(&self) -> &str {
        &self.last_transaction
    }

    /// How long the last apply's netlink transactions took.
    pub fn last_timing(&self) -> NetlinkTiming {
        self.last_timing
    }

    /// The script `apply(state)` would send now (as one transaction), without sending it.
    pub fn transaction(&self, state: &ProxyState) -> String {
        let desired = Ruleset::build(state, &self.config);
        match &self.committed {
            None => self.replace_script(&desired),
            Some(old) => {
                render::diff(
                    &old.rules,
                    &desired,
                    &self.pending_delete,
                    true,
                    &self.config,
                )
                .text
            }
        }
    }

    /// Removes the table (and with it every rule of this datapath).
    pub async fn remove(&mut self) -> Result<(), Error> {
        let t = &self.config.table;
        self.committed = None;
        self.pending_delete.clear();
        let script = format!("add table ip {t}\ndelete table ip {t}\n");
        sync::run_nft(&self.config.nft, &script).await
    }

    /// The script that replaces the table with `desired`.
    fn replace_script(&self, desired: &Ruleset) -> String {
        let t = &self.config.table;
        format!(
            "add table ip {t}\ndelete table ip {t}\n{}",
            render::full(desired, &self.config)
        )
    }
}

#[cfg(test)]
mod tests;
