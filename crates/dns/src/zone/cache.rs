//! The wire answers of a Service's names, encoded once, on first use, by
//! the same code that answers every other question (so a cached answer is
//! exactly what the full path would send), and kept with the Service's
//! entry: a change to the Service replaces the entry and drops them.
//!
//! An answer is kept as the bytes after the question of a response to the
//! lower-cased question: compression pointers in it point at the question
//! (offset 12) or before themselves, so they stay right for any question of
//! the same name in another case, and cutting answers off the end (to
//! truncate) leaves no dangling pointer.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use foldhash::fast::RandomState;
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};

use super::{EndpointEntry, PortEntry, Rr, ServiceEntry, ServiceKind, Zone, ZoneAnswer};
use crate::wire;

/// A Service's encoded answers.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    /// `<svc>.<ns>.svc.<zone>`.
    own: OnceLock<NodeAnswers>,
    /// The names below it, by their leading labels in wire form
    /// (`<endpoint>` or `_<port>._<proto>`, lower-cased).
    below: OnceLock<HashMap<Box<[u8]>, NodeAnswers, RandomState>>,
}

/// The answers of one name.
#[derive(Debug)]
pub(crate) enum NodeAnswers {
    /// Answered by the full path (e.g. an ExternalName's CNAME).
    Fallback,
    /// The answers per record type present; any other type is NODATA.
    Records(Box<[(u16, Encoded)]>),
}

/// One positive answer after the question: answer records, then additional ones.
#[derive(Debug)]
pub(crate) struct Encoded {
    /// The records' bytes.
    pub(crate) body: Box<[u8]>,
    /// Where each answer record ends in `body`.
    pub(crate) answer_ends: Box<[u16]>,
    /// How many additional records follow the answers.
    pub(crate) additionals: u16,
}

impl NodeAnswers {
    /// The answer for `qtype`; `None` when the name has no such records.
    pub(crate) fn get(&self, qtype: u16) -> Option<&Encoded> {
        match self {
            NodeAnswers::Fallback => None,
            NodeAnswers::Records(records) => {
                records.iter().find(|(t, _)| *t == qtype).map(|(_, e)| e)
            }
        }
    }
}

impl Zone {
    /// The answers of the Service's own name.
    pub(crate) fn own_answers<'a>(&self, svc: &'a ServiceEntry) -> &'a NodeAnswers {
        svc.cache.own.get_or_init(|| {
            let name = self.service_name(svc);
            let rel = [&*svc.name, &*svc.namespace, "svc"].map(String::from);
            match self.node(&rel) {
                Some(rrs) => self.encode_node(&name, &rrs),
                None => NodeAnswers::Fallback,
            }
        })
    }

    /// The answers of the name `below` (leading labels in wire form,
    /// lower-cased) under the Service; `None` when there is no such name.
    pub(crate) fn answers_below<'a>(
        &self,
        svc: &'a ServiceEntry,
        below: &[u8],
    ) -> Option<&'a NodeAnswers> {
        svc.cache
            .below
            .get_or_init(|| self.encode_below(svc))
            .get(below)
    }

    /// Every name below the Service: one per endpoint label, one per port.
    fn encode_below(&self, svc: &ServiceEntry) -> HashMap<Box<[u8]>, NodeAnswers, RandomState> {
        let mut out = HashMap::default();
        if matches!(svc.kind, ServiceKind::ExternalName(_)) {
            return out;
        }
        let mut by_label: Vec<(Cow<'_, str>, Vec<&EndpointEntry>)> = Vec::new();
        let mut index: HashMap<Cow<'_, str>, usize, RandomState> = HashMap::default();
        for endpoint in svc.endpoints.iter() {
            let label = endpoint.label();
            match index.get(&label) {
                Some(&i) => by_label[i].1.push(endpoint),
                None => {
                    index.insert(label.clone(), by_label.len());
                    by_label.push((label, vec![endpoint]));
                }
            }
        }
        for (label, endpoints) in by_label {
            let Some(key) = wire_labels(&[&label]) else {
                continue;
            };
            let name = self.child(&[&label, &svc.name, &svc.namespace, "svc"]);
            let rrs = self.endpoint_records(svc, endpoints.into_iter(), None);
            out.insert(key, self.encode_node(&name, &rrs));
        }
        let ports: Vec<&PortEntry> = match &svc.kind {
            ServiceKind::ClusterIp(_) => svc.ports.iter().collect(),
            _ => svc.endpoints.iter().flat_map(|e| e.ports.iter()).collect(),
        };
        for port in ports {
            let (port_label, proto_label) =
                (format!("_{}", port.name), format!("_{}", port.protocol));
            let Some(key) = wire_labels(&[&port_label, &proto_label]) else {
                continue;
            };
            if out.contains_key(&key) {
                continue;
            }
            let Some(rrs) = self.port_node(svc, &port.name, &port.protocol) else {
                continue;
            };
            let name = self.child(&[&port_label, &proto_label, &svc.name, &svc.namespace, "svc"]);
            out.insert(key, self.encode_node(&name, &rrs));
        }
        out
    }

    /// Encodes the answer of each record type of a node, as the full
    /// lookup would give it; nodes with anything but addresses and SRV
    /// records are left to the full path.
    fn encode_node(&self, name: &Name, rrs: &[Rr]) -> NodeAnswers {
        if rrs
            .iter()
            .any(|rr| !matches!(rr, Rr::Addr(_) | Rr::Srv { .. }))
        {
            return NodeAnswers::Fallback;
        }
        let mut types: Vec<RecordType> = rrs.iter().map(Rr::record_type).collect();
        types.sort_by_key(|t| u16::from(*t));
        types.dedup();
        let mut out = Vec::with_capacity(types.len());
        for qtype in types {
            let mut answer = ZoneAnswer {
                rcode: hickory_proto::op::ResponseCode::NoError,
                answers: Vec::new(),
                authority: Vec::new(),
                additionals: Vec::new(),
                chase: None,
            };
            self.fill(&mut answer, name, qtype, rrs);
            match encode(name, qtype, answer) {
                Some(encoded) => out.push((u16::from(qtype), encoded)),
                None => return NodeAnswers::Fallback,
            }
        }
        NodeAnswers::Records(out.into_boxed_slice())
    }
}

/// The records of `answer` as they follow the question `(name, qtype)`.
fn encode(name: &Name, qtype: RecordType, answer: ZoneAnswer) -> Option<Encoded> {
    let answers = answer.answers.len();
    let additionals = u16::try_from(answer.additionals.len()).ok()?;
    let mut message = Message::new();
    message.add_query(Query::query(name.clone(), qtype));
    message.insert_answers(answer.answers);
    message.insert_additionals(answer.additionals);
    let bytes = message.to_vec().ok()?;
    let start = wire::skip_name(&bytes, 12)? + 4;
    let mut ends = Vec::with_capacity(answers);
    let mut at = start;
    for _ in 0..answers {
        at = wire::skip_record(&bytes, at)?;
        ends.push(u16::try_from(at - start).ok()?);
    }
    Some(Encoded {
        body: bytes.get(start..)?.into(),
        answer_ends: ends.into_boxed_slice(),
        additionals,
    })
}

/// Labels in wire form (length byte, bytes), no root; `None` for a label
/// that is empty or longer than 63 bytes.
fn wire_labels(labels: &[&str]) -> Option<Box<[u8]>> {
    let mut out = Vec::new();
    for label in labels {
        let len = u8::try_from(label.len())
            .ok()
            .filter(|l| (1..=63).contains(l))?;
        out.push(len);
        out.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
    }
    Some(out.into_boxed_slice())
}
