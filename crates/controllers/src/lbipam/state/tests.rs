//! Tests of the allocator's bookkeeping, driven by watch events.

use super::*;
use serde_json::json;

fn svc(name: &str, created: &str, spec: serde_json::Value, status_ip: Option<&str>) -> Service {
    let mut v = json!({
        "metadata": {"name": name, "namespace": "default", "creationTimestamp": created},
        "spec": spec,
    });
    if let Some(ip) = status_ip {
        v["status"] = json!({"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}});
    }
    serde_json::from_value(v).unwrap()
}

fn lb(name: &str, created: &str) -> Service {
    svc(name, created, json!({"type": "LoadBalancer"}), None)
}

fn listed(pool: &str, services: Vec<Service>) -> (Ipam, Vec<Action>) {
    let mut ipam = Ipam::new(Pool::parse(pool).unwrap());
    ipam.on_event(watcher::Event::Init);
    for s in services {
        ipam.on_event(watcher::Event::InitApply(s));
    }
    let actions = ipam.on_event(watcher::Event::InitDone);
    (ipam, actions)
}

fn statuses(actions: &[Action]) -> Vec<(String, Option<String>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SetStatus { svc, ip } => Some((
                svc.metadata.name.clone().unwrap(),
                ip.map(|i| i.to_string()),
            )),
            _ => None,
        })
        .collect()
}

fn events(actions: &[Action]) -> Vec<(&'static str, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Event {
                reason, message, ..
            } => Some((*reason, message.clone())),
            _ => None,
        })
        .collect()
}

const T1: &str = "2024-01-01T00:00:01Z";
const T2: &str = "2024-01-01T00:00:02Z";
const T3: &str = "2024-01-01T00:00:03Z";

#[test]
fn allocates_lowest_free_and_reports() {
    let (mut ipam, actions) = listed("127.240.0.0/24", vec![]);
    assert!(actions.is_empty());
    let actions = ipam.on_event(watcher::Event::Apply(lb("a", T1)));
    assert_eq!(
        statuses(&actions),
        [("a".into(), Some("127.240.0.1".into()))]
    );
    assert_eq!(
        events(&actions),
        [("IPAllocated", "Assigned IP [\"127.240.0.1\"]".to_string())]
    );
    // Our status write comes back: nothing more to do.
    let back = svc(
        "a",
        T1,
        json!({"type": "LoadBalancer"}),
        Some("127.240.0.1"),
    );
    assert!(ipam.on_event(watcher::Event::Apply(back)).is_empty());
    let actions = ipam.on_event(watcher::Event::Apply(lb("b", T2)));
    assert_eq!(
        statuses(&actions),
        [("b".into(), Some("127.240.0.2".into()))]
    );
}

#[test]
fn exhaustion_waits_and_freed_address_is_reused() {
    let (mut ipam, _) = listed("127.240.0.5-127.240.0.6", vec![]);
    ipam.on_event(watcher::Event::Apply(lb("a", T1)));
    ipam.on_event(watcher::Event::Apply(lb("b", T2)));
    let actions = ipam.on_event(watcher::Event::Apply(lb("c", T3)));
    assert!(statuses(&actions).is_empty());
    assert_eq!(
        events(&actions),
        [(
            "AllocationFailed",
            "Failed to allocate IP for \"default/c\": no available IPs".to_string()
        )]
    );
    // An unchanged update of the waiting Service does not repeat the failure.
    assert!(ipam.on_event(watcher::Event::Apply(lb("c", T3))).is_empty());
    // a goes away: c gets its address.
    let actions = ipam.on_event(watcher::Event::Delete(lb("a", T1)));
    assert_eq!(
        statuses(&actions),
        [("c".into(), Some("127.240.0.5".into()))]
    );
}

#[test]
fn type_change_releases_and_clears_status() {
    let (mut ipam, _) = listed("127.240.0.5-127.240.0.6", vec![]);
    ipam.on_event(watcher::Event::Apply(lb("a", T1)));
    let clusterip = svc("a", T1, json!({"type": "ClusterIP"}), Some("127.240.0.5"));
    let actions = ipam.on_event(watcher::Event::Apply(clusterip));
    assert_eq!(statuses(&actions), [("a".into(), None)]);
    assert_eq!(ipam.ip_of("default/a"), None);
    let actions = ipam.on_event(watcher::Event::Apply(lb("b", T2)));
    assert_eq!(
        statuses(&actions),
        [("b".into(), Some("127.240.0.5".into()))]
    );
}

#[test]
fn requested_address_honoured_or_refused() {
    let (mut ipam, _) = listed("127.240.0.0/24", vec![]);
    let want = |ip: &str| json!({"type": "LoadBalancer", "loadBalancerIP": ip});
    let actions = ipam.on_event(watcher::Event::Apply(svc(
        "a",
        T1,
        want("127.240.0.77"),
        None,
    )));
    assert_eq!(
        statuses(&actions),
        [("a".into(), Some("127.240.0.77".into()))]
    );
    let actions = ipam.on_event(watcher::Event::Apply(svc(
        "b",
        T2,
        want("127.240.0.77"),
        None,
    )));
    assert_eq!(
        events(&actions),
        [(
            "AllocationFailed",
            "Failed to allocate IP for \"default/b\": \"127.240.0.77\" is already in use by default/a"
                .to_string()
        )]
    );
    let actions = ipam.on_event(watcher::Event::Apply(svc("c", T3, want("10.0.0.1"), None)));
    assert_eq!(
        events(&actions)[0].1,
        "Failed to allocate IP for \"default/c\": \"10.0.0.1\" is not allowed in config"
    );
    // a leaves: b, which waited for .77, gets it.
    let actions = ipam.on_event(watcher::Event::Delete(svc(
        "a",
        T1,
        want("127.240.0.77"),
        None,
    )));
    assert_eq!(
        statuses(&actions),
        [("b".into(), Some("127.240.0.77".into()))]
    );
}

#[test]
fn other_classes_are_not_touched() {
    let (mut ipam, _) = listed("127.240.0.0/24", vec![]);
    let foreign = svc(
        "f",
        T1,
        json!({"type": "LoadBalancer", "loadBalancerClass": "example.com/lb"}),
        Some("127.240.0.1"),
    );
    assert!(ipam.on_event(watcher::Event::Apply(foreign)).is_empty());
    let mine = svc(
        "m",
        T2,
        json!({"type": "LoadBalancer", "loadBalancerClass": "portico.dev/lb"}),
        None,
    );
    assert_eq!(
        statuses(&ipam.on_event(watcher::Event::Apply(mine))),
        [("m".into(), Some("127.240.0.1".into()))]
    );
}

#[test]
fn restart_keeps_addresses_and_resolves_double_claims() {
    let spec = json!({"type": "LoadBalancer"});
    let (ipam, actions) = listed(
        "127.240.0.0/24",
        vec![
            svc("new", T2, spec.clone(), Some("127.240.0.1")),
            svc("old", T1, spec.clone(), Some("127.240.0.1")),
            svc("kept", T3, spec.clone(), Some("127.240.0.9")),
            lb("fresh", T3),
        ],
    );
    // The oldest claimant keeps .1, the other moves; kept keeps .9 without a new event.
    assert_eq!(
        ipam.ip_of("default/old").unwrap().to_string(),
        "127.240.0.1"
    );
    assert_eq!(
        ipam.ip_of("default/kept").unwrap().to_string(),
        "127.240.0.9"
    );
    let mut st = statuses(&actions);
    st.sort();
    assert_eq!(
        st,
        [
            ("fresh".into(), Some("127.240.0.3".into())),
            ("new".into(), Some("127.240.0.2".into())),
        ]
    );
    assert_eq!(events(&actions).len(), 2);
}
