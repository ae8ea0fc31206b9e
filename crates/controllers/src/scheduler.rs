//! The scheduler: binds pending pods to nodes, as kube-scheduler does.
//!
//! It watches all pods and all nodes. Pods without `spec.nodeName` whose `schedulerName` is
//! `default-scheduler` (or empty) are queued; for each, the nodes are filtered
//! ([`filter`]: cordon, taints including not-ready, nodeSelector and required node affinity)
//! and the feasible ones scored ([`score`]: spread the pods of one owner, then the least
//! busy node). The choice is written through the `pods/binding` subresource and told with a
//! `Scheduled` event ("Successfully assigned ns/pod to node"). When nothing fits, the pod gets
//! a `FailedScheduling` warning with kube-scheduler's message and the condition
//! `PodScheduled=False`, reason `Unschedulable`; it is tried again when a node changes.
//! Pods that already have a node are left alone.

pub mod filter;
pub mod score;
pub mod state;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Binding, Node, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use rand::SeedableRng;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::events::{self, Recorder};
use score::PodKey;
use state::{Decision, State};

/// How many bindings (or failure reports) may be in flight at once.
const IN_FLIGHT: usize = 32;
/// How long an unschedulable pod waits before it is tried again regardless of node changes.
const UNSCHEDULABLE_TIMEOUT: Duration = Duration::from_secs(300);

/// What a binding task reports back to the scheduling loop.
enum Outcome {
    Bound(PodKey),
    BindFailed(PodKey),
    Retry(PodKey),
}

struct Ctx {
    client: kube::Client,
    recorder: Recorder,
    outcomes: mpsc::UnboundedSender<Outcome>,
}

/// Runs the scheduler until `shutdown` fires.
pub async fn run(client: kube::Client, shutdown: CancellationToken) -> Result<(), crate::Error> {
    let pods =
        watcher(Api::<Pod>::all(client.clone()), watcher::Config::default()).default_backoff();
    let nodes =
        watcher(Api::<Node>::all(client.clone()), watcher::Config::default()).default_backoff();
    let mut pods = std::pin::pin!(pods);
    let mut nodes = std::pin::pin!(nodes);
    let (tx, mut outcomes) = mpsc::unbounded_channel();
    let ctx = Arc::new(Ctx {
        recorder: Recorder::new(client.clone(), state::SCHEDULER_NAME),
        client,
        outcomes: tx,
    });
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut rng = rand::rngs::StdRng::from_os_rng();
    let mut sweep = tokio::time::interval(Duration::from_secs(30));
    let mut state = State::default();
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ok(()),
            Some(event) = nodes.next() => match event {
                Ok(event) => state.on_node_event(event),
                Err(e) => tracing::warn!(error = %e, "scheduler: node watch failed"),
            },
            Some(event) = pods.next() => match event {
                Ok(event) => state.on_pod_event(event),
                Err(e) => tracing::warn!(error = %e, "scheduler: pod watch failed"),
            },
            Some(outcome) = outcomes.recv() => match outcome {
                Outcome::Bound(key) => state.bound(&key),
                Outcome::Retry(key) => state.retry(key),
                Outcome::BindFailed(key) => {
                    if let Some(delay) = state.bind_failed(&key) {
                        let tx = ctx.outcomes.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            let _ = tx.send(Outcome::Retry(key));
                        });
                    }
                }
            },
            _ = sweep.tick() => state.requeue_unschedulable(Some(UNSCHEDULABLE_TIMEOUT)),
            Ok(permit) = permits.clone().acquire_owned(), if state.has_work() => {
                if let Some(decision) = state.next_decision(&mut rng) {
                    tokio::spawn(carry_out(ctx.clone(), decision, permit));
                }
            }
        }
    }
}

fn key_of(pod: &Pod) -> PodKey {
    (
        pod.metadata.namespace.clone().unwrap_or_default(),
        pod.metadata.name.clone().unwrap_or_default(),
    )
}

/// Writes a decision to the API: the binding and its event, or the failure event and condition.
async fn carry_out(ctx: Arc<Ctx>, decision: Decision, _permit: OwnedSemaphorePermit) {
    match decision {
        Decision::Bind { pod, node } => {
            let key = key_of(&pod);
            let outcome = match bind(&ctx.client, &pod, &node).await {
                Ok(()) => {
                    let msg = format!("Successfully assigned {}/{} to {node}", key.0, key.1);
                    ctx.recorder
                        .normal(&events::reference(&*pod), "Scheduled", &msg)
                        .await;
                    Outcome::Bound(key)
                }
                Err(e) => {
                    tracing::debug!(pod = %key.1, %node, error = %e, "binding failed");
                    if !matches!(&e, kube::Error::Api(s) if s.code == 404) {
                        let msg = format!("Binding rejected: {}", api_message(&e));
                        ctx.recorder
                            .warning(&events::reference(&*pod), "FailedScheduling", &msg)
                            .await;
                    }
                    Outcome::BindFailed(key)
                }
            };
            let _ = ctx.outcomes.send(outcome);
        }
        Decision::Unschedulable { pod, message } => {
            ctx.recorder
                .warning(&events::reference(&*pod), "FailedScheduling", &message)
                .await;
            if let Err(e) = mark_unschedulable(&ctx.client, &pod, &message).await {
                tracing::debug!(pod = ?pod.metadata.name, error = %e, "PodScheduled condition not written");
            }
        }
    }
}

fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

/// POSTs the pod's `binding` subresource.
async fn bind(client: &kube::Client, pod: &Pod, node: &str) -> Result<(), kube::Error> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let binding = Binding {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        },
        target: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(node.to_string()),
            ..Default::default()
        },
    };
    api.create_subresource::<_, serde_json::Value>(
        "binding",
        &name,
        &PostParams::default(),
        &binding,
    )
    .await
    .map(|_| ())
}

/// Sets `PodScheduled=False` (reason `Unschedulable`) unless the pod already says exactly that.
async fn mark_unschedulable(
    client: &kube::Client,
    pod: &Pod,
    message: &str,
) -> Result<(), kube::Error> {
    let current = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"));
    if current.is_some_and(|c| {
        c.status == "False"
            && c.reason.as_deref() == Some("Unschedulable")
            && c.message.as_deref() == Some(message)
    }) {
        return Ok(());
    }
    let since = current
        .filter(|c| c.status == "False")
        .and_then(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| Time(jiff::Timestamp::now()));
    let patch = serde_json::json!({"status": {"conditions": [{
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": message,
        "lastProbeTime": null,
        "lastTransitionTime": since,
    }]}});
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    api.patch_status(&name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .map(|_| ())
}
