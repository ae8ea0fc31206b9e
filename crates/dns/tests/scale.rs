//! What a zone costs at 10,000 Services with 100,000 endpoints (ten per Service,
//! a tenth of the Services headless): a whole build, and one incremental change
//! as `feed` makes it (one Service added, one EndpointSlice changed, one Service
//! deleted, each republished). Prints the figures (a measurement, not a pass/fail
//! threshold) and checks the big zone answers correctly before and after.

#[path = "fixtures/objects.rs"]
mod objects;

use std::time::Instant;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RecordType};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use objects::*;
use portico_dns::{respond_local, Lookup, Transport, Zone, ZoneBuilder, ZoneState};

const SERVICES: usize = 10_000;
const ENDPOINTS_PER_SERVICE: usize = 10;

struct Objects {
    services: Vec<Service>,
    slices: Vec<EndpointSlice>,
    pods: Vec<Pod>,
}

fn objects() -> Objects {
    let mut o = Objects {
        services: Vec::new(),
        slices: Vec::new(),
        pods: Vec::new(),
    };
    for i in 0..SERVICES {
        let ns = format!("ns-{}", i % 10);
        let svc = format!("svc-{i}");
        let port = [("http", "TCP", 80)];
        o.services.push(if i.is_multiple_of(10) {
            headless(&ns, &svc, &port, false)
        } else {
            let ip = format!("10.96.{}.{}", 1 + i / 250, 1 + i % 250);
            cluster_ip(&ns, &svc, &[&ip], &port)
        });
        let ips: Vec<String> = (0..ENDPOINTS_PER_SERVICE)
            .map(|e| {
                let n = i * ENDPOINTS_PER_SERVICE + e;
                format!("10.{}.{}.{}", 100 + n / 65536, (n / 256) % 256, n % 256)
            })
            .collect();
        let pods: Vec<String> = (0..ENDPOINTS_PER_SERVICE)
            .map(|e| format!("{svc}-pod-{e}"))
            .collect();
        let eps: Vec<Ep<'_>> = ips
            .iter()
            .zip(&pods)
            .map(|(ip, pod)| Ep {
                ip,
                ready: true,
                hostname: None,
                pod: Some(pod),
            })
            .collect();
        o.slices.push(slice(
            &ns,
            &svc,
            "x",
            "IPv4",
            &[("http", "TCP", 8080)],
            &eps,
        ));
        for p in &pods {
            o.pods.push(pod(&ns, p, None, None));
        }
    }
    o
}

fn build(o: &Objects) -> Zone {
    let mut b = ZoneBuilder::new("cluster.local", 30).unwrap();
    for s in &o.services {
        b.add_service(s);
    }
    for s in &o.slices {
        b.add_endpoint_slice(s);
    }
    for p in &o.pods {
        b.add_pod(p);
    }
    b.build()
}

#[test]
fn rebuild_time_at_ten_thousand_services() {
    let o = objects();
    let mut times = Vec::new();
    let mut zone = build(&o);
    for _ in 0..5 {
        let t = Instant::now();
        zone = build(&o);
        times.push(t.elapsed());
    }
    times.sort();
    eprintln!(
        "zone rebuild, {SERVICES} services / {} endpoints / {} pods: min {:?}, median {:?}, max {:?}",
        SERVICES * ENDPOINTS_PER_SERVICE,
        o.pods.len(),
        times[0],
        times[2],
        times[4]
    );
    assert_eq!(zone.service_count(), SERVICES);

    let ask = |name: &str, qtype| zone.lookup(&Name::from_ascii(name).unwrap(), qtype);
    let Lookup::Authoritative(a) = ask("svc-1.ns-1.svc.cluster.local.", RecordType::A) else {
        panic!("not in zone")
    };
    assert_eq!(a.answers.len(), 1);
    let Lookup::Authoritative(a) = ask("svc-20.ns-0.svc.cluster.local.", RecordType::A) else {
        panic!("not in zone")
    };
    assert_eq!(
        a.answers.len(),
        ENDPOINTS_PER_SERVICE,
        "headless: every endpoint"
    );
    let Lookup::Authoritative(a) = ask("svc-20.ns-1.svc.cluster.local.", RecordType::A) else {
        panic!("not in zone")
    };
    assert_eq!(a.rcode, ResponseCode::NXDomain);

    // Lookups per second on the big zone (one thread, no wire format).
    let names: Vec<Name> = (0..SERVICES)
        .map(|i| Name::from_ascii(format!("svc-{i}.ns-{}.svc.cluster.local.", i % 10)).unwrap())
        .collect();
    let t = Instant::now();
    let mut answered = 0;
    for name in &names {
        if let Lookup::Authoritative(a) = zone.lookup(name, RecordType::A) {
            answered += usize::from(!a.answers.is_empty());
        }
    }
    let elapsed = t.elapsed();
    eprintln!(
        "{} zone lookups in {elapsed:?} ({:.0}/s)",
        names.len(),
        names.len() as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(answered, SERVICES);
}

fn a_records(zone: &Zone, name: &str) -> Result<Vec<String>, ResponseCode> {
    match zone.lookup(&Name::from_ascii(name).unwrap(), RecordType::A) {
        Lookup::Authoritative(a) if a.rcode == ResponseCode::NoError => {
            Ok(a.answers.iter().map(|r| r.data().to_string()).collect())
        }
        Lookup::Authoritative(a) => Err(a.rcode),
        Lookup::NotInZone => panic!("{name} not in zone"),
    }
}

/// The wire answer's addresses (the fast path, cached per Service).
fn wire_a(zone: &Zone, name: &str) -> Vec<String> {
    let mut m = hickory_proto::op::Message::new();
    m.add_query(hickory_proto::op::Query::query(
        Name::from_ascii(name).unwrap(),
        RecordType::A,
    ));
    let answer = respond_local(zone, &m.to_vec().unwrap(), Transport::Udp).unwrap();
    let answer = hickory_proto::op::Message::from_vec(&answer).unwrap();
    answer
        .answers()
        .iter()
        .map(|r| r.data().to_string())
        .collect()
}

#[test]
fn one_change_at_ten_thousand_services() {
    let o = objects();
    let mut state = ZoneState::new("cluster.local", 30).unwrap();
    for s in &o.services {
        state.apply_service(s);
    }
    for s in &o.slices {
        state.apply_slice(s);
    }
    let before = state.zone();
    assert_eq!(before.service_count(), SERVICES);
    // Warm the cached wire answer of a Service the changes leave alone.
    assert_eq!(
        wire_a(&before, "svc-1.ns-1.svc.cluster.local."),
        ["10.96.1.2"]
    );

    // One Service added (with its slice).
    let t = Instant::now();
    state.apply_service(&cluster_ip(
        "ns-3",
        "fresh",
        &["10.99.0.1"],
        &[("http", "TCP", 80)],
    ));
    state.apply_slice(&slice(
        "ns-3",
        "fresh",
        "x",
        "IPv4",
        &[("http", "TCP", 8080)],
        &[ep("10.200.0.1")],
    ));
    let added = state.zone();
    let add_time = t.elapsed();

    // One EndpointSlice of a headless Service changed: a new address set.
    let moved: Vec<String> = (0..ENDPOINTS_PER_SERVICE)
        .map(|e| format!("10.201.0.{}", e + 1))
        .collect();
    let eps: Vec<Ep<'_>> = moved.iter().map(|ip| ep(ip)).collect();
    let t = Instant::now();
    state.apply_slice(&slice(
        "ns-0",
        "svc-20",
        "x",
        "IPv4",
        &[("http", "TCP", 8080)],
        &eps,
    ));
    let changed = state.zone();
    let change_time = t.elapsed();

    // One Service deleted.
    let t = Instant::now();
    state.remove_service("ns-1", "svc-1");
    let deleted = state.zone();
    let delete_time = t.elapsed();
    eprintln!(
        "one change with {SERVICES} services / {} endpoints present: add a service {add_time:?}, \
         change a slice {change_time:?}, delete a service {delete_time:?}",
        SERVICES * ENDPOINTS_PER_SERVICE
    );

    assert_eq!(
        a_records(&before, "fresh.ns-3.svc.cluster.local."),
        Err(ResponseCode::NXDomain)
    );
    assert_eq!(
        a_records(&added, "fresh.ns-3.svc.cluster.local."),
        Ok(vec!["10.99.0.1".to_string()])
    );
    assert_eq!(
        wire_a(&added, "fresh.ns-3.svc.cluster.local."),
        ["10.99.0.1"]
    );
    assert_eq!(
        a_records(&added, "10-200-0-1.fresh.ns-3.svc.cluster.local."),
        Ok(vec!["10.200.0.1".to_string()])
    );
    let mut now = a_records(&changed, "svc-20.ns-0.svc.cluster.local.").unwrap();
    now.sort();
    let mut want = moved.clone();
    want.sort();
    assert_eq!(now, want);
    assert_eq!(
        a_records(&added, "svc-20.ns-0.svc.cluster.local.")
            .unwrap()
            .len(),
        ENDPOINTS_PER_SERVICE
    );
    assert!(!a_records(&added, "svc-20.ns-0.svc.cluster.local.")
        .unwrap()
        .contains(&moved[0]));
    assert_eq!(
        a_records(&deleted, "svc-1.ns-1.svc.cluster.local."),
        Err(ResponseCode::NXDomain)
    );
    assert_eq!(
        wire_a(&changed, "svc-1.ns-1.svc.cluster.local."),
        ["10.96.1.2"]
    );
    assert!(wire_a(&deleted, "svc-1.ns-1.svc.cluster.local.").is_empty());
    // Everything else is as it was, in the newest snapshot.
    assert_eq!(deleted.service_count(), SERVICES);
    assert_eq!(
        a_records(&deleted, "svc-2.ns-2.svc.cluster.local."),
        Ok(vec!["10.96.1.3".to_string()])
    );
    let ptr = deleted.lookup(
        &Name::from_ascii("1.0.200.10.in-addr.arpa.").unwrap(),
        RecordType::PTR,
    );
    let Lookup::Authoritative(ptr) = ptr else {
        panic!("the new endpoint has a PTR")
    };
    assert_eq!(
        ptr.answers[0].data().to_string(),
        "10-200-0-1.fresh.ns-3.svc.cluster.local."
    );
}
