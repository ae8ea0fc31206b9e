//! Portico's controllers, in the roles of kube-controller-manager and kube-scheduler.
//!
//! Every controller talks to the cluster only through the Kubernetes API with kube-rs
//! (watchers, reflectors, a work queue per controller), never to the store: the same code
//! could run against any Kubernetes API server.
//!
//! * [`endpoints`]: Endpoints for Services with selectors (and nothing for the others).
//! * [`endpointslice`]: EndpointSlices for Services with selectors, and mirrors of hand-made
//!   Endpoints for Services without one.
//! * [`workloads`]: Deployments, ReplicaSets, ReplicationControllers, StatefulSets.
//! * [`scheduler`]: binds pending pods to Ready nodes.
//! * [`lbipam`]: LoadBalancer addresses from a pool, as MetalLB does.
//! * [`events`]: the Event recorder every controller uses so `kubectl describe` tells the story.

pub mod endpoints;
pub mod endpointslice;
pub mod events;
pub mod lbipam;
pub mod scheduler;
pub mod workloads;

use tokio_util::sync::CancellationToken;

/// What can stop a controller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request to the API server failed.
    #[error("kubernetes API request failed: {0}")]
    Api(#[from] kube::Error),
    /// A configuration value is invalid.
    #[error("invalid controller configuration: {0}")]
    Config(String),
}

/// Settings of the controllers.
#[derive(Debug, Clone)]
pub struct Config {
    /// The LoadBalancer address pool, e.g. `127.240.0.0/24` or `127.240.0.10-127.240.0.20`.
    pub lb_pool: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            lb_pool: "127.240.0.0/24".into(),
        }
    }
}

/// Runs every controller until `shutdown` fires or one fails.
pub async fn run(
    client: kube::Client,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let results = tokio::join!(
        endpoints::run(client.clone(), shutdown.clone()),
        endpointslice::run(client.clone(), shutdown.clone()),
        workloads::run(client.clone(), shutdown.clone()),
        scheduler::run(client.clone(), shutdown.clone()),
        lbipam::run(client.clone(), config.lb_pool.clone(), shutdown.clone()),
    );
    results.0?;
    results.1?;
    results.2?;
    results.3?;
    results.4?;
    Ok(())
}
