//! A proxy to measure by hand (ignored by default): starts an echo backend and the proxy,
//! prints their addresses, and serves for `PORTICO_BENCH_SECS` seconds (default 60), e.g.
//! `cargo test --release -p portico-ingress --test server_bench -- --ignored --nocapture`
//! then `wrk -H 'Host: a.example' http://<http>/`. `PORTICO_BENCH_BACKEND=ip:port` proxies to
//! a backend of your own instead (e.g. an nginx `return 200`), out of the proxy's process.

#[path = "server_support/harness.rs"]
mod harness;

use std::time::Duration;

use harness::{backend, get, ingress, service, Proxy};
use portico_ingress::snapshot::Inputs;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "serves for a minute to be measured by hand"]
async fn serve_for_measuring() {
    let one = match std::env::var("PORTICO_BENCH_BACKEND") {
        Ok(addr) => addr.parse().unwrap(),
        Err(_) => backend("one").await,
    };
    let mut inputs = Inputs::default();
    service(&mut inputs, "one", &[one]);
    ingress(&mut inputs, "one", "a.example", "/", "one", &[], &[]);
    let proxy = Proxy::start(&inputs).await;
    assert_eq!(
        get(proxy.addrs.http, "a.example", "/", &[])
            .await
            .status
            .as_u16()
            / 100,
        2
    );
    println!(
        "backend {one} proxy http {} https {}",
        proxy.addrs.http, proxy.addrs.https
    );
    let secs = std::env::var("PORTICO_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    tokio::time::sleep(Duration::from_secs(secs)).await;
}
