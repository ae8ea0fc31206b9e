//! One pod's life on this node: sandbox and network, init containers, app containers with
//! restarts and back-off, probes, status, and termination when the pod is deleted.

mod containers;
mod exits;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::status::{ContainerStatus, PodStatus, State};
use super::{Live, Manager, PodHandle};
use crate::network;
use crate::runtime::{Sandbox, SandboxSpec};
use containers::Run;

/// Something that happened to a pod's containers.
pub(crate) enum Ev {
    /// A container process ended.
    Exited {
        name: String,
        restart: i32,
        code: i32,
        signal: Option<i32>,
    },
    /// A back-off delay is over: start the container again.
    Restart { name: String, restart: i32 },
    /// A probe changed its verdict or failed.
    Probe(crate::probe::ProbeEvent),
}

pub(crate) struct Worker {
    pub(crate) m: Arc<Manager>,
    pub(crate) handle: Arc<PodHandle>,
    pub(crate) pod: Pod,
    pub(crate) status: PodStatus,
    pub(crate) sandbox: Option<Sandbox>,
    pub(crate) ip: Option<Ipv4Addr>,
    pub(crate) host_ports: Option<crate::hostport::HostPorts>,
    pub(crate) runs: HashMap<String, Run>,
    pub(crate) events: mpsc::Sender<Ev>,
    pub(crate) deleting: bool,
    pub(crate) stopping: bool,
    pub(crate) unpublished: bool,
}

/// Time the worker waits between attempts to set up a pod that failed to start.
const RETRY: Duration = Duration::from_secs(5);

pub(crate) fn reference(pod: &Pod, container: Option<&str>) -> ObjectReference {
    let mut r = portico_controllers::events::reference(pod);
    r.field_path = container.map(|c| format!("spec.containers{{{c}}}"));
    r
}

/// Runs one pod until it is deleted (or the node stops).
pub(crate) async fn run(m: Arc<Manager>, mut rx: watch::Receiver<Pod>, stop: CancellationToken) {
    let pod = rx.borrow_and_update().clone();
    let ns = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let name = pod.metadata.name.clone().unwrap_or_default();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let dir = m
        .config
        .data_dir
        .join("pods")
        .join(format!("{ns}_{name}_{uid}"));
    let handle = Arc::new(PodHandle {
        namespace: ns,
        name,
        uid,
        dir,
        live: std::sync::Mutex::new(Live::default()),
    });
    m.register(handle.clone());
    let (events, mut events_rx) = mpsc::channel(64);
    let phase = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default();
    let mut w = Worker {
        m: m.clone(),
        handle: handle.clone(),
        status: PodStatus {
            phase: "Pending".into(),
            host_ip: m.config.node_ip.to_string(),
            start_time: super::status::now(),
            ..Default::default()
        },
        pod,
        sandbox: None,
        ip: None,
        host_ports: None,
        runs: HashMap::new(),
        events,
        deleting: false,
        stopping: false,
        unpublished: false,
    };
    if matches!(phase.as_str(), "Succeeded" | "Failed") {
        // Finished before (e.g. on an earlier run of this node): keep it, never rerun it.
        w.idle_until_deleted(&mut rx, &stop).await;
        m.forget(&handle);
        return;
    }
    if w.pod.metadata.deletion_timestamp.is_none() && !stop.is_cancelled() {
        w.live(&mut rx, &mut events_rx, &stop).await;
    }
    w.teardown(&mut events_rx).await;
    if w.deleting && !stop.is_cancelled() {
        w.finalize().await;
    }
    m.forget(&handle);
}

impl Worker {
    fn ns(&self) -> &str {
        &self.handle.namespace
    }

    fn grace(&self) -> Duration {
        let g = self
            .pod
            .metadata
            .deletion_grace_period_seconds
            .or_else(|| {
                self.pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.termination_grace_period_seconds)
            })
            .unwrap_or(30)
            .max(0);
        Duration::from_secs(g as u64)
    }

    async fn idle_until_deleted(
        &mut self,
        rx: &mut watch::Receiver<Pod>,
        stop: &CancellationToken,
    ) {
        loop {
            if self.pod.metadata.deletion_timestamp.is_some() {
                self.deleting = true;
                self.finalize().await;
                return;
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                changed = rx.changed() => {
                    if changed.is_err() { return }
                    self.pod = rx.borrow_and_update().clone();
                }
            }
        }
    }

    /// Sets the pod up and runs it until deletion or node shutdown.
    async fn live(
        &mut self,
        rx: &mut watch::Receiver<Pod>,
        events_rx: &mut mpsc::Receiver<Ev>,
        stop: &CancellationToken,
    ) {
        self.publish().await;
        loop {
            match self.setup().await {
                Ok(()) => break,
                Err(e) => {
                    let msg = e.to_string();
                    tracing::warn!(pod = %self.handle.name, error = %msg, "pod sandbox setup failed");
                    self.m
                        .recorder
                        .warning(
                            &reference(&self.pod, None),
                            "FailedCreatePodSandBox",
                            &format!("Failed to create pod sandbox: {msg}"),
                        )
                        .await;
                    self.cleanup_sandbox().await;
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(RETRY) => {}
                        changed = rx.changed() => {
                            if changed.is_err() { return }
                            self.pod = rx.borrow_and_update().clone();
                        }
                    }
                    if self.pod.metadata.deletion_timestamp.is_some() {
                        self.deleting = true;
                        return;
                    }
                }
            }
        }
        if !self.run_init_containers(rx, events_rx, stop).await {
            return;
        }
        self.status.initialized = true;
        let names: Vec<String> = self
            .pod
            .spec
            .iter()
            .flat_map(|s| s.containers.iter().map(|c| c.name.clone()))
            .collect();
        for name in &names {
            self.start(name, false).await;
        }
        self.update_phase();
        self.publish().await;
        let mut retry = tokio::time::interval(Duration::from_secs(3));
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = retry.tick() => {
                    if self.unpublished {
                        self.publish().await;
                    }
                }
                changed = rx.changed() => {
                    if changed.is_err() { return }
                    self.pod = rx.borrow_and_update().clone();
                    if self.pod.metadata.deletion_timestamp.is_some() {
                        self.deleting = true;
                        return;
                    }
                }
                ev = events_rx.recv() => {
                    let Some(ev) = ev else { return };
                    self.handle_event(ev).await;
                    // Coalesce whatever else is queued before writing status.
                    while let Ok(ev) = events_rx.try_recv() {
                        self.handle_event(ev).await;
                    }
                    self.update_phase();
                    self.publish().await;
                }
            }
        }
    }

    /// Sandbox, network and files.
    async fn setup(&mut self) -> Result<(), crate::Error> {
        std::fs::create_dir_all(&self.handle.dir)
            .map_err(|e| crate::Error::io(format!("creating {}", self.handle.dir.display()), e))?;
        let spec = self.pod.spec.clone().unwrap_or_default();
        // A host network pod has the node's address; others get one of the pod CIDR.
        let host_network = spec.host_network == Some(true);
        let ip = match self.ip {
            _ if host_network => self.m.config.node_ip,
            Some(ip) => ip,
            None => {
                let ip = self.m.network.allocate()?;
                self.ip = Some(ip);
                ip
            }
        };
        let layout = super::volumes::prepare(
            &self.m.client,
            &self.m.config,
            &self.pod,
            &self.handle.dir,
            &ip.to_string(),
        )
        .await?;
        // The kubelet gives a host network pod the node's hostname.
        let hostname = match spec.hostname.clone() {
            _ if host_network => self.m.config.node_name.clone(),
            Some(h) => h,
            None => self.handle.name.clone(),
        };
        let layer_dir = self.m.config.run_dir.join("layers").join(&self.handle.uid);
        let sandbox_spec = SandboxSpec {
            hostname,
            layer_dir,
            files: layout.files,
            binds: layout.binds,
            host_network,
        };
        let sandbox = Sandbox::start(&self.m.config, &self.handle.dir, &sandbox_spec).await?;
        let pid = sandbox.pid;
        let ns = Arc::new(portico_sandbox::spawn::PodNamespaces::open(pid)?);
        self.sandbox = Some(sandbox);
        if !host_network {
            self.m
                .network
                .attach(pid, ip, &network::host_end_name(&self.handle.uid))
                .await?;
        }
        let mappings = crate::hostport::mappings(&spec, ip);
        if !mappings.is_empty() {
            self.host_ports = Some(crate::hostport::HostPorts::open(&mappings).await?);
        }
        if let Ok(mut live) = self.handle.live.lock() {
            live.namespaces = Some(ns);
            live.pod_ip = Some(ip);
        }
        self.status.sandbox_ready = true;
        self.status.pod_ip = Some(ip.to_string());
        let statuses = |list: &[k8s_openapi::api::core::v1::Container]| {
            list.iter()
                .map(|c| ContainerStatus::new(&c.name, c.image.as_deref().unwrap_or("")))
                .collect::<Vec<_>>()
        };
        self.status.init = statuses(spec.init_containers.as_deref().unwrap_or(&[]));
        self.status.containers = statuses(&spec.containers);
        if let Ok(mut live) = self.handle.live.lock() {
            live.order = spec.containers.iter().map(|c| c.name.clone()).collect();
        }
        self.publish().await;
        Ok(())
    }

    async fn cleanup_sandbox(&mut self) {
        self.host_ports = None;
        if let Some(mut s) = self.sandbox.take() {
            s.stop().await;
        }
        self.m
            .network
            .detach(&network::host_end_name(&self.handle.uid))
            .await;
        if let Ok(mut live) = self.handle.live.lock() {
            live.namespaces = None;
        }
    }

    /// Runs init containers one after the other; false if the pod must not go on.
    async fn run_init_containers(
        &mut self,
        rx: &mut watch::Receiver<Pod>,
        events_rx: &mut mpsc::Receiver<Ev>,
        stop: &CancellationToken,
    ) -> bool {
        let inits: Vec<String> = self
            .pod
            .spec
            .iter()
            .flat_map(|s| s.init_containers.iter().flatten().map(|c| c.name.clone()))
            .collect();
        for name in inits {
            self.start(&name, true).await;
            self.publish().await;
            loop {
                let done = self
                    .status
                    .init
                    .iter()
                    .find(|c| c.name == name)
                    .map(|c| matches!(c.state, State::Terminated { exit_code: 0, .. }));
                if done == Some(true) {
                    break;
                }
                if self.status.phase == "Failed" {
                    self.publish().await;
                    return false;
                }
                tokio::select! {
                    _ = stop.cancelled() => return false,
                    changed = rx.changed() => {
                        if changed.is_err() { return false }
                        self.pod = rx.borrow_and_update().clone();
                        if self.pod.metadata.deletion_timestamp.is_some() {
                            self.deleting = true;
                            return false;
                        }
                    }
                    ev = events_rx.recv() => {
                        let Some(ev) = ev else { return false };
                        self.handle_event(ev).await;
                        self.publish().await;
                    }
                }
            }
        }
        true
    }

    /// Phase from the containers, as the kubelet computes it.
    fn update_phase(&mut self) {
        if !self.status.sandbox_ready || !self.status.initialized {
            return;
        }
        let policy = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.clone())
            .unwrap_or_else(|| "Always".into());
        let cs = &self.status.containers;
        let never_started = cs.iter().any(|c| {
            c.restart_count == 0
                && c.last_state.is_none()
                && matches!(c.state, State::Waiting { .. })
        });
        let all_done = cs.iter().all(|c| match &c.state {
            State::Terminated { exit_code, .. } => match policy.as_str() {
                "Never" => true,
                "OnFailure" => *exit_code == 0,
                _ => false,
            },
            _ => false,
        });
        self.status.phase = if all_done {
            if cs
                .iter()
                .all(|c| matches!(c.state, State::Terminated { exit_code: 0, .. }))
            {
                "Succeeded".into()
            } else {
                "Failed".into()
            }
        } else if never_started {
            "Pending".into()
        } else {
            "Running".into()
        };
    }

    /// Writes the pod's status.
    pub(crate) async fn publish(&mut self) {
        let api: Api<Pod> = Api::namespaced(self.m.client.clone(), self.ns());
        let body = json!({"status": self.status.to_json()});
        if let Err(e) = api
            .patch_status(
                &self.handle.name,
                &PatchParams::default(),
                &Patch::Merge(body),
            )
            .await
        {
            tracing::debug!(pod = %self.handle.name, error = %e, "writing pod status failed");
        }
    }

    /// Stops every container (SIGTERM, grace period, SIGKILL) and the sandbox.
    async fn teardown(&mut self, events_rx: &mut mpsc::Receiver<Ev>) {
        self.stopping = true;
        let grace = if self.deleting {
            self.grace()
        } else {
            Duration::from_secs(2)
        };
        self.stop_all(grace, events_rx).await;
        self.cleanup_sandbox().await;
        if let Some(ip) = self.ip.take() {
            self.m.network.release(ip);
        }
        let layer = self.m.config.run_dir.join("layers").join(&self.handle.uid);
        let _ = std::fs::remove_dir_all(&layer);
        let mem = self.m.config.run_dir.join("volumes").join(&self.handle.uid);
        let _ = std::fs::remove_dir_all(&mem);
        if self.deleting {
            let _ = std::fs::remove_dir_all(&self.handle.dir);
        }
    }

    /// Deletes the pod object for good, once its processes are gone.
    async fn finalize(&self) {
        let api: Api<Pod> = Api::namespaced(self.m.client.clone(), self.ns());
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: Some(self.handle.uid.clone()),
                resource_version: None,
            }),
            ..Default::default()
        };
        if let Err(e) = api.delete(&self.handle.name, &params).await {
            tracing::debug!(pod = %self.handle.name, error = %e, "final delete failed");
        }
    }
}
