//! What a zone rebuild costs at 10,000 Services with 100,000 endpoints (ten per
//! Service, a tenth of the Services headless): `feed` rebuilds the whole zone on
//! every change, so this time bounds how often the zone can follow the cluster.
//! Prints the figures (a measurement, not a pass/fail threshold) and checks the
//! big zone still answers correctly.

#[path = "fixtures/objects.rs"]
mod objects;

use std::time::Instant;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RecordType};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use objects::*;
use portico_dns::{Lookup, Zone, ZoneBuilder};

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
