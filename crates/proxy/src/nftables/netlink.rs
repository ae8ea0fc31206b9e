//! nf_tables over netlink, for the incremental transactions: no `nft` process, and no
//! reading of the kernel's ruleset before each change (nft 1.0 fetches every chain of the
//! table first, which costs seconds with 100,000 chains).
//!
//! A [`Batch`] carries one transaction (`NFNL_MSG_BATCH_BEGIN`, one message per
//! [`Op`](super::ops::Op), `NFNL_MSG_BATCH_END`), sent with one `send` on a long-lived
//! `NETLINK_NETFILTER` [`Socket`]. The kernel handles the whole batch inside that call and
//! applies it atomically; the replies are then waiting: an acknowledgement per op (or of
//! the last op only, when there are more ops than the receive buffer has room for
//! acknowledgements) and an error for each op it refused, with the extended-ACK text when
//! the kernel gives one.

mod attr;
mod batch;
mod expr;
mod maps;

use std::io;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

pub(crate) use batch::Batch;

const NLMSG_ERROR: u16 = 2;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;
/// Room reserved in the receive buffer per expected acknowledgement (an ack's socket
/// buffer takes about 700 bytes of the budget).
const ACK_COST: usize = 1024;
/// Buffer sizes asked for (the kernel caps them at `net.core.{w,r}mem_max` unless the
/// process may force them).
const SEND_BUFFER: usize = 16 << 20;
const RECV_BUFFER: usize = 8 << 20;

/// Why a batch failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The batch was not sent: too large for the socket (`EMSGSIZE`, `ENOBUFS`). The
    /// kernel is unchanged.
    TooLarge(io::Error),
    /// The kernel refused the transaction, which left the table unchanged: `op` is the index
    /// of the refused op, or `None` when the commit as a whole failed.
    Refused {
        /// Index of the op in the batch, if the error names one.
        op: Option<usize>,
        /// The error.
        error: io::Error,
        /// The kernel's extended-ACK message.
        message: Option<String>,
    },
    /// Sending or reading replies failed: whether the batch was applied is unknown.
    Io(&'static str, io::Error),
}

/// How long one batch took, for the logs and the scale example.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sent {
    /// From the `send` call to the last reply: the kernel's own work.
    pub kernel: Duration,
}

/// A `NETLINK_NETFILTER` socket.
#[derive(Debug)]
pub(crate) struct Socket {
    sock: netlink_sys::Socket,
    next_seq: u32,
    /// How many acknowledgements fit the receive buffer.
    ack_budget: usize,
    buf: Vec<u8>,
}

impl Socket {
    /// Opens and binds a socket, with extended ACKs and capped (header-only) error echoes.
    pub fn open() -> io::Result<Socket> {
        let mut sock = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_NETFILTER)?;
        sock.bind_auto()?;
        sock.connect(&netlink_sys::SocketAddr::new(0, 0))?;
        // Best effort: without these, errors carry less text or batches split sooner.
        let _ = sock.set_ext_ack(true);
        let _ = sock.set_cap_ack(true);
        if rustix::net::sockopt::set_socket_send_buffer_size_force(sock.as_fd(), SEND_BUFFER)
            .is_err()
        {
            let _ = rustix::net::sockopt::set_socket_send_buffer_size(sock.as_fd(), SEND_BUFFER);
        }
        if rustix::net::sockopt::set_socket_recv_buffer_size_force(sock.as_fd(), RECV_BUFFER)
            .is_err()
        {
            let _ = rustix::net::sockopt::set_socket_recv_buffer_size(sock.as_fd(), RECV_BUFFER);
        }
        rustix::net::sockopt::set_socket_timeout(
            sock.as_fd(),
            rustix::net::sockopt::Timeout::Recv,
            Some(Duration::from_secs(30)),
        )?;
        let rcvbuf = rustix::net::sockopt::socket_recv_buffer_size(sock.as_fd())?;
        // A random start keeps replies meant for an earlier socket from matching.
        let next_seq = std::process::id().wrapping_mul(0x9e37_79b9)
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
        Ok(Socket {
            sock,
            next_seq,
            ack_budget: (rcvbuf / ACK_COST).max(1),
            buf: vec![0; 64 << 10],
        })
    }

    /// Sends `batch` and waits for its outcome.
    pub fn send(&mut self, batch: &mut Batch) -> Result<Sent, Failure> {
        let n = batch.ops();
        if n == 0 {
            return Ok(Sent::default());
        }
        let first = self.next_seq;
        self.next_seq = first.wrapping_add(n as u32 + 2);
        let ack_each = n <= self.ack_budget;
        batch.number(first, ack_each);
        // Sequence numbers of the ops still to be acknowledged.
        let op_seq = |i: usize| first.wrapping_add(i as u32 + 1);
        let mut pending: std::collections::HashSet<u32> = if ack_each {
            (0..n).map(op_seq).collect()
        } else {
            [op_seq(n - 1)].into()
        };
        let started = Instant::now();
        match self.sock.send(batch.bytes(), 0) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc_errno::EMSGSIZE | libc_errno::ENOBUFS)
                ) =>
            {
                return Err(Failure::TooLarge(e));
            }
            Err(e) => return Err(Failure::Io("sending to", e)),
        }
        while !pending.is_empty() {
            let len = match rustix::net::recv(
                self.sock.as_fd(),
                &mut self.buf[..],
                rustix::net::RecvFlags::empty(),
            ) {
                Ok((len, _)) => len,
                Err(rustix::io::Errno::INTR) => continue,
                // Includes ENOBUFS (replies were dropped): the outcome is unknown.
                Err(e) => return Err(Failure::Io("reading from", e.into())),
            };
            let mut at = 0;
            while let Some(reply) = parse_reply(&self.buf[at..len.min(self.buf.len())]) {
                at += reply.advance;
                let Some((seq, errno, message)) = reply.error else {
                    continue;
                };
                let index = seq.wrapping_sub(first) as usize;
                if index > n + 1 {
                    continue; // not ours
                }
                if errno == 0 {
                    pending.remove(&seq);
                    continue;
                }
                let op = (1..=n).contains(&index).then(|| index - 1);
                return Err(Failure::Refused {
                    op,
                    error: io::Error::from_raw_os_error(errno),
                    message,
                });
            }
        }
        Ok(Sent {
            kernel: started.elapsed(),
        })
    }
}

/// Errno values used here (Linux).
mod libc_errno {
    pub const EMSGSIZE: i32 = 90;
    pub const ENOBUFS: i32 = 105;
}

/// One reply message: how far to advance, and for `NLMSG_ERROR` the sequence number it
/// answers, the (positive) errno, 0 for an acknowledgement, and the extended-ACK text.
struct Reply {
    advance: usize,
    error: Option<(u32, i32, Option<String>)>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn parse_reply(b: &[u8]) -> Option<Reply> {
    let len = u32_at(b, 0)? as usize;
    if len < attr::NLMSG_HDRLEN || len > b.len() {
        return None;
    }
    let advance = attr::align(len).min(b.len());
    let msg = &b[..len];
    if u16_at(msg, 4)? != NLMSG_ERROR {
        return Some(Reply {
            advance,
            error: None,
        });
    }
    let flags = u16_at(msg, 6)?;
    let err = u32_at(msg, 16)? as i32;
    // The request's header follows, then (unless capped) its payload, then TLVs.
    let orig = 20;
    let orig_len = u32_at(msg, orig)? as usize;
    let seq = u32_at(msg, orig + 8)?;
    let tlvs_at = if flags & NLM_F_CAPPED != 0 || err == 0 {
        orig + attr::NLMSG_HDRLEN
    } else {
        orig + attr::align(orig_len)
    };
    let mut message = None;
    if flags & NLM_F_ACK_TLVS != 0 {
        let mut at = tlvs_at;
        while let (Some(l), Some(t)) = (u16_at(msg, at), u16_at(msg, at + 2)) {
            let l = usize::from(l);
            if l < 4 || at + l > msg.len() {
                break;
            }
            if t & 0x3fff == NLMSGERR_ATTR_MSG {
                let text = &msg[at + 4..at + l];
                let text = text.split(|c| *c == 0).next().unwrap_or_default();
                message = Some(String::from_utf8_lossy(text).into_owned());
            }
            at += attr::align(l);
        }
    }
    Some(Reply {
        advance,
        error: Some((seq, err.saturating_neg(), message)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_replies_name_the_request_and_carry_the_kernel_text() {
        // NLMSG_ERROR, capped, with TLVs: -ENOENT for sequence 7, "no such chain".
        let mut m = Vec::new();
        let text = b"no such chain\0";
        let tlv_len = 4 + text.len();
        let total = 16 + 4 + 16 + attr::align(tlv_len);
        m.extend_from_slice(&(total as u32).to_ne_bytes());
        m.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        m.extend_from_slice(&(NLM_F_CAPPED | NLM_F_ACK_TLVS).to_ne_bytes());
        m.extend_from_slice(&[0; 8]);
        m.extend_from_slice(&(-2i32).to_ne_bytes());
        m.extend_from_slice(&40u32.to_ne_bytes());
        m.extend_from_slice(&[0; 4]);
        m.extend_from_slice(&7u32.to_ne_bytes());
        m.extend_from_slice(&[0; 4]);
        m.extend_from_slice(&(tlv_len as u16).to_ne_bytes());
        m.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        m.extend_from_slice(text);
        m.resize(total, 0);
        let r = parse_reply(&m).unwrap();
        assert_eq!(r.advance, total);
        assert_eq!(r.error, Some((7, 2, Some("no such chain".to_string()))));
        assert!(parse_reply(&m[..10]).is_none());
    }
}
