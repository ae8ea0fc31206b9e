//! Encoded messages compared with the bytes nft 1.0.6 sends for the same script (captured
//! with `strace -e trace=sendmsg -e write=3 nft -f …` inside `unshare -rn`, table `t`,
//! sequence numbers zeroed). nft also names sets by a transaction id (`NFTA_SET_ID`,
//! `NFTA_SET_ELEM_LIST_SET_ID`, `NFTA_LOOKUP_SET_ID`, `NFTA_DYNSET_SET_ID`), which the
//! kernel only consults when the name is not found; those attributes are removed from
//! nft's messages before comparing.

use std::net::Ipv4Addr;

use super::*;
use crate::model::Protocol;
use crate::nftables::rule::{ElemValue, Rule, Verdict};
use crate::nftables::ruleset::Collection;

/// An attribute tree: type (with flags) and either raw bytes or children.
#[derive(Debug, PartialEq)]
pub(super) enum Node {
    Raw(u16, Vec<u8>),
    Nest(u16, Vec<Node>),
}

pub(super) fn parse(b: &[u8]) -> Vec<Node> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= b.len() {
        let len = usize::from(u16::from_ne_bytes([b[at], b[at + 1]]));
        let ty = u16::from_ne_bytes([b[at + 2], b[at + 3]]);
        let data = &b[at + 4..at + len];
        out.push(if ty & 0x8000 != 0 {
            Node::Nest(ty, parse(data))
        } else {
            Node::Raw(ty, data.to_vec())
        });
        at += (len + 3) & !3;
    }
    out
}

/// Removes attributes of type `ty` found under the path of nest types `path`.
pub(super) fn strip(nodes: &mut Vec<Node>, path: &[u16], ty: u16) {
    match path.split_first() {
        None => nodes.retain(|n| !matches!(n, Node::Raw(t, _) if *t == ty)),
        Some((first, rest)) => {
            for n in nodes.iter_mut() {
                if let Node::Nest(t, children) = n {
                    if *t & 0x3fff == *first {
                        strip(children, rest, ty);
                    }
                }
            }
        }
    }
}

/// The one op message of a batch: (header without length and sequence, attributes).
pub(super) fn ours(op: Op) -> ([u8; 8], Vec<Node>) {
    let b = Batch::encode("t", &[op]);
    let msg = &b.bytes()[b.offsets[1]..b.offsets[2]];
    split(msg)
}

pub(super) fn split(msg: &[u8]) -> ([u8; 8], Vec<Node>) {
    let len = u32::from_ne_bytes(msg[..4].try_into().unwrap()) as usize;
    assert_eq!(len, msg.len(), "message length");
    let mut head = [0u8; 8];
    head[..4].copy_from_slice(&msg[4..8]); // type, flags
    head[4..].copy_from_slice(&msg[16..20]); // nfgenmsg
    (head, parse(&msg[20..]))
}

pub(super) fn nft(hex: &str) -> ([u8; 8], Vec<Node>) {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    split(&bytes)
}

fn goto(c: &str) -> Verdict {
    Verdict::Goto(c.into())
}

pub(super) fn rule(chain: &str, rule: Rule) -> Op {
    Op::AddRule {
        chain: chain.into(),
        rule,
    }
}

/// Removes attribute `ty` from the data of the rule's expression number `index`.
pub(super) fn strip_in_expr(rule_attrs: &mut [Node], index: usize, ty: u16) {
    let Some(Node::Nest(_, exprs)) = rule_attrs.get_mut(2) else {
        panic!("no expressions");
    };
    let Node::Nest(_, parts) = &mut exprs[index] else {
        panic!("not an expression");
    };
    strip(parts, &[2], ty); // NFTA_EXPR_DATA
}

#[test]
#[cfg(target_endian = "little")]
fn rules_encode_as_nft_sends_them() {
    let pods16 = "10.244.0.0/16".parse().unwrap();
    let cases = [
        (
            rule(
                "c1",
                Rule::MasqueradeOutside {
                    daddr: Ipv4Addr::new(10, 96, 0, 20),
                    pods: pods16,
                },
            ),
            "30010000060a010c000000000000000002000000060001007400000007000200633100000c010480340001800c0001007061796c6f6164002400028008000100000000010800020000000001080003000000001008000400000000042c00018008000100636d700020000280080001000000000108000200000000000c000380080001000a600014340001800c0001007061796c6f6164002400028008000100000000010800020000000001080003000000000c08000400000000022c00018008000100636d700020000280080001000000000108000200000000010c000380060001000af40000480001800e000100696d6d656469617465000000340002800800010000000000280002802400028008000100fffffffd180002006d61726b2d666f722d6d61737175657261646500",
        ),
        (
            rule(
                "c1",
                Rule::SourceIn {
                    cidr: pods16,
                    verdict: goto("ep1"),
                    comment: "short-circuit pod traffic",
                },
            ),
            "e0000000060a010c000000000000000002000000060001007400000007000200633100009c000480340001800c0001007061796c6f6164002400028008000100000000010800020000000001080003000000000c08000400000000022c00018008000100636d700020000280080001000000000108000200000000000c000380060001000af40000380001800e000100696d6d656469617465000000240002800800010000000000180002801400028008000100fffffffc080002006570310020000700001a73686f72742d6369726375697420706f64207472616666696300",
        ),
        (
            rule(
                "c1",
                Rule::LocalSource {
                    verdict: Verdict::Jump("mark-for-masquerade".into()),
                    comment: "masquerade local traffic",
                },
            ),
            "e4000000060a010c00000000000000000200000006000100740000000700020063310000a00004802800018008000100666962001c0002800800030000000001080002000000000308000100000000012c00018008000100636d700020000280080001000000000108000200000000000c0003800800010002000000480001800e000100696d6d656469617465000000340002800800010000000000280002802400028008000100fffffffd180002006d61726b2d666f722d6d617371756572616465001f00070000196d617371756572616465206c6f63616c20747261666669630000",
        ),
        (
            rule(
                "c1",
                Rule::Random {
                    modulus: 3,
                    target: "ep1".into(),
                },
            ),
            "c0000000060a010c000000000000000002000000060001007400000007000200633100009c000480340001800b0001006e756d67656e00002400028008000100000000010800020000000003080003000000000108000400000000002c00018008000100636d700020000280080001000000000108000200000000000c0003800800010000000000380001800e000100696d6d656469617465000000240002800800010000000000180002801400028008000100fffffffc0800020065703100",
        ),
        (
            rule(
                "ep1",
                Rule::Hairpin {
                    endpoint: Ipv4Addr::new(10, 244, 0, 7),
                },
            ),
            "d0000000060a010c00000000000000000200000006000100740000000800020065703100ac000480340001800c0001007061796c6f6164002400028008000100000000010800020000000001080003000000000c08000400000000042c00018008000100636d700020000280080001000000000108000200000000000c000380080001000af40007480001800e000100696d6d656469617465000000340002800800010000000000280002802400028008000100fffffffd180002006d61726b2d666f722d6d61737175657261646500",
        ),
        (
            rule(
                "ep1",
                Rule::Dnat {
                    protocol: Protocol::Tcp,
                    addr: Ipv4Addr::new(10, 244, 0, 7),
                    port: 8080,
                },
            ),
            "08010000060a010c00000000000000000200000006000100740000000800020065703100e400048024000180090001006d6574610000000014000280080002000000001008000100000000012c00018008000100636d700020000280080001000000000108000200000000000c00038005000100060000002c0001800e000100696d6d6564696174650000001800028008000100000000010c000280080001000af400072c0001800e000100696d6d6564696174650000001800028008000100000000020c000280060001001f90000038000180080001006e6174002c00028008000100000000010800020000000002080003000000000108000500000000020800070000000002",
        ),
        (
            // `ip saddr != 10.240.0.0/12`: not a whole-byte prefix, so masked.
            rule(
                "c1",
                Rule::MasqueradeOutside {
                    daddr: Ipv4Addr::new(10, 96, 0, 20),
                    pods: "10.240.0.0/12".parse().unwrap(),
                },
            ),
            "",
        ),
    ];
    for (op, hex) in cases {
        if hex.is_empty() {
            continue;
        }
        assert_eq!(ours(op.clone()), nft(hex), "{}", op.line("t"));
    }

    // The masked prefix: nft's `ip saddr != 10.240.0.0/12 jump mark-for-masquerade`, after
    // our `ip daddr 10.96.0.20` match.
    let (_, ours_attrs) = ours(rule(
        "c1",
        Rule::MasqueradeOutside {
            daddr: Ipv4Addr::new(10, 96, 0, 20),
            pods: "10.240.0.0/12".parse().unwrap(),
        },
    ));
    let (_, nft_attrs) = nft("14010000060a010c00000000000000000200000006000100740000000700020063310000f0000480340001800c0001007061796c6f6164002400028008000100000000010800020000000001080003000000000c0800040000000004440001800c0001006269747769736500340002800800010000000001080002000000000108000300000000040c00048008000100fff000000c00058008000100000000002c00018008000100636d700020000280080001000000000108000200000000010c000380080001000af00000480001800e000100696d6d656469617465000000340002800800010000000000280002802400028008000100fffffffd180002006d61726b2d666f722d6d61737175657261646500");
    let (Node::Nest(_, ours_exprs), Node::Nest(_, nft_exprs)) = (&ours_attrs[2], &nft_attrs[2])
    else {
        panic!("no expressions");
    };
    assert_eq!(ours_exprs[2..], nft_exprs[..]);
}

#[test]
#[cfg(target_endian = "little")]
fn set_lookups_and_updates_encode_as_nft_sends_them() {
    // `ip saddr @aff1 goto ep1` and `update @aff1 { ip saddr }`.
    let (head, attrs) = ours(rule(
        "c1",
        Rule::Affinity {
            set: "aff1".into(),
            target: "ep1".into(),
        },
    ));
    let (nft_head, mut nft_attrs) = nft("c4000000060a010c00000000000000000200000006000100740000000700020063310000a0000480340001800c0001007061796c6f6164002400028008000100000000010800020000000001080003000000000c0800040000000004300001800b0001006c6f6f6b757000002000028008000200000000010900010061666631000000000800040000000004380001800e000100696d6d656469617465000000240002800800010000000000180002801400028008000100fffffffc0800020065703100");
    strip_in_expr(&mut nft_attrs, 1, 4);
    assert_eq!((head, attrs), (nft_head, nft_attrs));

    let (head, attrs) = ours(rule("ep1", Rule::Remember { set: "aff1".into() }));
    let (nft_head, mut nft_attrs) = nft("94000000060a010c0000000000000000020000000600010074000000080002006570310070000480340001800c0001007061796c6f6164002400028008000100000000010800020000000001080003000000000c0800040000000004380001800b00010064796e736574000028000280080004000000000108000300000000010900010061666631000000000800020000000004");
    strip_in_expr(&mut nft_attrs, 1, 2);
    assert_eq!((head, attrs), (nft_head, nft_attrs));
}

#[test]
#[cfg(target_endian = "little")]
fn sets_chains_and_elements_encode_as_nft_sends_them() {
    // `add set ip t aff1 { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }`:
    // equal but for the set id.
    let (head, mut attrs) = ours(Op::AddSet {
        name: "aff1".into(),
        timeout: 10800,
    });
    let (nft_head, mut nft_attrs) = nft("60000000090a0104000000000000000002000000060001007400000009000200616666310000000008000300000000300800040000000007080005000000000408000a00000000040c000b000000000000a4cb800a000d000004020000000000");
    strip(&mut attrs, &[], 10);
    strip(&mut nft_attrs, &[], 10);
    assert_eq!((head, attrs), (nft_head, nft_attrs));

    let svc = |a, b, c, d| ElemKey::AddrProtoPort(Ipv4Addr::new(a, b, c, d), Protocol::Tcp, 80);
    let cases = [
        (
            Op::AddElement {
                coll: Collection::ClusterIps,
                key: ElemKey::Addr(Ipv4Addr::new(10, 96, 0, 20)),
                comment: "default/web".into(),
                value: None,
            },
            "480000000c0a0104000000000000000002000000060001007400000010000200636c75737465722d69707300080004000000000314000380100001800c000180080001000a600014",
        ),
        (
            Op::AddElement {
                coll: Collection::ServiceIps,
                key: svc(10, 96, 0, 20),
                comment: "default/web".into(),
                value: Some(ElemValue::Verdict(goto("ep1"))),
            },
            "7c0000000c0a0104000000000000000002000000060001007400000010000200736572766963652d697073000800040000000001480003804400018014000180100001000a6000140600000000500000180002801400028008000100fffffffc080002006570310012000600000c64656661756c742f776562000000",
        ),
        (
            Op::AddElement {
                coll: Collection::ServiceNodePorts,
                key: ElemKey::ProtoPort(Protocol::Udp, 30080),
                comment: "default/web".into(),
                value: Some(ElemValue::Verdict(goto("ep1"))),
            },
            "800000000c0a0104000000000000000002000000060001007400000016000200736572766963652d6e6f6465706f72747300000008000400000000024400038040000180100001800c0001001100000075800000180002801400028008000100fffffffc080002006570310012000600000c64656661756c742f776562000000",
        ),
        (
            Op::AddElement {
                coll: Collection::NoEndpointServices,
                key: svc(10, 96, 0, 21),
                comment: "default/x".into(),
                value: Some(ElemValue::Verdict(Verdict::Drop)),
            },
            "7c0000000c0a01040000000000000000020000000600010074000000190002006e6f2d656e64706f696e742d73657276696365730000000008000400000000053c0003803800018014000180100001000a6000150600000000500000100002800c000280080001000000000010000600000a64656661756c742f7800",
        ),
    ];
    for (op, hex) in cases {
        let (nft_head, mut nft_attrs) = nft(hex);
        strip(&mut nft_attrs, &[], 4); // NFTA_SET_ELEM_LIST_SET_ID
        assert_eq!(ours(op.clone()), (nft_head, nft_attrs), "{}", op.line("t"));
    }
}

#[test]
#[cfg(target_endian = "little")]
fn deletions_encode_as_nft_sends_them() {
    // `flush chain`, `delete element`, `delete chain`, `delete set` (table `t`).
    let cases = [
        (
            Op::FlushChain("c1".into()),
            "24000000080a010000000000000000000200000006000100740000000700020063310000",
        ),
        (
            Op::DeleteChain("c2".into()),
            "24000000050a010000000000000000000200000006000100740000000700030063320000",
        ),
        (
            Op::DeleteSet("aff1".into()),
            "280000000b0a01000000000000000000020000000600010074000000090002006166663100000000",
        ),
    ];
    for (op, hex) in cases {
        assert_eq!(ours(op.clone()), nft(hex), "{}", op.line("t"));
    }
    // `delete element ip t m { tcp . 80 }` on a map named `m`: compare the element list.
    let (_, ours_attrs) = ours(Op::DeleteElement(
        Collection::ServiceNodePorts,
        ElemKey::ProtoPort(Protocol::Tcp, 80),
    ));
    let (_, nft_attrs) = nft("3c0000000e0a01000000000000000000020000000600010074000000060002006d0000001800038014000180100001800c0001000600000000500000");
    assert_eq!(ours_attrs[2], nft_attrs[2]);
}

#[test]
fn batches_are_framed_numbered_and_acknowledged() {
    let mut b = Batch::encode("t", &[Op::AddChain("a".into()), Op::FlushChain("b".into())]);
    assert_eq!(b.ops(), 2);
    b.number(100, true);
    let msgs: Vec<(u16, u16, u32)> = b
        .offsets
        .iter()
        .map(|&o| {
            let m = &b.bytes()[o..];
            (
                u16::from_ne_bytes([m[4], m[5]]),
                u16::from_ne_bytes([m[6], m[7]]),
                u32::from_ne_bytes(m[8..12].try_into().unwrap()),
            )
        })
        .collect();
    assert_eq!(
        msgs,
        [
            (NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 100),
            (
                10 << 8 | NFT_MSG_NEWCHAIN,
                NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK,
                101
            ),
            (10 << 8 | NFT_MSG_DELRULE, NLM_F_REQUEST | NLM_F_ACK, 102),
            (NFNL_MSG_BATCH_END, NLM_F_REQUEST, 103),
        ]
    );
    // Begin and end carry the nftables subsystem id, big endian.
    assert_eq!(&b.bytes()[16..20], &[0, 0, 0, 10]);
    // Acknowledge only the last op.
    b.number(7, false);
    let flags = |i: usize| {
        let o = b.offsets[i];
        u16::from_ne_bytes([b.bytes()[o + 6], b.bytes()[o + 7]])
    };
    assert_eq!(flags(1) & NLM_F_ACK, 0);
    assert_eq!(flags(2) & NLM_F_ACK, NLM_F_ACK);
}
