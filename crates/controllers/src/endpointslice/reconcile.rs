//! Planning EndpointSlice changes for a Service (pure), following the EndpointSlice
//! controller's reconciler: existing slices keep the endpoints still desired (updated in
//! place), empty ones are deleted, slices being updated are filled first, the rest goes into
//! the unchanged slice closest to full or into new slices of at most [`MAX_PER_SLICE`]
//! endpoints; a Service without endpoints keeps one empty placeholder slice; creates are
//! turned into updates of slices that would otherwise be deleted.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::desired::{endpoint_equal, endpoint_key, ports_key, Desired, EndpointKey};
use crate::endpoints::model::{self, keys, Family};

/// The EndpointSlice controller's name in the managed-by label.
pub const CONTROLLER: &str = "endpointslice-controller.k8s.io";

/// At most this many endpoints in one slice.
pub const MAX_PER_SLICE: usize = 100;

/// Slices to create, update and delete.
#[derive(Debug, Default)]
pub struct Plan {
    /// New slices (with `generateName`).
    pub create: Vec<EndpointSlice>,
    /// Changed slices (with their resourceVersion).
    pub update: Vec<EndpointSlice>,
    /// Slices to delete.
    pub delete: Vec<EndpointSlice>,
}

impl Plan {
    /// Whether nothing needs doing.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

/// The labels of the Service's slices: its own (less the reserved ones), the headless mark,
/// the Service name and the manager.
pub fn slice_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = svc
        .metadata
        .labels
        .iter()
        .flatten()
        .filter(|(k, _)| {
            ![keys::SERVICE_NAME, keys::MANAGED_BY, keys::HEADLESS].contains(&k.as_str())
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !model::is_service_ip_set(svc) {
        labels.insert(keys::HEADLESS.into(), String::new());
    }
    labels.insert(
        keys::SERVICE_NAME.into(),
        svc.metadata.name.clone().unwrap_or_default(),
    );
    labels.insert(keys::MANAGED_BY.into(), CONTROLLER.into());
    labels
}

/// Whether the slice's owner is this Service (by UID).
pub fn owned_by(slice: &EndpointSlice, svc: &Service) -> bool {
    slice.metadata.owner_references.iter().flatten().any(|o| {
        Some(&o.uid) == svc.metadata.uid.as_ref() && o.kind == "Service" && o.api_version == "v1"
    })
}

/// A new, empty slice of the Service.
pub fn new_slice(svc: &Service, ports: &[EndpointPort], family: Family) -> EndpointSlice {
    let name = svc.metadata.name.clone().unwrap_or_default();
    EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            namespace: svc.metadata.namespace.clone(),
            labels: Some(slice_labels(svc)),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Service".into(),
                name,
                uid: svc.metadata.uid.clone().unwrap_or_default(),
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

fn slice_ports_key(slice: &EndpointSlice) -> String {
    let mut ports = slice.ports.clone().unwrap_or_default();
    ports_key(&mut ports)
}

/// Plans the changes for one address family of `svc`. `existing` are the slices of that
/// family labelled as this controller's for the Service.
pub fn plan(svc: &Service, family: Family, desired: Desired, existing: &[EndpointSlice]) -> Plan {
    let mut plan = Plan::default();
    let labels = slice_labels(svc);
    let mut by_ports: BTreeMap<String, Vec<EndpointSlice>> = BTreeMap::new();
    for s in existing {
        if owned_by(s, svc) {
            by_ports
                .entry(slice_ports_key(s))
                .or_default()
                .push(s.clone());
        } else {
            plan.delete.push(s.clone());
        }
    }
    for (key, group) in &desired.groups {
        let current = by_ports.get(key).map(Vec::as_slice).unwrap_or(&[]);
        let (c, u, d) = by_port_mapping(
            svc,
            family,
            &labels,
            current,
            group.endpoints.clone(),
            &group.ports,
        );
        plan.create.extend(c);
        plan.update.extend(u);
        plan.delete.extend(d);
    }
    for (key, slices) in by_ports {
        if !desired.groups.contains_key(&key) {
            plan.delete.extend(slices);
        }
    }
    if existing.len() == plan.delete.len() && plan.create.is_empty() {
        let placeholder = new_slice(svc, &[], family);
        let reuse = plan.delete.len() == 1 && is_placeholder_like(&plan.delete[0], &placeholder);
        if reuse {
            plan.delete.clear();
        } else {
            plan.create.push(placeholder);
        }
    }
    recycle(svc, &mut plan);
    for s in plan.create.iter_mut().chain(plan.update.iter_mut()) {
        s.endpoints.sort_by(|a, b| a.addresses.cmp(&b.addresses));
    }
    plan
}

fn is_placeholder_like(slice: &EndpointSlice, placeholder: &EndpointSlice) -> bool {
    slice.endpoints.is_empty()
        && slice.ports.as_ref().is_none_or(Vec::is_empty)
        && slice.address_type == placeholder.address_type
        && slice.metadata.namespace == placeholder.metadata.namespace
        && slice.metadata.labels.clone().unwrap_or_default()
            == placeholder.metadata.labels.clone().unwrap_or_default()
}

type Changes = (Vec<EndpointSlice>, Vec<EndpointSlice>, Vec<EndpointSlice>);

fn pop_first(set: &mut BTreeMap<EndpointKey, Endpoint>) -> Option<Endpoint> {
    set.pop_first().map(|(_, e)| e)
}

fn by_port_mapping(
    svc: &Service,
    family: Family,
    labels: &BTreeMap<String, String>,
    existing: &[EndpointSlice],
    mut desired: BTreeMap<EndpointKey, Endpoint>,
    ports: &[EndpointPort],
) -> Changes {
    let mut slices: BTreeMap<String, EndpointSlice> = BTreeMap::new();
    let (mut unchanged, mut to_update, mut to_delete) =
        (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for s in existing {
        let name = s.metadata.name.clone().unwrap_or_default();
        let mut kept = Vec::new();
        let mut changed = false;
        for ep in &s.endpoints {
            if let Some(want) = desired.remove(&endpoint_key(ep)) {
                changed |= !endpoint_equal(&want, ep);
                kept.push(want);
            }
        }
        let labels_changed = s.metadata.labels.as_ref() != Some(labels);
        if changed || kept.len() != s.endpoints.len() {
            if kept.is_empty() {
                to_delete.insert(name.clone());
                slices.insert(name, s.clone());
            } else {
                let mut s = s.clone();
                s.endpoints = kept;
                s.metadata.labels = Some(labels.clone());
                to_update.insert(name.clone());
                slices.insert(name, s);
            }
        } else if labels_changed {
            let mut s = s.clone();
            s.metadata.labels = Some(labels.clone());
            to_update.insert(name.clone());
            slices.insert(name, s);
        } else {
            unchanged.insert(name.clone());
            slices.insert(name, s.clone());
        }
    }
    // Fill the slices being updated anyway, fullest first.
    if !desired.is_empty() && !to_update.is_empty() {
        let mut names: Vec<String> = to_update.iter().cloned().collect();
        names.sort_by_key(|n| std::cmp::Reverse(slices.get(n).map_or(0, |s| s.endpoints.len())));
        for n in names {
            if let Some(s) = slices.get_mut(&n) {
                while s.endpoints.len() < MAX_PER_SLICE {
                    let Some(ep) = pop_first(&mut desired) else {
                        break;
                    };
                    s.endpoints.push(ep);
                }
            }
        }
    }
    let mut create = Vec::new();
    while !desired.is_empty() {
        let mut target: Option<String> = None;
        if desired.len() < MAX_PER_SLICE {
            // The unchanged slice that would be closest to full.
            target = unchanged
                .iter()
                .filter_map(|n| {
                    let len = slices.get(n)?.endpoints.len();
                    (len + desired.len() <= MAX_PER_SLICE)
                        .then_some((MAX_PER_SLICE - len - desired.len(), n.clone()))
                })
                .min()
                .map(|(_, n)| n);
        }
        let mut s = match &target {
            Some(n) => slices
                .get(n)
                .cloned()
                .unwrap_or_else(|| new_slice(svc, ports, family)),
            None => new_slice(svc, ports, family),
        };
        while s.endpoints.len() < MAX_PER_SLICE {
            let Some(ep) = pop_first(&mut desired) else {
                break;
            };
            s.endpoints.push(ep);
        }
        match target {
            Some(n) => {
                unchanged.remove(&n);
                to_update.insert(n.clone());
                slices.insert(n, s);
            }
            None => create.push(s),
        }
    }
    let pick = |names: &BTreeSet<String>| {
        names
            .iter()
            .filter_map(|n| slices.get(n).cloned())
            .collect()
    };
    (create, pick(&to_update), pick(&to_delete))
}

/// Turns creates into updates of slices that would be deleted (same family, same owner).
fn recycle(svc: &Service, plan: &mut Plan) {
    let mut i = 0;
    while i < plan.delete.len() && !plan.create.is_empty() {
        let old = &plan.delete[i];
        let fits = plan
            .create
            .last()
            .is_some_and(|new| new.address_type == old.address_type && owned_by(old, svc));
        if !fits {
            i += 1;
            continue;
        }
        let old = plan.delete.remove(i);
        if let Some(mut new) = plan.create.pop() {
            new.metadata.name = old.metadata.name;
            new.metadata.generate_name = old.metadata.generate_name;
            new.metadata.resource_version = old.metadata.resource_version;
            new.metadata.uid = old.metadata.uid;
            new.metadata.creation_timestamp = old.metadata.creation_timestamp;
            plan.update.push(new);
        }
    }
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;
