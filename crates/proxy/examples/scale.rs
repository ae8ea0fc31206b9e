//! Feeds a datapath SERVICES Services with ENDPOINTS endpoints each, as API objects, and
//! reports how long the model and the datapath take and how much memory the process holds:
//! the full first apply, one endpoint change, one added Service (each through
//! `apply_changes`, as the run loop does). For nftables it also splits the incremental
//! transactions' time into encoding and the kernel's share (send to last acknowledgement).
//!
//! Run it in a network namespace of its own (it binds listeners or programs nftables):
//!
//! ```text
//! unshare -n cargo run --release -p portico-proxy --example scale -- userspace 10000 10
//! cargo build --release -p portico-proxy --example scale
//! unshare -rn target/release/examples/scale nftables 10000 10
//! unshare -rn target/release/examples/scale nftables 10000 10 affinity
//! ```
//!
//! For nftables, Services with 1 to 16 endpoints get the direct layout (elements in static
//! maps only); 17 or more endpoints give the compact layout (a chain and an endpoint map
//! per Service), e.g. `nftables 10000 17`. A fourth argument `affinity` gives every Service
//! `sessionAffinity: ClientIP` (the per-endpoint chain layout); `nodeport` makes the one
//! added Service a NodePort Service with an external IP (`nftables 10000 10 nodeport`),
//! `nodeport-local` the same with `externalTrafficPolicy: Local` (the compact layout).
//! "One endpoint change" replaces the endpoints of one Service's slice.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Service, ServicePort as ApiPort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};
use kube::api::ObjectMeta;
use portico_proxy::model::{build, build_service, ProxyState, ServiceKey, SERVICE_NAME_LABEL};
use portico_proxy::nftables::{Ipv4Cidr, NetlinkTiming, NftConfig, Nftables};
use portico_proxy::userspace::{Options, Userspace};
use portico_proxy::Datapath;

fn service(i: usize, affinity: bool) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(format!("s{i:05}")),
            namespace: Some("default".into()),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            cluster_ip: Some(format!("10.96.{}.{}", i / 250, i % 250 + 1)),
            ports: Some(vec![ApiPort {
                port: 80,
                protocol: Some("TCP".into()),
                ..ApiPort::default()
            }]),
            session_affinity: affinity.then(|| "ClientIP".to_string()),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

fn slice(i: usize, endpoints: usize, shift: usize) -> EndpointSlice {
    EndpointSlice {
        metadata: ObjectMeta {
            name: Some(format!("s{i:05}-abcde")),
            namespace: Some("default".into()),
            labels: Some(BTreeMap::from([(
                SERVICE_NAME_LABEL.to_string(),
                format!("s{i:05}"),
            )])),
            ..ObjectMeta::default()
        },
        address_type: "IPv4".into(),
        endpoints: (0..endpoints)
            .map(|j| {
                let n = i * endpoints + j + shift;
                Endpoint {
                    addresses: vec![format!(
                        "10.{}.{}.{}",
                        128 + n / 62500,
                        n / 250 % 250,
                        n % 250 + 1
                    )],
                    node_name: Some("node".into()),
                    ..Endpoint::default()
                }
            })
            .collect(),
        ports: Some(vec![EndpointPort {
            name: Some(String::new()),
            port: Some(8080),
            protocol: Some("TCP".into()),
            ..EndpointPort::default()
        }]),
    }
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Rebuilds Service `i` from its objects into `state`; returns the changed keys.
fn rebuild(state: &mut ProxyState, svc: &Service, slice: &EndpointSlice) -> BTreeSet<ServiceKey> {
    let mut changed = BTreeSet::new();
    for (k, sp) in build_service(svc, &[slice], "node") {
        if state.services.get(&k) != Some(&sp) {
            state.services.insert(k.clone(), sp);
            changed.insert(k);
        }
    }
    changed
}

async fn measure<D: Datapath>(
    mut dp: D,
    services: usize,
    endpoints: usize,
    (affinity, node_port, local): (bool, bool, bool),
    timing: impl Fn(&D) -> Option<NetlinkTiming>,
) {
    let rss0 = rss_mib();
    let svcs: Vec<Service> = (0..services).map(|i| service(i, affinity)).collect();
    let mut slices: Vec<EndpointSlice> = (0..services).map(|i| slice(i, endpoints, 0)).collect();
    let rss_objects = rss_mib();
    let t = Instant::now();
    let mut state = build(&svcs, &slices, "node");
    let build_ms = ms(t.elapsed());
    let t = Instant::now();
    if let Err(e) = dp.apply(&state).await {
        eprintln!("full apply failed: {e}");
        std::process::exit(1);
    }
    let full_ms = ms(t.elapsed());
    let rss_applied = rss_mib();
    // Without room for one large batch (a rootless namespace caps socket buffers), the
    // first apply loads what fits through nft and sends the rest over netlink.
    if let Some(first) = timing(&dp) {
        println!(
            "first apply: {} netlink batches after the nft load, {} messages, kernel {:.0} ms",
            first.batches,
            first.messages,
            ms(first.kernel)
        );
    }

    // One endpoint change, 20 times, on different services.
    let mut change_ms = Vec::new();
    let mut change_timing = Vec::new();
    for round in 0..20 {
        let i = (round * 7919) % services;
        slices[i] = slice(i, endpoints, services * endpoints + round);
        let t = Instant::now();
        let changed = rebuild(&mut state, &svcs[i], &slices[i]);
        if let Err(e) = dp.apply_changes(&state, &changed).await {
            eprintln!("change failed: {e}");
            std::process::exit(1);
        }
        change_ms.push(ms(t.elapsed()));
        change_timing.extend(timing(&dp));
    }
    change_ms.sort_by(f64::total_cmp);

    // One more Service.
    let mut new = service(services, affinity);
    if node_port {
        if let Some(spec) = new.spec.as_mut() {
            spec.type_ = Some("NodePort".into());
            spec.external_ips = Some(vec!["192.0.2.1".into()]);
            if local {
                spec.external_traffic_policy = Some("Local".into());
            }
            for p in spec.ports.iter_mut().flatten() {
                p.node_port = Some(32000);
            }
        }
    }
    let new_slice = slice(services, endpoints, services * endpoints + 100);
    let t = Instant::now();
    let changed = rebuild(&mut state, &new, &new_slice);
    if let Err(e) = dp.apply_changes(&state, &changed).await {
        eprintln!("adding a service failed: {e}");
        std::process::exit(1);
    }
    let add_ms = ms(t.elapsed());
    let add_timing = timing(&dp);

    println!(
        "| {services} | {} | {build_ms:.0} | {full_ms:.0} | {:.2} | {:.2} | {add_ms:.2} | {:.0} | {:.0} | {:.0} |",
        services * endpoints,
        change_ms[change_ms.len() / 2],
        change_ms[change_ms.len() - 1],
        rss0,
        rss_objects,
        rss_applied,
    );
    if let Some(add) = add_timing {
        let mut kernel: Vec<f64> = change_timing.iter().map(|t| ms(t.kernel)).collect();
        let mut encode: Vec<f64> = change_timing.iter().map(|t| ms(t.encode)).collect();
        kernel.sort_by(f64::total_cmp);
        encode.sort_by(f64::total_cmp);
        let mid = |v: &[f64]| v.get(v.len() / 2).copied().unwrap_or(0.0);
        let max = |v: &[f64]| v.last().copied().unwrap_or(0.0);
        println!(
            "netlink: endpoint change: encode p50 {:.3} ms, kernel (send to last ack) p50 {:.2} ms, max {:.2} ms, {} messages; \
             add service: encode {:.3} ms, kernel {:.2} ms, {} messages, {} bytes",
            mid(&encode),
            mid(&kernel),
            max(&kernel),
            change_timing.first().map_or(0, |t| t.messages),
            ms(add.encode),
            ms(add.kernel),
            add.messages,
            add.bytes,
        );
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("userspace", String::as_str);
    let services: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let endpoints: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10);
    // `affinity`: every Service with `sessionAffinity: ClientIP` (per-endpoint chains).
    let affinity = args.get(4).is_some_and(|a| a == "affinity");
    // `nodeport`: the added Service is a NodePort Service with an external IP.
    let node_port = args.get(4).is_some_and(|a| a.starts_with("nodeport"));
    let local = args.get(4).is_some_and(|a| a == "nodeport-local");
    println!("{mode}: | services | endpoints | build ms | first apply ms | 1 endpoint change p50 ms | max ms | add 1 service ms | RSS MiB at start | with objects | after apply |");
    match mode {
        "nftables" => {
            let (Some(pods), Some(svcs)) = (
                Ipv4Cidr::new(Ipv4Addr::new(10, 244, 0, 0), 16),
                Ipv4Cidr::new(Ipv4Addr::new(10, 96, 0, 0), 12),
            ) else {
                return;
            };
            match Nftables::new(NftConfig::new(pods, svcs)) {
                Ok(dp) => {
                    measure(
                        dp,
                        services,
                        endpoints,
                        (affinity, node_port, local),
                        |dp: &Nftables| Some(dp.last_timing()),
                    )
                    .await
                }
                Err(e) => eprintln!("{e}"),
            }
        }
        _ => {
            let dp = Userspace::new(Options::default());
            let kinds = (affinity, node_port, local);
            measure(dp, services, endpoints, kinds, |_: &Userspace| None).await;
        }
    }
}
