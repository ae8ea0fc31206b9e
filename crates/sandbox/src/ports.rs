//! Host ports for the sandbox, passed in as sockets over a Unix socket (`SCM_RIGHTS`).
//!
//! An unprivileged process on the host cannot enter the sandbox's network namespace, but a
//! socket keeps the namespace it was created in. So the part of `portico up` that stays on
//! the host runs a [`PortBroker`] on one end of a Unix stream socket, and the sandbox (which
//! inherits the other end, e.g. through [`crate::userns::inherit_fd`]) asks for listeners
//! with a [`PortClient`]. The host binds (TCP: `SO_REUSEADDR`, backlog 1024), sends the
//! socket, and closes its own copy, so the sandbox owns the listener: dropping it releases
//! the host port. Connections accepted on it come straight from the host's stack, with the
//! client's real address.
//!
//! ```no_run
//! # async fn demo(fd: std::os::fd::OwnedFd) -> Result<(), portico_sandbox::Error> {
//! use portico_sandbox::ports::PortClient;
//! let ports = PortClient::from_fd(fd)?;
//! let listener = ports.bind_tcp("127.0.0.1:6443".parse().unwrap()).await?;
//! listener.set_nonblocking(true).unwrap();
//! let listener = tokio::net::TcpListener::from_std(listener).unwrap();
//! # Ok(()) }
//! ```

mod wire;

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use nix::sys::socket::{
    self as sock, sockopt, AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage,
};
use serde::{Deserialize, Serialize};
use tokio::net::UnixStream;
use tokio::sync::oneshot;

use crate::error::errno_text;
use crate::Error;
use wire::{FrameReader, Request, Response};

/// A transport protocol for a host port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// A listening TCP socket.
    Tcp,
    /// A bound UDP socket.
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// The host side: binds sockets on request and sends them into the sandbox.
pub struct PortBroker;

impl PortBroker {
    /// Serves requests from `sock` until the sandbox closes its end (then returns `Ok`).
    ///
    /// `policy` decides which addresses may be bound; its `Err` text is sent back as the
    /// refusal's reason (see [`allow_loopback_and`]). Failures to bind (`Address already in
    /// use`, `Permission denied` for ports below 1024 without privileges) are sent back too;
    /// only a broken channel ends this with an error.
    pub async fn serve(
        sock: UnixStream,
        policy: impl Fn(Proto, SocketAddr) -> Result<(), String>,
    ) -> Result<(), Error> {
        let mut reader = FrameReader::default();
        loop {
            let frame = reader
                .next(&sock)
                .await
                .map_err(|e| Error::PortChannel(format!("reading a request: {e}")))?;
            let Some(frame) = frame else {
                return Ok(());
            };
            let req: Request = serde_json::from_slice(&frame)
                .map_err(|e| Error::PortChannel(format!("bad request: {e}")))?;
            let answer = match policy(req.proto, req.addr) {
                Err(why) => Err(format!("refused {} {}: {why}", req.proto, req.addr)),
                Ok(()) => bind_host(req.proto, req.addr)
                    .map_err(|e| format!("binding {} {}: {}", req.proto, req.addr, errno_text(e))),
            };
            let (resp, fd) = match answer {
                Ok(fd) => (
                    Response {
                        id: req.id,
                        error: None,
                    },
                    Some(fd),
                ),
                Err(text) => {
                    tracing::info!(proto = %req.proto, addr = %req.addr, "host port: {text}");
                    (
                        Response {
                            id: req.id,
                            error: Some(text),
                        },
                        None,
                    )
                }
            };
            let body = serde_json::to_vec(&resp)
                .map_err(|e| Error::PortChannel(format!("encoding an answer: {e}")))?;
            wire::send_frame(&sock, &body, fd.as_ref().map(|f| f.as_fd()))
                .await
                .map_err(|e| Error::PortChannel(format!("sending an answer: {e}")))?;
            // `fd` is dropped here: the sandbox now holds the only copy.
        }
    }
}

/// A policy for [`PortBroker::serve`]: addresses in 127.0.0.0/8 and `extra` (e.g. the
/// configured listen address) may be bound, nothing else.
pub fn allow_loopback_and(
    extra: Vec<IpAddr>,
) -> impl Fn(Proto, SocketAddr) -> Result<(), String> + Send + Sync + 'static {
    move |_, addr| {
        let ip = addr.ip();
        let loopback_v4 = matches!(ip, IpAddr::V4(v4) if v4.is_loopback());
        if loopback_v4 || extra.contains(&ip) {
            Ok(())
        } else {
            Err(format!(
                "{ip} is neither in 127.0.0.0/8 nor the listen address"
            ))
        }
    }
}

/// Creates the host socket: TCP bound with `SO_REUSEADDR` and listening, or UDP bound.
fn bind_host(proto: Proto, addr: SocketAddr) -> Result<OwnedFd, nix::errno::Errno> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let ty = match proto {
        Proto::Tcp => SockType::Stream,
        Proto::Udp => SockType::Datagram,
    };
    let fd = sock::socket(family, ty, SockFlag::SOCK_CLOEXEC, None)?;
    if addr.is_ipv6() {
        sock::setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
    }
    if proto == Proto::Tcp {
        sock::setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    }
    sock::bind(fd.as_raw_fd(), &SockaddrStorage::from(addr))?;
    if proto == Proto::Tcp {
        let backlog = Backlog::new(1024).unwrap_or(Backlog::MAXCONN);
        sock::listen(&fd, backlog)?;
    }
    Ok(fd)
}

type Pending = Mutex<Option<HashMap<u64, oneshot::Sender<Result<OwnedFd, String>>>>>;

/// The sandbox side: asks the host for sockets. Cheap to clone and usable from many tasks
/// at once; answers are matched to requests by id.
#[derive(Clone)]
pub struct PortClient {
    inner: Arc<Inner>,
}

struct Inner {
    stream: Arc<UnixStream>,
    write: tokio::sync::Mutex<()>,
    pending: Arc<Pending>,
    next_id: AtomicU64,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl fmt::Debug for PortClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortClient").finish_non_exhaustive()
    }
}

impl PortClient {
    /// Wraps the sandbox's end of the broker socket. Must be called within a tokio runtime
    /// (it spawns the task that reads answers).
    pub fn from_fd(fd: OwnedFd) -> Result<Self, Error> {
        let std = std::os::unix::net::UnixStream::from(fd);
        std.set_nonblocking(true)
            .map_err(|e| Error::io("making the port socket non-blocking", e))?;
        tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Invalid("the port client needs a tokio runtime".into()))?;
        let stream = Arc::new(
            UnixStream::from_std(std).map_err(|e| Error::io("registering the port socket", e))?,
        );
        let pending: Arc<Pending> = Arc::new(Mutex::new(Some(HashMap::new())));
        let reader = tokio::spawn(read_answers(stream.clone(), pending.clone()));
        Ok(PortClient {
            inner: Arc::new(Inner {
                stream,
                write: tokio::sync::Mutex::new(()),
                pending,
                next_id: AtomicU64::new(1),
                reader,
            }),
        })
    }

    /// A listening TCP socket on the host at `addr` (port 0: any free port; read it with
    /// `local_addr`). It is blocking: call `set_nonblocking(true)` before handing it to tokio.
    pub async fn bind_tcp(&self, addr: SocketAddr) -> Result<std::net::TcpListener, Error> {
        Ok(std::net::TcpListener::from(
            self.request(Proto::Tcp, addr).await?,
        ))
    }

    /// A bound UDP socket on the host at `addr`. Blocking, like [`PortClient::bind_tcp`].
    pub async fn bind_udp(&self, addr: SocketAddr) -> Result<std::net::UdpSocket, Error> {
        Ok(std::net::UdpSocket::from(
            self.request(Proto::Udp, addr).await?,
        ))
    }

    async fn request(&self, proto: Proto, addr: SocketAddr) -> Result<OwnedFd, Error> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.inner.pending.lock().unwrap_or_else(|e| e.into_inner());
            match pending.as_mut() {
                Some(map) => map.insert(id, tx),
                None => return Err(Error::PortChannel("the host side has gone".into())),
            };
        }
        let body = serde_json::to_vec(&Request { id, proto, addr })
            .map_err(|e| Error::PortChannel(format!("encoding a request: {e}")))?;
        {
            let _turn = self.inner.write.lock().await;
            if let Err(e) = wire::send_frame(&self.inner.stream, &body, None).await {
                self.forget(id);
                return Err(Error::PortChannel(format!("sending a request: {e}")));
            }
        }
        match rx.await {
            Ok(Ok(fd)) => Ok(fd),
            Ok(Err(text)) => Err(Error::PortRefused(text)),
            Err(_) => Err(Error::PortChannel("the host side has gone".into())),
        }
    }

    fn forget(&self, id: u64) {
        let mut pending = self.inner.pending.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(map) = pending.as_mut() {
            map.remove(&id);
        }
    }
}

/// Reads answers and completes the matching requests; when the channel ends, fails every
/// request still waiting, and later ones.
async fn read_answers(stream: Arc<UnixStream>, pending: Arc<Pending>) {
    let mut reader = FrameReader::default();
    let end = loop {
        let frame = match reader.next(&stream).await {
            Ok(Some(frame)) => frame,
            Ok(None) => break "closed".to_string(),
            Err(e) => break e.to_string(),
        };
        let resp: Response = match serde_json::from_slice(&frame) {
            Ok(r) => r,
            Err(e) => break format!("bad answer: {e}"),
        };
        let answer = match resp.error {
            Some(text) => Err(text),
            None => match reader.take_fd() {
                Some(fd) => Ok(fd),
                None => break format!("answer {} came without a socket", resp.id),
            },
        };
        let waiter = pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
            .and_then(|map| map.remove(&resp.id));
        match waiter {
            // A waiter that gave up drops the socket, which releases the host port.
            Some(tx) => drop(tx.send(answer)),
            None => tracing::warn!(id = resp.id, "host port answer for no request"),
        }
    };
    tracing::debug!("port channel ended: {end}");
    // Dropping the senders wakes every waiter with "the host side has gone".
    pending.lock().unwrap_or_else(|e| e.into_inner()).take();
}

#[cfg(test)]
mod tests;
