//! What the watches have seen: for one kind of object (EndpointSlices or Endpoints), the
//! addresses each benchmark Service currently lists and whether each is ready, when each
//! Service first listed all of its pods, and the latency probes waiting for a given pod to
//! show up as ready or not ready.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Instant;

use tokio::sync::oneshot;

use crate::objects::pod_ip;

/// One listed address: the pod IP and whether it is ready.
pub type Address = (Ipv4Addr, bool);

/// A probe: fires once `ip` of a Service is listed with readiness `ready`.
#[derive(Debug)]
struct Probe {
    ip: Ipv4Addr,
    ready: bool,
    fire: oneshot::Sender<Instant>,
}

/// The addresses of every benchmark Service, as one kind of object lists them.
#[derive(Debug)]
pub struct Book {
    /// Pods per Service.
    p: usize,
    /// Per Service: the listing object's name (a slice, or the Endpoints) → its addresses.
    sources: Vec<HashMap<String, Vec<Address>>>,
    /// Per Service: whether it currently lists exactly its `p` pods, all ready.
    complete: Vec<bool>,
    /// How many Services are complete now.
    complete_now: usize,
    /// Per Service: when it was first complete.
    first_complete: Vec<Option<Instant>>,
    /// Probes waiting, per Service.
    probes: HashMap<usize, Vec<Probe>>,
    /// Watch events applied (objects written by the controllers, as seen by the watch).
    pub events: usize,
    /// Addresses seen that belong to no pod of the Service (should stay zero).
    pub strangers: usize,
}

impl Book {
    /// An empty book for `n` Services of `p` pods.
    pub fn new(n: usize, p: usize) -> Book {
        Book {
            p,
            sources: vec![HashMap::new(); n],
            complete: vec![false; n],
            complete_now: 0,
            first_complete: vec![None; n],
            probes: HashMap::new(),
            events: 0,
            strangers: 0,
        }
    }

    /// Records that `source` of Service `svc` now lists `addresses` (seen at `now`).
    pub fn apply(&mut self, svc: usize, source: &str, addresses: Vec<Address>, now: Instant) {
        if svc >= self.sources.len() {
            return;
        }
        self.events += 1;
        let (lo, hi) = (pod_ip(svc, 0, self.p), pod_ip(svc, self.p, self.p));
        self.strangers += addresses
            .iter()
            .filter(|(ip, _)| *ip < lo || *ip >= hi)
            .count();
        self.sources[svc].insert(source.to_string(), addresses);
        self.settle(svc, now);
    }

    /// Records that `source` of Service `svc` was deleted.
    pub fn remove(&mut self, svc: usize, source: &str, now: Instant) {
        if svc >= self.sources.len() {
            return;
        }
        self.events += 1;
        self.sources[svc].remove(source);
        self.settle(svc, now);
    }

    /// Arms a probe that fires (with the time of the event) once Service `svc` lists `ip`
    /// with readiness `ready`.
    pub fn probe(&mut self, svc: usize, ip: Ipv4Addr, ready: bool) -> oneshot::Receiver<Instant> {
        let (fire, rx) = oneshot::channel();
        self.probes
            .entry(svc)
            .or_default()
            .push(Probe { ip, ready, fire });
        rx
    }

    /// Drops the probes of Service `svc` for `ip` (after a timeout).
    pub fn disarm(&mut self, svc: usize, ip: Ipv4Addr) {
        if let Some(list) = self.probes.get_mut(&svc) {
            list.retain(|p| p.ip != ip);
        }
    }

    /// Whether Service `svc` lists `ip`, and as ready or not; `None` when it is absent.
    pub fn state(&self, svc: usize, ip: Ipv4Addr) -> Option<bool> {
        let sources = self.sources.get(svc)?;
        let mut found = None;
        for addrs in sources.values() {
            for (a, ready) in addrs {
                if *a == ip {
                    found = Some(found.unwrap_or(false) || *ready);
                }
            }
        }
        found
    }

    /// Services currently listing all their pods as ready.
    pub fn complete_now(&self) -> usize {
        self.complete_now
    }

    /// Services tracked.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// When Service `svc` first listed all its pods as ready.
    pub fn first_complete(&self, svc: usize) -> Option<Instant> {
        self.first_complete.get(svc).copied().flatten()
    }

    /// A one-line account of Service `svc`: its objects, ready and not-ready addresses.
    pub fn describe(&self, svc: usize) -> String {
        let Some(sources) = self.sources.get(svc) else {
            return "untracked".into();
        };
        if sources.is_empty() {
            return "no object".into();
        }
        let mut names: Vec<_> = sources.keys().collect();
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let addrs = &sources[name];
                let ready: Vec<String> = addrs
                    .iter()
                    .filter(|a| a.1)
                    .map(|a| a.0.to_string())
                    .collect();
                let not: Vec<String> = addrs
                    .iter()
                    .filter(|a| !a.1)
                    .map(|a| a.0.to_string())
                    .collect();
                format!(
                    "{name}: ready [{}] not ready [{}]",
                    ready.join(" "),
                    not.join(" ")
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Re-evaluates Service `svc` after a change: completeness and probes.
    fn settle(&mut self, svc: usize, now: Instant) {
        let complete = self.lists_all_ready(svc);
        if complete != self.complete[svc] {
            self.complete[svc] = complete;
            if complete {
                self.complete_now += 1;
                self.first_complete[svc].get_or_insert(now);
            } else {
                self.complete_now -= 1;
            }
        }
        if let Some(mut list) = self.probes.remove(&svc) {
            let mut waiting = Vec::new();
            for probe in list.drain(..) {
                if self.state(svc, probe.ip) == Some(probe.ready) {
                    let _ = probe.fire.send(now);
                } else {
                    waiting.push(probe);
                }
            }
            if !waiting.is_empty() {
                self.probes.insert(svc, waiting);
            }
        }
    }

    /// Whether Service `svc` lists each of its `p` pod IPs exactly once, all ready.
    fn lists_all_ready(&self, svc: usize) -> bool {
        let mut seen = vec![false; self.p];
        let base = u32::from(pod_ip(svc, 0, self.p));
        let mut count = 0;
        for addrs in self.sources[svc].values() {
            for (ip, ready) in addrs {
                let Some(j) = u32::from(*ip).checked_sub(base).map(|d| d as usize) else {
                    return false;
                };
                if !ready || j >= self.p || seen[j] {
                    return false;
                }
                seen[j] = true;
                count += 1;
            }
        }
        count == self.p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn all(svc: usize, p: usize, ready: bool) -> Vec<Address> {
        (0..p).map(|j| (pod_ip(svc, j, p), ready)).collect()
    }

    #[test]
    fn a_service_completes_when_every_pod_is_listed_ready() {
        let t0 = Instant::now();
        let mut book = Book::new(3, 2);
        book.apply(1, "svc-00001-abc", vec![(pod_ip(1, 0, 2), true)], t0);
        assert_eq!(book.complete_now(), 0);
        book.apply(
            1,
            "svc-00001-abc",
            vec![(pod_ip(1, 0, 2), true), (pod_ip(1, 1, 2), false)],
            t0,
        );
        assert_eq!(book.complete_now(), 0);
        let t1 = t0 + Duration::from_millis(5);
        book.apply(1, "svc-00001-abc", all(1, 2, true), t1);
        assert_eq!(book.complete_now(), 1);
        assert_eq!(book.first_complete(1), Some(t1));
        assert_eq!(book.first_complete(0), None);
        // Going not ready and back keeps the first completion time.
        book.apply(1, "svc-00001-abc", all(1, 2, false), t1);
        assert_eq!(book.complete_now(), 0);
        book.apply(
            1,
            "svc-00001-abc",
            all(1, 2, true),
            t1 + Duration::from_secs(1),
        );
        assert_eq!((book.complete_now(), book.first_complete(1)), (1, Some(t1)));
        assert_eq!(book.events, 5);
    }

    #[test]
    fn addresses_split_over_slices_add_up_and_duplicates_do_not() {
        let t = Instant::now();
        let mut book = Book::new(1, 2);
        book.apply(0, "a", vec![(pod_ip(0, 0, 2), true)], t);
        book.apply(0, "b", vec![(pod_ip(0, 1, 2), true)], t);
        assert_eq!(book.complete_now(), 1);
        book.apply(0, "c", vec![(pod_ip(0, 1, 2), true)], t);
        assert_eq!(
            book.complete_now(),
            0,
            "a pod listed twice is not converged"
        );
        book.remove(0, "c", t);
        assert_eq!(book.complete_now(), 1);
        book.remove(0, "a", t);
        assert_eq!(book.complete_now(), 0);
    }

    #[test]
    fn addresses_of_other_services_are_counted_as_strangers() {
        let mut book = Book::new(2, 2);
        book.apply(
            0,
            "x",
            vec![(pod_ip(1, 0, 2), true), (pod_ip(0, 0, 2), true)],
            Instant::now(),
        );
        assert_eq!(book.strangers, 1);
        assert_eq!(book.complete_now(), 0);
    }

    #[test]
    fn probes_fire_on_the_event_that_shows_the_wanted_state() {
        let t0 = Instant::now();
        let mut book = Book::new(1, 2);
        book.apply(0, "s", all(0, 2, true), t0);
        let ip = pod_ip(0, 1, 2);
        assert_eq!(book.state(0, ip), Some(true));
        let mut rx = book.probe(0, ip, false);
        book.apply(0, "s", all(0, 2, true), t0 + Duration::from_millis(1));
        assert!(
            rx.try_recv().is_err(),
            "an unrelated update does not fire the probe"
        );
        let t2 = t0 + Duration::from_millis(2);
        book.apply(0, "s", vec![(pod_ip(0, 0, 2), true), (ip, false)], t2);
        assert_eq!(rx.try_recv().unwrap(), t2);
        assert_eq!(book.state(0, ip), Some(false));
        assert!(book.describe(0).contains("not ready [10.128.0.1]"));
    }

    #[test]
    fn disarmed_probes_never_fire() {
        let t = Instant::now();
        let mut book = Book::new(1, 1);
        let ip = pod_ip(0, 0, 1);
        let mut rx = book.probe(0, ip, true);
        book.disarm(0, ip);
        book.apply(0, "s", all(0, 1, true), t);
        assert!(rx.try_recv().is_err());
        assert_eq!(book.state(0, pod_ip(0, 0, 1)), Some(true));
        assert_eq!(book.describe(5), "untracked");
    }
}
