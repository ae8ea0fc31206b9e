//! One transaction as an nfnetlink batch: `NFNL_MSG_BATCH_BEGIN`, one nf_tables message
//! per [`Op`], `NFNL_MSG_BATCH_END`. Sequence numbers and acknowledgement flags are filled
//! in by the socket just before sending ([`Batch::number`]).

use super::attr::{comment_bytes, Writer};
use super::{expr, maps};
use crate::nftables::ops::Op;
use crate::nftables::rule::{ElemKey, ElemValue};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 16;
const NFNL_MSG_BATCH_END: u16 = 17;

const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_DELCHAIN: u16 = 5;
const NFT_MSG_NEWRULE: u16 = 6;
const NFT_MSG_DELRULE: u16 = 8;
const NFT_MSG_NEWSET: u16 = 9;
const NFT_MSG_DELSET: u16 = 11;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_DELSETELEM: u16 = 14;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;

const AF_UNSPEC: u8 = 0;
const NFPROTO_IPV4: u8 = 2;

/// nft's data type id of `ipv4_addr` (`TYPE_IPADDR`), stored as the set's key type.
const TYPE_IPADDR: u32 = 7;
/// `NFT_SET_TIMEOUT | NFT_SET_EVAL`: `flags dynamic,timeout`.
const SET_FLAGS_DYNAMIC_TIMEOUT: u32 = 0x10 | 0x20;
/// nft's set user data: key byte order (`NFTNL_UDATA_SET_KEYBYTEORDER`), big endian.
const UDATA_SET_KEYBYTEORDER: u8 = 0;
const BYTEORDER_BIG_ENDIAN: u32 = 2;
/// Comments in rule and element user data (`NFTNL_UDATA_{RULE,SET_ELEM}_COMMENT`).
const UDATA_COMMENT: u8 = 0;

/// An encoded transaction.
#[derive(Debug, Clone)]
pub(crate) struct Batch {
    w: Writer,
    /// Offset of every message: the begin marker, one per op, the end marker.
    offsets: Vec<usize>,
}

impl Batch {
    /// Encodes `ops` on table `ip <table>`.
    pub fn encode(table: &str, ops: &[Op]) -> Batch {
        let mut b = Batch {
            w: Writer {
                buf: Vec::with_capacity(64 + ops.len() * 160),
            },
            offsets: Vec::with_capacity(ops.len() + 2),
        };
        let start = b.w.begin_msg(
            NFNL_MSG_BATCH_BEGIN,
            NLM_F_REQUEST,
            AF_UNSPEC,
            NFNL_SUBSYS_NFTABLES,
        );
        b.w.end_msg(start);
        b.offsets.push(start);
        for op in ops {
            let start = b.w.buf.len();
            b.op(table, op);
            b.offsets.push(start);
        }
        let start = b.w.begin_msg(
            NFNL_MSG_BATCH_END,
            NLM_F_REQUEST,
            AF_UNSPEC,
            NFNL_SUBSYS_NFTABLES,
        );
        b.w.end_msg(start);
        b.offsets.push(start);
        b
    }

    /// How many ops it carries.
    pub fn ops(&self) -> usize {
        self.offsets.len() - 2
    }

    /// The bytes to send.
    pub fn bytes(&self) -> &[u8] {
        &self.w.buf
    }

    /// Numbers the messages `first`, `first + 1`, … and asks for an acknowledgement of
    /// every op (`ack_each`), or of the last one only.
    pub fn number(&mut self, first: u32, ack_each: bool) {
        let n = self.offsets.len();
        for (i, &off) in self.offsets.iter().enumerate() {
            let seq = first.wrapping_add(i as u32);
            self.w.buf[off + 8..off + 12].copy_from_slice(&seq.to_ne_bytes());
            let is_op = i > 0 && i + 1 < n;
            let flags_at = off + 6;
            let mut flags = u16::from_ne_bytes([self.w.buf[flags_at], self.w.buf[flags_at + 1]]);
            flags &= !NLM_F_ACK;
            if is_op && (ack_each || i + 2 == n) {
                flags |= NLM_F_ACK;
            }
            self.w.buf[flags_at..flags_at + 2].copy_from_slice(&flags.to_ne_bytes());
        }
    }

    fn msg(&mut self, msg: u16, flags: u16) -> usize {
        self.w.begin_msg(
            NFNL_SUBSYS_NFTABLES << 8 | msg,
            NLM_F_REQUEST | flags,
            NFPROTO_IPV4,
            0,
        )
    }

    fn op(&mut self, table: &str, op: &Op) {
        let w_start;
        match op {
            Op::AddSet { name, timeout } => {
                w_start = self.msg(NFT_MSG_NEWSET, NLM_F_CREATE);
                let w = &mut self.w;
                w.put_str(1, table); // NFTA_SET_TABLE
                w.put_str(2, name); // NFTA_SET_NAME
                w.put_u32(3, SET_FLAGS_DYNAMIC_TIMEOUT); // NFTA_SET_FLAGS
                w.put_u32(4, TYPE_IPADDR); // NFTA_SET_KEY_TYPE
                w.put_u32(5, 4); // NFTA_SET_KEY_LEN
                w.put_u32(10, self.offsets.len() as u32); // NFTA_SET_ID
                w.put_u64(11, timeout.saturating_mul(1000)); // NFTA_SET_TIMEOUT, ms
                w.put_udata(
                    13, // NFTA_SET_USERDATA
                    UDATA_SET_KEYBYTEORDER,
                    &BYTEORDER_BIG_ENDIAN.to_ne_bytes(),
                );
            }
            Op::AddMap { name, protocol } => {
                w_start = self.msg(NFT_MSG_NEWSET, NLM_F_CREATE);
                maps::new_map(
                    &mut self.w,
                    table,
                    name,
                    *protocol,
                    self.offsets.len() as u32,
                );
            }
            Op::AddRanges { name, map } => {
                w_start = self.msg(NFT_MSG_NEWSETELEM, NLM_F_CREATE);
                maps::ranges(&mut self.w, table, name, map);
            }
            Op::FlushMap(name) => {
                w_start = self.msg(NFT_MSG_DELSETELEM, 0);
                maps::flush(&mut self.w, table, name);
            }
            Op::DeleteSet(name) | Op::DeleteMap(name) => {
                w_start = self.msg(NFT_MSG_DELSET, 0);
                self.w.put_str(1, table);
                self.w.put_str(2, name);
            }
            Op::AddChain(name) => {
                w_start = self.msg(NFT_MSG_NEWCHAIN, NLM_F_CREATE);
                self.w.put_str(1, table); // NFTA_CHAIN_TABLE
                self.w.put_str(3, name); // NFTA_CHAIN_NAME
            }
            Op::DeleteChain(name) => {
                w_start = self.msg(NFT_MSG_DELCHAIN, 0);
                self.w.put_str(1, table);
                self.w.put_str(3, name);
            }
            Op::FlushChain(name) => {
                w_start = self.msg(NFT_MSG_DELRULE, 0);
                self.w.put_str(1, table); // NFTA_RULE_TABLE
                self.w.put_str(2, name); // NFTA_RULE_CHAIN
            }
            Op::AddRule { chain, rule } => {
                w_start = self.msg(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
                let w = &mut self.w;
                w.put_str(1, table);
                w.put_str(2, chain);
                let list = w.begin_nest(4); // NFTA_RULE_EXPRESSIONS
                expr::rule(w, rule);
                w.end_nest(list);
                if let Some(c) = expr::comment(rule) {
                    w.put_udata(7, UDATA_COMMENT, &comment_bytes(c)); // NFTA_RULE_USERDATA
                }
            }
            Op::AddElement {
                coll,
                key,
                comment,
                value,
            } => {
                w_start = self.msg(NFT_MSG_NEWSETELEM, NLM_F_CREATE);
                let w = &mut self.w;
                w.put_str(1, table); // NFTA_SET_ELEM_LIST_TABLE
                w.put_str(2, &coll.name()); // NFTA_SET_ELEM_LIST_SET
                let list = w.begin_nest(3); // NFTA_SET_ELEM_LIST_ELEMENTS
                let elem = w.begin_nest(1); // NFTA_LIST_ELEM
                element_key(w, key);
                match value {
                    Some(ElemValue::Verdict(v)) => {
                        expr::data_verdict(w, 2, v); // NFTA_SET_ELEM_DATA
                        w.put_udata(6, UDATA_COMMENT, &comment_bytes(comment)); // ..._USERDATA
                    }
                    Some(ElemValue::Target(addr, port)) => {
                        // `ipv4_addr . inet_service`, the port padded to 4 bytes.
                        let mut data = [0u8; 8];
                        data[..4].copy_from_slice(&addr.octets());
                        data[4..6].copy_from_slice(&port.to_be_bytes());
                        let d = w.begin_nest(2); // NFTA_SET_ELEM_DATA
                        w.put(1, &data); // NFTA_DATA_VALUE
                        w.end_nest(d);
                    }
                    None if coll.commented() => {
                        w.put_udata(6, UDATA_COMMENT, &comment_bytes(comment));
                    }
                    None => {}
                }
                w.end_nest(elem);
                w.end_nest(list);
            }
            Op::DeleteElement(coll, key) => {
                w_start = self.msg(NFT_MSG_DELSETELEM, 0);
                let w = &mut self.w;
                w.put_str(1, table);
                w.put_str(2, &coll.name());
                let list = w.begin_nest(3);
                let elem = w.begin_nest(1);
                element_key(w, key);
                w.end_nest(elem);
                w.end_nest(list);
            }
        }
        self.w.end_msg(w_start);
    }
}

/// `NFTA_SET_ELEM_KEY`: the fields of the key concatenated, each padded to 4 bytes.
fn element_key(w: &mut Writer, key: &ElemKey) {
    let mut data = Vec::with_capacity(12);
    match key {
        ElemKey::Addr(a) => data.extend_from_slice(&a.octets()),
        ElemKey::AddrProtoPort(a, p, port) => {
            data.extend_from_slice(&a.octets());
            data.extend_from_slice(&[expr::protocol_number(*p), 0, 0, 0]);
            data.extend_from_slice(&port.to_be_bytes());
            data.extend_from_slice(&[0, 0]);
        }
        ElemKey::ProtoPort(p, port) => {
            data.extend_from_slice(&[expr::protocol_number(*p), 0, 0, 0]);
            data.extend_from_slice(&port.to_be_bytes());
            data.extend_from_slice(&[0, 0]);
        }
        ElemKey::AddrPair(a, b) => {
            data.extend_from_slice(&a.octets());
            data.extend_from_slice(&b.octets());
        }
        ElemKey::AddrProtoPortIndex(a, p, port, index) => {
            data.extend_from_slice(&a.octets());
            data.extend_from_slice(&[expr::protocol_number(*p), 0, 0, 0]);
            data.extend_from_slice(&port.to_be_bytes());
            data.extend_from_slice(&[0, 0]);
            // `numgen` writes its number in host byte order.
            data.extend_from_slice(&index.to_ne_bytes());
        }
        ElemKey::ProtoPortIndex(p, port, index) => {
            data.extend_from_slice(&[expr::protocol_number(*p), 0, 0, 0]);
            data.extend_from_slice(&port.to_be_bytes());
            data.extend_from_slice(&[0, 0]);
            data.extend_from_slice(&index.to_ne_bytes());
        }
    }
    let n = w.begin_nest(1); // NFTA_SET_ELEM_KEY
    w.put(1, &data); // NFTA_DATA_VALUE
    w.end_nest(n);
}

#[cfg(test)]
mod direct_tests;
#[cfg(test)]
mod map_tests;
#[cfg(test)]
mod tests;
