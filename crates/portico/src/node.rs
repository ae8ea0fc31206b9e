//! `portico node`: runs a node agent against an API server.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use base64::Engine;
use tokio_util::sync::CancellationToken;

/// Options of `portico node`.
#[derive(clap::Args, Debug)]
pub struct NodeArgs {
    /// Kubeconfig of the API server to join.
    #[arg(long)]
    pub kubeconfig: PathBuf,
    /// The Node's name.
    #[arg(long)]
    pub name: String,
    /// This node's address on the node network.
    #[arg(long)]
    pub node_ip: Ipv4Addr,
    /// This node's pod CIDR, e.g. 10.244.1.0/24.
    #[arg(long)]
    pub pod_cidr: String,
    /// Port of the node API (logs, exec, attach, port-forward).
    #[arg(long, default_value_t = 10250)]
    pub port: u16,
    /// Where pod state and logs are kept.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Where pods' writable layers go (best on a tmpfs).
    #[arg(long)]
    pub run_dir: PathBuf,
    /// The user's image catalog (YAML).
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// Cluster DNS server for pods.
    #[arg(long, default_value = "10.96.0.10")]
    pub cluster_dns: String,
    /// Cluster domain.
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// Wait for a line on stdin before starting (sent once the node's network is wired).
    #[arg(long)]
    pub wait_for_network: bool,
    /// The service proxy's datapath: `userspace`, `nftables`, or `none`.
    #[arg(long, default_value = "userspace")]
    pub proxy_mode: String,
    /// The Service CIDR the proxy serves.
    #[arg(long, default_value = "10.96.0.0/12")]
    pub service_cidr: String,
    /// The whole cluster's pod network.
    #[arg(long, default_value = "10.244.0.0/16")]
    pub cluster_cidr: String,
}

fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8)> {
    let (ip, prefix) = s
        .split_once('/')
        .with_context(|| format!("invalid CIDR {s:?}"))?;
    let ip: Ipv4Addr = ip.parse().with_context(|| format!("invalid CIDR {s:?}"))?;
    let prefix: u8 = prefix
        .parse()
        .with_context(|| format!("invalid CIDR {s:?}"))?;
    if prefix > 32 {
        bail!("invalid CIDR {s:?}");
    }
    Ok((ip, prefix))
}

/// Runs the node agent until SIGTERM or SIGINT.
pub fn node(args: NodeArgs) -> Result<()> {
    if args.wait_for_network {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    }
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the async runtime")?;
    let result = runtime.block_on(run(args));
    // Readers blocked on a pod's terminal must not hold the process up.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    result
}

async fn run(args: NodeArgs) -> Result<()> {
    let kubeconfig = kube::config::Kubeconfig::read_from(&args.kubeconfig)
        .with_context(|| format!("reading {}", args.kubeconfig.display()))?;
    let token = kubeconfig
        .auth_infos
        .first()
        .and_then(|a| a.auth_info.as_ref())
        .and_then(|a| a.token.as_ref())
        .map(|t| {
            use secrecy::ExposeSecret;
            t.expose_secret().to_string()
        })
        .context("the kubeconfig has no token")?;
    let ca_pem = kubeconfig
        .clusters
        .first()
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.certificate_authority_data.as_ref())
        .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
        .unwrap_or_default();
    let kconfig = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
    let client = kube::Client::try_from(kconfig)?;
    let config = portico_node::Config {
        node_uid: format!("{:x}", {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in args.name.bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
            h
        }),
        node_name: args.name,
        node_ip: args.node_ip,
        pod_cidr: parse_cidr(&args.pod_cidr)?,
        kubelet_port: args.port,
        data_dir: args.data_dir,
        run_dir: args.run_dir,
        self_exe: std::env::current_exe().context("finding the portico executable")?,
        images_file: args.images,
        cluster_dns: vec![args.cluster_dns],
        cluster_domain: args.cluster_domain,
        token,
        ca_pem,
        max_pods: 110,
        proxy: match args.proxy_mode.as_str() {
            "userspace" => Some(portico_node::ProxyMode::Userspace),
            "nftables" => Some(portico_node::ProxyMode::Nftables),
            "none" => None,
            other => bail!("unknown --proxy-mode {other:?}: want userspace, nftables or none"),
        },
        service_cidr: parse_cidr(&args.service_cidr)?,
        cluster_cidr: parse_cidr(&args.cluster_cidr)?,
    };
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        crate::wait_for_signal().await;
        stop.cancel();
    });
    portico_node::run(client, config, shutdown).await?;
    Ok(())
}
