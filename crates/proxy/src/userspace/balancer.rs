//! Choosing an endpoint for a new connection or flow: round-robin over the usable endpoints,
//! with `sessionAffinity: ClientIP` pinning a client to one endpoint until it has been idle
//! for the timeout.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::metrics::ServiceCounters;
use crate::model::{usable, ServiceKey, ServicePort};

/// One service port as the userspace datapath serves it: its endpoints for cluster-IP
/// traffic and for external traffic, and the balancing state shared by all its listeners.
#[derive(Debug)]
pub(crate) struct Backends {
    /// Which service port this is.
    pub(crate) key: ServiceKey,
    /// Its counters.
    pub(crate) counters: Arc<ServiceCounters>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    internal: Vec<SocketAddr>,
    external: Vec<SocketAddr>,
    next_internal: usize,
    next_external: usize,
    affinity: Option<Duration>,
    sticky: HashMap<IpAddr, Sticky>,
}

#[derive(Debug, Clone, Copy)]
struct Sticky {
    endpoint: SocketAddr,
    last_used: Instant,
}

impl Backends {
    /// Backends for `sp`, counted in `counters`.
    pub(crate) fn new(key: ServiceKey, sp: &ServicePort, counters: Arc<ServiceCounters>) -> Self {
        let b = Backends {
            key,
            counters,
            state: Mutex::new(State::default()),
        };
        b.update(sp);
        b
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the endpoints and affinity of a new version of the service port. Affinity
    /// entries for endpoints that are no longer usable are forgotten.
    pub(crate) fn update(&self, sp: &ServicePort) {
        let internal: Vec<SocketAddr> = usable(sp, false).iter().map(|e| e.addr()).collect();
        let external: Vec<SocketAddr> = usable(sp, true).iter().map(|e| e.addr()).collect();
        let mut st = self.lock();
        st.sticky
            .retain(|_, s| internal.contains(&s.endpoint) || external.contains(&s.endpoint));
        if sp.affinity.is_none() {
            st.sticky.clear();
        }
        st.affinity = sp.affinity;
        st.internal = internal;
        st.external = external;
    }

    /// The usable endpoints for cluster-IP (`external == false`) or external traffic.
    pub(crate) fn endpoints(&self, external: bool) -> Vec<SocketAddr> {
        let st = self.lock();
        if external {
            st.external.clone()
        } else {
            st.internal.clone()
        }
    }

    /// Endpoints to try for a new connection from `client`, best first: the client's sticky
    /// endpoint if affinity holds one, else the next in round-robin order; then the others,
    /// so a failed dial can move on. Empty if there is no usable endpoint.
    pub(crate) fn pick(&self, client: IpAddr, external: bool) -> Vec<SocketAddr> {
        let now = Instant::now();
        let mut st = self.lock();
        let st = &mut *st;
        let (list, next) = if external {
            (&st.external, &mut st.next_external)
        } else {
            (&st.internal, &mut st.next_internal)
        };
        if list.is_empty() {
            return Vec::new();
        }
        if let Some(timeout) = st.affinity {
            if let Some(s) = st.sticky.get_mut(&client) {
                if now.duration_since(s.last_used) <= timeout && list.contains(&s.endpoint) {
                    s.last_used = now;
                    let first = s.endpoint;
                    let mut out = vec![first];
                    out.extend(list.iter().copied().filter(|e| *e != first));
                    return out;
                }
            }
        }
        let start = *next % list.len();
        *next = start.wrapping_add(1);
        let out: Vec<SocketAddr> = list[start..]
            .iter()
            .chain(&list[..start])
            .copied()
            .collect();
        if st.affinity.is_some() {
            st.sticky.insert(
                client,
                Sticky {
                    endpoint: out[0],
                    last_used: now,
                },
            );
        }
        out
    }

    /// Records that `client` ended up on `endpoint` (after a failed first choice), so
    /// affinity keeps it there; and refreshes the affinity timer.
    pub(crate) fn confirm(&self, client: IpAddr, endpoint: SocketAddr) {
        let mut st = self.lock();
        if st.affinity.is_some() {
            st.sticky.insert(
                client,
                Sticky {
                    endpoint,
                    last_used: Instant::now(),
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Endpoint, Protocol};

    fn sp(n: u8, affinity: Option<Duration>) -> ServicePort {
        ServicePort {
            cluster_ips: vec![],
            port: 80,
            node_port: None,
            external_ips: vec![],
            load_balancer_ips: vec![],
            affinity,
            external_local: true,
            internal_local: false,
            health_check_node_port: None,
            endpoints: (1..=n)
                .map(|i| Endpoint {
                    ip: IpAddr::from([10, 0, 0, i]),
                    port: 8080,
                    ready: true,
                    serving: true,
                    terminating: false,
                    local: i == 1,
                })
                .collect(),
        }
    }

    fn backends(sp: &ServicePort) -> Backends {
        let key = ServiceKey {
            namespace: "default".into(),
            name: "s".into(),
            port_name: String::new(),
            protocol: Protocol::Tcp,
        };
        Backends::new(key, sp, Arc::default())
    }

    fn last(a: SocketAddr) -> u8 {
        match a.ip() {
            IpAddr::V4(v4) => v4.octets()[3],
            IpAddr::V6(_) => 0,
        }
    }

    #[test]
    fn round_robin_spreads_evenly_and_lists_fallbacks() {
        let b = backends(&sp(3, None));
        let client = IpAddr::from([10, 244, 0, 9]);
        let firsts: Vec<u8> = (0..6).map(|_| last(b.pick(client, false)[0])).collect();
        assert_eq!(firsts, [1, 2, 3, 1, 2, 3]);
        let all: Vec<u8> = b.pick(client, false).into_iter().map(last).collect();
        assert_eq!(all, [1, 2, 3]);
        // External traffic with externalTrafficPolicy: Local only sees the local endpoint.
        let ext: Vec<u8> = b.pick(client, true).into_iter().map(last).collect();
        assert_eq!(ext, [1]);
    }

    #[test]
    fn affinity_pins_a_client_until_its_endpoint_goes() {
        let b = backends(&sp(3, Some(Duration::from_secs(60))));
        let a = IpAddr::from([10, 244, 0, 9]);
        let c = IpAddr::from([10, 244, 0, 10]);
        let first = b.pick(a, false)[0];
        for _ in 0..5 {
            assert_eq!(b.pick(a, false)[0], first);
        }
        assert_ne!(b.pick(c, false)[0], first, "another client moves on");
        // The pinned endpoint disappears: the client gets a new one and sticks to it.
        let mut smaller = sp(3, Some(Duration::from_secs(60)));
        smaller.endpoints.retain(|e| e.addr() != first);
        b.update(&smaller);
        let second = b.pick(a, false)[0];
        assert_ne!(second, first);
        assert_eq!(b.pick(a, false)[0], second);
    }

    #[test]
    fn affinity_expires_after_the_timeout() {
        let b = backends(&sp(2, Some(Duration::ZERO)));
        let a = IpAddr::from([10, 244, 0, 9]);
        let first = b.pick(a, false)[0];
        std::thread::sleep(Duration::from_millis(5));
        assert_ne!(b.pick(a, false)[0], first);
    }

    #[test]
    fn no_endpoints_no_pick() {
        let b = backends(&sp(0, None));
        assert!(b.pick(IpAddr::from([1, 2, 3, 4]), false).is_empty());
    }
}
