use super::*;
use crate::endpoints::test_support::{num, pod, service};
use crate::endpointslice::desired::desired;
use k8s_openapi::api::core::v1::{Node, Pod};

fn pods(n: usize) -> Vec<Pod> {
    (0..n)
        .map(|i| {
            pod(
                &format!("p{i}"),
                "x",
                &format!("10.0.{}.{}", i / 200, i % 200),
                true,
                &[],
            )
        })
        .collect()
}

fn plan_for(svc: &Service, pods: &[Pod], existing: &[EndpointSlice]) -> Plan {
    let node = Node::default();
    let refs: Vec<&Pod> = pods.iter().collect();
    let d = desired(svc, &refs, Family::V4, |_| Some(&node));
    plan(svc, Family::V4, d, existing)
}

/// Pretends the API server stored the planned creates.
fn stored(plan: &Plan) -> Vec<EndpointSlice> {
    plan.create
        .iter()
        .chain(plan.update.iter())
        .enumerate()
        .map(|(i, s)| {
            let mut s = s.clone();
            if s.metadata.name.is_none() {
                s.metadata.name = Some(format!("s-{i}"));
            }
            s.metadata.resource_version = Some("1".into());
            s
        })
        .collect()
}

#[test]
fn new_service_gets_one_labelled_owned_slice() {
    let svc = service("myapp-svc", "x", &[("", 80, num(8080))]);
    let p = plan_for(&svc, &pods(3), &[]);
    assert_eq!((p.create.len(), p.update.len(), p.delete.len()), (1, 0, 0));
    let s = &p.create[0];
    assert_eq!(s.metadata.generate_name.as_deref(), Some("myapp-svc-"));
    assert_eq!(s.address_type, "IPv4");
    assert_eq!(s.endpoints.len(), 3);
    let labels = s.metadata.labels.as_ref().unwrap();
    assert_eq!(labels[keys::SERVICE_NAME], "myapp-svc");
    assert_eq!(labels[keys::MANAGED_BY], CONTROLLER);
    let owner = &s.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("Service", "uid-myapp-svc")
    );
    assert_eq!(
        (owner.controller, owner.block_owner_deletion),
        (Some(true), Some(true))
    );
    let port = &s.ports.as_ref().unwrap()[0];
    assert_eq!((port.name.as_deref(), port.port), (Some(""), Some(8080)));
}

#[test]
fn nothing_to_do_when_slices_are_current() {
    let svc = service("s", "x", &[("", 80, num(8080))]);
    let first = plan_for(&svc, &pods(3), &[]);
    let again = plan_for(&svc, &pods(3), &stored(&first));
    assert!(again.is_empty(), "{again:?}");
}

#[test]
fn at_most_100_endpoints_per_slice() {
    let svc = service("s", "x", &[("", 80, num(8080))]);
    let p = plan_for(&svc, &pods(250), &[]);
    let sizes: Vec<usize> = p.create.iter().map(|s| s.endpoints.len()).collect();
    assert_eq!(sizes, [100, 100, 50]);
}

#[test]
fn a_readiness_change_updates_the_slice_in_place() {
    let svc = service("s", "x", &[("", 80, num(8080))]);
    let mut ps = pods(3);
    let existing = stored(&plan_for(&svc, &ps, &[]));
    ps[1].status.as_mut().unwrap().conditions.as_mut().unwrap()[0].status = "False".into();
    let p = plan_for(&svc, &ps, &existing);
    assert_eq!((p.create.len(), p.update.len(), p.delete.len()), (0, 1, 0));
    assert_eq!(p.update[0].metadata.name, existing[0].metadata.name);
    let ready: Vec<Option<bool>> = p.update[0]
        .endpoints
        .iter()
        .map(|e| e.conditions.as_ref().unwrap().ready)
        .collect();
    assert_eq!(ready.iter().filter(|r| **r == Some(false)).count(), 1);
}

#[test]
fn no_pods_leaves_a_placeholder_and_keeps_it() {
    let svc = service("s", "x", &[("", 80, num(8080))]);
    let p = plan_for(&svc, &[], &[]);
    assert_eq!(p.create.len(), 1);
    assert!(p.create[0].endpoints.is_empty());
    assert_eq!(p.create[0].ports.as_deref(), Some(&[][..]));
    let again = plan_for(&svc, &[], &stored(&p));
    assert!(again.is_empty(), "{again:?}");
    // Pods arriving later turn the placeholder into a real slice (an update, not a create).
    let filled = plan_for(&svc, &pods(2), &stored(&p));
    assert_eq!(
        (
            filled.create.len(),
            filled.update.len(),
            filled.delete.len()
        ),
        (0, 1, 0)
    );
    assert_eq!(filled.update[0].endpoints.len(), 2);
}

#[test]
fn all_pods_gone_recycles_the_slice_into_a_placeholder() {
    let svc = service("s", "x", &[("", 80, num(8080))]);
    let existing = stored(&plan_for(&svc, &pods(2), &[]));
    let p = plan_for(&svc, &[], &existing);
    assert_eq!((p.create.len(), p.update.len(), p.delete.len()), (0, 1, 0));
    assert!(p.update[0].endpoints.is_empty());
}

#[test]
fn slices_of_another_owner_are_deleted() {
    let svc = service("s", "x", &[("", 80, num(8080))]);
    let mut existing = stored(&plan_for(&svc, &pods(2), &[]));
    existing[0].metadata.owner_references.as_mut().unwrap()[0].uid = "old-uid".into();
    let p = plan_for(&svc, &pods(2), &existing);
    // A slice of an older Service of the same name is deleted, never reused.
    assert_eq!((p.create.len(), p.update.len(), p.delete.len()), (1, 0, 1));
    assert_eq!(p.delete[0].metadata.name, existing[0].metadata.name);
    assert_eq!(
        p.create[0].metadata.owner_references.as_ref().unwrap()[0].uid,
        "uid-s"
    );
}
