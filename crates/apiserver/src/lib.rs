//! Portico's Kubernetes API server.
//!
//! The request path, in order: [`http`] accepts TLS connections, checks the bearer token and
//! routes by [`request::parse`]; [`discovery`] answers `/version`, `/api`, `/apis` and
//! `/openapi/v3`; [`objects`] runs the write pipeline (decode, strict field check, defaults,
//! validation, Service allocation via [`alloc`], managed fields, compare-and-swap in the store);
//! [`list`] serves lists, watches and Tables; [`gc`] carries out cascading and namespace
//! deletion; [`bootstrap`] creates the objects every cluster starts with. [`error`] is the one
//! place where failures become Kubernetes `Status` bodies.
//!
//! Objects are kept in the store as JSON without `resourceVersion`; the store revision of the
//! last write becomes `metadata.resourceVersion` on the way out.

pub mod alloc;
pub mod bootstrap;
pub mod discovery;
pub mod error;
pub mod gc;
pub mod http;
pub mod list;
pub mod objects;
pub mod request;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use portico_store::Store;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

pub use error::Error;

/// How to run the API server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where credentials and the kubeconfig live.
    pub data_dir: PathBuf,
    /// Address to listen on; port 0 picks a free one (the kubeconfig records the real one).
    pub listen: SocketAddr,
    /// The Service CIDR, e.g. `10.96.0.0/12`.
    pub service_cidr: String,
    /// The NodePort range, inclusive.
    pub node_port_range: (u16, u16),
    /// Extra names or IPs for the serving certificate.
    pub extra_sans: Vec<String>,
    /// Largest request body accepted, in bytes (Kubernetes uses 3 MiB).
    pub max_body_bytes: usize,
    /// How often store history is compacted: each compaction forgets what happened before
    /// the previous one, so watches can resume from at least this far back (Kubernetes'
    /// `--etcd-compaction-interval`, 5 minutes). Zero turns compaction off.
    pub compaction_interval: std::time::Duration,
    /// Listening sockets bound elsewhere (e.g. on the host by `portico up`'s helper and
    /// handed into the sandbox) that are served as well as `listen`.
    pub extra_listeners: Vec<Arc<std::net::TcpListener>>,
    /// The server URL written into the kubeconfig; default `https://<listen address>`.
    pub kubeconfig_server: Option<String>,
    /// Also serve the older versions Kubernetes removed but teaching material still uses
    /// (Ingress in `extensions/v1beta1` and `networking.k8s.io/v1beta1`), converted to and
    /// from the stored version, with deprecation warnings. Default on; off gives exactly
    /// Kubernetes 1.32's API surface.
    pub legacy_apis: bool,
}

impl Config {
    /// Defaults for a data directory, as `portico server` uses them.
    pub fn new(data_dir: PathBuf) -> Config {
        Config {
            data_dir,
            listen: SocketAddr::from(([127, 0, 0, 1], 6443)),
            service_cidr: "10.96.0.0/12".into(),
            node_port_range: (30000, 32767),
            extra_sans: Vec::new(),
            max_body_bytes: 3 * 1024 * 1024,
            compaction_interval: std::time::Duration::from_secs(300),
            extra_listeners: Vec::new(),
            kubeconfig_server: None,
            legacy_apis: true,
        }
    }
}

/// State shared by every request.
pub struct State {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) creds: tls::Credentials,
    pub(crate) alloc: Mutex<alloc::Allocator>,
    pub(crate) config: Config,
    pub(crate) shutdown: CancellationToken,
    pub(crate) address: SocketAddr,
    pub(crate) gc: tokio::sync::Notify,
}

/// A running API server.
pub struct Running {
    /// The address it listens on.
    pub address: SocketAddr,
    /// The admin kubeconfig it wrote.
    pub kubeconfig: PathBuf,
    /// Resolves when the server has stopped (after the shutdown token fired).
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts the API server on `store`: credentials, allocator state, bootstrap objects, then
/// the listener. Returns once it accepts connections; stops when `shutdown` fires.
pub async fn start(
    config: Config,
    store: Arc<dyn Store>,
    shutdown: CancellationToken,
) -> Result<Running, Error> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| Error::Io {
            path: format!("listen {}", config.listen),
            source: e,
        })?;
    let address = listener
        .local_addr()
        .map_err(|e| Error::io(&config.data_dir, e))?;
    let mut sans = config.extra_sans.clone();
    sans.push(address.ip().to_string());
    let mut extra = Vec::new();
    for l in &config.extra_listeners {
        let l = l
            .try_clone()
            .and_then(|l| {
                l.set_nonblocking(true)?;
                tokio::net::TcpListener::from_std(l)
            })
            .map_err(|e| Error::io(&config.data_dir, e))?;
        if let Ok(a) = l.local_addr() {
            sans.push(a.ip().to_string());
        }
        extra.push(l);
    }
    let creds = tls::load_or_create(&config.data_dir.join("pki"), &sans)?;
    let tls_config = tls::server_config(&creds)?;
    let allocator = alloc::Allocator::new(&config.service_cidr, config.node_port_range)
        .map_err(Error::BadRequest)?;
    let state = Arc::new(State {
        store,
        creds,
        alloc: Mutex::new(allocator),
        config,
        shutdown: shutdown.clone(),
        address,
        gc: tokio::sync::Notify::new(),
    });
    bootstrap::run(&state).await?;
    let kubeconfig = state.config.data_dir.join("kubeconfig");
    let server_url =
        (state.config.kubeconfig_server.clone()).unwrap_or_else(|| format!("https://{address}"));
    let text = tls::kubeconfig(&state.creds, &server_url);
    let tmp = state.config.data_dir.join(".kubeconfig.tmp");
    std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, &kubeconfig).map_err(|e| Error::io(&kubeconfig, e))?;
    gc::spawn(state.clone());
    spawn_compactor(state.clone());
    bootstrap::spawn_reconciler(state.clone());
    for l in extra {
        tokio::spawn(http::serve(state.clone(), l, tls_config.clone()));
    }
    let task = tokio::spawn(http::serve(state, listener, tls_config));
    tracing::info!(%address, kubeconfig = %kubeconfig.display(), "API server ready");
    Ok(Running {
        address,
        kubeconfig,
        task,
    })
}

/// Compacts the store every interval, at the revision seen one interval earlier.
fn spawn_compactor(state: Arc<State>) {
    let every = state.config.compaction_interval;
    if every.is_zero() {
        return;
    }
    tokio::spawn(async move {
        let mut previous: Option<i64> = None;
        loop {
            tokio::select! {
                _ = state.shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            if let Some(rev) = previous.filter(|r| *r > 0) {
                match state.store.compact(rev).await {
                    Ok(()) => tracing::debug!(revision = rev, "compacted the store"),
                    Err(e) => tracing::warn!(error = %e, revision = rev, "compaction failed"),
                }
            }
            previous = state.store.current_revision().await.ok();
        }
    });
}
