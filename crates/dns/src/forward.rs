//! Forwarding of names outside the zone to upstream servers (UDP, then TCP
//! when the answer is truncated), with a small cache that honours TTLs
//! (positive answers for their lowest TTL, NXDOMAIN and NODATA for their
//! SOA's negative TTL).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{RData, Record};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::Error;

/// How long one upstream gets to answer.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// How many answers the cache keeps.
const CACHE_CAPACITY: usize = 10_000;
/// The longest a positive answer is cached (CoreDNS' cache: 3600 s).
const MAX_SUCCESS_TTL: u32 = 3600;
/// The longest a negative answer is cached (CoreDNS' cache: 1800 s).
const MAX_DENIAL_TTL: u32 = 1800;

/// What an upstream answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// The upstream's rcode.
    pub rcode: ResponseCode,
    /// Its answer section.
    pub answers: Vec<Record>,
    /// Its authority section.
    pub authority: Vec<Record>,
    /// Its additional section (without OPT).
    pub additionals: Vec<Record>,
}

type CacheKey = (String, u16, u16);

#[derive(Debug)]
struct CacheEntry {
    resolved: Resolved,
    stored: Instant,
    ttl: u32,
}

/// Sends questions to the upstream servers in order until one answers.
#[derive(Debug)]
pub struct Forwarder {
    upstreams: Vec<SocketAddr>,
    cache: Mutex<HashMap<CacheKey, CacheEntry>>,
}

impl Forwarder {
    /// A forwarder to `upstreams` (none: every question fails).
    pub fn new(upstreams: Vec<SocketAddr>) -> Self {
        Self {
            upstreams,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The answer to `question`, from the cache or from an upstream.
    pub async fn resolve(&self, question: &Query) -> Result<Resolved, Error> {
        if self.upstreams.is_empty() {
            return Err(Error::Upstream("no upstream server configured".to_string()));
        }
        let key = (
            question.name().to_lowercase().to_ascii(),
            u16::from(question.query_type()),
            u16::from(question.query_class()),
        );
        if let Some(hit) = self.cached(&key) {
            return Ok(hit);
        }
        let mut last = String::new();
        for upstream in &self.upstreams {
            match ask(*upstream, question).await {
                Ok(resolved) if resolved.rcode == ResponseCode::ServFail => {
                    last = format!("{upstream}: SERVFAIL");
                }
                Ok(resolved) => {
                    self.remember(key, &resolved);
                    return Ok(resolved);
                }
                Err(error) => last = format!("{upstream}: {error}"),
            }
        }
        Err(Error::Upstream(last))
    }

    fn cached(&self, key: &CacheKey) -> Option<Resolved> {
        let mut cache = self.cache.lock().ok()?;
        let entry = cache.get(key)?;
        let age = u32::try_from(entry.stored.elapsed().as_secs()).unwrap_or(u32::MAX);
        if age >= entry.ttl {
            cache.remove(key);
            return None;
        }
        let mut resolved = entry.resolved.clone();
        for record in resolved
            .answers
            .iter_mut()
            .chain(resolved.authority.iter_mut())
            .chain(resolved.additionals.iter_mut())
        {
            let ttl = record.ttl().saturating_sub(age);
            record.set_ttl(ttl);
        }
        Some(resolved)
    }

    fn remember(&self, key: CacheKey, resolved: &Resolved) {
        let Some(ttl) = cache_ttl(resolved) else {
            return;
        };
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        if cache.len() >= CACHE_CAPACITY {
            cache.retain(|_, e| e.stored.elapsed().as_secs() < u64::from(e.ttl));
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(
            key,
            CacheEntry {
                resolved: resolved.clone(),
                stored: Instant::now(),
                ttl,
            },
        );
    }
}

/// How long an answer may be cached: the lowest answer TTL, or for
/// NXDOMAIN/NODATA the SOA's negative TTL; `None` when it must not be.
fn cache_ttl(resolved: &Resolved) -> Option<u32> {
    let ttl = match resolved.rcode {
        ResponseCode::NoError if !resolved.answers.is_empty() => resolved
            .answers
            .iter()
            .map(Record::ttl)
            .min()?
            .min(MAX_SUCCESS_TTL),
        ResponseCode::NoError | ResponseCode::NXDomain => resolved
            .authority
            .iter()
            .find_map(|r| match r.data() {
                RData::SOA(soa) => Some(r.ttl().min(soa.minimum())),
                _ => None,
            })?
            .min(MAX_DENIAL_TTL),
        _ => return None,
    };
    (ttl > 0).then_some(ttl)
}

/// One exchange with one upstream: UDP, then TCP if the answer is truncated.
async fn ask(upstream: SocketAddr, question: &Query) -> Result<Resolved, Error> {
    let id: u16 = rand::random();
    let mut request = Message::new();
    request
        .set_id(id)
        .set_message_type(MessageType::Query)
        .set_recursion_desired(true)
        .add_query(question.clone());
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    request.set_edns(edns);
    let bytes = request
        .to_vec()
        .map_err(|e| Error::Upstream(e.to_string()))?;
    let reply = tokio::time::timeout(UPSTREAM_TIMEOUT, ask_udp(upstream, &bytes, id, question))
        .await
        .map_err(|_| Error::Upstream(format!("{upstream}: timed out")))??;
    let reply = if reply.truncated() {
        tokio::time::timeout(UPSTREAM_TIMEOUT, ask_tcp(upstream, &bytes, id, question))
            .await
            .map_err(|_| Error::Upstream(format!("{upstream}: timed out over TCP")))??
    } else {
        reply
    };
    let mut reply = reply;
    Ok(Resolved {
        rcode: reply.response_code(),
        answers: reply.take_answers(),
        authority: reply.take_name_servers(),
        additionals: reply.take_additionals(),
    })
}

/// True when `reply` answers the request `id` for `question`.
fn matches(reply: &Message, id: u16, question: &Query) -> bool {
    reply.id() == id
        && reply.message_type() == MessageType::Response
        && reply.queries().len() == 1
        && reply.queries()[0].name().to_lowercase() == question.name().to_lowercase()
        && reply.queries()[0].query_type() == question.query_type()
}

async fn ask_udp(
    upstream: SocketAddr,
    bytes: &[u8],
    id: u16,
    question: &Query,
) -> Result<Message, Error> {
    let local: SocketAddr = if upstream.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(upstream).await?;
    socket.send(bytes).await?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = socket.recv(&mut buf).await?;
        // Anything else (a late answer, a spoofed one) is ignored.
        if let Ok(reply) = Message::from_vec(&buf[..n]) {
            if matches(&reply, id, question) {
                return Ok(reply);
            }
        }
    }
}

async fn ask_tcp(
    upstream: SocketAddr,
    bytes: &[u8],
    id: u16,
    question: &Query,
) -> Result<Message, Error> {
    let mut stream = TcpStream::connect(upstream).await?;
    let len = u16::try_from(bytes.len()).map_err(|_| Error::Upstream("query too long".into()))?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(bytes);
    stream.write_all(&framed).await?;
    let len = stream.read_u16().await?;
    let mut buf = vec![0u8; usize::from(len)];
    stream.read_exact(&mut buf).await?;
    let reply = Message::from_vec(&buf).map_err(|e| Error::Upstream(e.to_string()))?;
    if matches(&reply, id, question) {
        Ok(reply)
    } else {
        Err(Error::Upstream(format!(
            "{upstream}: mismatched answer over TCP"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, SOA};
    use hickory_proto::rr::Name;

    fn a(ttl: u32) -> Record {
        Record::from_rdata(
            Name::from_ascii("example.com.").unwrap(),
            ttl,
            RData::A(A::new(1, 2, 3, 4)),
        )
    }

    fn soa(ttl: u32, minimum: u32) -> Record {
        let n = Name::from_ascii("com.").unwrap();
        Record::from_rdata(
            n.clone(),
            ttl,
            RData::SOA(SOA::new(n.clone(), n, 1, 2, 3, 4, minimum)),
        )
    }

    fn resolved(rcode: ResponseCode, answers: Vec<Record>, authority: Vec<Record>) -> Resolved {
        Resolved {
            rcode,
            answers,
            authority,
            additionals: Vec::new(),
        }
    }

    #[test]
    fn cache_ttls() {
        assert_eq!(
            cache_ttl(&resolved(ResponseCode::NoError, vec![a(60), a(20)], vec![])),
            Some(20)
        );
        assert_eq!(
            cache_ttl(&resolved(ResponseCode::NoError, vec![a(0)], vec![])),
            None
        );
        assert_eq!(
            cache_ttl(&resolved(ResponseCode::NoError, vec![a(90000)], vec![])),
            Some(3600)
        );
        assert_eq!(
            cache_ttl(&resolved(
                ResponseCode::NXDomain,
                vec![],
                vec![soa(900, 60)]
            )),
            Some(60)
        );
        assert_eq!(
            cache_ttl(&resolved(ResponseCode::NoError, vec![], vec![soa(30, 60)])),
            Some(30)
        );
        assert_eq!(
            cache_ttl(&resolved(ResponseCode::NXDomain, vec![], vec![])),
            None
        );
        assert_eq!(
            cache_ttl(&resolved(ResponseCode::ServFail, vec![a(60)], vec![])),
            None
        );
    }

    #[tokio::test]
    async fn without_upstreams_every_question_fails() {
        let forwarder = Forwarder::new(Vec::new());
        let q = Query::query(
            Name::from_ascii("example.com.").unwrap(),
            hickory_proto::rr::RecordType::A,
        );
        assert!(matches!(
            forwarder.resolve(&q).await,
            Err(Error::Upstream(_))
        ));
    }
}
