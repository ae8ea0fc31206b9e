//! The allocator's bookkeeping, driven by the Service watch; no I/O.
//!
//! [`Ipam::on_event`] turns each watch event into [`Action`]s (status writes and events) that
//! the controller carries out. After every (re)list the assignments are rebuilt from the
//! Services' own status, oldest Service first, so an address is never given twice, even across
//! restarts. Services that could not get an address wait, and are tried again (oldest first)
//! whenever an address is freed.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Service;
use kube::runtime::watcher;

use super::pool::{Allocator, Pool};
use super::want::{self, Want};

/// Something to write to the API.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Set `status.loadBalancer.ingress` to `[{ip, ipMode: VIP}]`, or clear it (`None`).
    SetStatus {
        /// The Service.
        svc: Box<Service>,
        /// The address, or none.
        ip: Option<Ipv4Addr>,
    },
    /// Record an Event about the Service.
    Event {
        /// The Service.
        svc: Box<Service>,
        /// A `Warning` (else `Normal`).
        warning: bool,
        /// The reason, e.g. `IPAllocated`.
        reason: &'static str,
        /// The message.
        message: String,
    },
}

/// Assignments, waiting Services and the relist buffer.
#[derive(Debug)]
pub struct Ipam {
    alloc: Allocator,
    /// Services waiting for an address: key → (what they asked, the Service).
    waiting: BTreeMap<String, (String, Service)>,
    relist: Option<Vec<Service>>,
}

fn key_of(svc: &Service) -> String {
    format!(
        "{}/{}",
        svc.metadata.namespace.as_deref().unwrap_or_default(),
        svc.metadata.name.as_deref().unwrap_or_default()
    )
}

/// What about a Service decides its address: spec and annotations.
fn mark(svc: &Service) -> String {
    serde_json::json!([svc.spec, svc.metadata.annotations]).to_string()
}

fn oldest_first(list: &mut [Service]) {
    list.sort_by(|a, b| {
        a.metadata
            .creation_timestamp
            .cmp(&b.metadata.creation_timestamp)
            .then_with(|| key_of(a).cmp(&key_of(b)))
    });
}

impl Ipam {
    /// Bookkeeping over `pool`, empty until the first list arrives.
    pub fn new(pool: Pool) -> Ipam {
        Ipam {
            alloc: Allocator::new(pool),
            waiting: BTreeMap::new(),
            relist: None,
        }
    }

    /// The address `namespace/name` holds.
    pub fn ip_of(&self, key: &str) -> Option<Ipv4Addr> {
        self.alloc.ip_of(key)
    }

    /// Handles one watch event.
    pub fn on_event(&mut self, event: watcher::Event<Service>) -> Vec<Action> {
        let mut actions = Vec::new();
        match event {
            watcher::Event::Init => self.relist = Some(Vec::new()),
            watcher::Event::InitApply(svc) => match self.relist.as_mut() {
                Some(list) => list.push(svc),
                None => self.applied(svc, &mut actions),
            },
            watcher::Event::InitDone => {
                let list = self.relist.take().unwrap_or_default();
                self.rebuild(list, &mut actions);
            }
            watcher::Event::Apply(svc) => self.applied(svc, &mut actions),
            watcher::Event::Delete(svc) => {
                let key = key_of(&svc);
                self.waiting.remove(&key);
                if self.alloc.release(&key).is_some() {
                    self.retry_waiting(&mut actions);
                }
            }
        }
        actions
    }

    fn applied(&mut self, svc: Service, actions: &mut Vec<Action>) {
        let key = key_of(&svc);
        let m = mark(&svc);
        if let Some((old, stored)) = self.waiting.get_mut(&key) {
            if *old == m {
                // Still waiting for the same thing (e.g. our own status write came back).
                *stored = svc;
                return;
            }
        }
        if self.converge(svc, actions) {
            self.retry_waiting(actions);
        }
    }

    /// Rebuilds every assignment from the Services' status, then converges each Service.
    fn rebuild(&mut self, mut list: Vec<Service>, actions: &mut Vec<Action>) {
        self.alloc.clear();
        self.waiting.clear();
        oldest_first(&mut list);
        for svc in &list {
            let Some(ip) = want::status_ip(svc) else {
                continue;
            };
            let keep = match want::want(svc) {
                Want::Any => true,
                Want::Ip(requested) => requested == ip,
                _ => false,
            };
            if keep {
                // The oldest holder keeps a doubly-claimed address; the others get new ones.
                let _ = self.alloc.assign(&key_of(svc), ip.into());
            }
        }
        let mut released = false;
        for svc in list {
            released |= self.converge(svc, actions);
        }
        if released {
            self.retry_waiting(actions);
        }
    }

    /// Tries the waiting Services again, oldest first, until nothing more is freed.
    fn retry_waiting(&mut self, actions: &mut Vec<Action>) {
        loop {
            let mut list: Vec<Service> = self.waiting.values().map(|(_, s)| s.clone()).collect();
            oldest_first(&mut list);
            let mut released = false;
            for svc in list {
                released |= self.converge(svc, actions);
            }
            if !released {
                return;
            }
        }
    }

    /// Brings one Service to what it wants; returns whether an address was freed.
    fn converge(&mut self, svc: Service, actions: &mut Vec<Action>) -> bool {
        let key = key_of(&svc);
        let pool_has =
            |pool: &Pool, ip: Option<Ipv4Addr>| ip.is_some_and(|ip| pool.contains(ip.into()));
        let outcome = match want::want(&svc) {
            Want::NotLoadBalancer => {
                self.waiting.remove(&key);
                let freed = self.alloc.release(&key);
                let ours = freed.is_some() || pool_has(self.alloc.pool(), want::status_ip(&svc));
                if ours && want::has_ingress(&svc) {
                    actions.push(Action::SetStatus {
                        svc: Box::new(svc),
                        ip: None,
                    });
                }
                return freed.is_some();
            }
            Want::OtherClass => {
                self.waiting.remove(&key);
                return self.alloc.release(&key).is_some();
            }
            Want::Invalid(why) => Err(why),
            Want::Ip(ip) => self.alloc.assign(&key, ip).map_err(|r| r.to_string()),
            Want::Any => {
                let current = self.alloc.ip_of(&key);
                let from_status = want::status_ip(&svc)
                    .filter(|_| current.is_none())
                    .and_then(|ip| self.alloc.assign(&key, ip.into()).ok());
                current
                    .or(from_status)
                    .or_else(|| self.alloc.allocate(&key))
                    .ok_or_else(|| "no available IPs".to_string())
            }
        };
        match outcome {
            Ok(ip) => {
                self.waiting.remove(&key);
                let had = want::status_ip(&svc);
                if !want::status_is(&svc, ip) {
                    actions.push(Action::SetStatus {
                        svc: Box::new(svc.clone()),
                        ip: Some(ip),
                    });
                }
                if had != Some(ip) {
                    actions.push(Action::Event {
                        svc: Box::new(svc),
                        warning: false,
                        reason: "IPAllocated",
                        message: format!("Assigned IP [\"{ip}\"]"),
                    });
                }
                false
            }
            Err(why) => {
                // A Service that cannot have what it asks for holds nothing, as in MetalLB.
                let freed = self.alloc.release(&key);
                if want::has_ingress(&svc) {
                    actions.push(Action::SetStatus {
                        svc: Box::new(svc.clone()),
                        ip: None,
                    });
                }
                actions.push(Action::Event {
                    svc: Box::new(svc.clone()),
                    warning: true,
                    reason: "AllocationFailed",
                    message: format!("Failed to allocate IP for \"{key}\": {why}"),
                });
                self.waiting.insert(key, (mark(&svc), svc));
                freed.is_some()
            }
        }
    }
}

#[cfg(test)]
mod tests;
