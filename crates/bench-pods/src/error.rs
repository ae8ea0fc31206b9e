//! The one error type of the pods benchmark.

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
    /// JSON (de)serialisation failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// Starting, signalling or reading a process failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, e.g. `starting portico up`.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A Portico process did not print its ready line.
    #[error("{command} did not become ready: {why} (log: {log})")]
    NotReady {
        /// The command, e.g. `portico up --nodes 1`.
        command: String,
        /// What happened instead.
        why: String,
        /// Its log file.
        log: String,
    },
    /// A benchmark task panicked or was cancelled.
    #[error("task: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// A watch ended with an error status from the server.
    #[error("watch of pods failed: {0}")]
    Watch(String),
    /// The run was interrupted (SIGINT or SIGTERM).
    #[error("interrupted")]
    Interrupted,
    /// A command-line value is unusable.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// For `map_err`: an I/O failure while doing `what`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}
