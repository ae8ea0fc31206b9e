//! The desired `subsets` of a Service's Endpoints object (pure).
//!
//! Every (pod, port) pair gives one address for one port; the result is repacked into the
//! canonical layout Kubernetes uses (addresses sharing the same set of ports grouped in one
//! subset; an address not ready for one port is not ready for all), sorted as Kubernetes
//! sorts it, and cut to [`MAX_ADDRESSES`] with ready addresses kept first.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort, EndpointSubset, Pod, Service};

use super::model::{self, Family};
use super::order;

/// At most this many addresses go into one Endpoints object.
pub const MAX_ADDRESSES: usize = 1000;

/// One address offering one port (None: a headless Service without ports).
struct Entry {
    address: EndpointAddress,
    port: Option<EndpointPort>,
    ready: bool,
}

/// The subsets the Endpoints of `svc` should have for `pods` (the pods its selector matches).
pub fn desired(svc: &Service, pods: &[&Pod]) -> Vec<EndpointSubset> {
    let publish = model::publish_not_ready(svc);
    let family = model::families(svc).first().copied().unwrap_or(Family::V4);
    let ports = model::service_ports(svc);
    let mut entries = Vec::new();
    for pod in pods {
        if !model::pod_in_endpoints(pod, publish) {
            continue;
        }
        let Some(address) = model::pod_address(pod, svc, family) else {
            continue;
        };
        let ready = publish || model::pod_ready(pod);
        if ports.is_empty() {
            if model::is_headless(svc) {
                entries.push(Entry {
                    address,
                    port: None,
                    ready,
                });
            }
            continue;
        }
        for port in ports {
            if let Some(n) = model::find_port(pod, port) {
                entries.push(Entry {
                    address: address.clone(),
                    port: Some(model::endpoint_port(port, n)),
                    ready,
                });
            }
        }
    }
    repack(entries)
}

fn port_key(p: &Option<EndpointPort>) -> (String, i32, String, Option<String>) {
    match p {
        Some(p) => (
            p.name.clone().unwrap_or_default(),
            p.port,
            p.protocol.clone().unwrap_or_default(),
            p.app_protocol.clone(),
        ),
        None => (String::new(), -1, String::new(), None),
    }
}

/// An address's identity: (IP, target UID).
type AddressKey = (String, String);

/// Addresses offering one port, with their readiness.
type PortAddresses = (Option<EndpointPort>, BTreeMap<AddressKey, bool>);

fn address_key(a: &EndpointAddress) -> AddressKey {
    let uid = a
        .target_ref
        .as_ref()
        .and_then(|r| r.uid.clone())
        .unwrap_or_default();
    (a.ip.clone(), uid)
}

/// Groups (address, port, ready) entries into canonical, sorted subsets.
fn repack(entries: Vec<Entry>) -> Vec<EndpointSubset> {
    // address key → the address (first seen wins).
    let mut addresses: HashMap<AddressKey, EndpointAddress> = HashMap::new();
    // port key → (port, address key → ready); not ready wins over ready.
    let mut by_port: BTreeMap<_, PortAddresses> = BTreeMap::new();
    for e in entries {
        let akey = address_key(&e.address);
        addresses.entry(akey.clone()).or_insert(e.address);
        let slot = by_port
            .entry(port_key(&e.port))
            .or_insert_with(|| (e.port.clone(), BTreeMap::new()));
        let ready = slot.1.entry(akey).or_insert(e.ready);
        *ready = *ready && e.ready;
    }
    // the set of (address, ready) → the ports offered by exactly that set.
    let mut by_set: BTreeMap<Vec<(AddressKey, bool)>, Vec<Option<EndpointPort>>> = BTreeMap::new();
    for (_, (port, set)) in by_port {
        by_set
            .entry(set.into_iter().collect())
            .or_default()
            .push(port);
    }
    let mut subsets: Vec<EndpointSubset> = by_set
        .into_iter()
        .map(|(set, ports)| {
            let (mut ready, mut not_ready) = (Vec::new(), Vec::new());
            for (akey, is_ready) in set {
                if let Some(a) = addresses.get(&akey) {
                    if is_ready {
                        ready.push(a.clone());
                    } else {
                        not_ready.push(a.clone());
                    }
                }
            }
            let ports: Vec<EndpointPort> = ports.into_iter().flatten().collect();
            EndpointSubset {
                addresses: (!ready.is_empty()).then_some(ready),
                not_ready_addresses: (!not_ready.is_empty()).then_some(not_ready),
                ports: (!ports.is_empty()).then_some(ports),
            }
        })
        .collect();
    order::sort_subsets(&mut subsets);
    subsets
}

/// Number of addresses (ready and not) in `subsets`.
pub fn count(subsets: &[EndpointSubset]) -> usize {
    subsets
        .iter()
        .map(|s| {
            s.addresses.as_ref().map_or(0, Vec::len)
                + s.not_ready_addresses.as_ref().map_or(0, Vec::len)
        })
        .sum()
}

/// Cuts `subsets` to [`MAX_ADDRESSES`] as Kubernetes does (each subset keeps its share,
/// rounded up; ready addresses go first). Returns whether anything was cut.
pub fn truncate(subsets: &mut [EndpointSubset]) -> bool {
    let ready: usize = subsets
        .iter()
        .map(|s| s.addresses.as_ref().map_or(0, Vec::len))
        .sum();
    let not_ready: usize = subsets
        .iter()
        .map(|s| s.not_ready_addresses.as_ref().map_or(0, Vec::len))
        .sum();
    if ready + not_ready <= MAX_ADDRESSES {
        return false;
    }
    let cut_ready = ready > MAX_ADDRESSES;
    let (max, total) = if cut_ready {
        (MAX_ADDRESSES, ready)
    } else {
        (MAX_ADDRESSES - ready, not_ready)
    };
    let mut room = max;
    for s in subsets.iter_mut() {
        let list = if cut_ready {
            &mut s.addresses
        } else {
            &mut s.not_ready_addresses
        };
        let n = list.as_ref().map_or(0, Vec::len);
        let share = (n * max).div_ceil(total.max(1)).min(room);
        if let Some(l) = list.as_mut() {
            l.truncate(share);
        }
        room -= list.as_ref().map_or(0, Vec::len);
        if cut_ready {
            s.not_ready_addresses = None;
        }
    }
    true
}

/// Whether two subset lists are equal, ignoring the resourceVersion of target references.
pub fn equal_ignoring_versions(a: &[EndpointSubset], b: &[EndpointSubset]) -> bool {
    fn norm(s: &[EndpointSubset]) -> Vec<EndpointSubset> {
        let strip = |v: &Option<Vec<EndpointAddress>>| {
            v.as_ref().filter(|v| !v.is_empty()).map(|v| {
                v.iter()
                    .map(|a| {
                        let mut a = a.clone();
                        if let Some(r) = a.target_ref.as_mut() {
                            r.resource_version = None;
                        }
                        a
                    })
                    .collect()
            })
        };
        s.iter()
            .map(|s| EndpointSubset {
                addresses: strip(&s.addresses),
                not_ready_addresses: strip(&s.not_ready_addresses),
                ports: s.ports.clone().filter(|p| !p.is_empty()),
            })
            .collect()
    }
    norm(a) == norm(b)
}

#[cfg(test)]
#[path = "subsets_tests.rs"]
mod tests;
