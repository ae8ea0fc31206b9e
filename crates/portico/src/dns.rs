//! `portico dns`: the cluster DNS server (what CoreDNS does), run as the `portico/dns` image
//! by the `coredns` Deployment in kube-system, behind the `kube-dns` Service.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use tokio_util::sync::CancellationToken;

/// Options of `portico dns`.
#[derive(clap::Args, Debug)]
pub struct DnsArgs {
    /// Where to answer DNS (UDP and TCP).
    #[arg(long, default_value = "0.0.0.0:53")]
    pub listen: SocketAddr,
    /// The cluster domain.
    #[arg(long, default_value = "cluster.local")]
    pub domain: String,
    /// TTL of cluster records, in seconds.
    #[arg(long, default_value_t = 30)]
    pub ttl: u32,
    /// Servers for names outside the cluster (comma-separated `IP:port`).
    #[arg(long, value_delimiter = ',')]
    pub upstream: Vec<SocketAddr>,
    /// Where to answer `GET /health`.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub health: SocketAddr,
    /// Where to answer `GET /ready`.
    #[arg(long, default_value = "0.0.0.0:8181")]
    pub ready: SocketAddr,
    /// A kubeconfig to use instead of the pod's service account.
    #[arg(long)]
    pub kubeconfig: Option<std::path::PathBuf>,
}

/// Runs the DNS server until SIGTERM or SIGINT.
pub fn dns(args: DnsArgs) -> Result<()> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the async runtime")?;
    runtime.block_on(async move {
        let client = kube_client(args.kubeconfig.as_deref()).await?;
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            crate::wait_for_signal().await;
            stop.cancel();
        });
        let config = portico_dns::Config {
            listen: args.listen,
            domain: args.domain,
            ttl: args.ttl,
            upstream: args.upstream,
            health: Some(args.health),
            ready: Some(args.ready),
        };
        portico_dns::feed::run(client, config, shutdown).await?;
        Ok(())
    })
}

/// A client from `kubeconfig`, or from the pod's service account when there is none.
pub async fn kube_client(kubeconfig: Option<&std::path::Path>) -> Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?
        }
        None => kube::Config::incluster().context("reading the pod's service account")?,
    };
    Ok(kube::Client::try_from(config)?)
}
