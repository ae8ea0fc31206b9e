//! The cluster zone: an immutable snapshot of the names Kubernetes DNS
//! defines (the Kubernetes DNS-Based Service Discovery specification, as
//! CoreDNS' kubernetes plugin answers it), built from Services,
//! EndpointSlices, Pods and Namespaces, and the pure lookup
//! `(name, type) → records | NODATA | NXDOMAIN`.

mod build;
mod cache;
mod nodes;
mod shards;
mod state;

use std::borrow::{Borrow, Cow};
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

pub use build::ZoneBuilder;
pub(crate) use cache::{Encoded, NodeAnswers};
pub use state::ZoneState;

use crate::names;
use shards::{Reverse, Shards};

/// TTL of the `dns-version` TXT record, as CoreDNS serves it.
const SCHEMA_TTL: u32 = 28800;
/// Schema version of the Kubernetes DNS specification answered here.
const SCHEMA_VERSION: &str = "1.1.0";
/// How many CNAMEs inside the zone are followed for one answer.
const MAX_CNAME_CHAIN: usize = 8;

/// A Service's key: the wire form of `<name>.<namespace>` (two lower-cased
/// labels, each with its length byte, no root), which is also how the two
/// labels appear in a lower-cased question.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key(Box<[u8]>);

impl Key {
    /// The key of Service `name` in `namespace` (lower-cased); `None` when
    /// either is not a DNS label (empty or longer than 63 bytes).
    pub(crate) fn new(name: &str, namespace: &str) -> Option<Self> {
        let mut wire = Vec::with_capacity(name.len() + namespace.len() + 2);
        for label in [name, namespace] {
            let len = u8::try_from(label.len())
                .ok()
                .filter(|l| (1..=63).contains(l))?;
            wire.push(len);
            wire.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
        }
        Some(Self(wire.into_boxed_slice()))
    }
}

impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

/// One Service as the zone keeps it.
#[derive(Debug)]
pub(crate) struct ServiceEntry {
    pub(crate) key: Key,
    pub(crate) name: Box<str>,
    pub(crate) namespace: Box<str>,
    pub(crate) kind: ServiceKind,
    pub(crate) ports: Arc<[PortEntry]>,
    /// Endpoints published in DNS (ready ones, or all with
    /// `publishNotReadyAddresses`), deduplicated by address.
    pub(crate) endpoints: Box<[EndpointEntry]>,
    /// The wire answers of this Service's names, encoded on first use.
    pub(crate) cache: cache::Cache,
}

/// What the Service's own name resolves to.
#[derive(Debug, Clone)]
pub(crate) enum ServiceKind {
    /// A ClusterIP, NodePort or LoadBalancer Service: its cluster IPs.
    ClusterIp(Box<[IpAddr]>),
    /// `clusterIP: None`: the endpoints' addresses.
    Headless,
    /// `type: ExternalName`: a CNAME to this name.
    ExternalName(Name),
}

/// A port, of the Service or of an EndpointSlice (names and protocols lower-cased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PortEntry {
    pub(crate) name: Box<str>,
    pub(crate) protocol: Box<str>,
    pub(crate) port: u16,
}

/// One endpoint address of a Service.
#[derive(Debug, Clone)]
pub(crate) struct EndpointEntry {
    /// The endpoint's hostname, when it has one (else its label is the dashed address).
    pub(crate) hostname: Option<Box<str>>,
    pub(crate) ip: IpAddr,
    /// The ports of its slice (shared by the slice's endpoints).
    pub(crate) ports: Arc<[PortEntry]>,
}

impl EndpointEntry {
    /// The endpoint's DNS label: its hostname, or the dashed address.
    pub(crate) fn label(&self) -> Cow<'_, str> {
        match &self.hostname {
            Some(hostname) => Cow::Borrowed(hostname),
            None => Cow::Owned(names::dashed(self.ip)),
        }
    }

    /// True when the endpoint's label is `label` (lower-cased).
    pub(crate) fn has_label(&self, label: &str) -> bool {
        match &self.hostname {
            Some(hostname) => **hostname == *label,
            None => names::is_dashed(self.ip, label),
        }
    }
}

/// What every snapshot of one zone shares: its origin and TTL.
#[derive(Debug)]
pub(crate) struct Base {
    origin: Name,
    origin_labels: Vec<String>,
    /// The origin in wire form, lower-cased, with the root label.
    origin_wire: Box<[u8]>,
    ttl: u32,
}

/// An immutable snapshot of the cluster zone. Cloning is cheap (shared,
/// copy-on-write maps).
#[derive(Debug, Clone)]
pub struct Zone {
    base: Arc<Base>,
    serial: u32,
    namespaces: Arc<HashSet<Box<str>>>,
    services: Shards<Key, Arc<ServiceEntry>>,
    /// Address → the Services having it as cluster IP or endpoint.
    reverse: Reverse<Arc<ServiceEntry>>,
    nameservers: Arc<[IpAddr]>,
}

/// The zone's answer to one question.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// The zone is authoritative for the name: answer with this.
    Authoritative(ZoneAnswer),
    /// The name is not in the zone (or a reverse name for an address the
    /// zone does not know): forward it upstream.
    NotInZone,
}

/// An authoritative answer from the zone.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneAnswer {
    /// `NoError` (with or without answers: no answers is NODATA) or `NXDomain`.
    pub rcode: ResponseCode,
    /// The answer section.
    pub answers: Vec<Record>,
    /// The authority section: the zone's SOA for NODATA and NXDOMAIN.
    pub authority: Vec<Record>,
    /// The additional section (addresses of SRV targets, of the name server).
    pub additionals: Vec<Record>,
    /// Set when the answer ends in a CNAME to a name outside the zone: the
    /// caller resolves this name (same type) upstream and appends the result.
    pub chase: Option<Name>,
}

/// A record of a node, before it is given an owner name.
#[derive(Debug, Clone)]
pub(crate) enum Rr {
    Addr(IpAddr),
    Cname(Name),
    Srv {
        weight: u16,
        port: u16,
        target: Name,
        target_ip: IpAddr,
    },
    Txt(String),
    Soa,
    Ns,
}

impl Rr {
    fn record_type(&self) -> RecordType {
        match self {
            Rr::Addr(IpAddr::V4(_)) => RecordType::A,
            Rr::Addr(IpAddr::V6(_)) => RecordType::AAAA,
            Rr::Cname(_) => RecordType::CNAME,
            Rr::Srv { .. } => RecordType::SRV,
            Rr::Txt(_) => RecordType::TXT,
            Rr::Soa => RecordType::SOA,
            Rr::Ns => RecordType::NS,
        }
    }
}

impl Zone {
    /// The zone's origin, e.g. `cluster.local.`.
    pub fn origin(&self) -> &Name {
        &self.base.origin
    }

    /// The TTL of the zone's records.
    pub fn ttl(&self) -> u32 {
        self.base.ttl
    }

    /// The SOA serial of this snapshot.
    pub fn serial(&self) -> u32 {
        self.serial
    }

    /// The origin in wire form, lower-cased.
    pub(crate) fn origin_wire(&self) -> &[u8] {
        &self.base.origin_wire
    }

    /// The Service whose [`Key`] bytes are `key`.
    pub(crate) fn service_by_key(&self, key: &[u8]) -> Option<&ServiceEntry> {
        self.services.get(key).map(|entry| &**entry)
    }

    /// How many Services the zone holds.
    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    /// The zone's SOA record:
    /// `<zone> <ttl> IN SOA ns.dns.<zone> hostmaster.<zone> <serial> 7200 1800 86400 <ttl>`.
    pub fn soa(&self) -> Record {
        let mname = self.child(&["ns", "dns"]);
        let rname = self.child(&["hostmaster"]);
        let soa = SOA::new(mname, rname, self.serial, 7200, 1800, 86400, self.ttl());
        Record::from_rdata(self.base.origin.clone(), self.ttl(), RData::SOA(soa))
    }

    /// True when `name` is the origin or below it.
    pub fn contains(&self, name: &Name) -> bool {
        self.relative(name).is_some()
    }

    /// Answers the question `(name, qtype)` (class IN).
    pub fn lookup(&self, name: &Name, qtype: RecordType) -> Lookup {
        if qtype == RecordType::PTR && names::is_reverse(name) {
            let targets = names::parse_reverse(name).map(|ip| self.reverse_names(ip));
            return match targets.filter(|t| !t.is_empty()) {
                Some(targets) => Lookup::Authoritative(ZoneAnswer {
                    rcode: ResponseCode::NoError,
                    answers: targets
                        .iter()
                        .map(|t| {
                            Record::from_rdata(name.clone(), self.ttl(), RData::PTR(PTR(t.clone())))
                        })
                        .collect(),
                    authority: Vec::new(),
                    additionals: Vec::new(),
                    chase: None,
                }),
                None => Lookup::NotInZone,
            };
        }
        if !self.contains(name) {
            return Lookup::NotInZone;
        }
        let mut answer = ZoneAnswer {
            rcode: ResponseCode::NoError,
            answers: Vec::new(),
            authority: Vec::new(),
            additionals: Vec::new(),
            chase: None,
        };
        let mut current = name.clone();
        for _ in 0..MAX_CNAME_CHAIN {
            let Some(rel) = self.relative(&current) else {
                // A CNAME led out of the zone.
                answer.chase = Some(current);
                return Lookup::Authoritative(answer);
            };
            let Some(rrs) = self.node(&rel) else {
                // RFC 6604: the rcode speaks of the last name in a chain.
                answer.rcode = ResponseCode::NXDomain;
                answer.authority.push(self.soa());
                return Lookup::Authoritative(answer);
            };
            let cname = rrs.iter().find_map(|rr| match rr {
                Rr::Cname(target) if qtype != RecordType::CNAME => Some(target.clone()),
                _ => None,
            });
            if let Some(target) = cname {
                answer.answers.push(Record::from_rdata(
                    current.clone(),
                    self.ttl(),
                    RData::CNAME(CNAME(target.clone())),
                ));
                current = target;
                continue;
            }
            let before = answer.answers.len();
            self.fill(&mut answer, &current, qtype, &rrs);
            if answer.answers.len() == before {
                answer.authority.push(self.soa());
            }
            return Lookup::Authoritative(answer);
        }
        Lookup::Authoritative(answer)
    }

    /// Adds the records of type `qtype` of one node to `answer`.
    fn fill(&self, answer: &mut ZoneAnswer, owner: &Name, qtype: RecordType, rrs: &[Rr]) {
        let mut additionals = Vec::new();
        for rr in rrs {
            if qtype != RecordType::ANY && rr.record_type() != qtype {
                continue;
            }
            let record = match rr {
                Rr::Addr(ip) => self.address(owner.clone(), *ip),
                Rr::Cname(target) => Record::from_rdata(
                    owner.clone(),
                    self.ttl(),
                    RData::CNAME(CNAME(target.clone())),
                ),
                Rr::Srv {
                    weight,
                    port,
                    target,
                    target_ip,
                } => {
                    additionals.push(self.address(target.clone(), *target_ip));
                    let srv = SRV::new(0, *weight, *port, target.clone());
                    Record::from_rdata(owner.clone(), self.ttl(), RData::SRV(srv))
                }
                Rr::Txt(text) => Record::from_rdata(
                    owner.clone(),
                    SCHEMA_TTL,
                    RData::TXT(TXT::new(vec![text.clone()])),
                ),
                Rr::Soa => self.soa(),
                Rr::Ns => {
                    let host = self.child(&["ns", "dns"]);
                    for ip in self.nameservers.iter() {
                        additionals.push(self.address(host.clone(), *ip));
                    }
                    Record::from_rdata(owner.clone(), self.ttl(), RData::NS(NS(host)))
                }
            };
            push_unique(&mut answer.answers, record);
        }
        for record in additionals {
            push_unique(&mut answer.additionals, record);
        }
    }

    /// The names whose address is `ip`, sorted: Services by cluster IP,
    /// endpoints by their label.
    fn reverse_names(&self, ip: IpAddr) -> Vec<Name> {
        let mut targets = Vec::new();
        for svc in self.reverse.get(ip) {
            if let ServiceKind::ClusterIp(ips) = &svc.kind {
                if ips.contains(&ip) {
                    targets.push(self.service_name(svc));
                }
            }
            for endpoint in svc.endpoints.iter().filter(|e| e.ip == ip) {
                let label = endpoint.label();
                targets.push(self.child(&[&label, &svc.name, &svc.namespace, "svc"]));
            }
        }
        targets.sort();
        targets.dedup();
        targets
    }

    fn address(&self, owner: Name, ip: IpAddr) -> Record {
        match ip {
            IpAddr::V4(v4) => Record::from_rdata(owner, self.ttl(), RData::A(A(v4))),
            IpAddr::V6(v6) => Record::from_rdata(owner, self.ttl(), RData::AAAA(AAAA(v6))),
        }
    }

    /// The labels of `name` below the origin (lower-cased, leaf first), or
    /// `None` when `name` is outside the zone.
    fn relative(&self, name: &Name) -> Option<Vec<String>> {
        let labels = names::labels(name);
        let n = self.base.origin_labels.len();
        if labels.len() < n || labels[labels.len() - n..] != self.base.origin_labels[..] {
            return None;
        }
        Some(labels[..labels.len() - n].to_vec())
    }

    /// `labels` (leaf first) prepended to the origin.
    pub(crate) fn child(&self, labels: &[&str]) -> Name {
        let mut all: Vec<&str> = labels.to_vec();
        all.extend(self.base.origin_labels.iter().map(String::as_str));
        let mut name = Name::from_labels(all.iter().map(|l| l.as_bytes()))
            .unwrap_or_else(|_| self.base.origin.clone());
        name.set_fqdn(true);
        name
    }
}

/// `name` in wire form, lower-cased, uncompressed, with the root label.
pub(crate) fn names_wire(name: &Name) -> Box<[u8]> {
    let mut wire = Vec::new();
    for label in name.iter() {
        // Labels of a parsed name are at most 63 bytes.
        wire.push(u8::try_from(label.len()).unwrap_or(63));
        wire.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    wire.push(0);
    wire.into_boxed_slice()
}

fn push_unique(records: &mut Vec<Record>, record: Record) {
    if !records.contains(&record) {
        records.push(record);
    }
}

#[cfg(test)]
mod tests;
