//! The stream halves a session hands out, and the queue between them and the connection task.
//!
//! Each connection (WebSocket or SPDY) is driven by one task that owns the socket. Readers get
//! their bytes through a bounded channel per stream ([`InputStream`]); writers send each
//! `write` straight to the connection task ([`OutputStream`]), which writes and flushes it at
//! once, so output is never held back. Writers share a small per-connection credit so that a
//! client that stops reading slows the writers down instead of growing a queue without bound.
//! Control messages (stream close, replies, resets, shutdown) never wait for credit, so they
//! can be sent from `Drop`.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::PollSemaphore;

/// Largest chunk one `write` hands to the connection.
pub(crate) const MAX_CHUNK: usize = 32 * 1024;
/// Writes in flight per connection before writers wait.
pub(crate) const CREDIT: usize = 16;
/// Buffered inbound chunks per stream before the connection stops reading.
pub(crate) const INBOUND_DEPTH: usize = 16;

/// Where outbound data goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// A WebSocket channel (1 stdout, 2 stderr, 3 error).
    Channel(u8),
    /// A SPDY stream id.
    Stream(u32),
}

/// A message to the connection task.
pub(crate) enum Outbound {
    /// Bytes for a channel or stream; the permit returns credit once written.
    Data {
        target: Target,
        data: Bytes,
        permit: Option<OwnedSemaphorePermit>,
    },
    /// The writer is done: FIN on SPDY, nothing on WebSocket.
    Close(Target),
    /// Accept a SPDY stream (SYN_REPLY).
    Reply(u32),
    /// Abort a SPDY stream (RST_STREAM).
    Reset(u32, u32),
    /// End the connection gracefully (WebSocket close frame / SPDY GOAWAY) once everything
    /// queued before has been written; `done` hears when that is flushed.
    Shutdown(Option<oneshot::Sender<()>>),
}

/// The sending side of a connection task's queue, plus its write credit.
#[derive(Clone)]
pub(crate) struct Outlet {
    tx: mpsc::UnboundedSender<Outbound>,
    credit: Arc<Semaphore>,
}

impl Outlet {
    /// A queue for a new connection task.
    pub(crate) fn new() -> (Self, mpsc::UnboundedReceiver<Outbound>, Arc<Semaphore>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let credit = Arc::new(Semaphore::new(CREDIT));
        (
            Self {
                tx,
                credit: credit.clone(),
            },
            rx,
            credit,
        )
    }

    /// Queues a message; false when the connection is gone.
    pub(crate) fn send(&self, message: Outbound) -> bool {
        self.tx.send(message).is_ok()
    }

    /// A handle that does not keep the queue open.
    pub(crate) fn downgrade(&self) -> WeakOutlet {
        WeakOutlet {
            tx: self.tx.downgrade(),
            credit: self.credit.clone(),
        }
    }

    /// A writer for `target`.
    pub(crate) fn writer(&self, target: Target, reset: Option<Arc<AtomicBool>>) -> OutputStream {
        OutputStream {
            outlet: self.clone(),
            credit: PollSemaphore::new(self.credit.clone()),
            target,
            reset,
            closed: false,
        }
    }
}

impl std::fmt::Debug for Outlet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Outlet")
    }
}

/// An [`Outlet`] that lets the queue close once every strong one is gone.
pub(crate) struct WeakOutlet {
    tx: mpsc::WeakUnboundedSender<Outbound>,
    credit: Arc<Semaphore>,
}

impl WeakOutlet {
    /// The outlet, unless the queue has closed.
    pub(crate) fn upgrade(&self) -> Option<Outlet> {
        Some(Outlet {
            tx: self.tx.upgrade()?,
            credit: self.credit.clone(),
        })
    }
}

/// A byte stream from the client (stdin, a port-forward data stream).
///
/// Reads end (EOF) when the client closes its side, or when the connection goes away. A
/// port-forward stream that the client resets reads as `ConnectionReset` instead.
pub struct InputStream {
    rx: mpsc::Receiver<Bytes>,
    current: Bytes,
    reset: Option<Arc<AtomicBool>>,
}

impl InputStream {
    /// A stream and the sender its connection task feeds; `reset` (if any) turns the end of
    /// the stream into a `ConnectionReset` error when set.
    pub(crate) fn new(reset: Option<Arc<AtomicBool>>) -> (mpsc::Sender<Bytes>, Self) {
        let (tx, rx) = mpsc::channel(INBOUND_DEPTH);
        (
            tx,
            Self {
                rx,
                current: Bytes::new(),
                reset,
            },
        )
    }
}

impl std::fmt::Debug for InputStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InputStream")
            .field("buffered", &self.current.len())
            .finish()
    }
}

impl AsyncRead for InputStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if !self.current.is_empty() {
                let n = self.current.len().min(buf.remaining());
                buf.put_slice(&self.current.split_to(n));
                return Poll::Ready(Ok(()));
            }
            match ready!(self.rx.poll_recv(cx)) {
                Some(chunk) => self.current = chunk,
                None => {
                    let reset = self
                        .reset
                        .as_ref()
                        .is_some_and(|r| r.load(Ordering::Acquire));
                    return Poll::Ready(if reset {
                        Err(io::Error::new(
                            io::ErrorKind::ConnectionReset,
                            "stream reset by the client",
                        ))
                    } else {
                        Ok(())
                    });
                }
            }
        }
    }
}

/// A byte stream to the client (stdout, stderr, a port-forward data stream).
///
/// Every `write` is handed to the connection at once (there is nothing to flush). Shutting the
/// writer down, or dropping it, ends the stream (a SPDY FIN). Writes fail with `BrokenPipe` once
/// the client has gone or reset the stream.
pub struct OutputStream {
    outlet: Outlet,
    credit: PollSemaphore,
    target: Target,
    reset: Option<Arc<AtomicBool>>,
    closed: bool,
}

impl std::fmt::Debug for OutputStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputStream")
            .field("target", &self.target)
            .field("closed", &self.closed)
            .finish()
    }
}

fn broken() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the client closed the stream")
}

impl OutputStream {
    /// Drops the writer without ending its stream (for streams the server never writes on).
    pub(crate) fn detach(mut self) {
        self.closed = true;
    }

    fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            self.outlet.send(Outbound::Close(self.target));
        }
    }
}

impl AsyncWrite for OutputStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.closed
            || self
                .reset
                .as_ref()
                .is_some_and(|r| r.load(Ordering::Acquire))
        {
            return Poll::Ready(Err(broken()));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let Some(permit) = ready!(self.credit.poll_acquire(cx)) else {
            return Poll::Ready(Err(broken()));
        };
        let n = buf.len().min(MAX_CHUNK);
        let message = Outbound::Data {
            target: self.target,
            data: Bytes::copy_from_slice(&buf[..n]),
            permit: Some(permit),
        };
        if self.outlet.send(message) {
            Poll::Ready(Ok(n))
        } else {
            Poll::Ready(Err(broken()))
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.close();
        Poll::Ready(Ok(()))
    }
}

impl Drop for OutputStream {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn input_reads_chunks_then_eof_or_reset() {
        let (tx, mut input) = InputStream::new(None);
        tx.send(Bytes::from_static(b"hel")).await.unwrap();
        tx.send(Bytes::from_static(b"lo")).await.unwrap();
        drop(tx);
        let mut text = String::new();
        input.read_to_string(&mut text).await.unwrap();
        assert_eq!(text, "hello");

        let flag = Arc::new(AtomicBool::new(false));
        let (tx, mut input) = InputStream::new(Some(flag.clone()));
        flag.store(true, Ordering::Release);
        drop(tx);
        let err = input.read_u8().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    }

    #[tokio::test]
    async fn output_sends_each_write_then_close_on_drop() {
        let (outlet, mut rx, _credit) = Outlet::new();
        let mut out = outlet.writer(Target::Channel(1), None);
        out.write_all(b"abc").await.unwrap();
        drop(out);
        match rx.recv().await {
            Some(Outbound::Data { target, data, .. }) => {
                assert_eq!(target, Target::Channel(1));
                assert_eq!(&data[..], b"abc");
            }
            _ => panic!("expected data"),
        }
        assert!(matches!(
            rx.recv().await,
            Some(Outbound::Close(Target::Channel(1)))
        ));
    }

    #[tokio::test]
    async fn output_waits_for_credit_and_fails_when_the_connection_is_gone() {
        let (outlet, rx, credit) = Outlet::new();
        let mut out = outlet.writer(Target::Stream(1), None);
        let mut held = Vec::new();
        for _ in 0..CREDIT {
            out.write_all(b"x").await.unwrap();
        }
        // Credit is exhausted until the connection task writes something.
        let blocked =
            tokio::time::timeout(std::time::Duration::from_millis(50), out.write_all(b"y")).await;
        assert!(blocked.is_err());
        held.push(rx);
        credit.close();
        assert_eq!(
            out.write_all(b"z").await.unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
    }
}
