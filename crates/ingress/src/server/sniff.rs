//! A watch on the bytes of HTTP/1 request heads for `Content-Length` next to
//! `Transfer-Encoding`.
//!
//! hyper accepts such a request as chunked (dropping `Content-Length` before the service
//! sees it) and closes the connection after it, as RFC 9112 allows; nginx refuses it with 400
//! ("client sent Content-Length and Transfer-Encoding headers at the same time"), and so do
//! we. The watch wraps the connection's reads: it notes, per header block, whether both names
//! began a line, and raises a flag the request handler reads when a request carries
//! `Transfer-Encoding`. It looks at each byte once and keeps no copies.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const CONTENT_LENGTH: &[u8] = b"content-length:";
const TRANSFER_ENCODING: &[u8] = b"transfer-encoding:";

/// An I/O stream whose reads are watched.
#[derive(Debug)]
pub struct Sniffed<I> {
    inner: I,
    scan: Scan,
    flag: Arc<AtomicBool>,
}

/// Raised when a header block had both `Content-Length` and `Transfer-Encoding`.
pub type SmuggleFlag = Arc<AtomicBool>;

impl<I> Sniffed<I> {
    /// Wraps `inner`; the flag is shared with the connection's request handler.
    pub fn new(inner: I) -> (Sniffed<I>, SmuggleFlag) {
        let flag = Arc::new(AtomicBool::new(false));
        let sniffed = Sniffed {
            inner,
            scan: Scan::default(),
            flag: flag.clone(),
        };
        (sniffed, flag)
    }
}

#[derive(Debug, Default)]
struct Scan {
    /// The first bytes of the current line, lower-cased.
    start: [u8; 18],
    /// Bytes of the current line seen so far (without `\r`), saturating.
    len: u16,
    content_length: bool,
    transfer_encoding: bool,
}

impl Scan {
    /// Feeds bytes; true when a header block with both names ended.
    fn feed(&mut self, bytes: &[u8]) -> bool {
        let mut found = false;
        for &b in bytes {
            match b {
                b'\n' => {
                    if self.len == 0 {
                        found |= self.content_length && self.transfer_encoding;
                        self.content_length = false;
                        self.transfer_encoding = false;
                    } else {
                        let n = usize::from(self.len).min(self.start.len());
                        let line = &self.start[..n];
                        self.content_length |= line.starts_with(CONTENT_LENGTH);
                        self.transfer_encoding |= line.starts_with(TRANSFER_ENCODING);
                    }
                    self.len = 0;
                }
                b'\r' => {}
                _ => {
                    if let Some(slot) = self.start.get_mut(usize::from(self.len)) {
                        *slot = b.to_ascii_lowercase();
                    }
                    self.len = self.len.saturating_add(1);
                }
            }
        }
        found
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Sniffed<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            if !this.flag.load(Ordering::Relaxed) {
                let fresh = buf.filled().get(before..).unwrap_or_default();
                if this.scan.feed(fresh) {
                    this.flag.store(true, Ordering::Relaxed);
                }
            }
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Sniffed<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_names_in_one_head_are_found_across_reads() {
        let mut scan = Scan::default();
        let head = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Enc";
        assert!(!scan.feed(head));
        assert!(scan.feed(b"oding: chunked\r\n\r\n0\r\n\r\n"));
    }

    #[test]
    fn separate_heads_and_lookalike_values_are_not() {
        let mut scan = Scan::default();
        let two = b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\nPOST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(!scan.feed(two));
        let mut scan = Scan::default();
        assert!(!scan.feed(
            b"GET / HTTP/1.1\r\nX-A: content-length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
        ));
    }

    #[tokio::test]
    async fn reads_raise_the_flag() {
        use tokio::io::AsyncReadExt;
        let data: &[u8] =
            b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n";
        let (mut sniffed, flag) = Sniffed::new(data);
        let mut out = Vec::new();
        sniffed.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, data);
        assert!(flag.load(Ordering::Relaxed));
    }
}
