//! `portico-bench-pods`: how fast `portico up` starts and runs pods, and what a pod costs.
//! Started by `bench/pods.sh` with a release build of portico, it
//!
//! 1. times `portico up` from the spawn to its ready line, R times, alternating with the
//!    direct baseline `portico server` (API server and controllers only);
//! 2. for each node count, starts one `portico up` cluster, samples the memory of its
//!    processes with no pods, then for each image creates a Deployment of R replicas and
//!    follows the pods with a watch until all are Ready (per-pod start latency, total time,
//!    CPU), samples memory again once they idle, deletes the Deployment and waits until the
//!    pods are gone;
//! 3. prints Markdown tables with ratios.
//!
//! Nothing is asserted about the figures: it is a benchmark, not a test.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;

mod cluster;
mod deploy;
mod error;
mod procs;
mod report;
mod startup;

pub use error::Error;

/// Benchmark `portico up` and pods: startup, 100-replica Deployments, pod start latency,
/// memory per idle pod.
#[derive(Parser, Debug)]
#[command(name = "portico-bench-pods")]
struct Args {
    /// The portico binary to benchmark.
    #[arg(long)]
    portico: PathBuf,
    /// A scratch directory for the clusters' homes and logs (must exist).
    #[arg(long)]
    work: PathBuf,
    /// Startup runs of each command (0 skips the startup phase).
    #[arg(long, env = "RUNS", default_value_t = 10)]
    runs: usize,
    /// Node counts of the Deployment clusters, comma-separated (empty skips them).
    #[arg(long, env = "NODES", default_value = "1,2", value_delimiter = ',')]
    nodes: Vec<u32>,
    /// Nodes of the startup clusters.
    #[arg(long, env = "STARTUP_NODES", default_value_t = 1)]
    startup_nodes: u32,
    /// Replicas of each Deployment.
    #[arg(long, env = "REPLICAS", default_value_t = 100)]
    replicas: usize,
    /// Images to deploy, comma-separated: pause, kubia.
    #[arg(
        long,
        env = "IMAGES",
        default_value = "pause,kubia",
        value_delimiter = ','
    )]
    images: Vec<String>,
    /// First three octets of the host addresses the clusters listen on (127.x.y).
    #[arg(long, env = "ADDRESS_PREFIX", default_value = "127.77.0")]
    address_prefix: String,
    /// Host port of the clusters' API servers.
    #[arg(long, env = "API_PORT", default_value_t = 17443)]
    api_port: u16,
    /// Seconds to let pods (or an empty cluster) idle before sampling memory.
    #[arg(long, env = "SETTLE", default_value_t = 3)]
    settle: u64,
    /// Seconds to wait for a ready line, for all pods Ready, and for all pods gone.
    #[arg(long, env = "TIMEOUT", default_value_t = 120)]
    timeout: u64,
    /// Whether the benchmark's pods mount the service account token (the Kubernetes
    /// default; `false` leaves the token volume out).
    #[arg(long, env = "SA_TOKEN", default_value_t = true, action = clap::ArgAction::Set)]
    sa_token: bool,
    /// Seconds without a further pod getting Ready after which a Deployment run gives up.
    #[arg(long, env = "STALL", default_value_t = 30)]
    stall: u64,
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
            eprintln!("portico-bench-pods: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        tokio::select! {
            r = run(args) => r,
            _ = interrupted() => Err(Error::Interrupted),
        }
    });
    // Dropping the runs killed any Portico still running (kill_on_drop).
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portico-bench-pods: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn interrupted() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// A kube-rs client for the kubeconfig at `path`.
async fn client(path: &Path) -> Result<kube::Client, Error> {
    let kc = kube::config::Kubeconfig::read_from(path)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

/// The host address `prefix.last`, checked to be a loopback address.
fn address(prefix: &str, last: usize) -> Result<String, Error> {
    let text = format!("{prefix}.{}", last.clamp(1, 254));
    match text.parse::<Ipv4Addr>() {
        Ok(ip) if ip.is_loopback() => Ok(text),
        _ => Err(Error::Usage(format!(
            "--address-prefix {prefix}: need three octets of 127.0.0.0/8, e.g. 127.77.0"
        ))),
    }
}

/// A line describing the machine.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |c| c.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!(
        "{cores} cores ({cpu}), kernel {}, {}",
        kernel.trim(),
        k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC")
    )
}

/// The 1, 5 and 15 minute load averages: other work on the machine skews the figures.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

/// Every phase; sections are printed as they finish.
async fn run(args: Args) -> Result<(), Error> {
    let images: Vec<deploy::Image> = args
        .images
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            deploy::Image::parse(s)
                .ok_or_else(|| Error::Usage(format!("unknown image {s:?}: use pause or kubia")))
        })
        .collect::<Result<_, _>>()?;
    address(&args.address_prefix, 1)?;
    let timeout = Duration::from_secs(args.timeout);
    println!("## Portico pods benchmark\n");
    println!(
        "{}; portico {}; R={} startup runs; {} replicas per Deployment{}. Not pinned: the driver \
         shares the cores with the cluster. Load average at the start: {}.\n",
        machine(),
        args.portico.display(),
        args.runs,
        args.replicas,
        if args.sa_token {
            ""
        } else {
            " (automountServiceAccountToken: false, SA_TOKEN=false)"
        },
        load_average(),
    );

    if args.runs > 0 {
        let plan = startup::Plan {
            portico: &args.portico,
            work: &args.work,
            runs: args.runs,
            nodes: args.startup_nodes,
            address_prefix: &args.address_prefix,
            port: args.api_port,
            timeout,
        };
        let s = startup::run(&plan).await?;
        print!("{}", report::startup(&s));
    }

    let mut clusters = Vec::new();
    for &nodes in &args.nodes {
        clusters.push(cluster_runs(&args, nodes, &images).await?);
    }
    if !clusters.is_empty() {
        print!("{}", report::deployments(&clusters));
        print!("{}", report::latencies(&clusters));
        print!("{}", report::memory(&clusters));
    }
    println!("Load average at the end: {}.", load_average());
    Ok(())
}

/// One `portico up --nodes N` cluster: idle memory, then one Deployment per image.
async fn cluster_runs(
    args: &Args,
    nodes: u32,
    images: &[deploy::Image],
) -> Result<report::ClusterResult, Error> {
    let settle = Duration::from_secs(args.settle);
    let timeout = Duration::from_secs(args.timeout);
    let launch = cluster::Launch::Up {
        nodes,
        home: args.work.join(format!("cluster-n{nodes}")),
        address: address(&args.address_prefix, 200 + nodes as usize)?,
        port: args.api_port,
    };
    let running = cluster::start(&args.portico, launch, timeout).await?;
    eprintln!(
        "cluster of {nodes} node(s) ready in {:.3} s (pid {})",
        running.ready_after.as_secs_f64(),
        running.pid
    );
    let portico_name = deploy::binary_name(&args.portico);
    tokio::time::sleep(settle).await;
    let idle = procs::Memory::of(&procs::scan(running.pid, &portico_name));
    let client = client(&running.kubeconfig).await?;
    let mut runs = Vec::new();
    for &image in images {
        let spec = deploy::Spec {
            image,
            replicas: args.replicas,
            root_pid: running.pid,
            portico_name: &portico_name,
            timeout,
            stall: Duration::from_secs(args.stall),
            token: args.sa_token,
            settle,
        };
        let name = format!("bench-{}-n{nodes}", image.name());
        eprintln!("{name}: {} replicas", args.replicas);
        let r = deploy::run(&client, &spec, &name).await?;
        eprintln!(
            "{name}: {}/{} Ready in {} s, gone {} s after the delete",
            r.ready,
            r.replicas,
            r.all_ready.map_or("–".into(), report::secs),
            r.teardown.map_or("–".into(), report::secs),
        );
        runs.push(r);
    }
    let ready_after = running.ready_after;
    running.stop(Duration::from_secs(60)).await?;
    Ok(report::ClusterResult {
        nodes,
        ready_after,
        idle,
        runs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_stay_on_loopback() {
        assert_eq!(address("127.77.0", 5).unwrap(), "127.77.0.5");
        assert_eq!(address("127.77.0", 999).unwrap(), "127.77.0.254");
        assert!(address("10.0.0", 1).is_err());
        assert!(address("127.0", 1).is_err());
    }
}
