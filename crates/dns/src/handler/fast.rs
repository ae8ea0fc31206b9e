//! The fast path for the zone's Service names: the header and question read
//! by hand, the Service found by the lower-cased wire labels, and the answer
//! assembled from bytes encoded once (see `zone::cache`): the client's id,
//! flags and question, the pre-encoded records, an OPT record when the
//! client sent one. NXDOMAIN and NODATA carry the zone's SOA, written here.
//!
//! Anything unusual (opcode other than QUERY, several questions, EDNS
//! options or a version other than 0, compression in the question, classes
//! other than IN, types like ANY, AXFR or PTR names, the apex and namespace
//! names, pod names, ExternalName CNAMEs) is left to the full path, which
//! defines the behaviour; the answers here are byte for byte what it sends
//! for the same question.

use crate::wire::u16_at;
use crate::zone::{Encoded, NodeAnswers, Zone};

use super::{Transport, ADVERTISED_PAYLOAD, MAX_MESSAGE};

/// Question types answered here (others, like ANY or AXFR, take the full path).
const TYPES: [u16; 13] = [1, 2, 5, 6, 12, 15, 16, 28, 33, 35, 64, 65, 257];
/// The smallest UDP answer limit (without EDNS, or below it).
const UDP_MIN: usize = 512;
/// The OPT record sent back: root owner, type 41, our payload size, version 0, no options.
const OPT: [u8; 11] = {
    let size = ADVERTISED_PAYLOAD.to_be_bytes();
    [0, 0, 41, size[0], size[1], 0, 0, 0, 0, 0, 0]
};
const NOERROR: u8 = 0;
const NXDOMAIN: u8 = 3;

/// A question as read from the wire.
struct Question {
    /// The name, lower-cased, in wire form (root included).
    lower: [u8; 255],
    name_len: usize,
    /// Where each label starts in `lower`.
    starts: [u8; 128],
    labels: usize,
    qtype: u16,
    /// Where the question section ends in the packet.
    end: usize,
    /// The client's EDNS payload size, when it sent an OPT record.
    edns: Option<u16>,
}

impl Question {
    fn label(&self, i: usize) -> &[u8] {
        let start = usize::from(self.starts[i]);
        let len = usize::from(self.lower[start]);
        &self.lower[start + 1..start + 1 + len]
    }

    /// Labels `from..to` in wire form.
    fn span(&self, from: usize, to: usize) -> &[u8] {
        &self.lower[usize::from(self.starts[from])..usize::from(self.starts[to])]
    }
}

/// Writes the answer to `packet` into `out` (cleared first) when the fast
/// path can give it; `false` when the full path must answer.
pub(crate) fn answer(zone: &Zone, packet: &[u8], transport: Transport, out: &mut Vec<u8>) -> bool {
    let Some(question) = parse(packet) else {
        return false;
    };
    let origin = zone.origin_wire();
    if question.name_len < origin.len() || !question.lower[..question.name_len].ends_with(origin) {
        return false;
    }
    // The origin must start at a label boundary: `rel` labels come before it.
    let origin_at = question.name_len - origin.len();
    let Some(rel) = (0..question.labels).position(|i| usize::from(question.starts[i]) == origin_at)
    else {
        return false;
    };
    let svc_label = |i: usize| question.label(i) == b"svc";
    let node = match rel {
        0..=2 => return false,
        3 if svc_label(2) => zone
            .service_by_key(question.span(0, 2))
            .map(|svc| zone.own_answers(svc)),
        3 if question.label(2) == b"pod" => return false,
        4 if svc_label(3) => zone
            .service_by_key(question.span(1, 3))
            .and_then(|svc| zone.answers_below(svc, question.span(0, 1))),
        5 if svc_label(4) => zone
            .service_by_key(question.span(2, 4))
            .and_then(|svc| zone.answers_below(svc, question.span(0, 2))),
        _ => None,
    };
    let limit = match transport {
        Transport::Udp => question
            .edns
            .map_or(UDP_MIN, |size| usize::from(size).max(UDP_MIN)),
        Transport::Tcp => MAX_MESSAGE,
    };
    match node {
        None => denial(zone, packet, &question, NXDOMAIN, limit, out),
        Some(NodeAnswers::Fallback) => false,
        Some(answers) => match answers.get(question.qtype) {
            Some(encoded) => positive(packet, &question, encoded, limit, out),
            None => denial(zone, packet, &question, NOERROR, limit, out),
        },
    }
}

/// Reads the header, the one question and an optional plain OPT record;
/// `None` for anything else.
fn parse(packet: &[u8]) -> Option<Question> {
    let flags = *packet.get(2)?;
    // A query (QR clear) with opcode QUERY.
    if flags & 0xf8 != 0 {
        return None;
    }
    let counts = [4, 6, 8, 10].map(|at| u16_at(packet, at));
    let additional = match counts {
        [Some(1), Some(0), Some(0), Some(additional @ (0 | 1))] => additional,
        _ => return None,
    };
    let mut question = Question {
        lower: [0; 255],
        name_len: 0,
        starts: [0; 128],
        labels: 0,
        qtype: 0,
        end: 0,
        edns: None,
    };
    let mut at = 12;
    loop {
        let len = usize::from(*packet.get(at)?);
        let offset = at - 12;
        if offset + len + 1 > question.lower.len() {
            return None;
        }
        if len == 0 {
            question.name_len = offset + 1;
            at += 1;
            break;
        }
        if len > 63 {
            return None;
        }
        *question.starts.get_mut(question.labels)? = u8::try_from(offset).ok()?;
        question.labels += 1;
        let label = packet.get(at..at + 1 + len)?;
        for (to, from) in question.lower[offset..offset + 1 + len]
            .iter_mut()
            .zip(label)
        {
            *to = from.to_ascii_lowercase();
        }
        at += 1 + len;
    }
    question.qtype = u16_at(packet, at)?;
    let class = u16_at(packet, at + 2)?;
    if class != 1 || !TYPES.contains(&question.qtype) {
        return None;
    }
    at += 4;
    question.end = at;
    if additional == 1 {
        // Root owner, type OPT, payload size, extended rcode, version 0, flags, no options.
        let opt = packet.get(at..at + 11)?;
        if opt[0] != 0 || u16_at(opt, 1)? != 41 || opt[6] != 0 || u16_at(opt, 9)? != 0 {
            return None;
        }
        question.edns = Some(u16_at(opt, 3)?);
        at += 11;
    }
    (at == packet.len()).then_some(question)
}

/// The response header: the query's id, RD and CD; QR, AA and RA set.
fn header(packet: &[u8], truncated: bool, rcode: u8, counts: [u16; 3], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&packet[..2]);
    out.push(0x80 | 0x04 | if truncated { 0x02 } else { 0 } | (packet[2] & 0x01));
    out.push(0x80 | (packet[3] & 0x10) | rcode);
    out.extend_from_slice(&[0, 1]);
    for count in counts {
        out.extend_from_slice(&count.to_be_bytes());
    }
}

/// The records of `encoded`, all of them when they fit, else (TC set) as
/// many answers as fit and no additional records.
fn positive(
    packet: &[u8],
    question: &Question,
    encoded: &Encoded,
    limit: usize,
    out: &mut Vec<u8>,
) -> bool {
    let opt = if question.edns.is_some() {
        OPT.len()
    } else {
        0
    };
    let head = question.end + opt;
    let edns = u16::from(question.edns.is_some());
    let answers = encoded.answer_ends.len();
    let Ok(answer_count) = u16::try_from(answers) else {
        return false;
    };
    if head + encoded.body.len() <= limit {
        header(
            packet,
            false,
            NOERROR,
            [answer_count, 0, encoded.additionals + edns],
            out,
        );
        out.extend_from_slice(&packet[12..question.end]);
        out.extend_from_slice(&encoded.body);
    } else {
        if head > limit || limit == MAX_MESSAGE {
            return false;
        }
        let room = limit - head;
        let fit = encoded
            .answer_ends
            .partition_point(|end| usize::from(*end) <= room);
        let bytes = fit
            .checked_sub(1)
            .map_or(0, |i| usize::from(encoded.answer_ends[i]));
        let Ok(fit_count) = u16::try_from(fit) else {
            return false;
        };
        header(packet, true, NOERROR, [fit_count, 0, edns], out);
        out.extend_from_slice(&packet[12..question.end]);
        out.extend_from_slice(&encoded.body[..bytes]);
    }
    if question.edns.is_some() {
        out.extend_from_slice(&OPT);
    }
    true
}

/// NXDOMAIN or NODATA: no answers, the zone's SOA in the authority section,
/// its names pointing at the zone's origin in the question.
fn denial(
    zone: &Zone,
    packet: &[u8],
    question: &Question,
    rcode: u8,
    limit: usize,
    out: &mut Vec<u8>,
) -> bool {
    let origin = 12 + question.name_len - zone.origin_wire().len();
    let Ok(origin) = u16::try_from(origin) else {
        return false;
    };
    let pointer = (0xc000 | origin).to_be_bytes();
    let edns = u16::from(question.edns.is_some());
    header(packet, false, rcode, [0, 1, edns], out);
    out.extend_from_slice(&packet[12..question.end]);
    let ttl = zone.ttl().to_be_bytes();
    out.extend_from_slice(&pointer);
    out.extend_from_slice(&[0, 6, 0, 1]);
    out.extend_from_slice(&ttl);
    out.extend_from_slice(&[0, 42, 2, b'n', b's', 3, b'd', b'n', b's']);
    out.extend_from_slice(&pointer);
    out.extend_from_slice(b"\x0ahostmaster");
    out.extend_from_slice(&pointer);
    out.extend_from_slice(&zone.serial().to_be_bytes());
    for value in [7200u32, 1800, 86400] {
        out.extend_from_slice(&value.to_be_bytes());
    }
    out.extend_from_slice(&ttl);
    if question.edns.is_some() {
        out.extend_from_slice(&OPT);
    }
    out.len() <= limit
}

#[cfg(test)]
mod tests;
