use super::*;
use k8s_openapi::api::core::v1::EndpointPort as CorePort;

fn endpoints(ips: &[&str], not_ready: &[&str]) -> Endpoints {
    let addr = |ip: &&str| EndpointAddress {
        ip: ip.to_string(),
        ..Default::default()
    };
    Endpoints {
        metadata: ObjectMeta {
            name: Some("external-service".into()),
            namespace: Some("default".into()),
            uid: Some("ep-uid".into()),
            annotations: Some([(keys::LAST_APPLIED.to_string(), "{}".to_string())].into()),
            ..Default::default()
        },
        subsets: Some(vec![EndpointSubset {
            addresses: Some(ips.iter().map(addr).collect()),
            not_ready_addresses: (!not_ready.is_empty())
                .then(|| not_ready.iter().map(addr).collect()),
            ports: Some(vec![CorePort {
                port: 80,
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
        }]),
    }
}

#[test]
fn hand_made_endpoints_become_one_mirrored_slice() {
    let ep = endpoints(&["11.11.11.11", "22.22.22.22"], &[]);
    let (plan, skipped) = plan(&ep, &[]);
    assert_eq!(skipped, Skipped::default());
    assert_eq!(
        (plan.create.len(), plan.update.len(), plan.delete.len()),
        (1, 0, 0)
    );
    let s = &plan.create[0];
    assert_eq!(
        s.metadata.generate_name.as_deref(),
        Some("external-service-")
    );
    let labels = s.metadata.labels.as_ref().unwrap();
    assert_eq!(labels[keys::MANAGED_BY], CONTROLLER);
    assert_eq!(labels[keys::SERVICE_NAME], "external-service");
    assert!(
        s.metadata.annotations.is_none(),
        "last-applied is not mirrored"
    );
    let owner = &s.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Endpoints", "external-service")
    );
    let ips: Vec<&str> = s
        .endpoints
        .iter()
        .map(|e| e.addresses[0].as_str())
        .collect();
    assert_eq!(ips, ["11.11.11.11", "22.22.22.22"]);
    assert_eq!(s.ports.as_ref().unwrap()[0].port, Some(80));
}

#[test]
fn mirrored_slices_update_only_on_change() {
    let ep = endpoints(&["11.11.11.11"], &["22.22.22.22"]);
    let (first, _) = plan(&ep, &[]);
    let mut stored = first.create[0].clone();
    stored.metadata.name = Some("external-service-abcde".into());
    stored.metadata.generate_name = None;
    stored.metadata.resource_version = Some("5".into());
    let ready: Vec<Option<bool>> = stored
        .endpoints
        .iter()
        .map(|e| e.conditions.as_ref().unwrap().ready)
        .collect();
    assert_eq!(ready, [Some(true), Some(false)]);
    let (again, _) = plan(&ep, std::slice::from_ref(&stored));
    assert!(again.is_empty(), "{again:?}");
    let changed = endpoints(&["11.11.11.11", "33.33.33.33"], &[]);
    let (p, _) = plan(&changed, &[stored]);
    assert_eq!((p.create.len(), p.update.len(), p.delete.len()), (0, 1, 0));
    assert_eq!(
        p.update[0].metadata.name.as_deref(),
        Some("external-service-abcde")
    );
    assert_eq!(p.update[0].metadata.resource_version.as_deref(), Some("5"));
}

#[test]
fn invalid_addresses_are_skipped_and_counted() {
    let ep = endpoints(&["11.11.11.11", "not-an-ip"], &[]);
    let (p, skipped) = plan(&ep, &[]);
    assert_eq!(
        skipped,
        Skipped {
            invalid: 1,
            total: 1
        }
    );
    assert_eq!(p.create[0].endpoints.len(), 1);
}

#[test]
fn skip_mirror_and_leader_records_are_not_mirrored() {
    let mut ep = endpoints(&["1.1.1.1"], &[]);
    assert!(should_mirror(&ep));
    ep.metadata.labels = Some([(keys::SKIP_MIRROR.to_string(), "true".to_string())].into());
    assert!(!should_mirror(&ep));
}
