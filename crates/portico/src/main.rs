//! The `portico` command: every role of Portico in one binary.
//!
//! `main` is a plain function on purpose: later roles (`portico up`) must create user
//! namespaces while the process has a single thread, so the async runtime is built by hand
//! after the command line is read.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use portico_store::Store;
use tokio_util::sync::CancellationToken;

mod dns;
mod ingress;
mod node;
mod proxy;
mod up;

/// Kubernetes Service networking in one binary.
#[derive(Parser, Debug)]
#[command(name = "portico", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a whole cluster in a rootless sandbox, in the foreground.
    Up(up::UpArgs),
    /// Stop the cluster that `portico up` runs.
    Down {
        /// The cluster's home directory (default ~/.portico).
        #[arg(long, env = "PORTICO_HOME")]
        home: Option<PathBuf>,
    },
    /// Run a node agent: registers a Node and runs the pods bound to it.
    Node(node::NodeArgs),
    /// Run the cluster DNS server (the `portico/dns` image).
    Dns(dns::DnsArgs),
    /// Run the ingress controller (the `portico/ingress-controller` image).
    #[command(name = "ingress-controller")]
    IngressController(ingress::IngressArgs),
    /// Inspect the service proxies of a running cluster (`portico proxy rules`).
    Proxy(proxy::ProxyArgs),
    /// Run a built-in image's program (what a pod's container runs).
    #[command(name = "__image", hide = true)]
    Image {
        /// The built-in program.
        name: String,
        /// Its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The process that holds a pod's namespaces.
    #[command(name = "__pod-sandbox", hide = true)]
    PodSandbox {
        /// The sandbox spec (JSON).
        spec: PathBuf,
    },
    /// The sandbox keeper of `portico up`.
    #[command(name = "__sandbox", hide = true)]
    Keeper(up::UpArgs),
    /// PID 1 of `portico up`'s sandbox.
    #[command(name = "__init", hide = true)]
    Init(up::UpArgs),
    /// Everything inside `portico up`'s sandbox.
    #[command(name = "__cluster", hide = true)]
    Cluster(up::UpArgs),
    /// Run the Kubernetes API server and the controllers.
    Server(ServerArgs),
    /// Print the version of Portico and of the Kubernetes API it serves.
    Version,
}

#[derive(clap::Args, Debug)]
struct ServerArgs {
    /// Where the store, certificates and the kubeconfig are kept.
    #[arg(long, env = "PORTICO_DATA_DIR")]
    data_dir: PathBuf,
    /// Use etcd at these comma-separated URLs instead of the embedded SQLite store.
    #[arg(long, value_delimiter = ',')]
    etcd: Vec<String>,
    /// Address to serve HTTPS on; port 0 picks a free port (the kubeconfig records it).
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// The Service IP range.
    #[arg(long, default_value = "10.96.0.0/12")]
    service_cidr: String,
    /// The NodePort range, as LOW-HIGH.
    #[arg(long, default_value = "30000-32767")]
    node_port_range: String,
    /// Extra host names or IPs for the serving certificate.
    #[arg(long, value_delimiter = ',')]
    tls_san: Vec<String>,
    /// Run the controllers (endpoints, workloads, scheduler, LoadBalancer addresses).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    controllers: bool,
    /// LoadBalancer address pool: a CIDR (`127.240.0.0/24`) or a range (`A-B`).
    #[arg(long, default_value = "127.240.0.0/24")]
    lb_pool: String,
    /// How often to compact store history, e.g. `5m`, `30s`; `0` turns it off.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    compaction_interval: std::time::Duration,
    /// Also serve Ingress in extensions/v1beta1 and networking.k8s.io/v1beta1 (removed in
    /// Kubernetes 1.22), converted to and from networking.k8s.io/v1 with deprecation
    /// warnings; `false` serves exactly Kubernetes 1.32's API.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    legacy_apis: bool,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: want e.g. 30s, 5m, 1h"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "ms" => return Ok(std::time::Duration::from_millis(n)),
        _ => return Err(format!("invalid duration {s:?}: want e.g. 30s, 5m, 1h")),
    };
    Ok(std::time::Duration::from_secs(secs))
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The small processes of the chain run before any logging or runtime exists.
    match &cli.command {
        Command::Image { name, args } => return portico_images::run_builtin(name, args),
        Command::PodSandbox { spec } => return portico_node::runtime::pod_sandbox_main(spec),
        Command::Keeper(args) => return up::keeper(args),
        Command::Init(args) => return up::init(args),
        _ => {}
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PORTICO_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portico: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Up(args) => up::up(&args),
        Command::Down { home } => up::down(home.as_deref()),
        Command::Node(args) => node::node(args),
        Command::Dns(args) => dns::dns(args),
        Command::IngressController(args) => ingress::ingress_controller(args),
        Command::Proxy(args) => proxy::proxy(args),
        Command::Cluster(args) => up::cluster(&args),
        Command::Image { .. }
        | Command::PodSandbox { .. }
        | Command::Keeper(_)
        | Command::Init(_) => Ok(()),
        Command::Version => {
            println!(
                "portico {} (Kubernetes API v1.{})",
                env!("CARGO_PKG_VERSION"),
                portico_apiserver::discovery::MINOR
            );
            Ok(())
        }
        Command::Server(args) => {
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("building the async runtime")?;
            runtime.block_on(server(args))
        }
    }
}

fn parse_range(s: &str) -> Result<(u16, u16)> {
    let (lo, hi) = s
        .split_once('-')
        .with_context(|| format!("invalid --node-port-range {s:?}: want LOW-HIGH"))?;
    let lo: u16 = lo
        .trim()
        .parse()
        .with_context(|| format!("invalid port {lo:?}"))?;
    let hi: u16 = hi
        .trim()
        .parse()
        .with_context(|| format!("invalid port {hi:?}"))?;
    if lo == 0 || lo > hi {
        bail!("invalid --node-port-range {s:?}");
    }
    Ok((lo, hi))
}

async fn server(args: ServerArgs) -> Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let store: Arc<dyn Store> = if args.etcd.is_empty() {
        let path = args.data_dir.join("state.db");
        Arc::new(
            portico_store_sqlite::SqliteStore::open(&path)
                .with_context(|| format!("opening the store {}", path.display()))?,
        )
    } else {
        Arc::new(
            portico_store_etcd::EtcdStore::connect(&args.etcd, None)
                .await
                .with_context(|| format!("connecting to etcd at {}", args.etcd.join(",")))?,
        )
    };
    let mut config = portico_apiserver::Config::new(args.data_dir.clone());
    config.listen = args.listen;
    config.service_cidr = args.service_cidr;
    config.node_port_range = parse_range(&args.node_port_range)?;
    config.extra_sans = args.tls_san;
    config.compaction_interval = args.compaction_interval;
    config.legacy_apis = args.legacy_apis;
    let shutdown = CancellationToken::new();
    let running = portico_apiserver::start(config, store, shutdown.clone())
        .await
        .context("starting the API server")?;
    if args.controllers {
        let kubeconfig = kube::config::Kubeconfig::read_from(&running.kubeconfig)
            .context("reading the kubeconfig the API server wrote")?;
        let kconfig = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .context("loading the kubeconfig")?;
        let client = kube::Client::try_from(kconfig).context("building the API client")?;
        let config = portico_controllers::Config {
            lb_pool: args.lb_pool.clone(),
        };
        let token = shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = portico_controllers::run(client, config, token.clone()).await {
                tracing::error!(error = %e, "controllers stopped");
                token.cancel();
            }
        });
    }
    println!(
        "Portico API server is ready at https://{}. Use it with: export KUBECONFIG={}",
        running.address,
        running.kubeconfig.display()
    );
    tokio::select! {
        _ = wait_for_signal() => {}
        _ = shutdown.cancelled() => {}
    }
    tracing::info!("shutting down");
    shutdown.cancel();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), running.task).await;
    Ok(())
}

pub(crate) async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
