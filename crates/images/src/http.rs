//! The small HTTP/1.1 server (on hyper) that every built-in web program uses, with helpers
//! for answers and query strings; [`client`] is the matching client.

pub(crate) mod client;
mod query;

pub(crate) use query::{form_value, percent_decode};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Version};
use http_body_util::{BodyExt, Full, Limited};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Largest request body a built-in program reads.
const MAX_BODY: usize = 16 << 20;

/// A request with its body read.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    /// The method.
    pub method: Method,
    /// The path, still percent-encoded.
    pub path: String,
    /// The raw query string (empty when there is none).
    pub query: String,
    /// The HTTP version.
    pub version: Version,
    /// The headers.
    pub headers: HeaderMap,
    /// The peer.
    pub remote: SocketAddr,
    /// The body.
    pub body: Bytes,
}

impl Request {
    /// Go's `FormValue`: the first value of `key` in the query, then in a urlencoded body.
    pub fn form_value(&self, key: &str) -> String {
        if let Some(v) = form_value(&self.query, key) {
            return v;
        }
        let urlencoded = self
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if urlencoded {
            if let Some(v) = form_value(&String::from_utf8_lossy(&self.body), key) {
                return v;
            }
        }
        String::new()
    }

    /// A header's value as text, empty when absent.
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }

    /// The request line's target: path plus `?query` when there is one.
    pub fn target(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }
}

/// An answer.
pub(crate) type Response = http::Response<Full<Bytes>>;

/// A boxed request handler.
pub(crate) type Handler =
    Arc<dyn Fn(Request) -> Pin<Box<dyn Future<Output = Response> + Send>> + Send + Sync>;

/// Boxes an async closure into a [`Handler`].
pub(crate) fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    Arc::new(move |req| Box::pin(f(req)))
}

/// An answer with `status`, `content_type` and `body`.
pub(crate) fn respond(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response {
    let mut response = http::Response::new(Full::new(body.into()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, value);
    }
    response
}

/// A `text/plain; charset=utf-8` answer.
pub(crate) fn text(status: u16, body: impl Into<Bytes>) -> Response {
    respond(status, "text/plain; charset=utf-8", body)
}

/// A `text/html` answer.
pub(crate) fn html(status: u16, body: impl Into<Bytes>) -> Response {
    respond(status, "text/html; charset=utf-8", body)
}

/// Adds a header to an answer.
pub(crate) fn with_header(mut response: Response, name: &'static str, value: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
    response
}

/// Serves HTTP/1.1 on `listener` until `stop` turns true; then stops accepting, lets open
/// connections finish their current request and returns when they have closed.
pub(crate) async fn serve(
    listener: TcpListener,
    handler: Handler,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped(&mut stop) => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let handler = handler.clone();
        let mut stop = stop.clone();
        connections.spawn(async move {
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(handle(handler, req, remote).await) }
            });
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = stopped(&mut stop) => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    while connections.join_next().await.is_some() {}
}

/// Resolves once `stop` is true (or its sender is gone without stopping: never).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|stopped| *stopped).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Serves for as long as the future is polled: for programs that never stop on their own.
pub(crate) async fn serve_forever(listener: TcpListener, handler: Handler) {
    let (_keep, stop) = watch::channel(false);
    serve(listener, handler, stop).await;
}

/// Serves HTTPS (HTTP/1.1 over TLS with `tls`) on `listener` for as long as the future is
/// polled.
pub(crate) async fn serve_tls_forever(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    handler: Handler,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let handler = handler.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let stream = match acceptor.accept(stream).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(error = %e, "TLS handshake failed");
                    return;
                }
            };
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(handle(handler, req, remote).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Reads one request and runs the handler on it.
async fn handle(
    handler: Handler,
    req: hyper::Request<hyper::body::Incoming>,
    remote: SocketAddr,
) -> Response {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return text(413, "request body too large\n"),
    };
    let request = Request {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        version: parts.version,
        headers: parts.headers,
        remote,
        body,
    };
    handler(request).await
}

/// Formats a peer the way Node.js reports `remoteAddress` on a dual-stack listener.
pub(crate) fn node_remote_address(remote: SocketAddr) -> String {
    match remote {
        SocketAddr::V4(v4) => format!("::ffff:{}", v4.ip()),
        SocketAddr::V6(v6) => v6.ip().to_string(),
    }
}
