//! The one error type of the controllers benchmark.

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
    /// A benchmark task panicked or was cancelled.
    #[error("task: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// A request failed; the request is described so the failure can be reproduced.
    #[error("{request}: {source}")]
    Request {
        /// What was sent, e.g. `PATCH pods/svc-00001-3/status {"status":...}`.
        request: String,
        /// Why it failed.
        source: Box<kube::Error>,
    },
    /// A watch ended with an error status from the server.
    #[error("watch of {resource} failed: {status}")]
    Watch {
        /// The resource being watched.
        resource: &'static str,
        /// The server's status message.
        status: String,
    },
    /// The controllers did not reach the expected state in time.
    #[error("{0}")]
    NotConverged(String),
    /// Anything else, described.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// For `map_err`: a failed request, described by `request`.
    pub fn request(request: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        let request = request.into();
        move |source| Error::Request {
            request,
            source: Box::new(source),
        }
    }
}
