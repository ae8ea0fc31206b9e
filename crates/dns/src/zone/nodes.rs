//! The records of each name of the zone, by the shape of the name:
//! apex, `dns-version`, `ns.dns`, `<ns>.svc|pod`, `<svc>.<ns>.svc`,
//! `<endpoint>.<svc>.<ns>.svc`, `_<port>._<proto>.<svc>.<ns>.svc` and
//! `<dashed-ip>.<ns>.pod`.

use std::net::IpAddr;

use hickory_proto::rr::Name;

use super::{EndpointEntry, Key, PortEntry, Rr, ServiceEntry, ServiceKind, Zone, SCHEMA_VERSION};
use crate::names;

impl Zone {
    /// The records of the name whose labels below the origin are `rel`
    /// (leaf first): `None` when the name does not exist (NXDOMAIN), an
    /// empty list when it exists without records (NODATA for any type).
    pub(crate) fn node(&self, rel: &[String]) -> Option<Vec<Rr>> {
        let rel: Vec<&str> = rel.iter().map(String::as_str).collect();
        match rel.as_slice() {
            [] => Some(vec![Rr::Soa, Rr::Ns]),
            ["dns-version"] => Some(vec![Rr::Txt(SCHEMA_VERSION.to_string())]),
            ["dns"] => Some(Vec::new()),
            ["ns", "dns"] => Some(self.nameservers.iter().map(|ip| Rr::Addr(*ip)).collect()),
            ["svc"] | ["pod"] => Some(Vec::new()),
            [ns, "svc" | "pod"] => self.namespaces.contains(*ns).then(Vec::new),
            [pod, ns, "pod"] => {
                if !self.namespaces.contains(*ns) {
                    return None;
                }
                names::parse_dashed(pod).map(|ip| vec![Rr::Addr(ip)])
            }
            [svc, ns, "svc"] => self.service_node(self.service(ns, svc)?),
            [endpoint, svc, ns, "svc"] => self.endpoint_node(self.service(ns, svc)?, endpoint),
            [port, proto, svc, ns, "svc"] => {
                let port = port.strip_prefix('_')?;
                let proto = proto.strip_prefix('_')?;
                self.port_node(self.service(ns, svc)?, port, proto)
            }
            _ => None,
        }
    }

    fn service(&self, namespace: &str, name: &str) -> Option<&ServiceEntry> {
        let key = Key::new(name, namespace)?;
        self.services.get(&key).map(|entry| &**entry)
    }

    /// `<svc>.<ns>.svc.<zone>`: cluster IPs (or ready endpoints when
    /// headless), an SRV per port, or the ExternalName's CNAME.
    fn service_node(&self, svc: &ServiceEntry) -> Option<Vec<Rr>> {
        match &svc.kind {
            ServiceKind::ExternalName(target) => Some(vec![Rr::Cname(target.clone())]),
            ServiceKind::ClusterIp(ips) => {
                let target = self.service_name(svc);
                let mut rrs: Vec<Rr> = ips.iter().map(|ip| Rr::Addr(*ip)).collect();
                let pairs: Vec<(u16, Name, IpAddr)> = svc
                    .ports
                    .iter()
                    .flat_map(|p| ips.iter().map(|ip| (p.port, target.clone(), *ip)))
                    .collect();
                rrs.extend(srv_records(pairs));
                Some(rrs)
            }
            ServiceKind::Headless => {
                if svc.endpoints.is_empty() {
                    // CoreDNS answers NXDOMAIN for a headless Service without
                    // ready endpoints.
                    return None;
                }
                Some(self.endpoint_records(svc, svc.endpoints.iter(), None))
            }
        }
    }

    /// `<endpoint>.<svc>.<ns>.svc.<zone>`: the endpoints whose hostname (or
    /// dashed address) is `label`, for headless and ClusterIP Services alike.
    fn endpoint_node(&self, svc: &ServiceEntry, label: &str) -> Option<Vec<Rr>> {
        if matches!(svc.kind, ServiceKind::ExternalName(_)) {
            return None;
        }
        let matching: Vec<&EndpointEntry> = svc
            .endpoints
            .iter()
            .filter(|e| e.has_label(label))
            .collect();
        if matching.is_empty() {
            return None;
        }
        Some(self.endpoint_records(svc, matching.into_iter(), None))
    }

    /// `_<port>._<proto>.<svc>.<ns>.svc.<zone>`: SRV records for the named
    /// port (pointing at the Service name, or at each endpoint when headless)
    /// and the addresses behind them.
    pub(super) fn port_node(&self, svc: &ServiceEntry, port: &str, proto: &str) -> Option<Vec<Rr>> {
        let wanted = |p: &PortEntry| *p.name == *port && *p.protocol == *proto;
        match &svc.kind {
            ServiceKind::ExternalName(_) => None,
            ServiceKind::ClusterIp(ips) => {
                let target = self.service_name(svc);
                let ports: Vec<&PortEntry> = svc.ports.iter().filter(|p| wanted(p)).collect();
                if ports.is_empty() {
                    return None;
                }
                let mut rrs: Vec<Rr> = ips.iter().map(|ip| Rr::Addr(*ip)).collect();
                let pairs = ports
                    .iter()
                    .flat_map(|p| ips.iter().map(|ip| (p.port, target.clone(), *ip)))
                    .collect();
                rrs.extend(srv_records(pairs));
                Some(rrs)
            }
            ServiceKind::Headless => {
                let rrs = self.endpoint_records(svc, svc.endpoints.iter(), Some(&wanted));
                (!rrs.is_empty()).then_some(rrs)
            }
        }
    }

    /// Address and SRV records for `endpoints` of `svc`; with `filter`, only
    /// endpoints having a matching port, and SRV only for those ports.
    pub(super) fn endpoint_records<'a>(
        &self,
        svc: &ServiceEntry,
        endpoints: impl Iterator<Item = &'a EndpointEntry>,
        filter: Option<&dyn Fn(&PortEntry) -> bool>,
    ) -> Vec<Rr> {
        let mut rrs = Vec::new();
        let mut pairs = Vec::new();
        for endpoint in endpoints {
            let ports: Vec<&PortEntry> = endpoint
                .ports
                .iter()
                .filter(|p| filter.is_none_or(|f| f(p)))
                .collect();
            if filter.is_some() && ports.is_empty() {
                continue;
            }
            rrs.push(Rr::Addr(endpoint.ip));
            let label = endpoint.label();
            let target = self.child(&[&label, &svc.name, &svc.namespace, "svc"]);
            pairs.extend(ports.iter().map(|p| (p.port, target.clone(), endpoint.ip)));
        }
        rrs.extend(srv_records(pairs));
        rrs
    }

    /// `<svc>.<ns>.svc.<zone>.`
    pub(crate) fn service_name(&self, svc: &ServiceEntry) -> Name {
        self.child(&[&svc.name, &svc.namespace, "svc"])
    }
}

/// SRV records for `(port, target, target address)` triples: priority 0 and
/// an equal share of 100 as weight, computed before duplicates (the same
/// target and port reached over two addresses) are merged, as CoreDNS does.
fn srv_records(pairs: Vec<(u16, Name, IpAddr)>) -> Vec<Rr> {
    let Ok(count) = u16::try_from(pairs.len()) else {
        return share(pairs, 0);
    };
    if count == 0 {
        return Vec::new();
    }
    share(pairs, 100 / count)
}

fn share(pairs: Vec<(u16, Name, IpAddr)>, weight: u16) -> Vec<Rr> {
    pairs
        .into_iter()
        .map(|(port, target, target_ip)| Rr::Srv {
            weight,
            port,
            target,
            target_ip,
        })
        .collect()
}
