//! `portico-bench-controllers`: how fast Portico's endpoint controllers turn pods into
//! EndpointSlices and Endpoints. Against a running `portico server` (started by
//! `bench/controllers.sh`), it
//!
//! 1. fills an empty cluster with `n` Services of `p` Ready pods each and times, through
//!    watches on EndpointSlices and Endpoints, until every Service lists all its pods;
//! 2. checks once, with a list, that what the controllers wrote is right;
//! 3. turns `k` random pods not Ready and back and measures from each acknowledged status
//!    patch to the watch event that shows the change, for both kinds of object.
//!
//! All requests go through kube-rs (HTTP/1.1 over rustls).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use k8s_openapi::api::core::v1::Endpoints;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;

mod book;
mod converge;
mod cpu;
mod error;
mod flips;
mod objects;
mod populate;
mod report;
mod verify;
mod watch;

pub use error::Error;

/// Benchmark Portico's endpoint controllers: convergence from empty and readiness latency.
#[derive(Parser, Debug)]
#[command(name = "portico-bench-controllers")]
struct Args {
    /// Kubeconfig of the Portico server (with its controllers running).
    #[arg(long)]
    kubeconfig: PathBuf,
    /// Process id of the server, to sample its CPU use per thread from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Services to create.
    #[arg(long, env = "N", default_value_t = 10_000)]
    n: usize,
    /// Pods per Service.
    #[arg(long, env = "P", default_value_t = 10)]
    p: usize,
    /// Pods to flip not Ready and back in the latency phase.
    #[arg(long, env = "K", default_value_t = 500)]
    k: usize,
    /// Flips started per second; 0 runs them one at a time.
    #[arg(long, env = "RATE", default_value_t = 0.0)]
    rate: f64,
    /// Nodes the pods are spread over.
    #[arg(long, env = "NODES", default_value_t = 10)]
    nodes: usize,
    /// Concurrent client workers while filling the cluster.
    #[arg(long, env = "CONCURRENCY", default_value_t = 32)]
    concurrency: usize,
    /// Seed of the choice of pods to flip.
    #[arg(long, env = "SEED", default_value_t = 1)]
    seed: u64,
    /// Seconds to wait for convergence before giving up.
    #[arg(long, env = "CONVERGE_TIMEOUT", default_value_t = 1800)]
    converge_timeout: u64,
    /// Only fill the cluster and report the client's figures: a baseline for a server
    /// started without controllers (`--controllers=false`).
    #[arg(long, env = "FILL_ONLY", default_value_t = false)]
    fill_only: bool,
    /// Seconds to wait for one flip to show before counting it missing.
    #[arg(long, env = "FLIP_TIMEOUT", default_value_t = 30)]
    flip_timeout: u64,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("portico-bench-controllers: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("portico-bench-controllers: the controllers wrote wrong or missing endpoints (see above)");
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("portico-bench-controllers: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A kube-rs client for the kubeconfig at `path`.
async fn client(path: &std::path::Path) -> Result<kube::Client, Error> {
    let kc = kube::config::Kubeconfig::read_from(path)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

/// Runs every phase; `Ok(false)` when the endpoints turned out wrong or incomplete.
async fn run(args: Args) -> Result<bool, Error> {
    let client = client(&args.kubeconfig).await?;
    let (n, p) = (args.n, args.p);
    println!(
        "portico-bench-controllers: N={n} Services x P={p} pods ({} pods) on {} nodes, {} client workers (kube-rs, HTTP/1.1 + rustls), {} cores",
        n * p,
        args.nodes,
        args.concurrency,
        std::thread::available_parallelism().map(|c| c.get()).unwrap_or(0),
    );
    populate::prepare(&client, args.nodes).await?;

    let slices: watch::Shared = Arc::new(Mutex::new(book::Book::new(n, p)));
    let endpoints: watch::Shared = Arc::new(Mutex::new(book::Book::new(n, p)));
    let slice_api: Api<EndpointSlice> = Api::namespaced(client.clone(), objects::NAMESPACE);
    let endpoints_api: Api<Endpoints> = Api::namespaced(client.clone(), objects::NAMESPACE);
    let (slice_from, endpoints_from) = (
        watch::current_version(&slice_api).await?,
        watch::current_version(&endpoints_api).await?,
    );
    let mut slice_watch = tokio::spawn(watch::follow(
        slice_api,
        "endpointslices",
        slice_from,
        Arc::clone(&slices),
        watch::slice_addresses,
    ));
    let mut endpoints_watch = tokio::spawn(watch::follow(
        endpoints_api,
        "endpoints",
        endpoints_from,
        Arc::clone(&endpoints),
        watch::endpoints_addresses,
    ));

    let phases = phases(&client, &args, (slices, endpoints));
    let outcome = tokio::select! {
        r = phases => r,
        r = &mut slice_watch => Err(r.map_or_else(Error::from, |r| r.err().unwrap_or_else(|| Error::Other("the EndpointSlice watch ended".into())))),
        r = &mut endpoints_watch => Err(r.map_or_else(Error::from, |r| r.err().unwrap_or_else(|| Error::Other("the Endpoints watch ended".into())))),
    };
    slice_watch.abort();
    endpoints_watch.abort();
    if let Some(mib) = args.server_pid.and_then(cpu::peak_rss_mib) {
        println!("server peak RSS: {mib:.0} MiB");
    }
    outcome
}

/// The convergence, check and latency phases.
async fn phases(
    client: &kube::Client,
    args: &Args,
    books: (watch::Shared, watch::Shared),
) -> Result<bool, Error> {
    let (n, p) = (args.n, args.p);
    eprintln!(
        "filling: {n} Services, {} pods, {} workers",
        n * p,
        args.concurrency
    );
    let progress = Arc::new(populate::Progress::default());
    if args.fill_only {
        let before = cpu::Sample::take(args.server_pid);
        let filled =
            populate::populate(client, n, p, args.nodes, args.concurrency, progress).await?;
        let cpu = before.describe(&cpu::Sample::take(args.server_pid));
        println!();
        print!("{}", report::fill_only(&filled, &cpu));
        return Ok(true);
    }
    let filler = {
        let (client, progress) = (client.clone(), Arc::clone(&progress));
        let (nodes, concurrency) = (args.nodes, args.concurrency);
        tokio::spawn(async move {
            populate::populate(&client, n, p, nodes, concurrency, progress).await
        })
    };
    let converged = converge::converge(
        filler,
        progress,
        books.clone(),
        args.server_pid,
        Duration::from_secs(args.converge_timeout),
    )
    .await?;
    eprintln!("checking what the controllers wrote");
    let verdict = verify::verify(client, n, p).await?;
    println!();
    print!("{}", report::convergence(&converged, &verdict));

    eprintln!("flipping {} pods", args.k.min(n * p));
    let before = cpu::Sample::take(args.server_pid);
    let flipped = flips::run(
        client,
        books,
        (n, p, args.k),
        args.rate,
        args.seed,
        Duration::from_secs(args.flip_timeout),
    )
    .await?;
    let cpu = before.describe(&cpu::Sample::take(args.server_pid));
    println!();
    print!("{}", report::flips(&flipped, args.rate, &cpu));
    let missing = flipped.slices[2].missing.len() + flipped.endpoints[2].missing.len();
    Ok(verdict.problems.is_empty() && missing == 0)
}
