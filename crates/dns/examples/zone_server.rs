//! The benchmark subject of `bench/dns.sh`: the real DNS server ([`Server`], UDP and TCP)
//! answering a zone built from generated Services and EndpointSlices, exactly as `feed`
//! builds it from its reflectors, whose objects are kept alive here as the reflectors'
//! caches keep them (so the process' memory is what `portico dns` holds for such a cluster).
//!
//! ```text
//! zone_server --services 10000 --endpoints 10 --listen 127.0.0.1:5300 \
//!             --queries queries.txt --unbound unbound-zone.conf
//! ```
//! writes a dnsperf query file (`svc-i.ns-j.svc.cluster.local A`) and the same names as
//! unbound `local-data`, prints `ready <addr> <build ms>` and serves until killed.

#[path = "../tests/fixtures/objects.rs"]
mod objects;

use std::io::Write;
use std::net::SocketAddr;
use std::time::Instant;

use objects::*;
use portico_dns::{Server, ZoneBuilder, ZoneHandle};
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = args()?;
    let mut services = Vec::with_capacity(a.services);
    let mut slices = Vec::with_capacity(a.services);
    for i in 0..a.services {
        let ns = format!("ns-{}", i % 10);
        let svc = format!("svc-{i}");
        services.push(cluster_ip(
            &ns,
            &svc,
            &[&cluster_ip_of(i)],
            &[("http", "TCP", 80)],
        ));
        let ips: Vec<String> = (0..a.endpoints)
            .map(|e| {
                let n = i * a.endpoints + e;
                format!("10.{}.{}.{}", 128 + n / 65_536, (n / 256) % 256, n % 256)
            })
            .collect();
        let eps: Vec<Ep<'_>> = ips.iter().map(|ip| ep(ip)).collect();
        slices.push(slice(
            &ns,
            &svc,
            "x",
            "IPv4",
            &[("http", "TCP", 8080)],
            &eps,
        ));
    }
    let started = Instant::now();
    let mut builder = ZoneBuilder::new("cluster.local", 30)?;
    for s in &services {
        builder.add_service(s);
    }
    for s in &slices {
        builder.add_endpoint_slice(s);
    }
    let zone = builder.build();
    let build_ms = started.elapsed().as_secs_f64() * 1000.0;

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
        let server = Server::bind(a.listen, ZoneHandle::new(zone), Vec::new()).await?;
        println!("ready {} {build_ms:.0}", server.local_addr()?);
        // The objects stay alive, as in the reflectors' caches.
        let _caches = (services, slices);
        server.serve(CancellationToken::new()).await?;
        Ok(())
    })
}
