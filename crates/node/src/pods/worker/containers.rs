//! Starting, restarting and stopping a pod's containers, and reacting to their exits and
//! probe verdicts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Secret};
use kube::Api;
use tokio::io::AsyncWriteExt;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::exits::BACKOFF_FIRST;
use super::{reference, Ev, Worker};
use crate::logs::{self, Stream};
use crate::pods::status::{now, State};
use crate::pods::ContainerLive;
use crate::probe;
use crate::runtime::{self, Stdio3};

/// The running (or last) process of one container.
pub(crate) struct Run {
    pub(crate) restart: i32,
    pub(crate) pid: u32,
    pub(crate) started: Instant,
    pub(crate) started_at: String,
    pub(crate) alive: bool,
    pub(crate) backoff: Duration,
    pub(crate) probes: CancellationToken,
    pub(crate) done: watch::Sender<bool>,
    pub(crate) init: bool,
    pub(crate) liveness_kill: bool,
}

/// Runs exec probes inside the pod.
struct PodExec {
    ns: Arc<portico_sandbox::spawn::PodNamespaces>,
    env: Vec<(String, String)>,
}

impl probe::Exec for PodExec {
    fn exec(
        &self,
        argv: Vec<String>,
        timeout: Duration,
    ) -> futures::future::BoxFuture<'static, std::io::Result<(i32, Vec<u8>)>> {
        let ns = self.ns.clone();
        let env = self.env.clone();
        Box::pin(async move { runtime::run_to_end(&ns, &argv, &env, timeout).await })
    }
}

fn base_env(hostname: &str, tty: bool) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "PATH".to_string(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        ),
        ("HOSTNAME".into(), hostname.into()),
        ("HOME".into(), "/root".into()),
    ];
    if tty {
        env.push(("TERM".into(), "xterm".into()));
    }
    env
}

fn merge(env: &mut Vec<(String, String)>, more: Vec<(String, String)>) {
    for (k, v) in more {
        match env.iter_mut().find(|(ek, _)| *ek == k) {
            Some(slot) => slot.1 = v,
            None => env.push((k, v)),
        }
    }
}

impl Worker {
    pub(super) fn container_spec(&self, name: &str) -> Option<(Container, bool)> {
        let spec = self.pod.spec.as_ref()?;
        if let Some(c) = spec.containers.iter().find(|c| c.name == name) {
            return Some((c.clone(), false));
        }
        spec.init_containers
            .iter()
            .flatten()
            .find(|c| c.name == name)
            .map(|c| (c.clone(), true))
    }

    pub(super) fn status_mut(
        &mut self,
        name: &str,
        init: bool,
    ) -> Option<&mut crate::pods::ContainerStatus> {
        let list = if init {
            &mut self.status.init
        } else {
            &mut self.status.containers
        };
        list.iter_mut().find(|c| c.name == name)
    }

    async fn lookups(
        &self,
        c: &Container,
    ) -> (HashMap<String, ConfigMap>, HashMap<String, Secret>) {
        let mut cms = HashMap::new();
        let mut secrets = HashMap::new();
        let ns = self.handle.namespace.clone();
        let mut cm_names = Vec::new();
        let mut secret_names = Vec::new();
        for e in c.env.iter().flatten() {
            if let Some(vf) = &e.value_from {
                if let Some(r) = &vf.config_map_key_ref {
                    cm_names.push(r.name.clone());
                }
                if let Some(r) = &vf.secret_key_ref {
                    secret_names.push(r.name.clone());
                }
            }
        }
        for e in c.env_from.iter().flatten() {
            if let Some(r) = &e.config_map_ref {
                cm_names.push(r.name.clone());
            }
            if let Some(r) = &e.secret_ref {
                secret_names.push(r.name.clone());
            }
        }
        let cm_api: Api<ConfigMap> = Api::namespaced(self.m.client.clone(), &ns);
        for n in cm_names {
            if let Ok(Some(cm)) = cm_api.get_opt(&n).await {
                cms.insert(n, cm);
            }
        }
        let s_api: Api<Secret> = Api::namespaced(self.m.client.clone(), &ns);
        for n in secret_names {
            if let Ok(Some(s)) = s_api.get_opt(&n).await {
                secrets.insert(n, s);
            }
        }
        (cms, secrets)
    }

    pub(super) fn set_waiting(
        &mut self,
        name: &str,
        init: bool,
        reason: &str,
        message: Option<String>,
    ) {
        if let Some(st) = self.status_mut(name, init) {
            st.state = State::Waiting {
                reason: reason.into(),
                message,
            };
            st.ready = false;
        }
        if let Ok(mut live) = self.handle.live.lock() {
            if let Some(c) = live.containers.get_mut(name) {
                c.waiting = Some(reason.into());
                c.running = false;
            }
        }
    }

    /// Starts (or restarts) a container.
    pub(crate) async fn start(&mut self, name: &str, init_hint: bool) {
        let Some((c, init)) = self.container_spec(name) else {
            return;
        };
        let _ = init_hint;
        let image = c.image.clone().unwrap_or_default();
        let restart = self.runs.get(name).map_or(0, |r| r.restart + 1);
        let pod_ref = reference(&self.pod, Some(name));
        // Image → command.
        let resolved = match self.m.catalog.resolve(
            &image,
            c.command.as_deref().unwrap_or(&[]),
            c.args.as_deref().unwrap_or(&[]),
            &self.m.config.self_exe,
        ) {
            Ok(r) => r,
            Err(e) => {
                let msg = e.to_string();
                self.m
                    .recorder
                    .warning(
                        &pod_ref,
                        "Failed",
                        &format!("Failed to pull image \"{image}\": {msg}"),
                    )
                    .await;
                self.m
                    .recorder
                    .warning(&pod_ref, "Failed", "Error: ErrImagePull")
                    .await;
                self.set_waiting(name, init, "ErrImagePull", Some(msg));
                self.schedule_restart(name, restart - 1, BACKOFF_FIRST);
                return;
            }
        };
        // Environment.
        let (cms, secrets) = self.lookups(&c).await;
        let services: Vec<k8s_openapi::api::core::v1::Service> = self
            .m
            .services
            .state()
            .iter()
            .map(|s| (**s).clone())
            .collect();
        let ip = self.ip.map(|i| i.to_string());
        let env_result = {
            let cm_fn = |_: &str, n: &str| cms.get(n).cloned();
            let secret_fn = |_: &str, n: &str| secrets.get(n).cloned();
            let inputs = crate::env::EnvInputs {
                pod: &self.pod,
                container: &c,
                services: &services,
                config_maps: &cm_fn,
                secrets: &secret_fn,
                pod_ip: ip.clone(),
                pod_ips: ip.iter().cloned().collect(),
                host_ip: self.m.config.node_ip.to_string(),
                node_name: self.m.config.node_name.clone(),
                master_service_namespace: "default",
            };
            crate::env::container_env(&inputs)
        };
        let k8s_env = match env_result {
            Ok(e) => e,
            Err(e) => {
                let msg = e.to_string();
                self.m
                    .recorder
                    .warning(&pod_ref, "Failed", &format!("Error: {msg}"))
                    .await;
                self.set_waiting(name, init, "CreateContainerConfigError", Some(msg));
                self.schedule_restart(name, restart - 1, BACKOFF_FIRST);
                return;
            }
        };
        let tty = c.tty.unwrap_or(false);
        let hostname = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.hostname.clone())
            .unwrap_or_else(|| self.handle.name.clone());
        let mut env = base_env(&hostname, tty);
        merge(&mut env, resolved.env.clone());
        merge(&mut env, k8s_env.clone());
        // $(VAR) references in command and args use the container's variables.
        let argv: Vec<String> = resolved
            .argv
            .iter()
            .map(|a| crate::env::expand(a, &k8s_env))
            .collect();
        let working_dir = c.working_dir.clone().or(resolved.working_dir.clone());
        let Some(ns) = self
            .handle
            .live
            .lock()
            .ok()
            .and_then(|l| l.namespaces.clone())
        else {
            return;
        };
        if restart == 0 {
            self.m
                .recorder
                .normal(
                    &pod_ref,
                    "Pulled",
                    &format!("Container image \"{image}\" already present on machine"),
                )
                .await;
        }
        let stdio = if tty {
            Stdio3::Tty
        } else {
            Stdio3::Pipes {
                stdin: c.stdin.unwrap_or(false),
            }
        };
        let log_path = logs::path(&self.handle.dir, name, restart);
        if let Some(d) = log_path.parent() {
            let _ = std::fs::create_dir_all(d);
        }
        let file = match tokio::fs::File::create(&log_path).await {
            Ok(f) => Arc::new(tokio::sync::Mutex::new(f)),
            Err(e) => {
                self.set_waiting(name, init, "RunContainerError", Some(e.to_string()));
                return;
            }
        };
        let mut proc = match runtime::spawn_in_pod(&ns, &argv, &env, working_dir.as_deref(), stdio)
        {
            Ok(p) => p,
            Err(e) => {
                let msg = format!("failed to start container {name:?}: {e}");
                self.m
                    .recorder
                    .warning(&pod_ref, "Failed", &format!("Error: {msg}"))
                    .await;
                let at = now();
                if let Some(st) = self.status_mut(name, init) {
                    st.state = State::Terminated {
                        exit_code: 128,
                        signal: None,
                        reason: "StartError".into(),
                        message: Some(msg),
                        started_at: at.clone(),
                        finished_at: at,
                    };
                }
                let (done, _) = watch::channel(true);
                self.runs.insert(
                    name.to_string(),
                    Run {
                        restart,
                        pid: 0,
                        started: Instant::now(),
                        started_at: now(),
                        alive: false,
                        backoff: self.runs.get(name).map_or(Duration::ZERO, |r| r.backoff),
                        probes: CancellationToken::new(),
                        done,
                        init,
                        liveness_kill: false,
                    },
                );
                let _ = self.events.try_send(Ev::Exited {
                    name: name.to_string(),
                    restart,
                    code: 128,
                    signal: None,
                });
                return;
            }
        };
        self.m
            .recorder
            .normal(&pod_ref, "Created", &format!("Created container {name}"))
            .await;
        self.m
            .recorder
            .normal(&pod_ref, "Started", &format!("Started container {name}"))
            .await;
        let (live_tx, _) = broadcast::channel(256);
        let (done_tx, done_rx) = watch::channel(false);
        let mut pumps = Vec::new();
        let mut stdin_tx = None;
        let pty = proc.pty.take().map(Arc::new);
        if let Some(master) = &pty {
            if let Ok(fd) = master.try_clone() {
                let reader = tokio::fs::File::from_std(std::fs::File::from(fd));
                pumps.push(tokio::spawn(logs::pump(
                    reader,
                    Stream::Stdout,
                    file.clone(),
                    live_tx.clone(),
                )));
            }
            if c.stdin.unwrap_or(false) {
                if let Ok(fd) = master.try_clone() {
                    stdin_tx = Some(feed(tokio::fs::File::from_std(std::fs::File::from(fd))));
                }
            }
        } else {
            if let Some(out) = proc.child.stdout.take() {
                pumps.push(tokio::spawn(logs::pump(
                    out,
                    Stream::Stdout,
                    file.clone(),
                    live_tx.clone(),
                )));
            }
            if let Some(err) = proc.child.stderr.take() {
                pumps.push(tokio::spawn(logs::pump(
                    err,
                    Stream::Stderr,
                    file.clone(),
                    live_tx.clone(),
                )));
            }
            if let Some(input) = proc.child.stdin.take() {
                stdin_tx = Some(feed(input));
            }
        }
        // Wait for the process (and its output) to end.
        let events = self.events.clone();
        let cname = name.to_string();
        let mut child = proc.child;
        let done_for_task = done_tx.clone();
        tokio::spawn(async move {
            let status = child.wait().await;
            for p in pumps {
                let _ = tokio::time::timeout(Duration::from_secs(2), p).await;
            }
            let _ = done_for_task.send(true);
            let (code, signal) = match status {
                Ok(s) => {
                    use std::os::unix::process::ExitStatusExt;
                    match (s.code(), s.signal()) {
                        (Some(c), _) => (c, None),
                        (None, Some(sig)) => (128 + sig, Some(sig)),
                        _ => (1, None),
                    }
                }
                Err(_) => (1, None),
            };
            let _ = events
                .send(Ev::Exited {
                    name: cname,
                    restart,
                    code,
                    signal,
                })
                .await;
        });
        let started_at = now();
        let probes = CancellationToken::new();
        let has_readiness = c.readiness_probe.is_some();
        let has_startup = c.startup_probe.is_some();
        let uid = self.handle.uid.clone();
        if let Some(st) = self.status_mut(name, init) {
            if restart > 0 {
                if let State::Terminated { .. } = st.state {
                    st.last_state = Some(st.state.clone());
                }
                st.restart_count = restart;
            }
            st.state = State::Running {
                started_at: started_at.clone(),
            };
            st.ready = !has_readiness && !init;
            st.started = !has_startup;
            st.container_id = Some(format!(
                "portico://{}-{}-{}",
                &uid[..8.min(uid.len())],
                name,
                restart
            ));
        }
        if !init {
            if let Some(ip) = self.ip {
                let exec: Arc<dyn probe::Exec> = Arc::new(PodExec {
                    ns: ns.clone(),
                    env: env.clone(),
                });
                probe::spawn_all(
                    &c,
                    std::net::IpAddr::V4(ip),
                    exec,
                    self.events_for_probes(),
                    probes.clone(),
                );
            }
        }
        if let Ok(mut live) = self.handle.live.lock() {
            live.containers.insert(
                name.to_string(),
                ContainerLive {
                    restart,
                    running: true,
                    waiting: None,
                    env: env.clone(),
                    working_dir: working_dir.clone(),
                    done: done_rx,
                    live: live_tx,
                    stdin: stdin_tx,
                    pty,
                    tty,
                },
            );
        }
        let backoff = self.runs.get(name).map_or(Duration::ZERO, |r| r.backoff);
        self.runs.insert(
            name.to_string(),
            Run {
                restart,
                pid: proc.pid,
                started: Instant::now(),
                started_at,
                alive: true,
                backoff,
                probes,
                done: done_tx,
                init,
                liveness_kill: false,
            },
        );
    }

    fn events_for_probes(&self) -> mpsc::Sender<probe::ProbeEvent> {
        let (tx, mut rx) = mpsc::channel::<probe::ProbeEvent>(16);
        let events = self.events.clone();
        tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                if events.send(Ev::Probe(e)).await.is_err() {
                    return;
                }
            }
        });
        tx
    }

    pub(super) fn schedule_restart(&self, name: &str, restart: i32, after: Duration) {
        let events = self.events.clone();
        let name = name.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = events.send(Ev::Restart { name, restart }).await;
        });
    }
}
/// Writes what arrives on the returned channel into a container's stdin; `None` closes it.
fn feed(
    mut to: impl tokio::io::AsyncWrite + Unpin + Send + 'static,
) -> mpsc::Sender<Option<Bytes>> {
    let (tx, mut rx) = mpsc::channel::<Option<Bytes>>(64);
    tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            match msg {
                Some(b) => {
                    if to.write_all(&b).await.is_err() {
                        return;
                    }
                    let _ = to.flush().await;
                }
                None => return,
            }
        }
    });
    tx
}
