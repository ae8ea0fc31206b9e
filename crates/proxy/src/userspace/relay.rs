//! Relaying one TCP connection: plain reads and writes for small exchanges, zero-copy with
//! `splice(2)` through a pipe once a direction carries bulk data, or
//! `tokio::io::copy_bidirectional`.
//!
//! Each direction starts by reading into a small buffer and writing it out: for requests and
//! responses of a few kilobytes that is as few system calls as splicing, without a pipe to
//! create per connection (HAProxy's `splice-auto` makes the same choice). When a read fills
//! the buffer, the direction switches to moving data socket → pipe → socket without it
//! entering userspace. Readiness comes from tokio: reads go through `AsyncRead`, which takes
//! a short read as proof that the socket is drained (no second `read` that only says
//! `EAGAIN`, one system call fewer per direction and request), splices through
//! `readable`/`writable` and `try_io`, so the reactor's state stays right. When a side
//! reaches end of stream, the other side's write half is shut down (half-close), and the
//! other direction goes on until it ends too; the direction that ends last skips the
//! `shutdown`, since closing the socket a moment later sends the same FIN (both receive
//! queues are drained by then, so the close cannot turn into a reset). Buffers are not
//! zeroed: reads fill spare capacity. If no pipe can be made, or the kernel refuses
//! `splice` on its first call, that direction goes on copying.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::pipe::{PipeFlags, SpliceFlags};
use tokio::io::{AsyncReadExt, Interest};
use tokio::net::tcp::ReadHalf;
use tokio::net::TcpStream;

/// How TCP bytes are moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Relay {
    /// Reads and writes for small exchanges, `splice(2)` through a pipe (zero-copy) once a
    /// direction carries bulk data; the default.
    #[default]
    Splice,
    /// `tokio::io::copy_bidirectional` (copies through userspace buffers).
    Copy,
}

/// Bytes moved in each direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Moved {
    /// Client to endpoint.
    pub(crate) to_endpoint: u64,
    /// Endpoint to client.
    pub(crate) to_client: u64,
}

/// How much a pipe may hold; larger pipes mean fewer system calls per byte.
const PIPE_SIZE: usize = 256 * 1024;
/// Bytes asked for per `splice` into the pipe.
const CHUNK: usize = PIPE_SIZE;
/// The buffer a direction reads into before it splices; a read that fills it switches the
/// direction to splice.
const SMALL: usize = 16 * 1024;

/// Relays between `client` and `endpoint` until both directions end. On error, whatever was
/// moved is lost from the count; the caller closes both sockets.
pub(crate) async fn relay(
    mut client: TcpStream,
    mut endpoint: TcpStream,
    mode: Relay,
) -> io::Result<Moved> {
    match mode {
        Relay::Copy => {
            let (up, down) = tokio::io::copy_bidirectional(&mut client, &mut endpoint).await?;
            Ok(Moved {
                to_endpoint: up,
                to_client: down,
            })
        }
        Relay::Splice => {
            let (client_r, client_w) = client.split();
            let (endpoint_r, endpoint_w) = endpoint.split();
            let one_ended = AtomicBool::new(false);
            let (up, down) = tokio::try_join!(
                direction(client_r, endpoint_w.as_ref(), &one_ended),
                direction(endpoint_r, client_w.as_ref(), &one_ended)
            )?;
            Ok(Moved {
                to_endpoint: up,
                to_client: down,
            })
        }
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = rustix::pipe::pipe_with(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
    // Best effort: an unprivileged process may be limited by fs.pipe-max-size.
    let _ = rustix::pipe::fcntl_setpipe_size(&w, PIPE_SIZE);
    Ok((r, w))
}

/// Moves `src` → `dst` until `src` ends; then, unless the other direction has ended
/// already (`one_ended`), shuts down `dst`'s write half.
async fn direction(src: ReadHalf<'_>, dst: &TcpStream, one_ended: &AtomicBool) -> io::Result<u64> {
    let total = one_way(src, dst).await?;
    if !one_ended.swap(true, Ordering::Relaxed) {
        half_close(dst);
    }
    Ok(total)
}

/// Moves `src` → `dst` until `src` ends: copying while reads come in small, splicing from
/// the first read that fills [`SMALL`] bytes.
async fn one_way(mut src_half: ReadHalf<'_>, dst: &TcpStream) -> io::Result<u64> {
    let mut buf = Vec::with_capacity(SMALL);
    let mut total: u64 = 0;
    loop {
        buf.clear();
        let n = src_half.read_buf(&mut buf).await?;
        if n == 0 {
            return Ok(total);
        }
        write_all(dst, &buf).await?;
        total += n as u64;
        if n >= SMALL {
            break;
        }
    }
    drop(buf);
    let src: &TcpStream = src_half.as_ref();
    let (pipe_r, pipe_w) = match pipe() {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!(error = %e, "no pipe for splice; copying instead");
            return copy_one_way(src_half, dst, total).await;
        }
    };
    let flags = SpliceFlags::NONBLOCK | SpliceFlags::MOVE;
    let mut spliced = false;
    loop {
        src.readable().await?;
        let res = src.try_io(Interest::READABLE, || {
            rustix::pipe::splice(src, None, &pipe_w, None, CHUNK, flags).map_err(io::Error::from)
        });
        let n = match res {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) if !spliced && unsupported(&e) => {
                tracing::debug!(error = %e, "splice refused; copying instead");
                return copy_one_way(src_half, dst, total).await;
            }
            Err(e) => return Err(e),
        };
        spliced = true;
        let mut left = n;
        while left > 0 {
            dst.writable().await?;
            let res = dst.try_io(Interest::WRITABLE, || {
                rustix::pipe::splice(&pipe_r, None, dst, None, left, flags).map_err(io::Error::from)
            });
            match res {
                Ok(m) => left -= m,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
        total += n as u64;
    }
    Ok(total)
}

/// Writes all of `data` to `dst`.
async fn write_all(dst: &TcpStream, data: &[u8]) -> io::Result<()> {
    let mut off = 0;
    while off < data.len() {
        dst.writable().await?;
        match dst.try_write(&data[off..]) {
            Ok(m) => off += m,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Whether a `splice` error means "not supported here" rather than a broken connection.
fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(code) if code == rustix::io::Errno::INVAL.raw_os_error()
            || code == rustix::io::Errno::NOSYS.raw_os_error()
            || code == rustix::io::Errno::OPNOTSUPP.raw_os_error()
    )
}

/// The fallback for one direction: read into a buffer, write it out; `total` bytes were
/// moved before.
async fn copy_one_way(mut src: ReadHalf<'_>, dst: &TcpStream, mut total: u64) -> io::Result<u64> {
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        buf.clear();
        let n = src.read_buf(&mut buf).await?;
        if n == 0 {
            return Ok(total);
        }
        write_all(dst, &buf).await?;
        total += n as u64;
    }
}

/// Shuts down the write half of `s` (the peer sees end of stream); a peer that is already
/// gone is not an error here.
fn half_close(s: &TcpStream) {
    if let Err(e) = rustix::net::shutdown(s, rustix::net::Shutdown::Write) {
        tracing::trace!(error = %e, "shutting down the write half");
    }
}
