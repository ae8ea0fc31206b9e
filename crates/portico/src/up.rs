//! `portico up` and `portico down`: a whole cluster in a rootless sandbox on this machine.
//!
//! The process chain (see `portico_sandbox::userns` for why each link exists):
//!
//! ```text
//! portico up              host side: checks, binds host ports on request (SCM_RIGHTS),
//! │                       shows progress, stops the cluster on Ctrl-C / SIGTERM
//! └─ portico __sandbox    keeper: new user, net, mount, UTS, IPC namespaces
//!    └─ portico __init    PID 1 of a new PID namespace: mounts, reaps orphans
//!       └─ portico __cluster   node network, API server, controllers, node agents
//!          └─ portico node     one per node, each in its own network namespace
//!             └─ pods          sandbox processes and containers
//! ```
//!
//! Every link dies with its parent (parent-death signals, and the PID namespace), so even a
//! `kill -9` of `portico up` leaves nothing behind. The host side talks to the sandbox over
//! two channels: the cluster's stdout carries progress lines (`step TEXT`, `ready`,
//! `error TEXT`), and a Unix socket (descriptor 3 inside) carries host-port requests.

mod addons;
mod cluster;
mod forward;
mod host;
mod ingress;
mod init;

use std::net::IpAddr;
use std::path::PathBuf;

pub use cluster::cluster;
pub use host::{down, up};
pub use init::{init, keeper};

/// The descriptor number of the host-port channel inside the sandbox.
pub const PORTS_FD: i32 = 3;

/// Options shared by `portico up` and the processes it starts.
#[derive(clap::Args, Debug, Clone)]
pub struct UpArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 1)]
    pub nodes: u32,
    /// Where the cluster keeps its state, kubeconfig and logs (default ~/.portico).
    #[arg(long, env = "PORTICO_HOME")]
    pub home: Option<PathBuf>,
    /// Host address the API server, NodePorts and the ingress are forwarded from.
    #[arg(long, default_value = "127.0.0.1")]
    pub listen_address: IpAddr,
    /// Host port of the API server.
    #[arg(long, default_value_t = 6443)]
    pub api_port: u16,
    /// LoadBalancer address pool: a CIDR (`127.240.0.0/24`) or a range (`A-B`).
    #[arg(long, default_value = "127.240.0.0/24")]
    pub lb_pool: String,
    /// The service proxy's datapath on every node: `nftables` or `userspace`.
    #[arg(long, default_value = "nftables")]
    pub proxy_mode: String,
    /// Host port (on the listen address) of the ingress controller's HTTP listener.
    #[arg(long, default_value_t = 8080)]
    pub http_port: u16,
    /// Host port (on the listen address) of the ingress controller's HTTPS listener.
    #[arg(long, default_value_t = 8443)]
    pub https_port: u16,
    /// The DNS server the cluster DNS forwards names outside the cluster to, as ADDR:PORT
    /// (default: the first `nameserver` of the host's /etc/resolv.conf).
    #[arg(long)]
    pub upstream_dns: Option<std::net::SocketAddr>,
}

impl UpArgs {
    /// The cluster's home directory, absolute.
    pub fn home(&self) -> PathBuf {
        resolve_home(self.home.as_deref())
    }

    /// The same options as command-line arguments, for the next process of the chain.
    pub fn to_args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "--nodes".into(),
            self.nodes.to_string(),
            "--home".into(),
            self.home().display().to_string(),
            "--listen-address".into(),
            self.listen_address.to_string(),
            "--api-port".into(),
            self.api_port.to_string(),
            "--lb-pool".into(),
            self.lb_pool.clone(),
            "--proxy-mode".into(),
            self.proxy_mode.clone(),
            "--http-port".into(),
            self.http_port.to_string(),
            "--https-port".into(),
            self.https_port.to_string(),
        ];
        if let Some(dns) = self.upstream_dns {
            args.extend(["--upstream-dns".into(), dns.to_string()]);
        }
        args
    }
}

/// The home directory of `portico up`: `home`, else `~/.portico`, made absolute.
pub fn resolve_home(home: Option<&std::path::Path>) -> PathBuf {
    let home = match home {
        Some(h) => h.to_path_buf(),
        None => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/tmp"))
            .join(".portico"),
    };
    if home.is_absolute() {
        home
    } else {
        std::env::current_dir()
            .map(|d| d.join(&home))
            .unwrap_or(home)
    }
}

/// Addresses of the sandbox's networks.
pub mod plan {
    use std::net::Ipv4Addr;

    /// The node network's bridge in the sandbox.
    pub const NODE_BRIDGE: &str = "portico0";
    /// The sandbox's own address on the node network (where the API server listens).
    pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(172, 18, 0, 1);
    /// Prefix length of the node network.
    pub const NODE_PREFIX: u8 = 16;
    /// The API server's port inside the sandbox.
    pub const API_PORT: u16 = 6443;

    /// Node `i` (1-based): its address on the node network.
    pub fn node_ip(i: u32) -> Ipv4Addr {
        Ipv4Addr::new(
            172,
            18,
            (((i + 1) >> 8) & 0xff) as u8,
            ((i + 1) & 0xff) as u8,
        )
    }

    /// Node `i` (1-based): its pod CIDR, 10.244.i.0/24.
    pub fn pod_cidr(i: u32) -> (Ipv4Addr, u8) {
        (Ipv4Addr::new(10, 244, (i & 0xff) as u8, 0), 24)
    }

    /// Node `i`'s name.
    pub fn node_name(i: u32) -> String {
        if i == 1 {
            "portico-node".to_string()
        } else {
            format!("portico-node{i}")
        }
    }
}
