//! The node agent (`portico node`): what a kubelet and a bridge CNI plugin do for one node.
//!
//! It registers its Node ([`register`]), renews its Lease, watches the pods bound to it
//! ([`pods`]) and runs each as processes inside the pod's own network, UTS and mount
//! namespaces ([`runtime`], [`network`]), or in the node's own network namespace for
//! `hostNetwork` pods, and forwards their `hostPort`s ([`hostport`]). Probes ([`probe`]) drive the pod's Ready condition;
//! kubectl's `logs`, `exec`, `attach` and `port-forward` reach it through the API server
//! ([`server`]). Container output is kept in CRI-format log files ([`logs`]); environment
//! variables follow the kubelet's rules ([`env`]).

pub mod env;
pub mod hostport;
pub mod logs;
pub mod network;
pub mod pods;
pub mod probe;
pub mod register;
pub mod runtime;
pub mod server;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

/// Everything that can go wrong in the node agent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed.
    #[error("API request failed: {0}")]
    Api(#[from] kube::Error),
    /// An object could not be built or read.
    #[error("bad object: {0}")]
    Json(#[from] serde_json::Error),
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The failure.
        source: std::io::Error,
    },
    /// Setting up namespaces or links failed.
    #[error("{0}")]
    Sandbox(#[from] portico_sandbox::Error),
    /// The image could not be resolved to a command.
    #[error("{0}")]
    Image(#[from] portico_images::Error),
    /// The container's environment could not be built.
    #[error("{0}")]
    Env(#[from] env::EnvError),
    /// Anything else, with a message meant for the user.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// An I/O error with what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

/// How to run one node.
#[derive(Debug, Clone)]
pub struct Config {
    /// The Node's name.
    pub node_name: String,
    /// A stable id for `nodeInfo.systemUUID`.
    pub node_uid: String,
    /// The node's address on the node network (`InternalIP`).
    pub node_ip: Ipv4Addr,
    /// The pod CIDR: network address and prefix length.
    pub pod_cidr: (Ipv4Addr, u8),
    /// Port of the node's own API (logs, exec, attach, port-forward).
    pub kubelet_port: u16,
    /// Where this node keeps pod state (logs, volumes).
    pub data_dir: PathBuf,
    /// Where pods' private writable layers go (a tmpfs in the sandbox).
    pub run_dir: PathBuf,
    /// The `portico` executable, for built-in images and pod sandboxes.
    pub self_exe: PathBuf,
    /// The user's image catalog file, if any.
    pub images_file: Option<PathBuf>,
    /// Cluster DNS servers written into pods' resolv.conf.
    pub cluster_dns: Vec<String>,
    /// The cluster domain.
    pub cluster_domain: String,
    /// The bearer token the API server presents when it proxies to this node; also what
    /// pods get as their service-account token (Portico has no per-account tokens yet).
    pub token: String,
    /// The cluster CA certificate (PEM) for pods' `ca.crt`.
    pub ca_pem: Vec<u8>,
    /// Most pods this node takes (`capacity.pods`).
    pub max_pods: u32,
    /// The service proxy to run on this node, if any.
    pub proxy: Option<ProxyMode>,
    /// The Service CIDR (network, prefix), for the proxy.
    pub service_cidr: (Ipv4Addr, u8),
    /// The whole cluster's pod network (every node's pod CIDR is inside it), for the proxy.
    pub cluster_cidr: (Ipv4Addr, u8),
}

/// The service proxy's datapath.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    /// Connections accepted and relayed in userspace.
    Userspace,
    /// Kernel DNAT programmed with nftables.
    Nftables,
}

impl Config {
    /// The pod CIDR as text, e.g. `10.244.1.0/24`.
    pub fn pod_cidr_string(&self) -> String {
        format!("{}/{}", self.pod_cidr.0, self.pod_cidr.1)
    }
}

async fn start_proxy(
    client: &kube::Client,
    config: &Config,
    mode: ProxyMode,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let proxy_config = portico_proxy::run::Config {
        node_name: config.node_name.clone(),
        metrics_addr: Some(std::net::SocketAddr::from((config.node_ip, 10249))),
    };
    let client = client.clone();
    let (cidr, prefix) = config.service_cidr;
    match mode {
        ProxyMode::Userspace => {
            portico_proxy::userspace::prepare_node(cidr, prefix)
                .await
                .map_err(|e| Error::Other(format!("preparing the userspace proxy: {e}")))?;
            let datapath = portico_proxy::userspace::Userspace::new(
                portico_proxy::userspace::Options::default(),
            );
            tokio::spawn(async move {
                if let Err(e) =
                    portico_proxy::run::run(client, proxy_config, datapath, shutdown).await
                {
                    tracing::error!(error = %e, "the service proxy stopped");
                }
            });
        }
        ProxyMode::Nftables => {
            use portico_proxy::nftables::{Ipv4Cidr, NftConfig, Nftables};
            let bad = |what: &str| Error::Other(format!("invalid {what} for the nftables proxy"));
            let pods = Ipv4Cidr::new(config.cluster_cidr.0, config.cluster_cidr.1)
                .ok_or_else(|| bad("cluster CIDR"))?;
            let services = Ipv4Cidr::new(cidr, prefix).ok_or_else(|| bad("service CIDR"))?;
            let datapath = Nftables::new(NftConfig::new(pods, services))
                .map_err(|e| Error::Other(format!("preparing the nftables proxy: {e}")))?;
            tokio::spawn(async move {
                if let Err(e) =
                    portico_proxy::run::run(client, proxy_config, datapath, shutdown).await
                {
                    tracing::error!(error = %e, "the service proxy stopped");
                }
            });
        }
    }
    Ok(())
}

/// Runs the node until `shutdown` fires: registers the Node, serves the node API, and runs
/// the pods bound to it. Every pod's processes are stopped before this returns.
pub async fn run(
    client: kube::Client,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let config = Arc::new(config);
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| Error::io(format!("creating {}", config.data_dir.display()), e))?;
    std::fs::create_dir_all(&config.run_dir)
        .map_err(|e| Error::io(format!("creating {}", config.run_dir.display()), e))?;
    runtime::hold_self_exe(&config.self_exe)?;
    let network = Arc::new(network::PodNetwork::setup(&config).await?);
    let catalog = portico_images::Catalog::load(config.images_file.as_deref())?;
    let manager = pods::Manager::new(client.clone(), config.clone(), network, catalog);
    let listener = tokio::net::TcpListener::bind((config.node_ip, config.kubelet_port))
        .await
        .map_err(|e| {
            Error::io(
                format!("listening on {}:{}", config.node_ip, config.kubelet_port),
                e,
            )
        })?;
    tokio::spawn(server::serve(listener, manager.clone(), shutdown.clone()));
    if let Some(mode) = config.proxy {
        start_proxy(&client, &config, mode, shutdown.clone()).await?;
    }
    register::register(&client, &config).await?;
    tokio::spawn(register::heartbeat(
        client.clone(),
        config.clone(),
        shutdown.clone(),
    ));
    tracing::info!(node = %config.node_name, ip = %config.node_ip, "node ready");
    let result = manager.run(shutdown).await;
    tracing::info!(node = %config.node_name, "node stopped; its pods are gone");
    result
}
