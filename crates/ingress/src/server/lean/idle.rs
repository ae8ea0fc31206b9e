//! Keep-alive connections to plain-HTTP backends that are between requests, per endpoint, one
//! set per worker thread (a connection stays on the thread that made it).
//!
//! The most recently used connection is taken first (the warmest, the least likely to have
//! been closed by the backend). At checkout a connection whose socket became readable while
//! idle (the backend closed it, or sent bytes nobody asked for) is dropped, without a system
//! call when the reactor saw nothing; connections idle longer than [`IDLE_TIMEOUT`] are closed.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

/// How long an idle connection is kept.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle connections kept per endpoint.
const MAX_IDLE: usize = 1024;
/// How often, at most, idle connections are looked over for expiry.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// The idle connections of one worker.
#[derive(Default)]
pub struct Idle {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    by_endpoint: HashMap<SocketAddr, Vec<(TcpStream, Instant)>>,
    swept: Option<Instant>,
}

impl Idle {
    /// An idle connection to `endpoint` that still looks usable.
    pub fn checkout(&self, endpoint: SocketAddr) -> Option<TcpStream> {
        loop {
            let (stream, since) = {
                let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
                inner.by_endpoint.get_mut(&endpoint)?.pop()?
            };
            if since.elapsed() < IDLE_TIMEOUT && still_open(&stream) {
                return Some(stream);
            }
        }
    }

    /// Keeps `stream` for the next request to `endpoint`.
    pub fn checkin(&self, endpoint: SocketAddr, stream: TcpStream) {
        let now = Instant::now();
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner
            .swept
            .is_none_or(|at| now.duration_since(at) >= SWEEP_EVERY)
        {
            inner.swept = Some(now);
            inner.by_endpoint.retain(|_, stack| {
                stack.retain(|(_, since)| now.duration_since(*since) < IDLE_TIMEOUT);
                !stack.is_empty()
            });
        }
        let stack = inner.by_endpoint.entry(endpoint).or_default();
        if stack.len() < MAX_IDLE {
            stack.push((stream, now));
        }
    }

    /// Idle connections to `endpoint` (for tests).
    #[cfg(test)]
    pub fn count(&self, endpoint: SocketAddr) -> usize {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.by_endpoint.get(&endpoint).map_or(0, Vec::len)
    }
}

/// False when an idle connection was closed by its backend or has unexpected bytes waiting.
fn still_open(stream: &TcpStream) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    match stream.poll_read_ready(&mut cx) {
        // The reactor saw nothing since the last read ran dry: nothing happened.
        Poll::Pending => true,
        Poll::Ready(Err(_)) => false,
        Poll::Ready(Ok(())) => {
            let mut byte = [0u8; 1];
            matches!(stream.try_read(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
        }
    }
}

/// A new connection to `endpoint` within `timeout`, with `TCP_NODELAY`.
pub async fn connect(endpoint: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(endpoint)).await {
        Ok(connected) => connected?,
        Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
    };
    stream.set_nodelay(true)?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn open_connections_come_back_and_closed_ones_do_not() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let idle = Idle::default();
        let kept = connect(addr, Duration::from_secs(1)).await.unwrap();
        let (_server_side, _) = listener.accept().await.unwrap();
        idle.checkin(addr, kept);
        assert_eq!(idle.count(addr), 1);
        let again = idle.checkout(addr).expect("an open connection");
        assert!(idle.checkout(addr).is_none());

        // The backend closes it while idle: it is not handed out.
        idle.checkin(addr, again);
        drop(_server_side);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(idle.checkout(addr).is_none());

        // Bytes nobody asked for: not handed out either.
        let chatty = connect(addr, Duration::from_secs(1)).await.unwrap();
        let (mut server_side, _) = listener.accept().await.unwrap();
        server_side
            .write_all(b"HTTP/1.1 408\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        idle.checkin(addr, chatty);
        assert!(idle.checkout(addr).is_none());
    }
}
