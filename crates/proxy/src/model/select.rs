//! Pure helpers for datapaths: which endpoints may take traffic ([`usable`]) and what changed
//! between two states ([`diff`]).

use super::{Endpoint, ProxyState, ServiceKey, ServicePort};

/// The endpoints that may take a new connection to `sp`, as kube-proxy's
/// `CategorizeEndpoints` picks them.
///
/// `for_external` selects the traffic policy: `false` for the cluster IP
/// (`internalTrafficPolicy`), `true` for node ports, external IPs and LoadBalancer IPs
/// (`externalTrafficPolicy`). Under a `Local` policy only endpoints on this node count, and
/// if there are none the traffic is dropped (the result is empty). Among the candidates the
/// ready ones are used; if none is ready, the ones that are still serving while terminating
/// take the traffic instead, so connections keep working during a rolling update.
pub fn usable(sp: &ServicePort, for_external: bool) -> Vec<&Endpoint> {
    let local_only = if for_external {
        sp.external_local
    } else {
        sp.internal_local
    };
    let candidates = sp.endpoints.iter().filter(|e| !local_only || e.local);
    let ready: Vec<&Endpoint> = candidates.clone().filter(|e| e.ready).collect();
    if !ready.is_empty() {
        return ready;
    }
    candidates.filter(|e| e.serving && e.terminating).collect()
}

/// What changed between two states, by key; each list is sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// Keys only in the new state.
    pub added: Vec<ServiceKey>,
    /// Keys only in the old state.
    pub removed: Vec<ServiceKey>,
    /// Keys in both whose [`ServicePort`] differs (addresses, policies or endpoints).
    pub changed: Vec<ServiceKey>,
}

impl Diff {
    /// True if the states are the same.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// Compares `old` and `new` key by key.
pub fn diff(old: &ProxyState, new: &ProxyState) -> Diff {
    let mut d = Diff::default();
    for (key, sp) in &new.services {
        match old.services.get(key) {
            None => d.added.push(key.clone()),
            Some(prev) if prev != sp => d.changed.push(key.clone()),
            Some(_) => {}
        }
    }
    d.removed = old
        .services
        .keys()
        .filter(|k| !new.services.contains_key(*k))
        .cloned()
        .collect();
    d
}
