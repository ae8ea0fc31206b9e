//! LoadBalancer addresses from a pool, as MetalLB's controller hands them out.
//!
//! Every Service of type `LoadBalancer` without a `loadBalancerClass` (or with the class
//! `portico.dev/lb`) gets one address of the pool (`portico server --lb-pool`, default
//! `127.240.0.0/24`, see [`pool`] for the syntax) in `status.loadBalancer.ingress[0].ip`, with
//! `ipMode: VIP`, written through the status subresource, so `kubectl get svc` shows it as
//! EXTERNAL-IP. A specific address is honoured when asked for with `spec.loadBalancerIP` or
//! the MetalLB annotation `metallb.universe.tf/loadBalancerIPs` ([`want`]). The address is
//! released when the Service is deleted or stops being a LoadBalancer (its status is then
//! cleared), and given to the oldest Service still waiting for one. Events: `IPAllocated`
//! (`Assigned IP ["127.240.0.1"]`) and `AllocationFailed` (`Failed to allocate IP for
//! "ns/name": no available IPs`, or why a requested address cannot be had).

pub mod pool;
pub mod state;
pub mod want;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{watcher, WatchStreamExt};
use tokio_util::sync::CancellationToken;

use crate::events::{self, Recorder};
use state::{Action, Ipam};

/// The component name on the Events (MetalLB's controller writes as `metallb-controller`).
pub const COMPONENT: &str = "portico-lb-controller";

/// Runs the allocator over `pool` until `shutdown` fires.
pub async fn run(
    client: kube::Client,
    pool: String,
    shutdown: CancellationToken,
) -> Result<(), crate::Error> {
    let pool = pool::Pool::parse(&pool)?;
    tracing::debug!(addresses = pool.size(), "LoadBalancer pool");
    let mut ipam = Ipam::new(pool);
    let recorder = Recorder::new(client.clone(), COMPONENT);
    let services = watcher(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff();
    let mut services = std::pin::pin!(services);
    loop {
        let event = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            event = services.next() => event,
        };
        match event {
            Some(Ok(event)) => {
                for action in ipam.on_event(event) {
                    carry_out(&client, &recorder, action).await;
                }
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "LoadBalancer allocator: service watch failed")
            }
            None => return Ok(()),
        }
    }
}

async fn carry_out(client: &kube::Client, recorder: &Recorder, action: Action) {
    match action {
        Action::SetStatus { svc, ip } => {
            let ns = svc.metadata.namespace.clone().unwrap_or_default();
            let name = svc.metadata.name.clone().unwrap_or_default();
            let ingress = match ip {
                Some(ip) => serde_json::json!([{"ip": ip.to_string(), "ipMode": "VIP"}]),
                None => serde_json::Value::Null,
            };
            let patch = serde_json::json!({"status": {"loadBalancer": {"ingress": ingress}}});
            let api: Api<Service> = Api::namespaced(client.clone(), &ns);
            if let Err(e) = api
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                tracing::warn!(service = %format!("{ns}/{name}"), error = %e, "writing the LoadBalancer status failed");
            }
        }
        Action::Event {
            svc,
            warning,
            reason,
            message,
        } => {
            let about = events::reference(&*svc);
            if warning {
                recorder.warning(&about, reason, &message).await;
            } else {
                recorder.normal(&about, reason, &message).await;
            }
        }
    }
}
