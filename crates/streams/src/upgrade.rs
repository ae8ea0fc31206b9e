//! Glue for hyper 1 servers: negotiate, answer, and run the session on the upgraded
//! connection in its own task.

use std::future::Future;
use std::io;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::{
    exec_session, negotiate_exec, negotiate_portforward, portforward_session, Error, PodTarget,
    Session, StreamOptions,
};

/// A plain-text error answer, as Go's `http.Error` writes it.
fn error_response(error: &Error) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{error}\n"))));
    *response.status_mut() = error.http_status();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Answers an exec or attach request: returns the `101` (or a 400/403 with a plain message,
/// which makes kubectl fall back from WebSocket to SPDY), and once hyper has switched the
/// connection, runs the session and calls `on_session` with it in a spawned task.
///
/// The connection must be served with `.with_upgrades()`.
pub fn upgrade_exec<B, H, Fut>(req: Request<B>, on_session: H) -> Response<Full<Bytes>>
where
    B: Send + 'static,
    H: FnOnce(Session) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (parts, body) = req.into_parts();
    let negotiated = match negotiate_exec(&parts) {
        Ok(negotiated) => negotiated,
        Err(e) => return error_response(&e),
    };
    let opts = StreamOptions::from_query(parts.uri.query().unwrap_or(""));
    let response = negotiated.response();
    let upgrade = hyper::upgrade::on(Request::from_parts(parts, body));
    tokio::spawn(async move {
        let io = match upgrade.await {
            Ok(upgraded) => TokioIo::new(upgraded),
            Err(e) => return tracing::warn!(error = %e, "exec upgrade failed"),
        };
        match exec_session(io, negotiated, opts).await {
            Ok(session) => on_session(session).await,
            Err(e) => tracing::warn!(error = %e, "exec session could not start"),
        }
    });
    response
}

/// Answers a port-forward request like [`upgrade_exec`], then serves the connection with
/// [`portforward_session`] until the client goes away.
pub fn upgrade_portforward<B, D, F>(
    req: Request<B>,
    target: PodTarget,
    dial: D,
) -> Response<Full<Bytes>>
where
    B: Send + 'static,
    D: Fn(u16) -> F + Send + Sync + 'static,
    F: Future<Output = io::Result<TcpStream>> + Send + 'static,
{
    let (parts, body) = req.into_parts();
    let negotiated = match negotiate_portforward(&parts) {
        Ok(negotiated) => negotiated,
        Err(e) => return error_response(&e),
    };
    let response = negotiated.response();
    let upgrade = hyper::upgrade::on(Request::from_parts(parts, body));
    tokio::spawn(async move {
        let io = match upgrade.await {
            Ok(upgraded) => TokioIo::new(upgraded),
            Err(e) => return tracing::warn!(error = %e, "port-forward upgrade failed"),
        };
        if let Err(e) = portforward_session(io, negotiated, target, dial).await {
            tracing::warn!(error = %e, "port-forward session failed");
        }
    });
    response
}
