//! Endpoint maps, their rule and the `hairpin` elements, compared with the bytes nft 1.0.6
//! sends (captured like those of [`super::tests`], table `t`) for:
//!
//! ```text
//! add map ip t m { typeof numgen random mod 65536 : ip daddr . tcp dport ; flags interval ; }
//! add map ip t u { typeof numgen random mod 65536 : ip daddr . udp dport ; flags interval ; }
//! add rule ip t c1 meta l4proto tcp dnat ip addr . port to numgen random mod 65536 map @m
//! add element ip t m { 0-32767 : 10.244.0.5 . 8080, 32768-65535 : 10.244.0.6 . 8080 }
//! flush map ip t m
//! add element ip t hairpin { 10.244.0.5 . 10.244.0.5 }
//! delete element ip t hairpin { 10.244.0.5 . 10.244.0.5 }
//! ```

use std::net::Ipv4Addr;

use super::tests::{nft, ours, rule, strip, strip_in_expr};
use super::*;
use crate::model::Protocol;
use crate::nftables::buckets::EndpointMap;
use crate::nftables::rule::Rule;
use crate::nftables::ruleset::Collection;

#[test]
#[cfg(target_endian = "little")]
fn endpoint_maps_encode_as_nft_sends_them() {
    // The declarations: equal but for the set id.
    for (name, protocol, hex) in [
        ("m", Protocol::Tcp, "bc000000090a01040000000000000000020000000600010074000000060002006d000000080003000000000c0800040000000004080005000000000408000600000001cd080007000000000808000a000000000168000d00000401000000010400000000031a0004170000000112000401000000010400000100020400000000043400040d000000012c0014000407000000010c00040c00000001040c0000000114000407000000010c000408000000010402000000060400000000"),
        ("u", Protocol::Udp, "bc000000090a010400000000000000000200000006000100740000000600020075000000080003000000000c0800040000000004080005000000000408000600000001cd080007000000000808000a000000000168000d00000401000000010400000000031a0004170000000112000401000000010400000100020400000000043400040d000000012c0014000407000000010c00040c00000001040c0000000114000407000000010c000406000000010402000000060400000000"),
    ] {
        let (head, mut attrs) = ours(Op::AddMap {
            name: name.into(),
            protocol,
        });
        let (nft_head, mut nft_attrs) = nft(hex);
        strip(&mut attrs, &[], 10);
        strip(&mut nft_attrs, &[], 10);
        assert_eq!((head, attrs), (nft_head, nft_attrs), "{name}");
    }

    // The ranges: a start element with the data, an end element (exclusive) per range.
    let map = EndpointMap::new(
        Protocol::Tcp,
        &[
            (Ipv4Addr::new(10, 244, 0, 5), 8080),
            (Ipv4Addr::new(10, 244, 0, 6), 8080),
        ],
    );
    let (nft_head, mut nft_attrs) = nft("a00000000c0a01040000000000000000020000000600010074000000060002006d000000080004000000000174000380200001800c0001800800010000000000100002800c0001000af400051f9000001800028008000300000000010c0001800800010000008000200003800c0001800800010000008000100002800c0001000af400061f9000001800048008000300000000010c0001800800010000010000");
    strip(&mut nft_attrs, &[], 4); // NFTA_SET_ELEM_LIST_SET_ID
    let op = Op::AddRanges {
        name: "m".into(),
        map,
    };
    assert_eq!(ours(op.clone()), (nft_head, nft_attrs), "{}", op.line("t"));

    // Flushing: a DELSETELEM without elements.
    assert_eq!(
        ours(Op::FlushMap("m".into())),
        nft("240000000e0a0100000000000000000002000000060002006d0000000600010074000000")
    );
}

#[test]
#[cfg(target_endian = "little")]
fn the_dnat_map_rule_encodes_as_nft_sends_it() {
    let (head, attrs) = ours(rule(
        "c1",
        Rule::DnatMap {
            protocol: Protocol::Tcp,
            map: "m".into(),
        },
    ));
    let (nft_head, mut nft_attrs) = nft("50010000060a010c000000000000000002000000060001007400000007000200633100002c01048024000180090001006d6574610000000014000280080002000000001008000100000000012c00018008000100636d700020000280080001000000000108000200000000000c0003800500010006000000340001800b0001006e756d67656e0000240002800800010000000001080002000001000008000300000000010800040000000000400001800e000100627974656f726465720000002c00028008000100000000010800020000000001080003000000000108000400000000040800050000000004340001800b0001006c6f6f6b757000002400028008000200000000010800030000000001060001006d000000080004000000000130000180080001006e617400240002800800010000000001080002000000000208000300000000010800050000000009");
    strip_in_expr(&mut nft_attrs, 4, 4); // NFTA_LOOKUP_SET_ID
    assert_eq!((head, attrs), (nft_head, nft_attrs));
}

#[test]
#[cfg(target_endian = "little")]
fn hairpin_elements_encode_as_nft_sends_them() {
    let a = Ipv4Addr::new(10, 244, 0, 5);
    let (nft_head, mut nft_attrs) = nft("480000000c0a010400000000000000000200000006000100740000000c0002006861697270696e0008000400000000021800038014000180100001800c0001000af400050af40005");
    strip(&mut nft_attrs, &[], 4);
    let op = Op::AddElement {
        coll: Collection::Hairpin,
        key: ElemKey::AddrPair(a, a),
        comment: "default/web".into(),
        value: None,
    };
    assert_eq!(ours(op.clone()), (nft_head, nft_attrs), "{}", op.line("t"));
    assert_eq!(
        ours(Op::DeleteElement(Collection::Hairpin, ElemKey::AddrPair(a, a))),
        nft("400000000e0a010000000000000000000200000006000100740000000c0002006861697270696e001800038014000180100001800c0001000af400050af40005")
    );
}
