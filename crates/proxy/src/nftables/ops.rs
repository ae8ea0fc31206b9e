//! The operations of an incremental transaction as data: [`Op`] prints as one line of an
//! nft script ([`Op::line`]) and [`super::netlink`] encodes it as one nf_tables message.

use std::fmt::{self, Write as _};

use super::buckets::{self, EndpointMap};
use super::rule::{ElemKey, ElemValue, Rule};
use super::ruleset::Collection;
use crate::model::Protocol;

/// One change to the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    /// `add set`: an affinity set (`ipv4_addr`, dynamic, with a timeout in seconds).
    AddSet {
        /// The set's name.
        name: String,
        /// Entry timeout in seconds.
        timeout: u64,
    },
    /// `add map`: an endpoint map (see [`super::buckets`]).
    AddMap {
        /// The map's name.
        name: String,
        /// The service port's protocol (the type of the mapped port).
        protocol: Protocol,
    },
    /// `flush map`: removes every element of an endpoint map.
    FlushMap(String),
    /// `add element`: all elements of an endpoint map.
    AddRanges {
        /// The map's name.
        name: String,
        /// The elements.
        map: EndpointMap,
    },
    /// `delete map`: an endpoint map.
    DeleteMap(String),
    /// `add chain`: a regular (non-base) chain.
    AddChain(String),
    /// `delete element`: an element, by key.
    DeleteElement(Collection, ElemKey),
    /// `flush chain`: removes every rule of a chain.
    FlushChain(String),
    /// `add rule`: appends a rule to a chain.
    AddRule {
        /// The chain.
        chain: String,
        /// The rule.
        rule: Rule,
    },
    /// `add element`: an element, with its value in maps (and the comment with verdicts).
    AddElement {
        /// The set or map.
        coll: Collection,
        /// The key.
        key: ElemKey,
        /// The owner's name, the element's comment (verdict maps only).
        comment: String,
        /// The value (maps) or `None` (sets).
        value: Option<ElemValue>,
    },
    /// `delete set`.
    DeleteSet(String),
    /// `delete chain`.
    DeleteChain(String),
}

impl Op {
    /// The op as a line of an nft script for table `ip <table>` (with the newline).
    pub fn line(&self, table: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{}", Line { op: self, table });
        s
    }
}

/// An [`Op`] with its table, printable.
pub(crate) struct Line<'a> {
    /// The operation.
    pub op: &'a Op,
    /// The table's name (family `ip`).
    pub table: &'a str,
}

impl fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.table;
        match self.op {
            Op::AddSet { name, timeout } => write!(
                f,
                "add set ip {t} {name} {{ type ipv4_addr ; flags dynamic,timeout ; timeout {timeout}s ; }}"
            ),
            Op::AddMap { name, protocol } => {
                write!(f, "add map ip {t} {name} {{ {} }}", buckets::spec(*protocol))
            }
            Op::FlushMap(name) => write!(f, "flush map ip {t} {name}"),
            Op::AddRanges { name, map } => {
                write!(f, "add element ip {t} {name} {{ {} }}", map.elements())
            }
            Op::DeleteMap(name) => write!(f, "delete map ip {t} {name}"),
            Op::AddChain(name) => write!(f, "add chain ip {t} {name}"),
            Op::DeleteElement(coll, key) => {
                write!(f, "delete element ip {t} {} {{ {key} }}", coll.name())
            }
            Op::FlushChain(name) => write!(f, "flush chain ip {t} {name}"),
            Op::AddRule { chain, rule } => write!(f, "add rule ip {t} {chain} {rule}"),
            Op::AddElement {
                coll,
                key,
                comment,
                value,
            } => match value {
                Some(v @ ElemValue::Verdict(_)) => write!(
                    f,
                    "add element ip {t} {} {{ {key} comment \"{comment}\" : {v} }}",
                    coll.name()
                ),
                Some(v @ ElemValue::Target(..)) => {
                    write!(f, "add element ip {t} {} {{ {key} : {v} }}", coll.name())
                }
                None if coll.commented() => write!(
                    f,
                    "add element ip {t} {} {{ {key} comment \"{comment}\" }}",
                    coll.name()
                ),
                None => write!(f, "add element ip {t} {} {{ {key} }}", coll.name()),
            },
            Op::DeleteSet(name) => write!(f, "delete set ip {t} {name}"),
            Op::DeleteChain(name) => write!(f, "delete chain ip {t} {name}"),
        }
    }
}

/// Most ranges in one `add element` (a netlink attribute nest holds at most 64 KiB; a
/// range takes about 72 bytes).
const RANGES_PER_OP: usize = 512;

/// The `add element` ops that fill the endpoint map `name` (none when it is empty).
pub(crate) fn fill_map(name: &str, map: &EndpointMap) -> Vec<Op> {
    map.ranges
        .chunks(RANGES_PER_OP)
        .map(|chunk| Op::AddRanges {
            name: name.to_string(),
            map: EndpointMap {
                protocol: map.protocol,
                ranges: chunk.to_vec(),
            },
        })
        .collect()
}

/// The nft script of `ops`, one line each.
pub(crate) fn script(ops: &[Op], table: &str) -> String {
    let mut s = String::new();
    for op in ops {
        let _ = writeln!(s, "{}", Line { op, table });
    }
    s
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn large_maps_are_filled_in_messages_that_fit() {
        let eps: Vec<(Ipv4Addr, u16)> = (0..1500u32)
            .map(|i| (Ipv4Addr::from(0x0af4_0000 + i), 8080))
            .collect();
        let map = EndpointMap::new(Protocol::Tcp, &eps);
        let ops = fill_map("m", &map);
        assert_eq!(ops.len(), 3);
        let mut all = Vec::new();
        for op in &ops {
            let Op::AddRanges { map: part, .. } = op else {
                panic!("{op:?}");
            };
            all.extend_from_slice(&part.ranges);
            // One message each, and its element list within a netlink attribute's 64 KiB.
            let batch = super::super::netlink::Batch::encode("t", std::slice::from_ref(op));
            assert!(batch.bytes().len() < 65_000, "{}", batch.bytes().len());
        }
        assert_eq!(all, map.ranges);
        assert!(fill_map("m", &EndpointMap::new(Protocol::Tcp, &[])).is_empty());
    }
}
