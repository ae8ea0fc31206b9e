//! `portico ingress-controller`: the ingress controller (what ingress-nginx does), run as the
//! `portico/ingress-controller` image by the Deployment in `ingress-portico`, behind a
//! LoadBalancer Service.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use tokio_util::sync::CancellationToken;

/// Options of `portico ingress-controller`.
#[derive(clap::Args, Debug)]
pub struct IngressArgs {
    /// Plain HTTP listener.
    #[arg(long, default_value = "0.0.0.0:80")]
    pub http: SocketAddr,
    /// HTTPS listener.
    #[arg(long, default_value = "0.0.0.0:443")]
    pub https: SocketAddr,
    /// Where to answer `GET /healthz`.
    #[arg(long, default_value = "0.0.0.0:10254")]
    pub health: SocketAddr,
    /// The IngressClass served.
    #[arg(long, default_value = "portico")]
    pub ingress_class: String,
    /// The `spec.controller` value of the IngressClasses this controller owns.
    #[arg(long, default_value = "portico.dev/ingress-controller")]
    pub controller_class: String,
    /// `namespace/name` of the Service whose load-balancer address the Ingresses report.
    #[arg(long)]
    pub publish_service: Option<String>,
    /// A kubeconfig to use instead of the pod's service account.
    #[arg(long)]
    pub kubeconfig: Option<std::path::PathBuf>,
}

/// Runs the ingress controller until SIGTERM or SIGINT.
pub fn ingress_controller(args: IngressArgs) -> Result<()> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let publish_service = match &args.publish_service {
        None => None,
        Some(s) => {
            let (ns, name) = s
                .split_once('/')
                .with_context(|| format!("--publish-service {s:?} is not namespace/name"))?;
            Some((ns.to_string(), name.to_string()))
        }
    };
    // The proxy runs on worker threads of its own (one single-threaded runtime per CPU this
    // process may use); this runtime only watches the API server and answers health checks.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the async runtime")?;
    runtime.block_on(async move {
        let client = crate::dns::kube_client(args.kubeconfig.as_deref()).await?;
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            crate::wait_for_signal().await;
            stop.cancel();
        });
        let config = portico_ingress::Config {
            http: args.http,
            https: args.https,
            health: Some(args.health),
            class: args.ingress_class,
            controller: args.controller_class,
            publish_service,
        };
        portico_ingress::run(client, config, shutdown).await?;
        Ok(())
    })
}
