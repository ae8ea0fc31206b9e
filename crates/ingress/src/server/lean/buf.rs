//! A read buffer: bytes read from a stream and not consumed yet, reused for every message of
//! a connection.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// Bytes read and not consumed yet.
pub struct Buf {
    data: Vec<u8>,
    start: usize,
    end: usize,
    max: usize,
}

impl Buf {
    /// A buffer of `size` bytes that may grow to `max` (to hold a large head).
    pub fn new(size: usize, max: usize) -> Buf {
        Buf {
            data: vec![0; size],
            start: 0,
            end: 0,
            max: max.max(size),
        }
    }

    /// The unconsumed bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    /// How many bytes are unconsumed.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// True when every byte read was consumed.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// True when the buffer cannot take another byte (a head larger than `max`).
    pub fn is_full(&self) -> bool {
        self.start == 0 && self.end == self.data.len() && self.data.len() >= self.max
    }

    /// Marks `n` bytes consumed.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Takes the unconsumed bytes out (for a connection handed to another server).
    pub fn take(&mut self) -> Vec<u8> {
        let rest = self.bytes().to_vec();
        self.clear();
        rest
    }

    /// Reads once more from `io`, making room first; `Ok(0)` at end of stream. An error when
    /// the buffer is full (see [`Buf::is_full`]).
    pub async fn fill<R: AsyncRead + Unpin>(&mut self, io: &mut R) -> io::Result<usize> {
        if self.end == self.data.len() {
            if self.start > 0 {
                self.data.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.data.len() < self.max {
                let size = (self.data.len() * 2).min(self.max);
                self.data.resize(size, 0);
            } else {
                return Err(io::Error::other("message head too large"));
            }
        }
        let n = io.read(&mut self.data[self.end..]).await?;
        self.end += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fills_consumes_compacts_and_grows_to_the_limit() {
        let mut buf = Buf::new(4, 8);
        let mut input: &[u8] = b"abcdefghijkl";
        assert_eq!(buf.fill(&mut input).await.unwrap(), 4);
        assert_eq!(buf.bytes(), b"abcd");
        buf.consume(3);
        assert_eq!(buf.fill(&mut input).await.unwrap(), 3);
        assert_eq!(buf.bytes(), b"defg");
        assert_eq!(buf.fill(&mut input).await.unwrap(), 4);
        assert_eq!(buf.bytes(), b"defghijk");
        assert!(buf.is_full());
        assert!(buf.fill(&mut input).await.is_err());
        buf.consume(8);
        assert!(buf.is_empty());
        assert_eq!(buf.fill(&mut input).await.unwrap(), 1);
        assert_eq!(buf.take(), b"l");
        assert!(buf.is_empty());
    }
}
