//! One request forwarded on the lean path: the endpoints in turn (the next one when a
//! connection cannot be made), the request head and body written to a keep-alive backend
//! connection (a pooled connection that turns out closed is replaced and the request sent
//! again when nothing beyond what was buffered was sent), the response head read within the
//! read timeout, and the body relayed with its framing restated.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use http::header::HeaderValue;
use http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, timeout_at, Instant};
use tracing::{debug, warn};

use super::buf::Buf;
use super::chunked::{self, Decoder, Malformed};
use super::idle::{self, Idle};
use super::request::Framing;
use super::response::{self, Body};
use super::{linger, write, Conn, Plan, BODY_TIMEOUT};

/// A message body on its way through: what is left of it.
enum Relay {
    /// Nothing (left).
    Empty,
    /// This many bytes.
    Length(u64),
    /// Chunks, passed on re-encoded (`reencode`) or as plain data.
    Chunked { decoder: Decoder, reencode: bool },
    /// Everything until the sender closes, passed on chunked (`reencode`) or as is.
    UntilClose { reencode: bool },
}

impl Relay {
    fn is_done(&self) -> bool {
        matches!(self, Relay::Empty)
    }

    /// Moves what `buf` holds of the body to `out`; true once the body is complete.
    fn take(&mut self, buf: &mut Buf, out: &mut Vec<u8>) -> Result<bool, Malformed> {
        match self {
            Relay::Empty => {}
            Relay::Length(left) => {
                let n = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                out.extend_from_slice(&buf.bytes()[..n]);
                buf.consume(n);
                *left -= n as u64;
                if *left == 0 {
                    *self = Relay::Empty;
                }
            }
            Relay::Chunked { decoder, reencode } => {
                let reencode = *reencode;
                let used = decoder.feed(buf.bytes(), |data| {
                    if reencode {
                        chunked::encode(out, data);
                    } else {
                        out.extend_from_slice(data);
                    }
                })?;
                buf.consume(used);
                if decoder.is_done() {
                    if reencode {
                        out.extend_from_slice(chunked::LAST);
                    }
                    *self = Relay::Empty;
                }
            }
            Relay::UntilClose { reencode } => {
                if *reencode {
                    chunked::encode(out, buf.bytes());
                } else {
                    out.extend_from_slice(buf.bytes());
                }
                buf.clear();
            }
        }
        Ok(self.is_done())
    }

    /// The sender closed: true when that ends the body properly.
    fn closed(&mut self, out: &mut Vec<u8>) -> bool {
        match self {
            Relay::UntilClose { reencode } => {
                if *reencode {
                    out.extend_from_slice(chunked::LAST);
                }
                *self = Relay::Empty;
                true
            }
            _ => self.is_done(),
        }
    }
}

/// How one try on one connection went.
enum Exchanged {
    /// The response was relayed; keep the client's connection, and the backend's.
    Done { keep: bool, reusable: bool },
    /// A pooled connection was closed by the backend before answering: try a new one.
    Retry,
    /// Answer with this status.
    Fail(StatusCode),
    /// The client went away, or a response broke off after its head was sent: close.
    Abort,
}

/// Forwards the request whose backend head is in `conn.out`; true when the client
/// connection stays open.
pub(super) async fn forward<S>(client: &mut S, conn: &mut Conn, plan: &Plan, idle: &Idle) -> bool
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    conn.inbuf.consume(plan.head.len);
    let mut body = match plan.head.body {
        Framing::None => Relay::Empty,
        Framing::Length(n) => Relay::Length(n),
        Framing::Chunked => Relay::Chunked {
            decoder: Decoder::default(),
            reencode: true,
        },
    };
    if body.take(&mut conn.inbuf, &mut conn.out).is_err() {
        return answer(client, conn, plan, StatusCode::BAD_REQUEST, false).await;
    }
    let mut attempt = 0;
    let mut reuse = true;
    loop {
        let endpoint = plan.endpoints[attempt];
        let pooled = if reuse { idle.checkout(endpoint) } else { None };
        let reused = pooled.is_some();
        let mut up = match pooled {
            Some(stream) => stream,
            None => match idle::connect(endpoint, plan.connect_timeout).await {
                Ok(stream) => stream,
                Err(error) if attempt + 1 < plan.tries => {
                    warn!(%endpoint, %error, "upstream connection failed, trying the next endpoint");
                    attempt += 1;
                    reuse = true;
                    continue;
                }
                Err(error) => {
                    warn!(%endpoint, %error, "upstream connection failed: 502");
                    let done = body.is_done();
                    return answer(client, conn, plan, StatusCode::BAD_GATEWAY, done).await;
                }
            },
        };
        match exchange(client, conn, plan, attempt, &mut body, &mut up, reused).await {
            Exchanged::Done { keep, reusable } => {
                if reusable && body.is_done() {
                    idle.checkin(endpoint, up);
                }
                return keep;
            }
            Exchanged::Retry => {
                debug!(%endpoint, "pooled upstream connection was closed; sending again on a new one");
                reuse = false;
            }
            Exchanged::Fail(status) => {
                let done = body.is_done();
                return answer(client, conn, plan, status, done).await;
            }
            Exchanged::Abort => return false,
        }
    }
}

/// One try: sends the request on `up` and relays the response.
async fn exchange<S>(
    client: &mut S,
    conn: &mut Conn,
    plan: &Plan,
    attempt: usize,
    body: &mut Relay,
    up: &mut TcpStream,
    reused: bool,
) -> Exchanged
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let endpoint = plan.endpoints[attempt];
    if let Err(error) = up.write_all(&conn.out).await {
        if reused {
            return Exchanged::Retry;
        }
        warn!(%endpoint, %error, "upstream failed: 502");
        return Exchanged::Fail(StatusCode::BAD_GATEWAY);
    }
    // Past this point the request cannot be sent again.
    let streamed = !body.is_done();
    if streamed {
        match stream_body(client, &mut conn.inbuf, up, body, &mut conn.out).await {
            Ok(()) => {}
            Err(BodyError::Client) => return Exchanged::Abort,
            Err(BodyError::Malformed) => return Exchanged::Fail(StatusCode::BAD_REQUEST),
            Err(BodyError::Upstream(error)) => {
                warn!(%endpoint, %error, "upstream failed while the request body was sent: 502");
                return Exchanged::Fail(StatusCode::BAD_GATEWAY);
            }
        }
    }
    conn.upbuf.clear();
    let mut received = false;
    let deadline = Instant::now() + plan.read_timeout;
    loop {
        match timeout_at(deadline, conn.upbuf.fill(up)).await {
            Err(_) => {
                warn!(%endpoint, timeout = ?plan.read_timeout, "upstream timed out: 504");
                return Exchanged::Fail(StatusCode::GATEWAY_TIMEOUT);
            }
            Ok(Ok(0) | Err(_)) if !received && reused && !streamed => return Exchanged::Retry,
            Ok(Ok(0)) => {
                warn!(%endpoint, "upstream closed the connection before answering: 502");
                return Exchanged::Fail(StatusCode::BAD_GATEWAY);
            }
            Ok(Err(error)) => {
                warn!(%endpoint, %error, "upstream failed: 502");
                return Exchanged::Fail(StatusCode::BAD_GATEWAY);
            }
            Ok(Ok(_)) => received = true,
        }
        loop {
            let mut slots = [httparse::EMPTY_HEADER; response::MAX_HEADERS];
            let parsed = response::parse(conn.upbuf.bytes(), &mut slots, plan.head.head);
            let head = match parsed {
                Ok(None) if conn.upbuf.is_full() => {
                    warn!(%endpoint, "upstream response head too large: 502");
                    return Exchanged::Fail(StatusCode::BAD_GATEWAY);
                }
                Ok(None) => break,
                Err(response::Malformed) => {
                    warn!(%endpoint, "upstream sent a malformed response: 502");
                    return Exchanged::Fail(StatusCode::BAD_GATEWAY);
                }
                Ok(Some(head)) => head,
            };
            if head.code == 101 {
                warn!(%endpoint, "backend switched protocols unasked: 502");
                return Exchanged::Fail(StatusCode::BAD_GATEWAY);
            }
            if head.code < 200 {
                let len = head.len;
                conn.upbuf.consume(len);
                continue;
            }
            let framing = head.client_framing(plan.head.http10);
            let close = !plan.head.keep
                || (framing == response::Framing::Unframed
                    && matches!(head.body, Body::Chunked | Body::UntilClose));
            let cookie = plan
                .cookies
                .as_ref()
                .and_then(|c| c[attempt].as_ref())
                .map(HeaderValue::as_bytes);
            conn.out.clear();
            head.write_client(
                &mut conn.out,
                framing,
                cookie,
                close,
                plan.head.http10 && !close,
            );
            let reencode = framing == response::Framing::Chunked;
            let relay = match head.body {
                Body::Empty => Relay::Empty,
                Body::Length(n) => Relay::Length(n),
                Body::Chunked => Relay::Chunked {
                    decoder: Decoder::default(),
                    reencode,
                },
                Body::UntilClose => Relay::UntilClose { reencode },
            };
            let (len, reusable, code) = (head.len, head.reusable, head.code);
            conn.upbuf.consume(len);
            debug!(%endpoint, status = code, "proxied");
            let relayed = relay_body(client, conn, up, relay, plan.read_timeout, endpoint).await;
            return match relayed {
                Relayed::Complete => Exchanged::Done {
                    keep: !close,
                    reusable: reusable && conn.upbuf.is_empty(),
                },
                Relayed::Malformed => Exchanged::Fail(StatusCode::BAD_GATEWAY),
                Relayed::Broken => Exchanged::Abort,
            };
        }
    }
}

/// How a response body went.
enum Relayed {
    Complete,
    /// Malformed before anything was sent to the client.
    Malformed,
    /// Broken off: the client gets a truncated response.
    Broken,
}

/// Relays the response body (its head is in `conn.out`, not sent yet).
async fn relay_body<S>(
    client: &mut S,
    conn: &mut Conn,
    up: &mut TcpStream,
    mut relay: Relay,
    read_timeout: Duration,
    endpoint: SocketAddr,
) -> Relayed
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Ok(mut done) = relay.take(&mut conn.upbuf, &mut conn.out) else {
        warn!(%endpoint, "upstream sent malformed chunked framing: 502");
        return Relayed::Malformed;
    };
    if write(client, &conn.out).await.is_err() {
        return Relayed::Broken;
    }
    while !done {
        conn.out.clear();
        match timeout(read_timeout, conn.upbuf.fill(up)).await {
            Ok(Ok(0)) => {
                if !relay.closed(&mut conn.out) {
                    debug!(%endpoint, "upstream closed the connection in the middle of a response");
                    return Relayed::Broken;
                }
                done = true;
            }
            Ok(Ok(_)) => match relay.take(&mut conn.upbuf, &mut conn.out) {
                Ok(complete) => done = complete,
                Err(Malformed) => return Relayed::Broken,
            },
            Ok(Err(error)) => {
                debug!(%endpoint, %error, "upstream failed in the middle of a response");
                return Relayed::Broken;
            }
            Err(_) => {
                debug!(%endpoint, "upstream timed out in the middle of a response");
                return Relayed::Broken;
            }
        }
        if write(client, &conn.out).await.is_err() {
            return Relayed::Broken;
        }
    }
    Relayed::Complete
}

enum BodyError {
    Client,
    Malformed,
    Upstream(io::Error),
}

/// Streams the rest of a request body from the client to the backend.
async fn stream_body<S>(
    client: &mut S,
    inbuf: &mut Buf,
    up: &mut TcpStream,
    body: &mut Relay,
    out: &mut Vec<u8>,
) -> Result<(), BodyError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while !body.is_done() {
        match timeout(BODY_TIMEOUT, inbuf.fill(client)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return Err(BodyError::Client),
        }
        out.clear();
        body.take(inbuf, out).map_err(|_| BodyError::Malformed)?;
        up.write_all(out).await.map_err(BodyError::Upstream)?;
    }
    Ok(())
}

/// Answers with one of the proxy's pages; the connection stays open when the client wants it
/// and its request body was read to the end.
async fn answer<S>(
    client: &mut S,
    conn: &mut Conn,
    plan: &Plan,
    status: StatusCode,
    body_read: bool,
) -> bool
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let keep = plan.head.keep && body_read;
    conn.out.clear();
    response::write_page(
        &mut conn.out,
        status,
        None,
        plan.head.head,
        !keep,
        keep && plan.head.http10,
    );
    let written = write(client, &conn.out).await.is_ok();
    if written && !body_read {
        linger(client, &mut conn.inbuf).await;
    }
    written && keep
}
