//! The pods bound to this node: a watch on them, one worker per pod, and the live handles
//! the node API ([`crate::server`]) uses to reach a pod's processes and logs.

mod status;
mod volumes;
mod worker;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::runtime::reflector;
use kube::runtime::watcher::{self, Event};
use kube::Api;
use portico_sandbox::spawn::PodNamespaces;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

pub use status::{now as status_now, ContainerStatus, PodStatus, State};
pub use volumes::{hosts_file, resolv_conf};

use crate::logs::Stream;
use crate::network::PodNetwork;
use crate::{Config, Error};

/// What the node API needs of a running container.
#[derive(Clone)]
pub struct ContainerLive {
    /// Number of the current run (0 for the first).
    pub restart: i32,
    /// Whether a process runs now.
    pub running: bool,
    /// Why it is not running, if it is waiting (`ContainerCreating`, `CrashLoopBackOff`, ...).
    pub waiting: Option<String>,
    /// The container's environment (exec'd commands get it too).
    pub env: Vec<(String, String)>,
    /// The container's working directory.
    pub working_dir: Option<String>,
    /// Turns true when the current run has ended.
    pub done: watch::Receiver<bool>,
    /// The current run's output as it is produced.
    pub live: broadcast::Sender<(Stream, Bytes)>,
    /// Feeds the container's stdin; `None` closes it.
    pub stdin: Option<mpsc::Sender<Option<Bytes>>>,
    /// The container's terminal, when it has one.
    pub pty: Option<Arc<OwnedFd>>,
    /// The spec asked for a terminal.
    pub tty: bool,
}

/// The live side of one pod.
pub struct PodHandle {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Uid.
    pub uid: String,
    /// Where its logs and volumes are kept.
    pub dir: PathBuf,
    /// What changes while it runs.
    pub live: Mutex<Live>,
}

/// The changing part of a [`PodHandle`].
#[derive(Default)]
pub struct Live {
    /// Handles on the pod's namespaces, once its sandbox runs.
    pub namespaces: Option<Arc<PodNamespaces>>,
    /// The pod's address.
    pub pod_ip: Option<Ipv4Addr>,
    /// Containers by name (init containers included).
    pub containers: HashMap<String, ContainerLive>,
    /// Names of the app containers in spec order (the first is the default for kubectl).
    pub order: Vec<String>,
}

/// Runs the pods of this node.
pub struct Manager {
    pub(crate) client: kube::Client,
    pub(crate) config: Arc<Config>,
    pub(crate) network: Arc<PodNetwork>,
    pub(crate) catalog: portico_images::Catalog,
    pub(crate) recorder: portico_controllers::events::Recorder,
    pub(crate) services: reflector::Store<Service>,
    services_writer: Mutex<Option<reflector::store::Writer<Service>>>,
    pods: Mutex<HashMap<(String, String), Arc<PodHandle>>>,
}

struct Running {
    pod: watch::Sender<Pod>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Manager {
    /// A manager for this node.
    pub fn new(
        client: kube::Client,
        config: Arc<Config>,
        network: Arc<PodNetwork>,
        catalog: portico_images::Catalog,
    ) -> Arc<Manager> {
        let (services, writer) = reflector::store();
        let recorder = portico_controllers::events::Recorder::new(client.clone(), "kubelet");
        Arc::new(Manager {
            client,
            config,
            network,
            catalog,
            recorder,
            services,
            services_writer: Mutex::new(Some(writer)),
            pods: Mutex::new(HashMap::new()),
        })
    }

    /// The live handle of a pod, if it runs here.
    pub fn lookup(&self, namespace: &str, name: &str) -> Option<Arc<PodHandle>> {
        self.pods
            .lock()
            .ok()?
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    pub(crate) fn register(&self, handle: Arc<PodHandle>) {
        if let Ok(mut pods) = self.pods.lock() {
            pods.insert((handle.namespace.clone(), handle.name.clone()), handle);
        }
    }

    pub(crate) fn forget(&self, handle: &PodHandle) {
        if let Ok(mut pods) = self.pods.lock() {
            let key = (handle.namespace.clone(), handle.name.clone());
            if pods.get(&key).is_some_and(|h| h.uid == handle.uid) {
                pods.remove(&key);
            }
        }
    }

    /// Watches this node's pods and runs them until `shutdown`; then stops every pod.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> Result<(), Error> {
        if let Some(writer) = self.services_writer.lock().ok().and_then(|mut w| w.take()) {
            let services: Api<Service> = Api::all(self.client.clone());
            let stream = watcher::watcher(services, watcher::Config::default());
            let stop = shutdown.clone();
            tokio::spawn(async move {
                let s = reflector::reflector(writer, stream);
                futures::pin_mut!(s);
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        next = s.next() => if next.is_none() { return },
                    }
                }
            });
        }
        let pods: Api<Pod> = Api::all(self.client.clone());
        let cfg =
            watcher::Config::default().fields(&format!("spec.nodeName={}", self.config.node_name));
        let stream = watcher::watcher(pods, cfg);
        futures::pin_mut!(stream);
        let mut running: HashMap<String, Running> = HashMap::new();
        loop {
            let event = tokio::select! {
                _ = shutdown.cancelled() => break,
                e = stream.next() => e,
            };
            let Some(event) = event else { break };
            match event {
                Ok(Event::Apply(pod)) | Ok(Event::InitApply(pod)) => {
                    self.dispatch(&mut running, pod)
                }
                Ok(Event::Delete(pod)) => {
                    let uid = pod.metadata.uid.clone().unwrap_or_default();
                    if let Some(r) = running.remove(&uid) {
                        r.stop.cancel();
                    }
                }
                Ok(Event::Init) | Ok(Event::InitDone) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "watching pods failed; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
            }
            running.retain(|_, r| !r.task.is_finished());
        }
        for r in running.values() {
            r.stop.cancel();
        }
        for (_, r) in running {
            let _ = r.task.await;
        }
        Ok(())
    }

    fn dispatch(self: &Arc<Self>, running: &mut HashMap<String, Running>, pod: Pod) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        if let Some(r) = running.get(&uid) {
            if !r.task.is_finished() {
                let _ = r.pod.send(pod);
                return;
            }
            // The worker is done with this pod (it ran to completion): nothing more to do.
            let _ = r.pod.send(pod);
            return;
        }
        let (tx, rx) = watch::channel(pod);
        let stop = CancellationToken::new();
        let task = tokio::spawn(worker::run(self.clone(), rx, stop.clone()));
        running.insert(
            uid,
            Running {
                pod: tx,
                stop,
                task,
            },
        );
    }
}
