//! The per-service rules, set keys and verdicts as data. Each prints as the nft text that
//! `portico proxy rules` shows ([`std::fmt::Display`]), and [`super::netlink`] encodes the
//! same value as the kernel's expressions, so both paths program one thing.

use std::fmt;
use std::net::Ipv4Addr;

use super::names::proto;
use super::Ipv4Cidr;
use crate::model::Protocol;

/// The chain every masquerade decision jumps to.
pub(crate) const MARK_FOR_MASQUERADE: &str = "mark-for-masquerade";

/// A verdict in a rule or a map element.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Verdict {
    /// `drop`.
    Drop,
    /// `jump <chain>`: run the chain, then come back.
    Jump(String),
    /// `goto <chain>`: continue in the chain, without coming back.
    Goto(String),
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Drop => f.write_str("drop"),
            Verdict::Jump(c) => write!(f, "jump {c}"),
            Verdict::Goto(c) => write!(f, "goto {c}"),
        }
    }
}

/// The value of a map element (set elements have none).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum ElemValue {
    /// A verdict (`goto <chain>`, `drop`), in the dispatch maps.
    Verdict(Verdict),
    /// An endpoint, `address . port`, in the `direct-E` maps.
    Target(Ipv4Addr, u16),
}

impl fmt::Display for ElemValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElemValue::Verdict(v) => write!(f, "{v}"),
            ElemValue::Target(a, port) => write!(f, "{a} . {port}"),
        }
    }
}

/// The key of an element of a dispatch set or map.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum ElemKey {
    /// `10.96.0.10` (`cluster-ips`).
    Addr(Ipv4Addr),
    /// `10.96.0.10 . tcp . 53` (`service-ips`, `no-endpoint-services`).
    AddrProtoPort(Ipv4Addr, Protocol, u16),
    /// `tcp . 30080` (`service-nodeports`, `no-endpoint-nodeports`).
    ProtoPort(Protocol, u16),
    /// `10.244.0.5 . 10.244.0.5` (`hairpin`: source . destination).
    AddrPair(Ipv4Addr, Ipv4Addr),
    /// `10.96.0.10 . udp . 53 . 2` (`direct-E`: cluster IP . protocol . port . the
    /// endpoint's index, `numgen random mod E`).
    AddrProtoPortIndex(Ipv4Addr, Protocol, u16, u32),
    /// `tcp . 30080 . 1` (`direct-nodeport-E`: protocol . node port . the endpoint's
    /// index).
    ProtoPortIndex(Protocol, u16, u32),
}

impl fmt::Display for ElemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElemKey::Addr(a) => write!(f, "{a}"),
            ElemKey::AddrProtoPort(a, p, port) => write!(f, "{a} . {} . {port}", proto(*p)),
            ElemKey::ProtoPort(p, port) => write!(f, "{} . {port}", proto(*p)),
            ElemKey::AddrPair(a, b) => write!(f, "{a} . {b}"),
            ElemKey::AddrProtoPortIndex(a, p, port, i) => {
                write!(f, "{a} . {} . {port} . {i}", proto(*p))
            }
            ElemKey::ProtoPortIndex(p, port, i) => write!(f, "{} . {port} . {i}", proto(*p)),
        }
    }
}

/// One rule of a per-service chain: one variant per shape the ruleset uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Rule {
    /// `ip daddr <daddr> ip saddr != <pods> jump mark-for-masquerade`: traffic to a cluster
    /// IP from outside the pod network.
    MasqueradeOutside {
        /// The cluster IP.
        daddr: Ipv4Addr,
        /// The pod network.
        pods: Ipv4Cidr,
    },
    /// `ip saddr <cidr> <verdict> comment "<comment>"`.
    SourceIn {
        /// The source network.
        cidr: Ipv4Cidr,
        /// What to do with matching packets.
        verdict: Verdict,
        /// The rule's comment.
        comment: &'static str,
    },
    /// `fib saddr type local <verdict> comment "<comment>"`: traffic from the node itself.
    LocalSource {
        /// What to do with matching packets.
        verdict: Verdict,
        /// The rule's comment.
        comment: &'static str,
    },
    /// `jump <chain>` or `goto <chain>`, unconditionally.
    Always(Verdict),
    /// `ip saddr @<set> goto <target>`: session affinity, a client seen before.
    Affinity {
        /// The endpoint's affinity set.
        set: String,
        /// The endpoint's chain.
        target: String,
    },
    /// `numgen random mod <modulus> == 0 goto <target>`: one draw of the endpoint choice.
    Random {
        /// How many endpoints are left to choose from.
        modulus: u32,
        /// The endpoint's chain.
        target: String,
    },
    /// `ip saddr <endpoint> jump mark-for-masquerade`: a pod reaching itself.
    Hairpin {
        /// The endpoint's address.
        endpoint: Ipv4Addr,
    },
    /// `update @<set> { ip saddr }`: remember the client for session affinity.
    Remember {
        /// The endpoint's affinity set.
        set: String,
    },
    /// `meta l4proto <protocol> dnat to <addr>:<port>`.
    Dnat {
        /// The service port's protocol.
        protocol: Protocol,
        /// The endpoint's address.
        addr: Ipv4Addr,
        /// The endpoint's port.
        port: u16,
    },
    /// `meta l4proto <protocol> dnat ip addr . port to numgen random mod 65536 map @<map>`:
    /// the endpoint choice of a service port without session affinity (see
    /// [`super::buckets`]).
    DnatMap {
        /// The service port's protocol.
        protocol: Protocol,
        /// The endpoint map.
        map: String,
    },
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::MasqueradeOutside { daddr, pods } => write!(
                f,
                "ip daddr {daddr} ip saddr != {pods} jump {MARK_FOR_MASQUERADE}"
            ),
            Rule::SourceIn {
                cidr,
                verdict,
                comment,
            } => write!(f, "ip saddr {cidr} {verdict} comment \"{comment}\""),
            Rule::LocalSource { verdict, comment } => {
                write!(f, "fib saddr type local {verdict} comment \"{comment}\"")
            }
            Rule::Always(v) => write!(f, "{v}"),
            Rule::Affinity { set, target } => write!(f, "ip saddr @{set} goto {target}"),
            Rule::Random { modulus, target } => {
                write!(f, "numgen random mod {modulus} == 0 goto {target}")
            }
            Rule::Hairpin { endpoint } => {
                write!(f, "ip saddr {endpoint} jump {MARK_FOR_MASQUERADE}")
            }
            Rule::Remember { set } => write!(f, "update @{set} {{ ip saddr }}"),
            Rule::Dnat {
                protocol,
                addr,
                port,
            } => write!(f, "meta l4proto {} dnat to {addr}:{port}", proto(*protocol)),
            Rule::DnatMap { protocol, map } => write!(
                f,
                "meta l4proto {} dnat ip addr . port to numgen random mod {} map @{map}",
                proto(*protocol),
                super::buckets::BUCKETS
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_print_as_nft_writes_them() {
        let pods: Ipv4Cidr = "10.244.0.0/16".parse().unwrap();
        let cases = [
            (
                Rule::MasqueradeOutside {
                    daddr: Ipv4Addr::new(10, 96, 0, 1),
                    pods,
                },
                "ip daddr 10.96.0.1 ip saddr != 10.244.0.0/16 jump mark-for-masquerade",
            ),
            (
                Rule::SourceIn {
                    cidr: pods,
                    verdict: Verdict::Goto("c".into()),
                    comment: "x y",
                },
                "ip saddr 10.244.0.0/16 goto c comment \"x y\"",
            ),
            (
                Rule::LocalSource {
                    verdict: Verdict::Jump(MARK_FOR_MASQUERADE.into()),
                    comment: "z",
                },
                "fib saddr type local jump mark-for-masquerade comment \"z\"",
            ),
            (Rule::Always(Verdict::Goto("e".into())), "goto e"),
            (
                Rule::Random {
                    modulus: 3,
                    target: "e".into(),
                },
                "numgen random mod 3 == 0 goto e",
            ),
            (
                Rule::Dnat {
                    protocol: Protocol::Udp,
                    addr: Ipv4Addr::new(10, 244, 0, 5),
                    port: 53,
                },
                "meta l4proto udp dnat to 10.244.0.5:53",
            ),
            (Rule::Remember { set: "s".into() }, "update @s { ip saddr }"),
            (
                Rule::DnatMap {
                    protocol: Protocol::Tcp,
                    map: "m".into(),
                },
                "meta l4proto tcp dnat ip addr . port to numgen random mod 65536 map @m",
            ),
        ];
        for (rule, text) in cases {
            assert_eq!(rule.to_string(), text);
        }
        assert_eq!(
            ElemKey::AddrProtoPort(Ipv4Addr::new(10, 96, 0, 10), Protocol::Tcp, 53).to_string(),
            "10.96.0.10 . tcp . 53"
        );
        assert_eq!(
            ElemKey::ProtoPort(Protocol::Udp, 30080).to_string(),
            "udp . 30080"
        );
        assert_eq!(Verdict::Drop.to_string(), "drop");
        assert_eq!(
            ElemKey::AddrProtoPortIndex(Ipv4Addr::new(10, 96, 0, 10), Protocol::Udp, 53, 2)
                .to_string(),
            "10.96.0.10 . udp . 53 . 2"
        );
        assert_eq!(
            ElemKey::ProtoPortIndex(Protocol::Tcp, 30080, 1).to_string(),
            "tcp . 30080 . 1"
        );
        assert_eq!(
            ElemValue::Target(Ipv4Addr::new(10, 244, 0, 5), 8080).to_string(),
            "10.244.0.5 . 8080"
        );
        let a = Ipv4Addr::new(10, 244, 0, 5);
        assert_eq!(
            ElemKey::AddrPair(a, a).to_string(),
            "10.244.0.5 . 10.244.0.5"
        );
    }
}
