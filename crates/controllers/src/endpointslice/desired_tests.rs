use super::*;
use crate::endpoints::test_support::{named, num, pod, service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

fn node(zone: &str) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some("node-a".into()),
            labels: Some([(keys::ZONE.to_string(), zone.to_string())].into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn endpoint_conditions_follow_readiness_and_termination() {
    let svc = service("s", "x", &[("", 80, num(8080))]);
    let n = node("zone-a");
    let ep = pod_endpoint(
        &pod("a", "x", "10.0.0.1", true, &[]),
        Some(&n),
        &svc,
        Family::V4,
    )
    .unwrap();
    let c = ep.conditions.clone().unwrap();
    assert_eq!(
        (c.ready, c.serving, c.terminating),
        (Some(true), Some(true), Some(false))
    );
    assert_eq!(ep.zone.as_deref(), Some("zone-a"));
    assert_eq!(ep.node_name.as_deref(), Some("node-a"));
    assert_eq!(ep.target_ref.as_ref().unwrap().name.as_deref(), Some("a"));

    let mut dying = pod("b", "x", "10.0.0.2", true, &[]);
    dying.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::now()));
    let c = pod_endpoint(&dying, Some(&n), &svc, Family::V4)
        .unwrap()
        .conditions
        .unwrap();
    assert_eq!(
        (c.ready, c.serving, c.terminating),
        (Some(false), Some(true), Some(true))
    );

    let unready = pod("c", "x", "10.0.0.3", false, &[]);
    let c = pod_endpoint(&unready, None, &svc, Family::V4)
        .unwrap()
        .conditions
        .unwrap();
    assert_eq!((c.ready, c.serving), (Some(false), Some(false)));
    assert!(
        pod_endpoint(&unready, None, &svc, Family::V6).is_none(),
        "no IPv6 address"
    );
}

#[test]
fn publish_not_ready_marks_everything_ready() {
    let mut svc = service("s", "x", &[("", 80, num(8080))]);
    svc.spec.as_mut().unwrap().publish_not_ready_addresses = Some(true);
    let c = pod_endpoint(
        &pod("c", "x", "10.0.0.3", false, &[]),
        None,
        &svc,
        Family::V4,
    )
    .unwrap()
    .conditions
    .unwrap();
    assert_eq!((c.ready, c.serving), (Some(true), Some(false)));
}

#[test]
fn pods_group_by_resolved_ports_and_missing_nodes_are_reported() {
    let svc = service("s", "x", &[("http", 80, named("web"))]);
    let n = node("");
    let pods = [
        pod("a", "x", "10.0.0.1", true, &[("web", 8080)]),
        pod("b", "x", "10.0.0.2", true, &[("web", 9090)]),
        pod("c", "x", "10.0.0.3", true, &[("web", 8080)]),
        pod("d", "x", "", true, &[("web", 8080)]),
    ];
    let refs: Vec<&Pod> = pods.iter().collect();
    let d = desired(&svc, &refs, Family::V4, |name| {
        (name == "node-a").then_some(&n)
    });
    assert_eq!(d.groups.len(), 2);
    let sizes: Vec<usize> = d.groups.values().map(|g| g.endpoints.len()).collect();
    assert_eq!(sizes.iter().sum::<usize>(), 3);
    assert!(d
        .groups
        .values()
        .all(|g| g.endpoints.values().all(|e| e.zone.is_none())));
    let d = desired(&svc, &refs, Family::V4, |_| None);
    assert!(d.groups.is_empty());
    assert_eq!(d.missing_nodes, ["a", "b", "c"]);
}

#[test]
fn ports_key_does_not_depend_on_order() {
    let p = |n: &str, port: i32| EndpointPort {
        name: Some(n.into()),
        port: Some(port),
        protocol: Some("TCP".into()),
        app_protocol: None,
    };
    let mut a = vec![p("http", 8080), p("https", 8443)];
    let mut b = vec![p("https", 8443), p("http", 8080)];
    assert_eq!(ports_key(&mut a), ports_key(&mut b));
    assert_eq!(a, b);
}
