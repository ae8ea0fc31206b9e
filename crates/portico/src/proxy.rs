//! `portico proxy rules`: what each node's service proxy has programmed, as text for people.
//!
//! Every node's proxy serves its rules on `NODE_IP:10249/rules` (the nftables table it
//! committed, in kube-proxy's chain names, or the userspace listeners and their endpoints).
//! Node addresses live inside the cluster's network, so the command goes through the API
//! server's `nodes/proxy` subresource, `/api/v1/nodes/NAME:10249/proxy/rules`, as
//! `kubectl get --raw` would.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};

/// The port of the proxy's metrics and rules server on every node.
const PROXY_PORT: u16 = 10249;

/// `portico proxy ...`.
#[derive(clap::Args, Debug)]
pub struct ProxyArgs {
    #[command(subcommand)]
    command: ProxyCommand,
}

#[derive(clap::Subcommand, Debug)]
enum ProxyCommand {
    /// Print the rules each node's service proxy has programmed.
    Rules {
        /// Only this node (default: every node).
        #[arg(long)]
        node: Option<String>,
        /// The kubeconfig to reach the API server with (default: $KUBECONFIG, else the
        /// one `portico up` wrote in its home).
        #[arg(long, env = "KUBECONFIG")]
        kubeconfig: Option<PathBuf>,
        /// The home directory of `portico up` (default ~/.portico).
        #[arg(long, env = "PORTICO_HOME")]
        home: Option<PathBuf>,
    },
}

/// Runs `portico proxy`.
pub fn proxy(args: ProxyArgs) -> Result<()> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the async runtime")?;
    match args.command {
        ProxyCommand::Rules {
            node,
            kubeconfig,
            home,
        } => {
            let kubeconfig = match kubeconfig {
                Some(k) => k,
                None => crate::up::resolve_home(home.as_deref()).join("kubeconfig"),
            };
            let text = runtime.block_on(rules(&kubeconfig, node.as_deref()))?;
            print!("{text}");
            Ok(())
        }
    }
}

/// The rules of `only` (or of every node), each under a `# node NAME` heading.
async fn rules(kubeconfig: &std::path::Path, only: Option<&str>) -> Result<String> {
    let client = crate::dns::kube_client(Some(kubeconfig)).await?;
    let names: Vec<String> = match only {
        Some(n) => vec![n.to_string()],
        None => Api::<Node>::all(client.clone())
            .list(&ListParams::default())
            .await
            .context("listing nodes")?
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .collect(),
    };
    if names.is_empty() {
        bail!("the cluster has no nodes");
    }
    let mut out = String::new();
    for name in names {
        let path = format!("/api/v1/nodes/{name}:{PROXY_PORT}/proxy/rules");
        let req = http::Request::get(&path)
            .body(Vec::new())
            .context("building the request")?;
        let text = client
            .request_text(req)
            .await
            .with_context(|| format!("asking node {name}'s proxy for its rules ({path})"))?;
        out.push_str(&format!("# node {name}\n{text}"));
        if !text.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}
