//! The crate's error type.

use http::StatusCode;

/// Everything that can go wrong while negotiating or serving a stream.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is not an acceptable upgrade; answer it with `status` and `message`
    /// (kubectl falls back from WebSocket to SPDY on any non-101 answer).
    #[error("{message}")]
    Upgrade {
        /// The HTTP status to answer with (400, or 403 when no protocol matches).
        status: StatusCode,
        /// A plain-text explanation, worded like the kubelet's.
        message: String,
    },
    /// The client did not open the streams its request announced in time.
    #[error("timed out waiting for client to create streams")]
    StreamTimeout,
    /// The client went away before the session could be set up or finished.
    #[error("connection closed by the client")]
    Closed,
    /// A SPDY protocol violation.
    #[error("spdy: {0}")]
    Spdy(#[from] crate::spdy::SpdyError),
    /// A WebSocket protocol failure.
    #[error("websocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    /// An I/O failure on the connection.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// hyper could not hand over the upgraded connection.
    #[error("upgrade: {0}")]
    Hyper(#[from] hyper::Error),
}

impl Error {
    /// A 400 Bad Request negotiation failure.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Error::Upgrade {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// The HTTP status to answer a failed negotiation with (500 for anything else).
    pub fn http_status(&self) -> StatusCode {
        match self {
            Error::Upgrade { status, .. } => *status,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}
