//! The API server's one error type, and the one place where errors become Kubernetes
//! `Status` bodies with their HTTP codes.

use std::path::Path;

use portico_api::Cause;
use portico_store::StoreError;
use serde_json::{json, Value};

/// Everything a request (or the server's start) can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object does not exist (404).
    #[error("{resource} \"{name}\" not found")]
    NotFound {
        /// Group-qualified resource, e.g. `services` or `deployments.apps`.
        resource: String,
        /// Object name.
        name: String,
    },
    /// The object exists already (409).
    #[error("{resource} \"{name}\" already exists")]
    AlreadyExists {
        /// Group-qualified resource.
        resource: String,
        /// Object name.
        name: String,
    },
    /// A stale resourceVersion or another optimistic-concurrency failure (409).
    #[error("Operation cannot be fulfilled on {resource} \"{name}\": {reason}")]
    Conflict {
        /// Group-qualified resource.
        resource: String,
        /// Object name.
        name: String,
        /// Why.
        reason: String,
    },
    /// Server-side apply conflicts (409, reason Conflict, with causes).
    #[error("{message}")]
    ApplyConflict {
        /// The whole message.
        message: String,
        /// One cause per conflicting field.
        causes: Vec<Value>,
    },
    /// The object fails validation (422).
    #[error("{message}")]
    Invalid {
        /// Kind, e.g. `Service`.
        kind: String,
        /// API group.
        group: String,
        /// Object name.
        name: String,
        /// The full message.
        message: String,
        /// The causes.
        causes: Vec<Cause>,
    },
    /// The request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// A resourceVersion or continue token that is too old (410).
    #[error("{0}")]
    Gone(String),
    /// The request is not allowed in the current state (403).
    #[error("{0}")]
    Forbidden(String),
    /// No bearer token or a wrong one (401).
    #[error("Unauthorized")]
    Unauthorized,
    /// Unknown path (404 with a generic message).
    #[error("the server could not find the requested resource")]
    NoRoute,
    /// The verb is not allowed on this path (405).
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    /// Unsupported Content-Type (415).
    #[error("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf")]
    UnsupportedMediaType,
    /// Unsupported patch type (415).
    #[error("the server does not support patch type {0}")]
    UnsupportedPatch(String),
    /// The body exceeds the size limit (413).
    #[error("Request entity too large: limit is {0}")]
    TooLarge(usize),
    /// The feature needs a node that does not exist yet (503 / 400).
    #[error("{0}")]
    Unavailable(String),
    /// A store failure (500).
    #[error("store: {0}")]
    Store(StoreError),
    /// Internal failure (500).
    #[error("{0}")]
    Internal(String),
    /// File system failure while starting.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Certificate or TLS set-up failure.
    #[error("tls: {0}")]
    Tls(String),
}

impl Error {
    /// An I/O error about `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            Error::NotFound { .. } | Error::NoRoute => 404,
            Error::AlreadyExists { .. } | Error::Conflict { .. } | Error::ApplyConflict { .. } => {
                409
            }
            Error::Invalid { .. } => 422,
            Error::BadRequest(_) => 400,
            Error::Gone(_) => 410,
            Error::Forbidden(_) => 403,
            Error::Unauthorized => 401,
            Error::MethodNotAllowed => 405,
            Error::UnsupportedMediaType | Error::UnsupportedPatch(_) => 415,
            Error::TooLarge(_) => 413,
            Error::Unavailable(_) => 503,
            Error::Store(StoreError::Compacted { .. }) => 410,
            Error::Store(_) | Error::Internal(_) | Error::Io { .. } | Error::Tls(_) => 500,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Error::NotFound { .. } | Error::NoRoute => "NotFound",
            Error::AlreadyExists { .. } => "AlreadyExists",
            Error::Conflict { .. } | Error::ApplyConflict { .. } => "Conflict",
            Error::Invalid { .. } => "Invalid",
            Error::BadRequest(_) => "BadRequest",
            Error::Gone(_) | Error::Store(StoreError::Compacted { .. }) => "Expired",
            Error::Forbidden(_) => "Forbidden",
            Error::Unauthorized => "Unauthorized",
            Error::MethodNotAllowed => "MethodNotAllowed",
            Error::UnsupportedMediaType | Error::UnsupportedPatch(_) => "UnsupportedMediaType",
            Error::TooLarge(_) => "RequestEntityTooLarge",
            Error::Unavailable(_) => "ServiceUnavailable",
            _ => "InternalError",
        }
    }

    /// The `Status` body Kubernetes sends for this error.
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code(),
        });
        let details = match self {
            Error::NotFound { resource, name }
            | Error::AlreadyExists { resource, name }
            | Error::Conflict { resource, name, .. } => {
                let (kind, group) = match resource.split_once('.') {
                    Some((k, g)) => (k, g),
                    None => (resource.as_str(), ""),
                };
                let mut d = json!({"name": name, "kind": kind});
                if !group.is_empty() {
                    d["group"] = json!(group);
                }
                Some(d)
            }
            Error::Invalid {
                kind,
                group,
                name,
                causes,
                ..
            } => {
                let causes: Vec<Value> = causes
                    .iter()
                    .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                    .collect();
                let mut d = json!({"name": name, "kind": kind, "causes": causes});
                if !group.is_empty() {
                    d["group"] = json!(group);
                }
                Some(d)
            }
            Error::ApplyConflict { causes, .. } => Some(json!({"causes": causes})),
            _ => None,
        };
        if let Some(d) = details {
            status["details"] = d;
        }
        status
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}
