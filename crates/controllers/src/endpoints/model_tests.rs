use super::*;
use crate::endpoints::test_support::{named, num, pod, service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

#[test]
fn pods_without_ip_or_finished_are_left_out_and_terminating_only_when_asked() {
    assert!(pod_in_endpoints(
        &pod("a", "x", "10.0.0.1", true, &[]),
        false
    ));
    assert!(!pod_in_endpoints(&pod("a", "x", "", true, &[]), true));
    let mut done = pod("a", "x", "10.0.0.1", true, &[]);
    done.status.as_mut().unwrap().phase = Some("Succeeded".into());
    assert!(!pod_in_endpoints(&done, true));
    let mut dying = pod("a", "x", "10.0.0.1", true, &[]);
    dying.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::now()));
    assert!(!pod_in_endpoints(&dying, false));
    assert!(pod_in_endpoints(&dying, true));
}

#[test]
fn named_target_ports_resolve_per_pod() {
    let svc = service("s", "x", &[("http", 80, named("web"))]);
    let port = &service_ports(&svc)[0];
    assert_eq!(
        find_port(&pod("a", "x", "10.0.0.1", true, &[("web", 8080)]), port),
        Some(8080)
    );
    assert_eq!(
        find_port(&pod("b", "x", "10.0.0.2", true, &[("web", 9090)]), port),
        Some(9090)
    );
    assert_eq!(
        find_port(&pod("c", "x", "10.0.0.3", true, &[("other", 8080)]), port),
        None
    );
    let numeric = service("s", "x", &[("", 80, num(8080))]);
    assert_eq!(
        find_port(
            &pod("c", "x", "10.0.0.3", true, &[]),
            &service_ports(&numeric)[0]
        ),
        Some(8080)
    );
}

#[test]
fn named_ports_must_match_the_protocol() {
    let mut svc = service("s", "x", &[("dns", 53, named("dns"))]);
    svc.spec.as_mut().unwrap().ports.as_mut().unwrap()[0].protocol = Some("UDP".into());
    let p = pod("a", "x", "10.0.0.1", true, &[("dns", 5353)]);
    assert_eq!(
        find_port(&p, &service_ports(&svc)[0]),
        None,
        "the pod's port is TCP"
    );
}

#[test]
fn hostname_only_for_the_matching_subdomain() {
    let svc = service("web", "x", &[]);
    let mut p = pod("web-0", "x", "10.0.0.1", true, &[]);
    p.spec.as_mut().unwrap().hostname = Some("web-0".into());
    assert_eq!(hostname_for(&p, &svc), None);
    p.spec.as_mut().unwrap().subdomain = Some("web".into());
    assert_eq!(hostname_for(&p, &svc).as_deref(), Some("web-0"));
}

#[test]
fn an_empty_selector_is_no_selector() {
    let mut svc = service("s", "x", &[]);
    assert!(selector(&svc).is_some());
    svc.spec.as_mut().unwrap().selector = Some(Default::default());
    assert!(selector(&svc).is_none());
}

#[test]
fn families_follow_ip_families_or_cluster_ip() {
    let mut svc = service("s", "x", &[]);
    assert_eq!(families(&svc), vec![Family::V4]);
    let spec = svc.spec.as_mut().unwrap();
    spec.ip_families = None;
    spec.cluster_ip = Some("fd00::10".into());
    assert_eq!(families(&svc), vec![Family::V6]);
    svc.spec.as_mut().unwrap().cluster_ip = Some("None".into());
    assert_eq!(families(&svc), vec![Family::V4, Family::V6]);
}

#[test]
fn trigger_time_is_creation_first_then_earliest_new_readiness_change() {
    let svc = service("s", "x", &[]);
    let mut tracker = TriggerTimes::default();
    let created: jiff::Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
    assert_eq!(tracker.compute("default/s", &svc, &[]), Some(created));
    assert_eq!(
        tracker.compute("default/s", &svc, &[]),
        None,
        "nothing changed"
    );
    let mut p = pod("a", "x", "10.0.0.1", true, &[]);
    let t: jiff::Timestamp = "2024-01-02T03:04:05Z".parse().unwrap();
    p.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].last_transition_time = Some(Time(t));
    assert_eq!(tracker.compute("default/s", &svc, &[&p]), Some(t));
    assert_eq!(tracker.compute("default/s", &svc, &[&p]), None);
    assert_eq!(format_trigger_time(t), "2024-01-02T03:04:05Z");
}
