//! The DNS listeners: one UDP socket (served by a thread of its own, see
//! [`udp`]) and one TCP listener on the same address, each connection on
//! its own task.

mod udp;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::forward::Forwarder;
use crate::handler::{Handler, Transport, ZoneHandle};
use crate::Error;

/// The receive buffer asked for the UDP socket, in bytes.
const UDP_RECEIVE_BUFFER: usize = 4 << 20;
/// How many TCP connections are served at once.
const MAX_TCP_CONNECTIONS: usize = 256;
/// How long a TCP connection may stay idle between queries (RFC 7766 suggests seconds).
const TCP_IDLE: Duration = Duration::from_secs(10);

/// A bound DNS server, ready to [`serve`](Server::serve).
#[derive(Debug)]
pub struct Server {
    udp: Arc<UdpSocket>,
    tcp: TcpListener,
    handler: Arc<Handler>,
}

impl Server {
    /// Binds UDP and TCP on `listen` (with port 0, one free port for both),
    /// answering from `zone` and forwarding the rest to `upstream`.
    pub async fn bind(
        listen: SocketAddr,
        zone: ZoneHandle,
        upstream: Vec<SocketAddr>,
    ) -> Result<Self, Error> {
        let (udp, tcp) = bind_pair(listen).await?;
        let handler = Arc::new(Handler::new(zone, Forwarder::new(upstream)));
        Ok(Self {
            udp: Arc::new(udp),
            tcp,
            handler,
        })
    }

    /// The address both listeners are bound to.
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        Ok(self.udp.local_addr()?)
    }

    /// Answers queries until `shutdown` is cancelled.
    pub async fn serve(self, shutdown: CancellationToken) -> Result<(), Error> {
        let stop = Arc::new(AtomicBool::new(false));
        udp::spawn(
            self.udp,
            self.handler.clone(),
            tokio::runtime::Handle::current(),
            stop.clone(),
        )?;
        let tcp = tokio::spawn(serve_tcp(self.tcp, self.handler, shutdown.clone()));
        shutdown.cancelled().await;
        stop.store(true, Ordering::Relaxed);
        tcp.abort();
        Ok(())
    }
}

/// Binds UDP first, then TCP on the same port (retrying when port 0 gave
/// a UDP port whose TCP twin is taken).
async fn bind_pair(listen: SocketAddr) -> Result<(UdpSocket, TcpListener), Error> {
    let mut last = None;
    for _ in 0..16 {
        let udp = UdpSocket::bind(listen).map_err(|source| Error::Bind {
            addr: listen,
            source,
        })?;
        // Room for a burst of queries (a node's pods starting at once): the
        // kernel's default buffer holds a few hundred datagrams, and what
        // overflows it is lost without a trace. Capped by net.core.rmem_max.
        if let Err(error) = socket2::SockRef::from(&udp).set_recv_buffer_size(UDP_RECEIVE_BUFFER) {
            tracing::debug!(%error, "cannot enlarge the UDP receive buffer");
        }
        let addr = udp.local_addr()?;
        match TcpListener::bind(addr).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(source) if listen.port() == 0 => last = Some(source),
            Err(source) => return Err(Error::Bind { addr, source }),
        }
    }
    Err(Error::Bind {
        addr: listen,
        source: last.unwrap_or_else(|| std::io::Error::other("no free port")),
    })
}

async fn serve_tcp(listener: TcpListener, handler: Arc<Handler>, shutdown: CancellationToken) {
    let limit = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::debug!(%error, "TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "too many TCP connections; closing one");
            continue;
        };
        let (handler, shutdown) = (handler.clone(), shutdown.clone());
        tokio::spawn(async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                result = serve_connection(stream, &handler) => {
                    if let Err(error) = result {
                        tracing::debug!(%error, %peer, "TCP connection ended");
                    }
                }
            }
            drop(permit);
        });
    }
}

/// Length-prefixed queries, answered in order, until the client closes or idles.
async fn serve_connection(mut stream: TcpStream, handler: &Handler) -> std::io::Result<()> {
    loop {
        let len = match tokio::time::timeout(TCP_IDLE, stream.read_u16()).await {
            Err(_) => return Ok(()),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(result) => result?,
        };
        let mut packet = vec![0u8; usize::from(len)];
        tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut packet))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "partial query"))??;
        let Some(answer) = handler.handle(&packet, Transport::Tcp).await else {
            continue;
        };
        let Ok(answer_len) = u16::try_from(answer.len()) else {
            continue;
        };
        let mut framed = Vec::with_capacity(answer.len() + 2);
        framed.extend_from_slice(&answer_len.to_be_bytes());
        framed.extend_from_slice(&answer);
        stream.write_all(&framed).await?;
    }
}
