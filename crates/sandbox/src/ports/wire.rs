//! The port-passing protocol on a Unix stream socket.
//!
//! Each message is a frame: a 4-byte big-endian length, then that many bytes of JSON. A
//! request is `{"id":7,"proto":"tcp","addr":"127.0.0.1:8080"}`; the answer carries the same
//! id and either `"error":"..."` or, with no error, exactly one descriptor attached
//! (`SCM_RIGHTS`) to the frame's first byte. Descriptors arrive in the order of their frames,
//! so a reader keeps them in a queue and hands one to each answer that has no error.

use std::collections::VecDeque;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use serde::{Deserialize, Serialize};
use tokio::io::Interest;
use tokio::net::UnixStream;

use super::Proto;

/// Frames larger than this are refused (a request is well under 200 bytes).
const MAX_FRAME: usize = 64 * 1024;

/// A request for a host socket.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Request {
    pub id: u64,
    pub proto: Proto,
    pub addr: SocketAddr,
}

/// The answer to the request with the same id.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Response {
    pub id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Sends one frame with `body`, attaching `fd` to its first byte.
pub(crate) async fn send_frame(
    stream: &UnixStream,
    body: &[u8],
    fd: Option<BorrowedFd<'_>>,
) -> io::Result<()> {
    let len = u32::try_from(body.len())
        .ok()
        .filter(|n| (*n as usize) <= MAX_FRAME)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(body);
    let raw = stream.as_raw_fd();
    let fds: Vec<RawFd> = fd.iter().map(|f| f.as_raw_fd()).collect();
    let mut sent = 0;
    while sent < frame.len() {
        let rest = &frame[sent..];
        let with_fd = sent == 0 && !fds.is_empty();
        let n = stream
            .async_io(Interest::WRITABLE, || {
                let iov = [IoSlice::new(rest)];
                let cmsgs: &[ControlMessage] = if with_fd {
                    &[ControlMessage::ScmRights(&fds)]
                } else {
                    &[]
                };
                sendmsg::<()>(raw, &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None)
                    .map_err(io::Error::from)
            })
            .await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        sent += n;
    }
    Ok(())
}

/// Reads frames and the descriptors that come with them.
#[derive(Default)]
pub(crate) struct FrameReader {
    buf: Vec<u8>,
    fds: VecDeque<OwnedFd>,
}

impl FrameReader {
    /// The next frame's body, or `None` at a clean end of stream.
    pub async fn next(&mut self, stream: &UnixStream) -> io::Result<Option<Vec<u8>>> {
        loop {
            if self.buf.len() >= 4 {
                let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]])
                    as usize;
                if len > MAX_FRAME {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("frame of {len} bytes"),
                    ));
                }
                if self.buf.len() >= 4 + len {
                    let body = self.buf[4..4 + len].to_vec();
                    self.buf.drain(..4 + len);
                    return Ok(Some(body));
                }
            }
            let mut chunk = [0u8; 4096];
            let (n, fds) = stream
                .async_io(Interest::READABLE, || {
                    recv_with_fds(stream.as_raw_fd(), &mut chunk)
                })
                .await?;
            self.fds.extend(fds);
            if n == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The oldest descriptor received and not yet taken.
    pub fn take_fd(&mut self) -> Option<OwnedFd> {
        self.fds.pop_front()
    }
}

/// One `recvmsg`: the bytes read into `buf` and the descriptors that came with them.
#[allow(unsafe_code)]
fn recv_with_fds(sock: RawFd, buf: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut space = nix::cmsg_space!([RawFd; 16]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    let mut fds = Vec::new();
    let truncated = msg.flags.contains(MsgFlags::MSG_CTRUNC);
    if let Ok(cmsgs) = msg.cmsgs() {
        for cmsg in cmsgs {
            if let ControlMessageOwned::ScmRights(raw) = cmsg {
                // SAFETY: the kernel just installed these descriptors in this process for
                // us (SCM_RIGHTS); nothing else owns them.
                fds.extend(
                    raw.into_iter()
                        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                );
            }
        }
    }
    if truncated {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "too many descriptors in one message",
        ));
    }
    Ok((msg.bytes, fds))
}
