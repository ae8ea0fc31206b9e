//! One Deployment run: create a Deployment of R replicas, follow its pods with a watch
//! until all are Ready, sample the cluster's memory once they idle, then delete it and
//! wait until every pod is gone.

mod track;

use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams, WatchEvent, WatchParams};
use tokio::sync::mpsc;

use crate::procs::{self, Memory};
use crate::Error;
pub use track::{Latencies, Tracker};

/// The namespace the Deployments go to.
pub const NAMESPACE: &str = "default";

/// A built-in image to deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Image {
    /// `registry.k8s.io/pause`: sleeps.
    Pause,
    /// `luksa/kubia`: HTTP on 8080, with a readiness probe `httpGet / :8080`.
    Kubia,
}

impl Image {
    /// Parses `pause` or `kubia`.
    pub fn parse(s: &str) -> Option<Image> {
        match s.trim() {
            "pause" => Some(Image::Pause),
            "kubia" => Some(Image::Kubia),
            _ => None,
        }
    }

    /// The short name.
    pub fn name(self) -> &'static str {
        match self {
            Image::Pause => "pause",
            Image::Kubia => "kubia",
        }
    }

    /// How the report describes the pods.
    pub fn describe(self) -> &'static str {
        match self {
            Image::Pause => "registry.k8s.io/pause",
            Image::Kubia => "luksa/kubia + readiness httpGet :8080/",
        }
    }
}

/// The Deployment of a run; `token`: whether its pods mount the service account token
/// (the Kubernetes default).
pub fn deployment(
    name: &str,
    image: Image,
    replicas: usize,
    token: bool,
) -> Result<Deployment, Error> {
    let mut container = serde_json::json!({"name": "main"});
    match image {
        Image::Pause => container["image"] = "registry.k8s.io/pause".into(),
        Image::Kubia => {
            container["image"] = "luksa/kubia".into();
            container["ports"] = serde_json::json!([{"containerPort": 8080}]);
            container["readinessProbe"] =
                serde_json::json!({"httpGet": {"path": "/", "port": 8080}});
        }
    }
    Ok(serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [container], "automountServiceAccountToken": token},
            },
        },
    }))?)
}

/// The results of one run.
#[derive(Debug, Clone)]
pub struct DeployRun {
    /// The image.
    pub image: Image,
    /// Replicas asked for.
    pub replicas: usize,
    /// Deployment create sent → the last pod's first watch event.
    pub all_created: Option<Duration>,
    /// Deployment create sent → the last pod seen Ready (None if not all got Ready).
    pub all_ready: Option<Duration>,
    /// Pods seen Ready before the deadline.
    pub ready: usize,
    /// Per-pod latencies.
    pub latencies: Latencies,
    /// Pods per node.
    pub per_node: std::collections::BTreeMap<String, usize>,
    /// CPU seconds the cluster's processes used from the create to all Ready.
    pub cpu_seconds: f64,
    /// CPU seconds every other process of the machine (not the cluster, not the driver)
    /// used meanwhile: other work disturbing the run.
    pub other_cpu_seconds: f64,
    /// The cluster's memory with the pods Ready and idle.
    pub memory: Memory,
    /// Delete sent → the last pod's DELETED event (None if some remained).
    pub teardown: Option<Duration>,
    /// Why not all pods got Ready, when they did not.
    pub problem: Option<String>,
}

/// Options of a run.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    /// The image.
    pub image: Image,
    /// Replicas.
    pub replicas: usize,
    /// The cluster's root pid (the `portico up` process).
    pub root_pid: u32,
    /// File name of the portico binary, to class processes.
    pub portico_name: &'a str,
    /// How long pods may take to get Ready, and to go away.
    pub timeout: Duration,
    /// Give up waiting for Ready pods when none got Ready for this long.
    pub stall: Duration,
    /// Whether the pods mount the service account token.
    pub token: bool,
    /// Pause between all Ready and the memory sample.
    pub settle: Duration,
}

/// Follows the pods labelled `app=NAME` from resourceVersion `from`, stamping each event
/// on arrival. Returns only on an error (or when the receiver is gone).
async fn follow(
    api: Api<Pod>,
    selector: String,
    from: String,
    tx: mpsc::UnboundedSender<(Instant, Pod, bool)>,
) -> Result<(), Error> {
    let mut version = from;
    loop {
        let params = WatchParams::default().labels(&selector).timeout(290);
        let mut stream = api.watch(&params, &version).await?.boxed();
        while let Some(event) = stream.next().await {
            let at = Instant::now();
            let (pod, deleted) = match event? {
                WatchEvent::Added(p) | WatchEvent::Modified(p) => (p, false),
                WatchEvent::Deleted(p) => (p, true),
                WatchEvent::Bookmark(b) => {
                    version = b.metadata.resource_version;
                    continue;
                }
                WatchEvent::Error(status) => return Err(Error::Watch(status.message)),
            };
            if let Some(v) = &pod.metadata.resource_version {
                version.clone_from(v);
            }
            if tx.send((at, pod, deleted)).is_err() {
                return Ok(());
            }
        }
    }
}

/// Feeds events into `tracker` until `done` holds or `deadline` passes; whether `done` held.
async fn until(
    rx: &mut mpsc::UnboundedReceiver<(Instant, Pod, bool)>,
    tracker: &mut Tracker,
    deadline: Instant,
    done: impl Fn(&Tracker) -> bool,
) -> bool {
    while !done(tracker) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some((at, pod, deleted))) => tracker.observe(&pod, at, deleted),
            Ok(None) | Err(_) => return done(tracker),
        }
    }
    true
}

/// Waits until `spec.replicas` pods are Ready, giving up at `started + spec.timeout` or
/// when no further pod got Ready for `spec.stall`; whether all got Ready.
async fn wait_ready(
    rx: &mut mpsc::UnboundedReceiver<(Instant, Pod, bool)>,
    tracker: &mut Tracker,
    started: Instant,
    spec: &Spec<'_>,
) -> bool {
    let hard = started + spec.timeout;
    let mut progress = (0, Instant::now());
    loop {
        let before = progress.0;
        let deadline = (progress.1 + spec.stall).min(hard);
        until(rx, tracker, deadline, |t| {
            t.ready() >= spec.replicas || t.ready() > before
        })
        .await;
        let now = tracker.ready();
        if now >= spec.replicas {
            return true;
        }
        if now == before {
            return false;
        }
        progress = (now, Instant::now());
    }
}

/// The reason and message of the last Warning event about pod `name`, if any.
async fn last_warning(client: &kube::Client, name: &str) -> Option<String> {
    let events: Api<Event> = Api::namespaced(client.clone(), NAMESPACE);
    let list = events.list(&ListParams::default()).await.ok()?;
    list.items
        .iter()
        .rfind(|e| {
            e.involved_object.name.as_deref() == Some(name) && e.type_.as_deref() == Some("Warning")
        })
        .map(|e| {
            format!(
                "{}: {}",
                e.reason.as_deref().unwrap_or(""),
                e.message.as_deref().unwrap_or("")
            )
        })
}

/// Runs one Deployment of `spec.replicas` pods on the cluster `client` talks to.
pub async fn run(client: &kube::Client, spec: &Spec<'_>, name: &str) -> Result<DeployRun, Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    let selector = format!("app={name}");
    let from = pods
        .list(&ListParams::default().labels(&selector))
        .await?
        .metadata
        .resource_version
        .unwrap_or_else(|| "0".into());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let watch = tokio::spawn(follow(pods.clone(), selector, from, tx));
    let mut tracker = Tracker::new();
    let cpu_before = procs::cpu_seconds(&procs::scan(spec.root_pid, spec.portico_name));
    let (machine_before, driver_before) = procs::machine_and_self_seconds();

    let started = Instant::now();
    deployments
        .create(
            &PostParams::default(),
            &deployment(name, spec.image, spec.replicas, spec.token)?,
        )
        .await?;
    let want = spec.replicas;
    let all = wait_ready(&mut rx, &mut tracker, started, spec).await;
    let cpu_after = procs::cpu_seconds(&procs::scan(spec.root_pid, spec.portico_name));
    let (machine_after, driver_after) = procs::machine_and_self_seconds();
    let cpu_seconds = (cpu_after - cpu_before).max(0.0);
    let other_cpu_seconds =
        (machine_after - machine_before - cpu_seconds - (driver_after - driver_before)).max(0.0);
    let (last_added, last_ready) = tracker.last_added_and_ready();
    let problem = if all {
        None
    } else {
        let stuck = tracker
            .pods
            .iter()
            .find(|(_, p)| p.ready.is_none())
            .map(|(name, _)| name.clone());
        let why = match &stuck {
            Some(pod) => last_warning(client, pod).await.map_or_else(
                || format!("{pod}: no Warning event"),
                |w| format!("{pod}: {w}"),
            ),
            None => "no pod created".into(),
        };
        let problem = format!(
            "{} of {want} pods Ready ({} seen) when the benchmark gave up after {:.0} s; {why}",
            tracker.ready(),
            tracker.seen(),
            started.elapsed().as_secs_f64()
        );
        eprintln!("  {problem}");
        Some(problem)
    };
    // Let the pods idle, still following events, then sample memory.
    let settle_end = Instant::now() + spec.settle;
    until(&mut rx, &mut tracker, settle_end, |_| false).await;
    let memory = Memory::of(&procs::scan(spec.root_pid, spec.portico_name));

    let deleting = Instant::now();
    deployments
        .delete(name, &DeleteParams::background())
        .await?;
    let gone = until(&mut rx, &mut tracker, deleting + spec.timeout, |t| {
        t.live() == 0
    })
    .await;
    let teardown = gone.then(|| {
        tracker
            .pods
            .values()
            .filter_map(|p| p.deleted)
            .max()
            .map_or(Duration::ZERO, |d| d.saturating_duration_since(deleting))
    });
    if !gone {
        eprintln!(
            "  {} pods still present {:?} after the delete",
            tracker.live(),
            spec.timeout
        );
    }
    watch.abort();
    if let Ok(Err(e)) = watch.await {
        eprintln!("  the pod watch failed: {e}");
    }
    Ok(DeployRun {
        image: spec.image,
        replicas: want,
        all_created: last_added.map(|t| t.saturating_duration_since(started)),
        all_ready: all
            .then(|| last_ready.map(|t| t.saturating_duration_since(started)))
            .flatten(),
        ready: tracker.ready(),
        latencies: tracker.latencies(),
        per_node: tracker.per_node(),
        cpu_seconds,
        other_cpu_seconds,
        memory,
        teardown,
        problem,
    })
}

/// The file name of the portico binary at `path`.
pub fn binary_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "portico".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubia_deployment_has_a_readiness_probe_on_8080() {
        let d = deployment("kubia-n1", Image::Kubia, 100, true).unwrap();
        let spec = d.spec.unwrap();
        assert_eq!(spec.replicas, Some(100));
        let c = &spec.template.spec.as_ref().unwrap().containers[0];
        assert_eq!(c.image.as_deref(), Some("luksa/kubia"));
        let probe = c
            .readiness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap();
        assert_eq!(probe.path.as_deref(), Some("/"));
        assert_eq!(
            probe.port,
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(8080)
        );
        assert_eq!(
            spec.template
                .spec
                .as_ref()
                .unwrap()
                .automount_service_account_token,
            Some(true)
        );
        let selector = spec.selector.match_labels.unwrap();
        assert_eq!(selector["app"], "kubia-n1");
    }

    #[test]
    fn the_pause_deployment_has_no_probe_and_images_parse() {
        let d = deployment("p", Image::Pause, 3, false).unwrap();
        let pod = d.spec.unwrap().template.spec.unwrap();
        assert_eq!(pod.automount_service_account_token, Some(false));
        let c = &pod.containers[0];
        assert_eq!(c.image.as_deref(), Some("registry.k8s.io/pause"));
        assert!(c.readiness_probe.is_none());
        assert_eq!(Image::parse(" kubia"), Some(Image::Kubia));
        assert_eq!(Image::parse("nginx"), None);
        assert_eq!(
            binary_name(Path::new("/x/target/release/portico")),
            "portico"
        );
    }
}
