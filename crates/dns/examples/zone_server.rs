//! The benchmark subject of `bench/dns.sh`: the real DNS server ([`Server`], UDP and TCP)
//! answering a zone fed with generated Services and EndpointSlices exactly as `feed` feeds
//! it from its watchers: each object read into a [`ZoneState`] and dropped, so the
//! process' memory is what `portico dns` holds for such a cluster.
//!
//! ```text
//! zone_server --services 10000 --endpoints 10 --listen 127.0.0.1:5300 \
//!             --queries queries.txt --unbound unbound-zone.conf
//! ```
//! writes a dnsperf query file (`svc-i.ns-j.svc.cluster.local A`) and the same names as
//! unbound `local-data`, times incremental changes with all Services present (prints
//! `update <ms to add a Service> <ms to change a slice> <ms to delete a Service>`, medians
//! of 50, each until the new zone is in force), prints `ready <addr> <build ms>` and serves
//! until killed.

#[path = "../tests/fixtures/objects.rs"]
mod objects;

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use objects::*;
use portico_dns::{Server, ZoneHandle, ZoneState};
use tokio_util::sync::CancellationToken;

struct Args {
    services: usize,
    endpoints: usize,
    listen: SocketAddr,
    queries: Option<String>,
    unbound: Option<String>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        services: 10_000,
        endpoints: 10,
        listen: SocketAddr::from(([127, 0, 0, 1], 5300)),
        queries: None,
        unbound: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--services" => a.services = value.parse().map_err(|e| format!("{e}"))?,
            "--endpoints" => a.endpoints = value.parse().map_err(|e| format!("{e}"))?,
            "--listen" => a.listen = value.parse().map_err(|e| format!("{e}"))?,
            "--queries" => a.queries = Some(value),
            "--unbound" => a.unbound = Some(value),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(a)
}

/// Service `i`: `svc-i` in `ns-(i % 10)` with cluster IP 10.96.x.y (10.96.0.0/12 has room
/// for 10k), `endpoints` ready endpoints in one slice.
fn cluster_ip_of(i: usize) -> String {
    format!("10.{}.{}.{}", 96 + i / 65_000, (i / 250) % 260, 1 + i % 250)
}

/// The generated Service `i` and its slice of `endpoints` ready endpoints.
fn objects(
    i: usize,
    endpoints: usize,
    generation: usize,
) -> (
    k8s_openapi::api::core::v1::Service,
    k8s_openapi::api::discovery::v1::EndpointSlice,
) {
    let ns = format!("ns-{}", i % 10);
    let svc = format!("svc-{i}");
    let service = cluster_ip(&ns, &svc, &[&cluster_ip_of(i)], &[("http", "TCP", 80)]);
    let ips: Vec<String> = (0..endpoints)
        .map(|e| {
            let n = i * endpoints + e + generation;
            format!(
                "10.{}.{}.{}",
                128 + (n / 65_536) % 64,
                (n / 256) % 256,
                n % 256
            )
        })
        .collect();
    let eps: Vec<Ep<'_>> = ips.iter().map(|ip| ep(ip)).collect();
    let slice = slice(&ns, &svc, "x", "IPv4", &[("http", "TCP", 8080)], &eps);
    (service, slice)
}

fn median(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times
        .get(times.len() / 2)
        .map_or(0.0, |t| t.as_secs_f64() * 1000.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = args()?;
    // The time of reading the objects into the state and building the zone
    // (not of generating the objects).
    let mut build = Duration::ZERO;
    let mut state = ZoneState::new("cluster.local", 30)?.without_pod_names();
    for i in 0..a.services {
        // As the watchers do: read each object into the state, then drop it.
        let (service, slice) = objects(i, a.endpoints, 0);
        let started = Instant::now();
        state.apply_service(&service);
        state.apply_slice(&slice);
        build += started.elapsed();
    }
    let started = Instant::now();
    let zone = ZoneHandle::new(state.zone());
    build += started.elapsed();
    let build_ms = build.as_secs_f64() * 1000.0;

    // One change at a time with every Service present, until the new zone is in force.
    let (mut add, mut change, mut delete) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..50 {
        let extra = a.services + round;
        let (service, slice) = objects(extra, a.endpoints, 0);
        let t = Instant::now();
        state.apply_service(&service);
        state.apply_slice(&slice);
        zone.store(state.zone());
        add.push(t.elapsed());
        let (_, moved) = objects(round, a.endpoints, 1 + round);
        let t = Instant::now();
        state.apply_slice(&moved);
        zone.store(state.zone());
        change.push(t.elapsed());
        let t = Instant::now();
        state.remove_service(&format!("ns-{}", extra % 10), &format!("svc-{extra}"));
        zone.store(state.zone());
        delete.push(t.elapsed());
    }
    println!(
        "update {:.3} {:.3} {:.3}",
        median(add),
        median(change),
        median(delete)
    );
    if let Some(path) = &a.queries {
        let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
        for i in 0..a.services {
            writeln!(f, "svc-{i}.ns-{}.svc.cluster.local A", i % 10)?;
        }
    }
    if let Some(path) = &a.unbound {
        let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
        writeln!(f, "    local-zone: \"cluster.local.\" static")?;
        for i in 0..a.services {
            writeln!(
                f,
                "    local-data: \"svc-{i}.ns-{}.svc.cluster.local. 30 IN A {}\"",
                i % 10,
                cluster_ip_of(i)
            )?;
        }
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let server = Server::bind(a.listen, zone, Vec::new()).await?;
        println!("ready {} {build_ms:.0}", server.local_addr()?);
        // The state stays alive, as in `feed`.
        let _state = state;
        server.serve(CancellationToken::new()).await?;
        Ok(())
    })
}
