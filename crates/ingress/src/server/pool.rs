//! Keep-alive HTTP/1.1 connections to plain-HTTP backends, pooled per endpoint.
//!
//! Every connection is a `hyper::client::conn::http1` pair: its [`SendRequest`] handle and its
//! connection future, which runs in a task of its own. Idle handles wait in a stack per
//! endpoint (the most recently used first: its socket is the warmest and the least likely to
//! have been closed by the backend); a request takes one, and the response body gives it back
//! once the backend's response has been read to its end. A handle whose connection closed
//! while idle is dropped at checkout, and a request the connection refused before writing a
//! byte goes to another connection. Idle connections unused for [`IDLE_TIMEOUT`] are closed.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tracing::debug;

use super::upstream::UpBody;

/// How long an idle connection is kept.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle connections kept per endpoint; more are closed when their response ends.
const MAX_IDLE: usize = 1024;
/// How often, at most, idle connections are looked over for expiry.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// The idle connections, by endpoint.
#[derive(Clone, Default)]
pub struct Pool {
    inner: Arc<Mutex<Idle>>,
}

#[derive(Default)]
struct Idle {
    by_endpoint: HashMap<SocketAddr, Vec<(SendRequest<UpBody>, Instant)>>,
    swept: Option<Instant>,
}

/// Why a request could not be sent.
pub enum SendError {
    /// No connection could be made; the request is untouched and may go elsewhere.
    Connect {
        /// Why.
        error: io::Error,
        /// The request, to send to another endpoint.
        request: Box<Request<UpBody>>,
    },
    /// The connection failed while the request was sent or the response read.
    Http(hyper::Error),
}

impl Pool {
    /// Sends `request` (origin-form URI, `Host` set) to `endpoint` over an idle connection, or
    /// a new one made within `connect_timeout`.
    pub async fn send(
        &self,
        endpoint: SocketAddr,
        connect_timeout: Duration,
        mut request: Request<UpBody>,
    ) -> Result<Response<PooledBody>, SendError> {
        while let Some(mut sender) = self.checkout(endpoint) {
            if sender.ready().await.is_err() {
                continue;
            }
            match sender.try_send_request(request).await {
                Ok(response) => return Ok(self.wrap(endpoint, sender, response)),
                Err(mut error) => match error.take_message() {
                    // Refused before a byte was written (closed meanwhile): try another.
                    Some(unsent) => request = unsent,
                    None => return Err(SendError::Http(error.into_error())),
                },
            }
        }
        let mut sender = match connect(endpoint, connect_timeout).await {
            Ok(sender) => sender,
            Err(error) => {
                return Err(SendError::Connect {
                    error,
                    request: Box::new(request),
                })
            }
        };
        match sender.send_request(request).await {
            Ok(response) => Ok(self.wrap(endpoint, sender, response)),
            Err(error) => Err(SendError::Http(error)),
        }
    }

    fn checkout(&self, endpoint: SocketAddr) -> Option<SendRequest<UpBody>> {
        let mut idle = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let stack = idle.by_endpoint.get_mut(&endpoint)?;
        while let Some((sender, _)) = stack.pop() {
            if !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    fn checkin(&self, endpoint: SocketAddr, sender: SendRequest<UpBody>) {
        if sender.is_closed() {
            return;
        }
        let now = Instant::now();
        let mut idle = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if idle
            .swept
            .is_none_or(|at| now.duration_since(at) >= SWEEP_EVERY)
        {
            idle.swept = Some(now);
            idle.by_endpoint.retain(|_, stack| {
                stack.retain(|(sender, since)| {
                    !sender.is_closed() && now.duration_since(*since) < IDLE_TIMEOUT
                });
                !stack.is_empty()
            });
        }
        let stack = idle.by_endpoint.entry(endpoint).or_default();
        if stack.len() < MAX_IDLE {
            stack.push((sender, now));
        }
    }

    fn wrap(
        &self,
        endpoint: SocketAddr,
        sender: SendRequest<UpBody>,
        response: Response<Incoming>,
    ) -> Response<PooledBody> {
        // A connection that switched protocols is the tunnel's now.
        let keep = response.status() != StatusCode::SWITCHING_PROTOCOLS;
        let mut back = keep.then(|| Checkin {
            pool: self.clone(),
            endpoint,
            sender,
        });
        response.map(|body| {
            if body.is_end_stream() {
                if let Some(back) = back.take() {
                    back.give();
                }
            }
            PooledBody { body, back }
        })
    }

    /// Idle connections to `endpoint` (for tests).
    #[cfg(test)]
    fn idle(&self, endpoint: SocketAddr) -> usize {
        let idle = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        idle.by_endpoint.get(&endpoint).map_or(0, Vec::len)
    }
}

async fn connect(endpoint: SocketAddr, timeout: Duration) -> io::Result<SendRequest<UpBody>> {
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(endpoint)).await {
        Ok(connected) => connected?,
        Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
    };
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(io::Error::other)?;
    tokio::spawn(async move {
        if let Err(error) = connection.with_upgrades().await {
            debug!(%endpoint, %error, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}

/// A handle on its way back to the pool.
struct Checkin {
    pool: Pool,
    endpoint: SocketAddr,
    sender: SendRequest<UpBody>,
}

impl Checkin {
    fn give(self) {
        self.pool.checkin(self.endpoint, self.sender);
    }
}

/// A backend's response body; its connection returns to the pool when the body ends.
pub struct PooledBody {
    body: Incoming,
    back: Option<Checkin>,
}

impl PooledBody {
    /// A body whose connection is not this pool's.
    pub fn unpooled(body: Incoming) -> PooledBody {
        PooledBody { body, back: None }
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => {
                if let Some(back) = this.back.take() {
                    back.give();
                }
            }
            Poll::Ready(Some(Ok(_))) if this.body.is_end_stream() => {
                if let Some(back) = this.back.take() {
                    back.give();
                }
            }
            // A failed body leaves its connection behind.
            Poll::Ready(Some(Err(_))) => this.back = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HOST;
    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A backend answering `n` requests per connection with `hi`, counting connections.
    async fn backend(per_connection: usize) -> (SocketAddr, Arc<Mutex<usize>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(Mutex::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                *count.lock().unwrap() += 1;
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    for _ in 0..per_connection {
                        let mut seen = Vec::new();
                        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                            let n = stream.read(&mut buf).await.unwrap();
                            if n == 0 {
                                return;
                            }
                            seen.extend_from_slice(&buf[..n]);
                        }
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi";
                        stream.write_all(answer).await.unwrap();
                    }
                });
            }
        });
        (addr, accepted)
    }

    fn get() -> Request<UpBody> {
        let mut request = Request::new(UpBody::Empty);
        request
            .headers_mut()
            .insert(HOST, "a.example".parse().unwrap());
        request
    }

    async fn body(pool: &Pool, addr: SocketAddr) -> String {
        let Ok(response) = pool.send(addr, Duration::from_secs(1), get()).await else {
            panic!("request failed");
        };
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn connections_are_reused_after_the_body_ends() {
        let (addr, accepted) = backend(100).await;
        let pool = Pool::default();
        for _ in 0..5 {
            assert_eq!(body(&pool, addr).await, "hi");
        }
        assert_eq!(*accepted.lock().unwrap(), 1);
        assert_eq!(pool.idle(addr), 1);
    }

    #[tokio::test]
    async fn connections_the_backend_closed_are_replaced() {
        // One request per connection, then the backend closes it.
        let (addr, accepted) = backend(1).await;
        let pool = Pool::default();
        for _ in 0..3 {
            assert_eq!(body(&pool, addr).await, "hi");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(*accepted.lock().unwrap(), 3);
    }

    #[tokio::test]
    async fn a_refused_connection_gives_the_request_back() {
        let addr = {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            listener.local_addr().unwrap()
        };
        let pool = Pool::default();
        match pool.send(addr, Duration::from_secs(1), get()).await {
            Err(SendError::Connect { request, .. }) => {
                assert_eq!(request.headers()[HOST], "a.example");
            }
            _ => panic!("expected a connect error"),
        }
    }
}
