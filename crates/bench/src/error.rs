//! The one error type of the benchmark.

/// Everything that can stop a benchmark run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A kube-rs request or client setup failed.
    #[error("kubernetes client: {0}")]
    Kube(#[from] kube::Error),
    /// Reading a kubeconfig failed.
    #[error("kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    /// Building a client configuration from a kubeconfig failed.
    #[error("client config: {0}")]
    Config(#[from] kube::config::InferConfigError),
    /// An etcd request failed.
    #[error("etcd: {0}")]
    Etcd(#[from] etcd_client::Error),
    /// A SQLite call failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// JSON (de)serialisation failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// A request could not be built.
    #[error("http: {0}")]
    Http(#[from] http::Error),
    /// A benchmark task panicked or was cancelled.
    #[error("task: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// Anything else, described.
    #[error("{0}")]
    Other(String),
}
