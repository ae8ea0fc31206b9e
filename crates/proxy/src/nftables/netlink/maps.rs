//! The attributes of the endpoint-map messages (see [`crate::nftables::buckets`]), as nft
//! 1.0.6 sends `add map … { typeof numgen random mod 65536 : ip daddr . tcp dport ; flags
//! interval ; }` and `add element` on such a map: an integer key (the random number after
//! `byteorder hton`, so the keys are big-endian), concatenated `ipv4_addr . inet_service`
//! data, and each range as two elements, its start (with the data) and its end, exclusive,
//! flagged `NFT_SET_ELEM_INTERVAL_END`.

use super::attr::Writer;
use crate::model::Protocol;
use crate::nftables::buckets::{EndpointMap, BUCKETS};

/// `NFT_SET_INTERVAL | NFT_SET_MAP`.
const SET_FLAGS_INTERVAL_MAP: u32 = 0x4 | 0x8;
/// nft's data type ids: `integer`, and `ipv4_addr . inet_service` (`7 << 6 | 13`).
const TYPE_INTEGER: u32 = 4;
const TYPE_ADDR_SERVICE: u32 = 7 << 6 | 13;
/// `NFT_SET_ELEM_INTERVAL_END`.
const ELEM_INTERVAL_END: u32 = 1;

/// One user-data TLV (one-byte type and length) appended to `out`.
fn tlv(out: &mut Vec<u8>, ty: u8, value: &[u8]) {
    out.push(ty);
    out.push(value.len().min(255) as u8);
    out.extend_from_slice(&value[..value.len().min(255)]);
}

fn tlv_u32(out: &mut Vec<u8>, ty: u8, v: u32) {
    tlv(out, ty, &v.to_ne_bytes());
}

/// nft's description of a payload field for `typeof`: expression type `payload` (7),
/// protocol description and field index.
fn typeof_payload(desc: u32, field: u32) -> Vec<u8> {
    let mut inner = Vec::new();
    tlv_u32(&mut inner, 0, desc);
    tlv_u32(&mut inner, 1, field);
    let mut out = Vec::new();
    tlv_u32(&mut out, 0, 7);
    tlv(&mut out, 1, &inner);
    out
}

/// The set's user data, from which `nft list` prints the `typeof` line: key byte order
/// (host), data byte order (none: a concatenation), the key expression (`numgen random
/// mod 65536`), the data expression (`ip daddr . tcp dport`), and "data is no interval".
fn userdata(protocol: Protocol) -> Vec<u8> {
    // nft's protocol description ids: IP 12 (field 12, daddr); UDP 6, TCP 8 (field 2, dport).
    let l4 = match protocol {
        Protocol::Udp => 6,
        Protocol::Tcp | Protocol::Sctp => 8,
    };
    let mut numgen = Vec::new();
    tlv_u32(&mut numgen, 0, 1); // random
    tlv_u32(&mut numgen, 1, BUCKETS); // modulus
    tlv_u32(&mut numgen, 2, 0); // offset
    let mut key = Vec::new();
    tlv_u32(&mut key, 0, 23); // expression type: numgen
    tlv(&mut key, 1, &numgen);

    let mut fields = Vec::new();
    tlv(&mut fields, 0, &typeof_payload(12, 12));
    tlv(&mut fields, 1, &typeof_payload(l4, 2));
    let mut data = Vec::new();
    tlv_u32(&mut data, 0, 13); // expression type: concat
    tlv(&mut data, 1, &fields);

    let mut out = Vec::new();
    tlv_u32(&mut out, 0, 1); // NFTNL_UDATA_SET_KEYBYTEORDER: host
    tlv_u32(&mut out, 1, 0); // NFTNL_UDATA_SET_DATABYTEORDER: invalid (concatenation)
    tlv(&mut out, 3, &key); // NFTNL_UDATA_SET_KEY_TYPEOF
    tlv(&mut out, 4, &data); // NFTNL_UDATA_SET_DATA_TYPEOF
    tlv_u32(&mut out, 6, 0); // NFTNL_UDATA_SET_DATA_INTERVAL: no
    out
}

/// The attributes of `NFT_MSG_NEWSET` for an endpoint map.
pub(super) fn new_map(w: &mut Writer, table: &str, name: &str, protocol: Protocol, id: u32) {
    w.put_str(1, table); // NFTA_SET_TABLE
    w.put_str(2, name); // NFTA_SET_NAME
    w.put_u32(3, SET_FLAGS_INTERVAL_MAP); // NFTA_SET_FLAGS
    w.put_u32(4, TYPE_INTEGER); // NFTA_SET_KEY_TYPE
    w.put_u32(5, 4); // NFTA_SET_KEY_LEN
    w.put_u32(6, TYPE_ADDR_SERVICE); // NFTA_SET_DATA_TYPE
    w.put_u32(7, 8); // NFTA_SET_DATA_LEN: address, port padded to 4 bytes
    w.put_u32(10, id); // NFTA_SET_ID
    w.put(13, &userdata(protocol)); // NFTA_SET_USERDATA
}

/// The attributes of `NFT_MSG_NEWSETELEM` with every range of `map`.
pub(super) fn ranges(w: &mut Writer, table: &str, name: &str, map: &EndpointMap) {
    w.put_str(1, table); // NFTA_SET_ELEM_LIST_TABLE
    w.put_str(2, name); // NFTA_SET_ELEM_LIST_SET
    let list = w.begin_nest(3); // NFTA_SET_ELEM_LIST_ELEMENTS
    let mut index = 0u16;
    // Like libnftnl, number the list entries (the kernel ignores the type).
    let mut next = || {
        index = index % 0x3fff + 1;
        index
    };
    for r in &map.ranges {
        let elem = w.begin_nest(next());
        let key = w.begin_nest(1); // NFTA_SET_ELEM_KEY
        w.put(1, &r.first.to_be_bytes()); // NFTA_DATA_VALUE
        w.end_nest(key);
        let data = w.begin_nest(2); // NFTA_SET_ELEM_DATA
        let mut value = [0u8; 8];
        value[..4].copy_from_slice(&r.addr.octets());
        value[4..6].copy_from_slice(&r.port.to_be_bytes());
        w.put(1, &value);
        w.end_nest(data);
        w.end_nest(elem);

        let elem = w.begin_nest(next());
        w.put_u32(3, ELEM_INTERVAL_END); // NFTA_SET_ELEM_FLAGS
        let key = w.begin_nest(1);
        w.put(
            1,
            &(u64::from(r.last) + 1)
                .min(u64::from(u32::MAX))
                .to_be_bytes()[4..],
        );
        w.end_nest(key);
        w.end_nest(elem);
    }
    w.end_nest(list);
}

/// The attributes of `NFT_MSG_DELSETELEM` without elements: flushes the set.
pub(super) fn flush(w: &mut Writer, table: &str, name: &str) {
    w.put_str(2, name); // NFTA_SET_ELEM_LIST_SET
    w.put_str(1, table); // NFTA_SET_ELEM_LIST_TABLE
}
