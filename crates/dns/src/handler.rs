//! DNS messages in, DNS messages out: decoding (FORMERR for what cannot be
//! read, silence for what has no readable header), the zone's answers,
//! forwarding of everything else, EDNS0 and truncation to the client's size.

use std::sync::Arc;

use arc_swap::ArcSwap;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RecordType};

mod fast;

use crate::forward::{Forwarder, Resolved};
use crate::zone::{Lookup, Zone, ZoneAnswer};

/// The UDP payload size this server advertises in its OPT records.
const ADVERTISED_PAYLOAD: u16 = 1232;
/// The largest DNS message (TCP's two-byte length prefix).
const MAX_MESSAGE: usize = 65535;

/// How a message arrived, which bounds the size of its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP: 512 bytes, or the client's EDNS0 payload size.
    Udp,
    /// TCP: up to 65535 bytes.
    Tcp,
}

/// The current zone, swapped atomically when the cluster changes.
#[derive(Debug, Clone)]
pub struct ZoneHandle(Arc<ArcSwap<Zone>>);

impl ZoneHandle {
    /// A handle serving `zone`.
    pub fn new(zone: Zone) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(zone)))
    }

    /// Replaces the zone; queries already running finish on the old one.
    pub fn store(&self, zone: Zone) {
        self.0.store(Arc::new(zone));
    }

    /// The zone in force now.
    pub fn load(&self) -> Arc<Zone> {
        self.0.load_full()
    }
}

/// What [`Handler::answer_local`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    /// The answer is in the buffer.
    Answered,
    /// Nothing is to be sent.
    Silent,
    /// The packet needs [`Handler::handle`] (an upstream).
    Upstream,
}

/// What to do with one incoming packet once the zone has been asked.
#[derive(Debug)]
enum Step {
    /// Send this answer.
    Reply(Message, Message),
    /// Raw bytes to send (FORMERR for an unreadable message).
    Raw(Vec<u8>),
    /// Nothing to send.
    Drop,
    /// Not in the zone: forward the request's question.
    Forward(Message),
    /// The zone's answer ends in a CNAME out of the zone: resolve `target` upstream.
    Chase(Message, Message, Name),
}

/// Answers DNS messages from the zone and the forwarder.
#[derive(Debug)]
pub struct Handler {
    zone: ZoneHandle,
    forwarder: Forwarder,
}

impl Handler {
    /// A handler answering from `zone` and forwarding through `forwarder`.
    pub fn new(zone: ZoneHandle, forwarder: Forwarder) -> Self {
        Self { zone, forwarder }
    }

    /// Answers `packet` at once when no upstream is needed (the zone's own
    /// names, malformed packets): `Some(answer)`, where `answer` is `None`
    /// when nothing is to be sent. `None` when the packet needs
    /// [`handle`](Handler::handle) (forwarding, or an ExternalName chased
    /// out of the zone).
    pub fn handle_local(&self, packet: &[u8], transport: Transport) -> Option<Option<Vec<u8>>> {
        let mut out = Vec::new();
        match self.answer_local(packet, transport, &mut out) {
            Local::Answered => Some(Some(out)),
            Local::Silent => Some(None),
            Local::Upstream => None,
        }
    }

    /// Like [`handle_local`](Handler::handle_local), writing the answer into
    /// `out` (cleared first), which a server reuses from query to query.
    pub fn answer_local(&self, packet: &[u8], transport: Transport, out: &mut Vec<u8>) -> Local {
        let zone = self.zone.0.load();
        if fast::answer(&zone, packet, transport, out) {
            return Local::Answered;
        }
        let answer = match first_step(&zone, packet) {
            Step::Drop => None,
            Step::Raw(bytes) => Some(bytes),
            Step::Reply(request, response) => encode(&request, response, transport),
            Step::Forward(_) | Step::Chase(..) => return Local::Upstream,
        };
        match answer {
            Some(bytes) => {
                out.clear();
                out.extend_from_slice(&bytes);
                Local::Answered
            }
            None => Local::Silent,
        }
    }

    /// The encoded answer to `packet`, or `None` when nothing is to be sent.
    pub async fn handle(&self, packet: &[u8], transport: Transport) -> Option<Vec<u8>> {
        let zone = self.zone.load();
        let mut out = Vec::new();
        if fast::answer(&zone, packet, transport, &mut out) {
            return Some(out);
        }
        match first_step(&zone, packet) {
            Step::Drop => None,
            Step::Raw(bytes) => Some(bytes),
            Step::Reply(request, response) => encode(&request, response, transport),
            Step::Forward(request) => {
                let mut response = reply_to(&request);
                match self.forward(&request, None).await {
                    Some(resolved) => {
                        response.set_response_code(resolved.rcode);
                        response.insert_answers(resolved.answers);
                        response.insert_name_servers(resolved.authority);
                        response.insert_additionals(resolved.additionals);
                    }
                    None => {
                        response.set_response_code(ResponseCode::ServFail);
                    }
                }
                encode(&request, response, transport)
            }
            Step::Chase(request, mut response, target) => {
                if let Some(resolved) = self.forward(&request, Some(target)).await {
                    response.set_response_code(resolved.rcode);
                    response.answers_mut().extend(resolved.answers);
                    if response.name_servers().is_empty() {
                        response.insert_name_servers(resolved.authority);
                    }
                }
                encode(&request, response, transport)
            }
        }
    }

    /// Asks upstream for the request's question, or for `target` with the
    /// question's type and class.
    async fn forward(&self, request: &Message, target: Option<Name>) -> Option<Resolved> {
        let query = request.query()?;
        let mut question = query.clone();
        if let Some(target) = target {
            question.set_name(target);
        }
        match self.forwarder.resolve(&question).await {
            Ok(resolved) => Some(resolved),
            Err(error) => {
                tracing::debug!(%error, question = %question, "forwarding failed");
                None
            }
        }
    }
}

/// Answers `packet` from `zone` alone, synchronously: what needs an upstream
/// gets SERVFAIL (an ExternalName's CNAME is answered without its target's
/// addresses). `None` when nothing is to be sent. Never panics, whatever the bytes.
pub fn respond_local(zone: &Zone, packet: &[u8], transport: Transport) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    if fast::answer(zone, packet, transport, &mut out) {
        return Some(out);
    }
    respond_full(zone, packet, transport)
}

/// [`respond_local`] without the fast path: the reference it is checked against.
fn respond_full(zone: &Zone, packet: &[u8], transport: Transport) -> Option<Vec<u8>> {
    match first_step(zone, packet) {
        Step::Drop => None,
        Step::Raw(bytes) => Some(bytes),
        Step::Reply(request, response) | Step::Chase(request, response, _) => {
            encode(&request, response, transport)
        }
        Step::Forward(request) => {
            let mut response = reply_to(&request);
            response.set_response_code(ResponseCode::ServFail);
            encode(&request, response, transport)
        }
    }
}

fn first_step(zone: &Zone, packet: &[u8]) -> Step {
    if packet.len() < 12 {
        return Step::Drop;
    }
    // Never answer a response: that is how loops between servers start.
    if packet[2] & 0x80 != 0 {
        return Step::Drop;
    }
    let request = match Message::from_vec(packet) {
        Ok(request) => request,
        Err(error) => {
            tracing::debug!(%error, "undecodable query");
            return Step::Raw(format_error(packet));
        }
    };
    let mut response = reply_to(&request);
    if request.op_code() != OpCode::Query {
        response.set_response_code(ResponseCode::NotImp);
        return Step::Reply(request, response);
    }
    if let Some(edns) = request.extensions() {
        if edns.version() > 0 {
            response.set_response_code(ResponseCode::BADVERS);
            return Step::Reply(request, response);
        }
    }
    let Some(query) = only_query(&request) else {
        response.set_response_code(ResponseCode::FormErr);
        return Step::Reply(request, response);
    };
    let (name, qtype) = (query.name().clone(), query.query_type());
    if query.query_class() != DNSClass::IN {
        return Step::Forward(request);
    }
    match zone.lookup(&name, qtype) {
        Lookup::NotInZone => Step::Forward(request),
        Lookup::Authoritative(_) if matches!(qtype, RecordType::AXFR | RecordType::IXFR) => {
            response.set_response_code(ResponseCode::Refused);
            Step::Reply(request, response)
        }
        Lookup::Authoritative(answer) => {
            let ZoneAnswer {
                rcode,
                answers,
                authority,
                additionals,
                chase,
            } = answer;
            response.set_authoritative(true);
            response.set_response_code(rcode);
            response.insert_answers(answers);
            response.insert_name_servers(authority);
            response.insert_additionals(additionals);
            match chase {
                Some(target) => Step::Chase(request, response, target),
                None => Step::Reply(request, response),
            }
        }
    }
}

fn only_query(request: &Message) -> Option<&Query> {
    match request.queries() {
        [query] => Some(query),
        _ => None,
    }
}

/// The skeleton of the response to `request`: same id, opcode, question,
/// RD and CD flags; recursion available; an OPT record when the client sent one.
fn reply_to(request: &Message) -> Message {
    let mut response = Message::new();
    response
        .set_id(request.id())
        .set_message_type(MessageType::Response)
        .set_op_code(request.op_code())
        .set_recursion_desired(request.recursion_desired())
        .set_checking_disabled(request.checking_disabled())
        .set_recursion_available(true);
    response.add_queries(request.queries().iter().cloned());
    if request.extensions().is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(ADVERTISED_PAYLOAD);
        edns.set_version(0);
        response.set_edns(edns);
    }
    response
}

/// A bare FORMERR header for a message whose body could not be decoded:
/// its id, opcode and RD flag copied, no sections.
fn format_error(packet: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 12];
    out[0] = packet[0];
    out[1] = packet[1];
    out[2] = 0x80 | (packet[2] & 0x78) | (packet[2] & 0x01);
    out[3] = 0x80 | ResponseCode::FormErr.low();
    out
}

/// Encodes `response` within the size `transport` and the client allow:
/// when it does not fit, the additional and authority sections go, then as
/// many answers as needed, and the TC bit is set.
fn encode(request: &Message, mut response: Message, transport: Transport) -> Option<Vec<u8>> {
    let limit = match transport {
        Transport::Udp => usize::from(request.max_payload()),
        Transport::Tcp => MAX_MESSAGE,
    };
    match response.to_vec() {
        Ok(bytes) if bytes.len() <= limit => return Some(bytes),
        Ok(_) => {}
        Err(error) => {
            tracing::warn!(%error, "cannot encode a response");
            let mut failure = reply_to(request);
            failure.set_response_code(ResponseCode::ServFail);
            return failure.to_vec().ok();
        }
    }
    response.set_truncated(true);
    response.take_additionals();
    response.take_name_servers();
    let answers = response.take_answers();
    let fits = |response: &Message| response.to_vec().ok().filter(|b| b.len() <= limit);
    // The largest prefix of the answers that fits (binary search).
    let (mut low, mut high) = (0, answers.len());
    while low < high {
        let mid = (low + high).div_ceil(2);
        *response.answers_mut() = answers[..mid].to_vec();
        if fits(&response).is_some() {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    *response.answers_mut() = answers[..low].to_vec();
    fits(&response).or_else(|| {
        // Even the question does not fit (a 512-byte limit and a huge name):
        // a header alone says "truncated, use TCP".
        let mut bare = Message::new();
        bare.set_header(*response.header());
        bare.set_truncated(true);
        bare.to_vec().ok()
    })
}

#[cfg(test)]
mod tests;
