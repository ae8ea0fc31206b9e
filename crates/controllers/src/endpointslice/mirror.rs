//! Mirroring hand-made Endpoints into EndpointSlices (pure planning), as the
//! EndpointSlice mirroring controller does for Services without a selector: one slice per
//! subset and address family, at most [`MAX_PER_SUBSET`] addresses each, labels and
//! annotations copied from the Endpoints, owned by the Endpoints object.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EndpointAddress, EndpointSubset, Endpoints};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::desired::{endpoint_equal, endpoint_key, ports_key, EndpointKey};
use super::reconcile::Plan;
use crate::endpoints::model::{keys, Family};

/// The mirroring controller's name in the managed-by label.
pub const CONTROLLER: &str = "endpointslicemirroring-controller.k8s.io";

/// At most this many addresses of one subset are mirrored.
pub const MAX_PER_SUBSET: usize = 1000;

/// Whether an Endpoints object is to be mirrored at all (no skip-mirror label, no
/// leader-election record).
pub fn should_mirror(ep: &Endpoints) -> bool {
    let skip = ep
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(keys::SKIP_MIRROR))
        .is_some_and(|v| v == "true");
    let leader = ep
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(keys::LEADER));
    !skip && !leader
}

/// What was left out while mirroring.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Addresses that are not IPs.
    pub invalid: usize,
    /// Addresses beyond [`MAX_PER_SUBSET`] (including invalid ones).
    pub total: usize,
}

type Key = (Family, String);

struct Group {
    ports: Vec<EndpointPort>,
    endpoints: BTreeMap<EndpointKey, Endpoint>,
}

fn to_endpoint(a: &EndpointAddress, ready: bool) -> Option<(Family, Endpoint)> {
    let ip: std::net::IpAddr = a.ip.parse().ok()?;
    let family = Family::of(&a.ip)?;
    Some((
        family,
        Endpoint {
            addresses: vec![ip.to_string()],
            conditions: Some(EndpointConditions {
                ready: Some(ready),
                ..Default::default()
            }),
            target_ref: a.target_ref.clone(),
            node_name: a.node_name.clone(),
            hostname: a.hostname.clone().filter(|h| !h.is_empty()),
            ..Default::default()
        },
    ))
}

fn subset_ports(s: &EndpointSubset) -> Vec<EndpointPort> {
    s.ports
        .iter()
        .flatten()
        .map(|p| EndpointPort {
            name: Some(p.name.clone().unwrap_or_default()),
            port: Some(p.port),
            protocol: Some(p.protocol.clone().unwrap_or_default()),
            app_protocol: p.app_protocol.clone(),
        })
        .collect()
}

/// The slice a mirrored group goes into (named `name`, or generated).
fn new_slice(
    ep: &Endpoints,
    ports: &[EndpointPort],
    family: Family,
    name: Option<String>,
) -> EndpointSlice {
    let ep_name = ep.metadata.name.clone().unwrap_or_default();
    let mut labels = ep.metadata.labels.clone().unwrap_or_default();
    labels.insert(keys::SERVICE_NAME.into(), ep_name.clone());
    labels.insert(keys::MANAGED_BY.into(), CONTROLLER.into());
    let annotations: BTreeMap<String, String> = ep
        .metadata
        .annotations
        .iter()
        .flatten()
        .filter(|(k, _)| {
            k.as_str() != keys::LAST_CHANGE_TRIGGER_TIME && k.as_str() != keys::LAST_APPLIED
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    EndpointSlice {
        metadata: ObjectMeta {
            generate_name: name.is_none().then(|| format!("{ep_name}-")),
            name,
            namespace: ep.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Endpoints".into(),
                name: ep_name,
                uid: ep.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..Default::default()
        },
        address_type: family.address_type().into(),
        endpoints: Vec::new(),
        ports: Some(ports.to_vec()),
    }
}

fn same_content(existing: &EndpointSlice, want: &EndpointSlice) -> bool {
    let eps = |s: &EndpointSlice| -> BTreeMap<EndpointKey, Endpoint> {
        s.endpoints
            .iter()
            .map(|e| (endpoint_key(e), e.clone()))
            .collect()
    };
    let (a, b) = (eps(existing), eps(want));
    a.len() == b.len()
        && a.iter()
            .all(|(k, e)| b.get(k).is_some_and(|w| endpoint_equal(e, w)))
        && existing.metadata.labels == want.metadata.labels
        && existing.metadata.annotations.clone().unwrap_or_default()
            == want.metadata.annotations.clone().unwrap_or_default()
        && existing.metadata.owner_references == want.metadata.owner_references
}

/// Plans the mirrored slices of `ep`, given the slices already mirrored for it.
pub fn plan(ep: &Endpoints, existing: &[EndpointSlice]) -> (Plan, Skipped) {
    let mut skipped = Skipped::default();
    let mut groups: BTreeMap<Key, Group> = BTreeMap::new();
    for subset in ep.subsets.iter().flatten() {
        let mut ports = subset_ports(subset);
        let pkey = ports_key(&mut ports);
        for family in [Family::V4, Family::V6] {
            groups
                .entry((family, pkey.clone()))
                .or_insert_with(|| Group {
                    ports: ports.clone(),
                    endpoints: BTreeMap::new(),
                });
        }
        let ready = subset.addresses.iter().flatten().map(|a| (a, true));
        let not_ready = subset
            .not_ready_addresses
            .iter()
            .flatten()
            .map(|a| (a, false));
        let mut added = 0;
        let mut total = 0;
        for (a, is_ready) in ready.chain(not_ready) {
            total += 1;
            if added >= MAX_PER_SUBSET {
                continue;
            }
            match to_endpoint(a, is_ready) {
                Some((family, e)) => {
                    if let Some(g) = groups.get_mut(&(family, pkey.clone())) {
                        g.endpoints.insert(endpoint_key(&e), e);
                    }
                    added += 1;
                }
                None => skipped.invalid += 1,
            }
        }
        skipped.total += total - added;
    }
    let mut existing_by: BTreeMap<Key, Vec<EndpointSlice>> = BTreeMap::new();
    for s in existing {
        let family = if s.address_type == "IPv6" {
            Family::V6
        } else {
            Family::V4
        };
        let mut ports = s.ports.clone().unwrap_or_default();
        existing_by
            .entry((family, ports_key(&mut ports)))
            .or_default()
            .push(s.clone());
    }
    let mut plan = Plan::default();
    for (key, group) in &groups {
        let current = existing_by.remove(key).unwrap_or_default();
        if group.endpoints.is_empty() {
            plan.delete.extend(current);
            continue;
        }
        let mut want = new_slice(
            ep,
            &group.ports,
            key.0,
            current.first().and_then(|s| s.metadata.name.clone()),
        );
        want.endpoints = group.endpoints.values().cloned().collect();
        want.endpoints.sort_by(|a, b| a.addresses.cmp(&b.addresses));
        let mut current = current.into_iter();
        match current.next() {
            None => plan.create.push(want),
            Some(first) => {
                if !same_content(&first, &want) {
                    want.metadata.resource_version = first.metadata.resource_version.clone();
                    plan.update.push(want);
                }
            }
        }
        plan.delete.extend(current);
    }
    for (_, slices) in existing_by {
        plan.delete.extend(slices);
    }
    recycle(&mut plan);
    (plan, skipped)
}

/// Turns creates into updates of slices of the same family that would be deleted.
fn recycle(plan: &mut Plan) {
    let mut creates = std::mem::take(&mut plan.create);
    let mut kept = Vec::new();
    for mut new in creates.drain(..) {
        match plan
            .delete
            .iter()
            .position(|d| d.address_type == new.address_type)
        {
            Some(i) => {
                let old = plan.delete.remove(i);
                new.metadata.name = old.metadata.name;
                new.metadata.generate_name = None;
                new.metadata.resource_version = old.metadata.resource_version;
                plan.update.push(new);
            }
            None => kept.push(new),
        }
    }
    plan.create = kept;
}

#[cfg(test)]
#[path = "mirror_tests.rs"]
mod tests;
