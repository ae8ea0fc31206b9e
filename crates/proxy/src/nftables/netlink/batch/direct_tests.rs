//! The elements of the direct layout (see [`crate::nftables::direct`]), compared with the
//! bytes nft 1.0.6 sends (captured like those of [`super::tests`], table `t`, after
//! `add set ip t direct-services { type ipv4_addr . inet_proto . inet_service ; }` and
//! `add map ip t direct-3 { typeof ip daddr . meta l4proto . th dport . numgen random mod
//! 3 : ip daddr . th dport ; }`) for:
//!
//! ```text
//! add element ip t direct-services { 10.96.0.20 . tcp . 80 comment "default/web" }
//! add element ip t direct-3 { 10.96.0.20 . tcp . 80 . 2 : 10.244.0.5 . 8080 }
//! delete element ip t direct-3 { 10.96.0.20 . tcp . 80 . 2 }
//! delete element ip t direct-services { 10.96.0.20 . tcp . 80 }
//! ```

use std::net::Ipv4Addr;

use super::tests::{nft, ours, strip};
use super::*;
use crate::model::Protocol;
use crate::nftables::ruleset::Collection;

/// Compares our messages for `adds` and `deletes` with nft's (hex).
fn same_as_nft(adds: [(Op, &str); 2], deletes: [(Op, &str); 2]) {
    for (op, hex) in adds {
        let (nft_head, mut nft_attrs) = nft(hex);
        strip(&mut nft_attrs, &[], 4); // NFTA_SET_ELEM_LIST_SET_ID
        assert_eq!(ours(op.clone()), (nft_head, nft_attrs), "{}", op.line("t"));
    }
    for (op, hex) in deletes {
        assert_eq!(ours(op.clone()), nft(hex), "{}", op.line("t"));
    }
}

#[test]
#[cfg(target_endian = "little")]
fn direct_elements_encode_as_nft_sends_them() {
    let cip = Ipv4Addr::new(10, 96, 0, 20);
    let service = ElemKey::AddrProtoPort(cip, Protocol::Tcp, 80);
    // The index is in host byte order (`numgen` writes it so): 2 is `02 00 00 00` here.
    let choice = ElemKey::AddrProtoPortIndex(cip, Protocol::Tcp, 80, 2);
    let adds = [
        (
            Op::AddElement {
                coll: Collection::DirectServices,
                key: service.clone(),
                comment: "default/web".into(),
                value: None,
            },
            "680000000c0a01040000000000000000020000000600010074000000140002006469726563742d7365727669636573000800040000000001300003802c00018014000180100001000a600014060000000050000012000600000c64656661756c742f776562000000",
        ),
        (
            Op::AddElement {
                coll: Collection::Direct(3),
                key: choice.clone(),
                comment: "default/web".into(),
                value: Some(ElemValue::Target(Ipv4Addr::new(10, 244, 0, 5), 8080)),
            },
            "640000000c0a010402000000000000000200000006000100740000000d0002006469726563742d33000000000800040000000002300003802c00018018000180140001000a600014060000000050000002000000100002800c0001000af400051f900000",
        ),
    ];
    let deletes = [
        (
            Op::DeleteElement(Collection::Direct(3), choice),
            "4c0000000e0a010001000000000000000200000006000100740000000d0002006469726563742d3300000000200003801c00018018000180140001000a600014060000000050000002000000",
        ),
        (
            Op::DeleteElement(Collection::DirectServices, service),
            "4c0000000e0a01000200000000000000020000000600010074000000140002006469726563742d7365727669636573001c0003801800018014000180100001000a6000140600000000500000",
        ),
    ];
    same_as_nft(adds, deletes);
}

/// The node port elements of the direct layout, against nft 1.0.6 (captured the same way,
/// after `add set ip t direct-nodeports { type inet_proto . inet_service ; }` and `add map
/// ip t direct-nodeport-3 { typeof meta l4proto . th dport . numgen random mod 3 : ip daddr
/// . th dport ; }`) for `add element ip t direct-nodeports { tcp . 30080 comment
/// "default/web" }`, `add element
/// ip t direct-nodeport-3 { tcp . 30080 . 2 : 10.244.0.5 . 8080 }` and their deletes.
#[test]
#[cfg(target_endian = "little")]
fn direct_node_port_elements_encode_as_nft_sends_them() {
    let port = ElemKey::ProtoPort(Protocol::Tcp, 30080);
    let choice = ElemKey::ProtoPortIndex(Protocol::Tcp, 30080, 2);
    let adds = [
        (
            Op::AddElement {
                coll: Collection::DirectNodePorts,
                key: port.clone(),
                comment: "default/web".into(),
                value: None,
            },
            "680000000c0a01040000000000000000020000000600010074000000150002006469726563742d6e6f6465706f7274730000000008000400000000022c00038028000180100001800c000100060000007580000012000600000c64656661756c742f776562000000",
        ),
        (
            Op::AddElement {
                coll: Collection::DirectNodePort(3),
                key: choice.clone(),
                comment: "default/web".into(),
                value: Some(ElemValue::Target(Ipv4Addr::new(10, 244, 0, 5), 8080)),
            },
            "680000000c0a01040000000000000000020000000600010074000000160002006469726563742d6e6f6465706f72742d3300000008000400000000022c000380280001801400018010000100060000007580000002000000100002800c0001000af400051f900000",
        ),
    ];
    let deletes = [
        (
            Op::DeleteElement(Collection::DirectNodePort(3), choice),
            "500000000e0a01000000000000000000020000000600010074000000160002006469726563742d6e6f6465706f72742d330000001c000380180001801400018010000100060000007580000002000000",
        ),
        (
            Op::DeleteElement(Collection::DirectNodePorts, port),
            "4c0000000e0a01000000000000000000020000000600010074000000150002006469726563742d6e6f6465706f727473000000001800038014000180100001800c0001000600000075800000",
        ),
    ];
    same_as_nft(adds, deletes);
}
