//! The lean HTTP/1.1 path: plain and TLS-terminated HTTP/1.1 connections served without
//! hyper. Request heads are parsed with `httparse` in a buffer the connection reuses, routed,
//! and restated to a keep-alive backend connection of this worker, and the response is
//! relayed back with its framing restated (`Content-Length` kept, chunked re-encoded), so a
//! request allocates next to nothing.
//!
//! What the lean path does not take on is handed over, at a request boundary, to hyper with
//! the bytes already read ([`Ended::Handoff`]): HTTP/2 prior knowledge, protocol upgrades,
//! `Expect`, absolute-form and `*` targets, `CONNECT`, and routes whose backends speak HTTPS
//! or HTTP/2. Everything it answers itself (404, 503, 308, 400, 431, 502, 504) matches the
//! hyper path.

mod buf;
mod chunked;
mod date;
mod exchange;
mod fields;
mod idle;
mod request;
mod response;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::header::HeaderValue;
use http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::affinity;
use super::headers::{self, Forwarded, Origin};
use super::proxy::{Proxy, MAX_TRIES};
use super::HEADER_TIMEOUT;
use crate::annotations::BackendProtocol;
use buf::Buf;
pub use idle::Idle;
use request::{Framing, Refusal, Request};

/// How long a kept-alive client connection may sit idle between requests (nginx's
/// `keepalive_timeout`).
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(75);
/// How long a client may pause while sending a request body.
const BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest request or response head.
const MAX_HEAD: usize = 64 * 1024;
/// The HTTP/2 connection preface's request line.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// How a connection left the lean path.
pub enum Ended {
    /// It is closed (or should be).
    Closed,
    /// Hyper takes over; these bytes were read and not consumed.
    Handoff(Vec<u8>),
}

/// What the lean path of one worker shares across its connections.
pub struct Lean {
    /// Routing, round robin, redirects.
    pub proxy: Arc<Proxy>,
    /// Keep-alive backend connections of this worker.
    pub idle: Idle,
}

/// The buffers of one client connection.
struct Conn {
    /// From the client.
    inbuf: Buf,
    /// From the backend.
    upbuf: Buf,
    /// To either.
    out: Vec<u8>,
}

/// What to do with one request.
enum Step {
    /// Hand the connection to hyper.
    Handoff,
    /// Answer 400 or 431 and close.
    Refuse(Refusal),
    /// Answer with one of the proxy's pages.
    Answer {
        status: StatusCode,
        location: Option<String>,
        head: Head,
    },
    /// Forward (the backend's head is in `Conn::out`).
    Forward(Plan),
}

/// What a request's answer needs to know about it.
#[derive(Clone, Copy)]
struct Head {
    /// The head's length.
    len: usize,
    /// The body's framing.
    body: Framing,
    /// A `HEAD` request.
    head: bool,
    /// The client wants to keep the connection.
    keep: bool,
    /// An HTTP/1.0 client.
    http10: bool,
}

/// Where and how to forward a request.
struct Plan {
    head: Head,
    /// The endpoints to try, in order.
    endpoints: [SocketAddr; MAX_TRIES],
    tries: usize,
    /// `Set-Cookie` values per endpoint tried, under cookie affinity.
    cookies: Option<Box<[Option<HeaderValue>; MAX_TRIES]>>,
    connect_timeout: Duration,
    read_timeout: Duration,
}

/// Serves HTTP/1.1 requests on `io` until it closes, `shutdown`, or hyper has to take over.
pub async fn serve<S>(
    io: &mut S,
    lean: &Lean,
    origin: &Origin,
    shutdown: &CancellationToken,
) -> Ended
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let forwarded = Forwarded::new(origin);
    let mut conn = Conn {
        inbuf: Buf::new(8 * 1024, MAX_HEAD),
        upbuf: Buf::new(16 * 1024, MAX_HEAD),
        out: Vec::with_capacity(4 * 1024),
    };
    let cancelled = shutdown.cancelled();
    tokio::pin!(cancelled);
    let mut first = true;
    loop {
        if conn.inbuf.is_empty() {
            let wait = if first {
                HEADER_TIMEOUT
            } else {
                KEEPALIVE_TIMEOUT
            };
            tokio::select! {
                biased;
                () = &mut cancelled => return Ended::Closed,
                read = tokio::time::timeout(wait, conn.inbuf.fill(io)) => match read {
                    Ok(Ok(n)) if n > 0 => {}
                    _ => return Ended::Closed,
                },
            }
        }
        first = false;
        let deadline = Instant::now() + HEADER_TIMEOUT;
        let step = loop {
            let bytes = conn.inbuf.bytes();
            let n = bytes.len().min(H2_PREFACE.len());
            if bytes[..n] == H2_PREFACE[..n] {
                if n == H2_PREFACE.len() {
                    break Step::Handoff;
                }
            } else {
                let mut slots = [httparse::EMPTY_HEADER; request::MAX_HEADERS];
                match request::parse(bytes, &mut slots) {
                    Ok(Some(request)) => {
                        break decide(lean, origin, &forwarded, &request, &mut conn.out)
                    }
                    Ok(None) => {}
                    Err(refusal) => break Step::Refuse(refusal),
                }
            }
            if conn.inbuf.is_full() {
                break Step::Refuse(Refusal::TooLarge);
            }
            match tokio::time::timeout_at(deadline, conn.inbuf.fill(io)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return Ended::Closed,
            }
        };
        let keep = match step {
            Step::Handoff => return Ended::Handoff(conn.inbuf.take()),
            Step::Refuse(refusal) => {
                let status = match refusal {
                    Refusal::BadRequest => StatusCode::BAD_REQUEST,
                    Refusal::TooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                };
                debug!(client = %origin.client, %status, "malformed request refused");
                conn.out.clear();
                response::write_page(&mut conn.out, status, None, false, true, false);
                if write(io, &conn.out).await.is_ok() {
                    linger(io, &mut conn.inbuf).await;
                }
                return Ended::Closed;
            }
            Step::Answer {
                status,
                location,
                head,
            } => {
                conn.inbuf.consume(head.len);
                // A body we do not read would be taken for the next request: close instead.
                let keep = head.keep && head.body == Framing::None;
                conn.out.clear();
                response::write_page(
                    &mut conn.out,
                    status,
                    location.as_deref(),
                    head.head,
                    !keep,
                    keep && head.http10,
                );
                let written = write(io, &conn.out).await.is_ok();
                if written && !keep && head.body != Framing::None {
                    linger(io, &mut conn.inbuf).await;
                    return Ended::Closed;
                }
                written && keep
            }
            Step::Forward(plan) => exchange::forward(io, &mut conn, &plan, &lean.idle).await,
        };
        if !keep || shutdown.is_cancelled() {
            let _ = io.shutdown().await;
            return Ended::Closed;
        }
    }
}

/// Closes our side, then reads and drops what the client still sends for a moment, so that
/// closing with unread bytes (a reset) does not destroy the answer before the client reads it
/// (nginx's lingering close).
async fn linger<S: AsyncRead + AsyncWrite + Unpin>(io: &mut S, buf: &mut Buf) {
    const LINGER: Duration = Duration::from_secs(2);
    const LINGER_BYTES: usize = 1 << 20;
    if io.shutdown().await.is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER;
    let mut dropped = 0;
    while dropped < LINGER_BYTES {
        buf.clear();
        match tokio::time::timeout_at(deadline, buf.fill(io)).await {
            Ok(Ok(n)) if n > 0 => dropped += n,
            _ => return,
        }
    }
}

/// Writes `bytes` to the client and flushes (TLS).
async fn write<S: AsyncWrite + Unpin>(io: &mut S, bytes: &[u8]) -> std::io::Result<()> {
    io.write_all(bytes).await?;
    io.flush().await
}

/// Routes a request; for a forward, writes the backend's head into `out`.
fn decide(
    lean: &Lean,
    origin: &Origin,
    forwarded: &Forwarded,
    request: &Request<'_, '_>,
    out: &mut Vec<u8>,
) -> Step {
    if request.upgrade
        || request.expect
        || !request.target.starts_with('/')
        || request.method == "CONNECT"
    {
        return Step::Handoff;
    }
    let head = Head {
        len: request.len,
        body: request.framing,
        head: request.method == "HEAD",
        keep: request.keep_alive,
        http10: request.http10,
    };
    let answer = |status| Step::Answer {
        status,
        location: None,
        head,
    };
    let host = match request.host.map(std::str::from_utf8) {
        None => None,
        Some(Ok(authority)) => match headers::host_of(authority) {
            Some(host) => Some(host),
            None => return Step::Refuse(Refusal::BadRequest),
        },
        Some(Err(_)) => return Step::Refuse(Refusal::BadRequest),
    };
    let (path, query) = match request.target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (request.target, None),
    };
    let snapshot = lean.proxy.snapshot();
    let Some(route) = snapshot.routes.route(host.as_deref(), path) else {
        debug!(method = request.method, host = ?host, path, "no rule: 404");
        return answer(StatusCode::NOT_FOUND);
    };
    let options = route.options;
    if !origin.tls && (options.force_ssl_redirect || (route.tls_host && options.ssl_redirect)) {
        if let Some(host) = host.as_deref() {
            let location = lean.proxy.redirect_to(host, request.target);
            debug!(%location, "HTTPS redirect");
            return Step::Answer {
                status: StatusCode::PERMANENT_REDIRECT,
                location: Some(location),
                head,
            };
        }
    }
    if options.backend_protocol != BackendProtocol::Http {
        return Step::Handoff;
    }
    let backend = route.backend;
    let endpoints = &backend.endpoints;
    if endpoints.is_empty() {
        if backend.service_found {
            warn!(ingress = route.ingress, service = %backend.service.name, "no ready endpoints: 503");
        } else {
            warn!(ingress = route.ingress, service = %backend.service.name, "service or port not found: 503");
        }
        return answer(StatusCode::SERVICE_UNAVAILABLE);
    }
    let pinned = options.affinity.as_ref().and_then(|a| {
        let mut cookies = request.cookies();
        affinity::requested_in(&mut cookies, &a.name).and_then(|v| affinity::pinned(endpoints, v))
    });
    let first = pinned.unwrap_or_else(|| lean.proxy.next(backend));
    let tries = endpoints.len().min(MAX_TRIES);
    let mut chosen = [endpoints[first % endpoints.len()]; MAX_TRIES];
    for (i, slot) in chosen.iter_mut().enumerate().take(tries) {
        *slot = endpoints[(first + i) % endpoints.len()];
    }
    let cookies = options.affinity.as_ref().map(|a| {
        let mut values: Box<[Option<HeaderValue>; MAX_TRIES]> = Box::default();
        for (i, value) in values.iter_mut().enumerate().take(tries) {
            if pinned != Some((first + i) % endpoints.len()) {
                *value = affinity::set_cookie(a, route.path, chosen[i]);
            }
        }
        values
    });
    out.clear();
    match options.rewrite_target.as_deref() {
        Some(target) => {
            let rewritten = headers::rewrite(target, &route.captures, query);
            request.write_upstream(out, &rewritten, forwarded, Some(request.target));
        }
        None => request.write_upstream(out, request.target, forwarded, None),
    }
    Step::Forward(Plan {
        head,
        endpoints: chosen,
        tries,
        cookies,
        connect_timeout: Duration::from_secs(options.connect_timeout_secs.max(1)),
        read_timeout: Duration::from_secs(options.read_timeout_secs.max(1)),
    })
}
