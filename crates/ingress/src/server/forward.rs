//! Sending a request to a backend: the endpoints in turn from the chosen one, to the next
//! when a connection cannot be made (at most `tries` endpoints), within the read timeout.
//! Plain HTTP/1.1 goes through the endpoint pool, which hands an unsent request back; HTTPS
//! and HTTP/2 backends through hyper-util's clients, with the body taken back from its slot.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::uri::{PathAndQuery, Scheme};
use http::{Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;
use tracing::warn;

use super::pool::{PooledBody, SendError};
use super::upstream::{UpBody, Upstreams};
use crate::annotations::BackendProtocol;

/// Where and how long to try.
pub struct Attempts<'a> {
    /// The backend's ready endpoints.
    pub endpoints: &'a [SocketAddr],
    /// The index of the first to try.
    pub first: usize,
    /// How many endpoints to try at most.
    pub tries: usize,
    /// For each connection.
    pub connect_timeout: u64,
    /// For the response head.
    pub read_timeout: Duration,
}

/// A response from the endpoint at `attempts.first + .0`, or the status to answer with.
pub type Forwarded = Result<(usize, Response<PooledBody>), StatusCode>;

/// Sends `request` (origin-form URI) over HTTP/1.1 to plain-HTTP endpoints.
pub async fn plain(
    upstreams: &Upstreams,
    attempts: &Attempts<'_>,
    mut request: Request<UpBody>,
) -> Forwarded {
    let connect_timeout = Duration::from_secs(attempts.connect_timeout.max(1));
    let mut attempt = 0;
    loop {
        let endpoint = attempts.endpoints[(attempts.first + attempt) % attempts.endpoints.len()];
        let last = attempt + 1 >= attempts.tries;
        let sent = upstreams.pool().send(endpoint, connect_timeout, request);
        match tokio::time::timeout(attempts.read_timeout, sent).await {
            Ok(Ok(response)) => return Ok((attempt, response)),
            Ok(Err(SendError::Connect {
                error,
                request: unsent,
            })) if !last => {
                warn!(%endpoint, %error, "upstream connection failed, trying the next endpoint");
                request = *unsent;
                attempt += 1;
            }
            Ok(Err(SendError::Connect { error, .. })) => {
                warn!(%endpoint, %error, "upstream connection failed: 502");
                return Err(StatusCode::BAD_GATEWAY);
            }
            Ok(Err(SendError::Http(error))) => {
                warn!(%endpoint, error = %error_chain(&error), "upstream failed: 502");
                return Err(StatusCode::BAD_GATEWAY);
            }
            Err(_) => {
                warn!(%endpoint, timeout = ?attempts.read_timeout, "upstream timed out: 504");
                return Err(StatusCode::GATEWAY_TIMEOUT);
            }
        }
    }
}

/// Sends `request` (origin-form URI) with hyper-util's client for `protocol`; `slot` holds a
/// request body that was not read yet.
pub async fn pooled_client(
    upstreams: &Upstreams,
    protocol: BackendProtocol,
    attempts: &Attempts<'_>,
    request: Request<UpBody>,
    slot: Option<Arc<Mutex<Option<Incoming>>>>,
) -> Forwarded {
    let (scheme, version) = match protocol {
        BackendProtocol::Https => (Scheme::HTTPS, Version::HTTP_11),
        BackendProtocol::Http => (Scheme::HTTP, Version::HTTP_11),
        BackendProtocol::H2c => (Scheme::HTTP, Version::HTTP_2),
    };
    let (parts, mut body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let mut head = parts.headers;
    let mut attempt = 0;
    loop {
        let endpoint = attempts.endpoints[(attempts.first + attempt) % attempts.endpoints.len()];
        let last = attempt + 1 >= attempts.tries;
        let Ok(uri) = Uri::builder()
            .scheme(scheme.clone())
            .authority(endpoint.to_string())
            .path_and_query(path.clone())
            .build()
        else {
            return Err(StatusCode::BAD_REQUEST);
        };
        // Keep the head for another try unless this is the last one.
        let this_head = if last {
            std::mem::take(&mut head)
        } else {
            head.clone()
        };
        let mut upstream = Request::new(std::mem::replace(&mut body, UpBody::Empty));
        *upstream.method_mut() = parts.method.clone();
        *upstream.uri_mut() = uri;
        *upstream.version_mut() = version;
        *upstream.headers_mut() = this_head;
        let sent = upstreams.send(protocol, attempts.connect_timeout, upstream);
        match tokio::time::timeout(attempts.read_timeout, sent).await {
            Ok(Ok(response)) => return Ok((attempt, response.map(PooledBody::unpooled))),
            Ok(Err(error)) if error.is_connect() && !last => {
                // The body is still ours when the connection never came up.
                match slot.as_ref().map(UpBody::from_slot) {
                    None => body = UpBody::Empty,
                    Some(Some(again)) => body = again,
                    Some(None) => {
                        warn!(%endpoint, %error, "upstream connection failed after the body was sent: 502");
                        return Err(StatusCode::BAD_GATEWAY);
                    }
                }
                warn!(%endpoint, %error, "upstream connection failed, trying the next endpoint");
                attempt += 1;
            }
            Ok(Err(error)) => {
                warn!(%endpoint, error = %error_chain(&error), "upstream failed: 502");
                return Err(StatusCode::BAD_GATEWAY);
            }
            Err(_) => {
                warn!(%endpoint, timeout = ?attempts.read_timeout, "upstream timed out: 504");
                return Err(StatusCode::GATEWAY_TIMEOUT);
            }
        }
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
