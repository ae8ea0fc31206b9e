//! nf_tables expressions for each [`Rule`] shape, as nft 1.0 encodes the same rule text
//! (checked against `nft --debug=netlink` and the bytes nft sends): register 1 for keys,
//! registers 1 and 2 for the NAT address and port, verdicts in the verdict register.

use std::net::Ipv4Addr;

use super::attr::Writer;
use crate::model::Protocol;
use crate::nftables::rule::{Rule, Verdict, MARK_FOR_MASQUERADE};
use crate::nftables::Ipv4Cidr;

// Attribute numbers from include/uapi/linux/netfilter/nf_tables.h.
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_VERDICT_CHAIN: u16 = 2;

const NFT_REG_VERDICT: u32 = 0;
const NFT_REG_1: u32 = 1;
const NFT_REG_2: u32 = 2;
/// The second 32-bit word of register 1.
const NFT_REG32_01: u32 = 9;

const NF_DROP: i32 = 0;
const NFT_JUMP: i32 = -3;
const NFT_GOTO: i32 = -4;

/// IPv4 header offsets.
const SADDR: u32 = 12;
const DADDR: u32 = 16;
/// `NFT_PAYLOAD_NETWORK_HEADER`.
const NETWORK_HEADER: u32 = 1;
/// `RTN_LOCAL`, the address type `fib … type local` compares with (host byte order).
const RTN_LOCAL: u32 = 2;

/// `NFT_CMP_EQ` / `NFT_CMP_NEQ`.
#[derive(Clone, Copy)]
enum Cmp {
    Eq = 0,
    Neq = 1,
}

/// Writes `NFTA_RULE_EXPRESSIONS`-style list content for `rule` (the caller opens the
/// list nest).
pub(crate) fn rule(w: &mut Writer, rule: &Rule) {
    let masq = || Verdict::Jump(MARK_FOR_MASQUERADE.to_string());
    match rule {
        Rule::MasqueradeOutside { daddr, pods } => {
            payload(w, DADDR, 4);
            cmp(w, Cmp::Eq, &daddr.octets());
            cidr_match(w, SADDR, *pods, Cmp::Neq);
            verdict_expr(w, &masq());
        }
        Rule::SourceIn { cidr, verdict, .. } => {
            cidr_match(w, SADDR, *cidr, Cmp::Eq);
            verdict_expr(w, verdict);
        }
        Rule::LocalSource { verdict, .. } => {
            fib_saddr_type(w);
            cmp(w, Cmp::Eq, &RTN_LOCAL.to_ne_bytes());
            verdict_expr(w, verdict);
        }
        Rule::Always(v) => verdict_expr(w, v),
        Rule::Affinity { set, target } => {
            payload(w, SADDR, 4);
            lookup(w, set);
            verdict_expr(w, &Verdict::Goto(target.clone()));
        }
        Rule::Random { modulus, target } => {
            numgen_random(w, *modulus);
            cmp(w, Cmp::Eq, &0u32.to_ne_bytes());
            verdict_expr(w, &Verdict::Goto(target.clone()));
        }
        Rule::Hairpin { endpoint } => {
            payload(w, SADDR, 4);
            cmp(w, Cmp::Eq, &endpoint.octets());
            verdict_expr(w, &masq());
        }
        Rule::Remember { set } => {
            payload(w, SADDR, 4);
            dynset_update(w, set);
        }
        Rule::Dnat {
            protocol,
            addr,
            port,
        } => dnat(w, *protocol, *addr, *port),
        Rule::DnatMap { protocol, map } => dnat_map(w, *protocol, map),
    }
}

/// The rule's comment, if it has one.
pub(crate) fn comment(rule: &Rule) -> Option<&'static str> {
    match rule {
        Rule::SourceIn { comment, .. } | Rule::LocalSource { comment, .. } => Some(comment),
        _ => None,
    }
}

/// One list element `{ name, data { … } }`; `body` writes the data attributes.
fn expr(w: &mut Writer, name: &str, body: impl FnOnce(&mut Writer)) {
    let elem = w.begin_nest(NFTA_LIST_ELEM);
    w.put_str(NFTA_EXPR_NAME, name);
    let data = w.begin_nest(NFTA_EXPR_DATA);
    body(w);
    w.end_nest(data);
    w.end_nest(elem);
}

/// `NFTA_DATA_VALUE` inside a nest of type `attr`.
fn data_value(w: &mut Writer, attr: u16, value: &[u8]) {
    let n = w.begin_nest(attr);
    w.put(NFTA_DATA_VALUE, value);
    w.end_nest(n);
}

/// `NFTA_DATA_VERDICT` inside a nest of type `attr` (also used by map elements).
pub(crate) fn data_verdict(w: &mut Writer, attr: u16, v: &Verdict) {
    let n = w.begin_nest(attr);
    let inner = w.begin_nest(NFTA_DATA_VERDICT);
    let (code, chain) = match v {
        Verdict::Drop => (NF_DROP, None),
        Verdict::Jump(c) => (NFT_JUMP, Some(c)),
        Verdict::Goto(c) => (NFT_GOTO, Some(c)),
    };
    w.put_u32(NFTA_VERDICT_CODE, code as u32);
    if let Some(c) = chain {
        w.put_str(NFTA_VERDICT_CHAIN, c);
    }
    w.end_nest(inner);
    w.end_nest(n);
}

/// `[ payload load <len>b @ network header + <offset> => reg 1 ]`.
fn payload(w: &mut Writer, offset: u32, len: u32) {
    expr(w, "payload", |w| {
        w.put_u32(1, NFT_REG_1); // NFTA_PAYLOAD_DREG
        w.put_u32(2, NETWORK_HEADER); // NFTA_PAYLOAD_BASE
        w.put_u32(3, offset); // NFTA_PAYLOAD_OFFSET
        w.put_u32(4, len); // NFTA_PAYLOAD_LEN
    });
}

/// `[ cmp eq|neq reg 1 <data> ]`.
fn cmp(w: &mut Writer, op: Cmp, data: &[u8]) {
    expr(w, "cmp", |w| {
        w.put_u32(1, NFT_REG_1); // NFTA_CMP_SREG
        w.put_u32(2, op as u32); // NFTA_CMP_OP
        data_value(w, 3, data); // NFTA_CMP_DATA
    });
}

/// The address at `offset` is (or is not) in `cidr`. Like nft: whole-byte prefixes load
/// only those bytes; other prefixes load the address and mask it.
fn cidr_match(w: &mut Writer, offset: u32, cidr: Ipv4Cidr, op: Cmp) {
    let octets = cidr.addr.octets();
    if cidr.prefix.is_multiple_of(8) && cidr.prefix > 0 {
        let len = usize::from(cidr.prefix / 8);
        payload(w, offset, len as u32);
        cmp(w, op, &octets[..len]);
    } else {
        let mask = u32::MAX
            .checked_shl(32 - u32::from(cidr.prefix))
            .unwrap_or(0);
        payload(w, offset, 4);
        expr(w, "bitwise", |w| {
            w.put_u32(1, NFT_REG_1); // NFTA_BITWISE_SREG
            w.put_u32(2, NFT_REG_1); // NFTA_BITWISE_DREG
            w.put_u32(3, 4); // NFTA_BITWISE_LEN
            data_value(w, 4, &mask.to_be_bytes()); // NFTA_BITWISE_MASK
            data_value(w, 5, &[0; 4]); // NFTA_BITWISE_XOR
        });
        cmp(w, op, &octets);
    }
}

/// `[ immediate reg 0 <verdict> ]`.
fn verdict_expr(w: &mut Writer, v: &Verdict) {
    expr(w, "immediate", |w| {
        w.put_u32(1, NFT_REG_VERDICT); // NFTA_IMMEDIATE_DREG
        data_verdict(w, 2, v); // NFTA_IMMEDIATE_DATA
    });
}

/// `[ immediate reg <reg> <value> ]`.
fn immediate(w: &mut Writer, reg: u32, value: &[u8]) {
    expr(w, "immediate", |w| {
        w.put_u32(1, reg);
        data_value(w, 2, value);
    });
}

/// `[ fib saddr type => reg 1 ]`.
fn fib_saddr_type(w: &mut Writer) {
    expr(w, "fib", |w| {
        w.put_u32(3, 1); // NFTA_FIB_FLAGS: NFTA_FIB_F_SADDR
        w.put_u32(2, 3); // NFTA_FIB_RESULT: NFT_FIB_RESULT_ADDRTYPE
        w.put_u32(1, NFT_REG_1); // NFTA_FIB_DREG
    });
}

/// `[ numgen reg 1 = random mod <modulus> ]`.
fn numgen_random(w: &mut Writer, modulus: u32) {
    expr(w, "numgen", |w| {
        w.put_u32(1, NFT_REG_1); // NFTA_NG_DREG
        w.put_u32(2, modulus); // NFTA_NG_MODULUS
        w.put_u32(3, 1); // NFTA_NG_TYPE: NFT_NG_RANDOM
        w.put_u32(4, 0); // NFTA_NG_OFFSET
    });
}

/// `[ lookup reg 1 set <set> ]`.
fn lookup(w: &mut Writer, set: &str) {
    expr(w, "lookup", |w| {
        w.put_u32(2, NFT_REG_1); // NFTA_LOOKUP_SREG
        w.put_str(1, set); // NFTA_LOOKUP_SET
    });
}

/// `[ dynset update reg_key 1 set <set> ]`.
fn dynset_update(w: &mut Writer, set: &str) {
    expr(w, "dynset", |w| {
        w.put_u32(4, NFT_REG_1); // NFTA_DYNSET_SREG_KEY
        w.put_u32(3, 1); // NFTA_DYNSET_OP: NFT_DYNSET_OP_UPDATE
        w.put_str(1, set); // NFTA_DYNSET_SET_NAME
    });
}

/// `meta l4proto <p> dnat to <addr>:<port>`.
fn dnat(w: &mut Writer, protocol: Protocol, addr: Ipv4Addr, port: u16) {
    l4proto_is(w, protocol);
    immediate(w, NFT_REG_1, &addr.octets());
    immediate(w, NFT_REG_2, &port.to_be_bytes());
    expr(w, "nat", |w| {
        w.put_u32(1, 1); // NFTA_NAT_TYPE: NFT_NAT_DNAT
        w.put_u32(2, 2); // NFTA_NAT_FAMILY: NFPROTO_IPV4
        w.put_u32(3, NFT_REG_1); // NFTA_NAT_REG_ADDR_MIN
        w.put_u32(5, NFT_REG_2); // NFTA_NAT_REG_PROTO_MIN
        w.put_u32(7, 2); // NFTA_NAT_FLAGS: NF_NAT_RANGE_PROTO_SPECIFIED
    });
}

/// `meta l4proto <p> dnat ip addr . port to numgen random mod 65536 map @<map>`: the random
/// number, converted to network byte order (the map's keys are big-endian), looks up the
/// address and port, which land in registers 1 and 9 (`NFT_REG32_01`, the second 32-bit
/// word of register 1).
fn dnat_map(w: &mut Writer, protocol: Protocol, map: &str) {
    l4proto_is(w, protocol);
    numgen_random(w, crate::nftables::buckets::BUCKETS);
    expr(w, "byteorder", |w| {
        w.put_u32(1, NFT_REG_1); // NFTA_BYTEORDER_SREG
        w.put_u32(2, NFT_REG_1); // NFTA_BYTEORDER_DREG
        w.put_u32(3, 1); // NFTA_BYTEORDER_OP: NFT_BYTEORDER_HTON
        w.put_u32(4, 4); // NFTA_BYTEORDER_LEN
        w.put_u32(5, 4); // NFTA_BYTEORDER_SIZE
    });
    expr(w, "lookup", |w| {
        w.put_u32(2, NFT_REG_1); // NFTA_LOOKUP_SREG
        w.put_u32(3, NFT_REG_1); // NFTA_LOOKUP_DREG
        w.put_str(1, map); // NFTA_LOOKUP_SET
    });
    expr(w, "nat", |w| {
        w.put_u32(1, 1); // NFTA_NAT_TYPE: NFT_NAT_DNAT
        w.put_u32(2, 2); // NFTA_NAT_FAMILY: NFPROTO_IPV4
        w.put_u32(3, NFT_REG_1); // NFTA_NAT_REG_ADDR_MIN
        w.put_u32(5, NFT_REG32_01); // NFTA_NAT_REG_PROTO_MIN
    });
}

/// `[ meta load l4proto => reg 1 ] [ cmp eq reg 1 <p> ]`.
fn l4proto_is(w: &mut Writer, protocol: Protocol) {
    expr(w, "meta", |w| {
        w.put_u32(2, 16); // NFTA_META_KEY: NFT_META_L4PROTO
        w.put_u32(1, NFT_REG_1); // NFTA_META_DREG
    });
    cmp(w, Cmp::Eq, &[protocol_number(protocol)]);
}

/// The IP protocol number.
pub(crate) fn protocol_number(p: Protocol) -> u8 {
    match p {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
        Protocol::Sctp => 132,
    }
}
