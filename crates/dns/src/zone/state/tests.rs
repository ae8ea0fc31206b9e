//! Incremental changes give the zone a full build of the same objects gives.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RecordType};

use super::ZoneState;
use crate::test_objects::*;
use crate::zone::{Lookup, Zone};

fn ask(zone: &Zone, name: &str, qtype: RecordType) -> (ResponseCode, Vec<String>) {
    match zone.lookup(&Name::from_ascii(name).unwrap(), qtype) {
        Lookup::Authoritative(a) => {
            let mut data: Vec<String> = a.answers.iter().map(|r| r.data().to_string()).collect();
            data.sort();
            (a.rcode, data)
        }
        Lookup::NotInZone => panic!("{name} not in zone"),
    }
}

fn ok(data: &[&str]) -> (ResponseCode, Vec<String>) {
    (
        ResponseCode::NoError,
        data.iter().map(|s| s.to_string()).collect(),
    )
}

fn nx() -> (ResponseCode, Vec<String>) {
    (ResponseCode::NXDomain, Vec::new())
}

#[test]
fn slices_pods_and_namespaces_come_and_go() {
    let mut state = ZoneState::new("cluster.local", 30).unwrap();
    state.apply_service(&headless("db", "mysql", &[("mysql", "TCP", 3306)], false));
    let one = |ip, pod| Ep {
        ip,
        ready: true,
        hostname: None,
        pod: Some(pod),
    };
    state.apply_slice(&slice(
        "db",
        "mysql",
        "a",
        "IPv4",
        &[("mysql", "TCP", 3306)],
        &[one("10.1.0.1", "mysql-0")],
    ));
    state.apply_slice(&slice(
        "db",
        "mysql",
        "b",
        "IPv4",
        &[("mysql", "TCP", 3306)],
        &[one("10.1.0.2", "mysql-1")],
    ));
    let z = state.zone();
    assert_eq!(
        ask(&z, "mysql.db.svc.cluster.local.", RecordType::A),
        ok(&["10.1.0.1", "10.1.0.2"])
    );
    assert_eq!(
        ask(&z, "10-1-0-1.mysql.db.svc.cluster.local.", RecordType::A),
        ok(&["10.1.0.1"])
    );

    // A Pod naming its endpoint through spec.hostname and spec.subdomain.
    state.apply_pod(&pod("db", "mysql-0", Some("primary"), Some("mysql")));
    let z = state.zone();
    assert_eq!(
        ask(&z, "primary.mysql.db.svc.cluster.local.", RecordType::A),
        ok(&["10.1.0.1"])
    );
    assert_eq!(
        ask(&z, "10-1-0-1.mysql.db.svc.cluster.local.", RecordType::A),
        nx()
    );
    state.remove_pod("db", "mysql-0");
    let z = state.zone();
    assert_eq!(
        ask(&z, "primary.mysql.db.svc.cluster.local.", RecordType::A),
        nx()
    );

    // A slice goes; the other stays.
    state.remove_slice("db", "mysql-a");
    let z = state.zone();
    assert_eq!(
        ask(&z, "mysql.db.svc.cluster.local.", RecordType::A),
        ok(&["10.1.0.2"])
    );
    // The address it had is no cluster name any more: its PTR goes upstream.
    let ptr = z.lookup(
        &Name::from_ascii("1.0.1.10.in-addr.arpa.").unwrap(),
        RecordType::PTR,
    );
    assert_eq!(ptr, Lookup::NotInZone);

    // The namespace lives while a Service or a Namespace object names it.
    assert_eq!(ask(&z, "db.svc.cluster.local.", RecordType::A), ok(&[]));
    state.apply_namespace(&namespace("db"));
    state.remove_service("db", "mysql");
    let z = state.zone();
    assert_eq!(ask(&z, "mysql.db.svc.cluster.local.", RecordType::A), nx());
    assert_eq!(ask(&z, "db.svc.cluster.local.", RecordType::A), ok(&[]));
    state.remove_namespace("db");
    assert!(state.has_changes());
    let z = state.zone();
    assert!(!state.has_changes());
    assert_eq!(ask(&z, "db.svc.cluster.local.", RecordType::A), nx());
    assert_eq!(z.service_count(), 0);
}

#[test]
fn without_pod_names_only_slice_hostnames_name_endpoints() {
    let mut state = ZoneState::new("cluster.local", 30)
        .unwrap()
        .without_pod_names();
    state.apply_service(&headless("db", "mysql", &[], false));
    state.apply_slice(&slice(
        "db",
        "mysql",
        "a",
        "IPv4",
        &[],
        &[
            Ep {
                ip: "10.1.0.1",
                ready: true,
                hostname: None,
                pod: Some("mysql-0"),
            },
            Ep {
                ip: "10.1.0.2",
                ready: true,
                hostname: Some("mysql-1"),
                pod: Some("mysql-1"),
            },
        ],
    ));
    state.apply_pod(&pod("db", "mysql-0", Some("mysql-0"), Some("mysql")));
    let z = state.zone();
    assert_eq!(
        ask(&z, "mysql-0.mysql.db.svc.cluster.local.", RecordType::A),
        nx()
    );
    assert_eq!(
        ask(&z, "10-1-0-1.mysql.db.svc.cluster.local.", RecordType::A),
        ok(&["10.1.0.1"])
    );
    assert_eq!(
        ask(&z, "mysql-1.mysql.db.svc.cluster.local.", RecordType::A),
        ok(&["10.1.0.2"])
    );
}

#[test]
fn a_slice_moving_to_another_service_leaves_the_first() {
    let mut state = ZoneState::new("cluster.local", 30).unwrap();
    state.apply_service(&headless("ns", "a", &[], false));
    state.apply_service(&headless("ns", "b", &[], false));
    let mut moving = slice("ns", "a", "x", "IPv4", &[], &[ep("10.2.0.1")]);
    state.apply_slice(&moving);
    let z = state.zone();
    assert_eq!(
        ask(&z, "a.ns.svc.cluster.local.", RecordType::A),
        ok(&["10.2.0.1"])
    );
    moving
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("kubernetes.io/service-name".to_string(), "b".to_string());
    state.apply_slice(&moving);
    let z = state.zone();
    assert_eq!(ask(&z, "a.ns.svc.cluster.local.", RecordType::A), nx());
    assert_eq!(
        ask(&z, "b.ns.svc.cluster.local.", RecordType::A),
        ok(&["10.2.0.1"])
    );
    assert_eq!(
        ask(&z, "1.0.2.10.in-addr.arpa.", RecordType::PTR),
        ok(&["10-2-0-1.b.ns.svc.cluster.local."])
    );
}
