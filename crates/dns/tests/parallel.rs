//! The lookup pattern behind Kubernetes' 5-second DNS stalls (kubernetes/kubernetes#56903):
//! glibc sends the A and the AAAA question of one lookup from one socket at once. Here
//! 10,000 such lookups against the real server on 127.0.0.1, serving 10,000 Services: every
//! question answered, correctly, without retries, each lookup well under a second.

#[path = "fixtures/objects.rs"]
mod objects;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use objects::*;
use portico_dns::{Server, ZoneBuilder, ZoneHandle};
use tokio::net::UdpSocket;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

const SERVICES: usize = 10_000;
const LOOKUPS: usize = 10_000;
/// Lookups in flight at once (each has two questions out).
const IN_FLIGHT: usize = 500;

/// Service `i`: `svc-i.ns-(i % 10)`, cluster IP 10.96.x.y; every tenth is dual-stack.
fn service_ips(i: usize) -> (String, Option<String>) {
    let v4 = format!("10.96.{}.{}", 1 + i / 250, 1 + i % 250);
    let v6 = i
        .is_multiple_of(10)
        .then(|| format!("fd00:96::{:x}", i + 1));
    (v4, v6)
}

fn name(i: usize) -> String {
    format!("svc-{i}.ns-{}.svc.cluster.local.", i % 10)
}

fn question(id: u16, name: &Name, qtype: RecordType) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(id)
        .set_message_type(MessageType::Query)
        .set_recursion_desired(true);
    m.add_query(Query::query(name.clone(), qtype));
    m.to_vec().unwrap()
}

/// The addresses in an answer, or why it is wrong.
fn addresses(answer: &Message) -> Result<Vec<IpAddr>, String> {
    if answer.response_code() != ResponseCode::NoError {
        return Err(format!("rcode {}", answer.response_code()));
    }
    Ok(answer
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect())
}

/// One glibc-style lookup of service `i`: A and AAAA from one socket at once, no retry.
async fn lookup(server: SocketAddr, i: usize) -> Result<Duration, String> {
    let socket = UdpSocket::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let qname = Name::from_ascii(name(i)).unwrap();
    let (a_id, aaaa_id) = ((i * 2) as u16, (i * 2 + 1) as u16);
    let started = Instant::now();
    socket
        .send_to(&question(a_id, &qname, RecordType::A), server)
        .await
        .map_err(|e| e.to_string())?;
    socket
        .send_to(&question(aaaa_id, &qname, RecordType::AAAA), server)
        .await
        .map_err(|e| e.to_string())?;
    let mut got: HashMap<u16, Vec<IpAddr>> = HashMap::new();
    let mut buf = vec![0u8; 4096];
    while got.len() < 2 {
        let n = tokio::time::timeout(Duration::from_secs(1), socket.recv(&mut buf))
            .await
            .map_err(|_| format!("{}: lost an answer (got {:?})", name(i), got.keys()))?
            .map_err(|e| e.to_string())?;
        let answer = Message::from_vec(&buf[..n]).map_err(|e| e.to_string())?;
        got.insert(answer.id(), addresses(&answer)?);
    }
    let elapsed = started.elapsed();
    let (v4, v6) = service_ips(i);
    let want_a: Vec<IpAddr> = vec![v4.parse().unwrap()];
    let want_aaaa: Vec<IpAddr> = v6.iter().map(|v| v.parse().unwrap()).collect();
    if got.get(&a_id) != Some(&want_a) || got.get(&aaaa_id) != Some(&want_aaaa) {
        return Err(format!("{}: wrong answers {got:?}", name(i)));
    }
    Ok(elapsed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_parallel_a_and_aaaa_lookups() {
    let mut builder = ZoneBuilder::new("cluster.local", 30).unwrap();
    for i in 0..SERVICES {
        let (v4, v6) = service_ips(i);
        let mut ips = vec![v4.as_str()];
        ips.extend(v6.as_deref());
        builder.add_service(&cluster_ip(
            &format!("ns-{}", i % 10),
            &format!("svc-{i}"),
            &ips,
            &[("http", "TCP", 80)],
        ));
    }
    let zone = ZoneHandle::new(builder.build());
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), zone, Vec::new())
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(server.serve(stop.clone()));

    let limit = Arc::new(Semaphore::new(IN_FLIGHT));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(LOOKUPS);
    for i in 0..LOOKUPS {
        let permit = limit.clone().acquire_owned().await.unwrap();
        tasks.push(tokio::spawn(async move {
            let result = lookup(addr, i % SERVICES).await;
            drop(permit);
            result
        }));
    }
    let mut times = Vec::with_capacity(LOOKUPS);
    let mut failures = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(t) => times.push(t),
            Err(e) => failures.push(e),
        }
    }
    let total = started.elapsed();
    stop.cancel();
    times.sort();
    let pct = |p: usize| {
        times
            .get(times.len() * p / 100)
            .copied()
            .unwrap_or_default()
    };
    eprintln!(
        "{LOOKUPS} lookups (A+AAAA, {IN_FLIGHT} in flight) in {total:?}: p50 {:?}, p99 {:?}, max {:?}",
        pct(50),
        pct(99),
        times.last().copied().unwrap_or_default()
    );
    assert!(
        failures.is_empty(),
        "{} of {LOOKUPS} lookups failed, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    let slowest = times.last().copied().unwrap_or_default();
    assert!(
        slowest < Duration::from_secs(1),
        "slowest lookup {slowest:?}"
    );
}
