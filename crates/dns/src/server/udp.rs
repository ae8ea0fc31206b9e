//! The UDP side of the server: one thread blocked in `recvmmsg(2)` on the
//! socket, answering each batch of queries from the zone and sending the
//! answers with one `sendmmsg(2)`, so a busy server makes two system calls
//! per batch instead of two (plus a poll) per query. Queries that need an
//! upstream go to tasks on the async runtime, which answer with a
//! non-blocking `sendto(2)` on the same socket.

use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{self, MsgFlags, MultiHeaders, SockaddrStorage};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;

use crate::handler::{Handler, Local, Transport};

/// How many datagrams one system call receives or sends at most.
const BATCH: usize = 32;
/// The largest query read (bigger ones are cut and dropped).
const MAX_QUERY: usize = 4096;
/// How many UDP queries wait for an upstream at once; more are dropped (the client retries).
const MAX_UPSTREAM_IN_FLIGHT: usize = 1024;
/// How often the receiving thread looks whether it should stop.
const STOP_POLL: Duration = Duration::from_millis(100);

/// Serves `socket` (blocking, with a read timeout set here) on a thread of
/// its own until `stop` is set; upstream work runs on `runtime`.
pub(super) fn spawn(
    socket: Arc<UdpSocket>,
    handler: Arc<Handler>,
    runtime: Handle,
    stop: Arc<AtomicBool>,
) -> std::io::Result<()> {
    socket.set_nonblocking(false)?;
    socket.set_read_timeout(Some(STOP_POLL))?;
    std::thread::Builder::new()
        .name("dns-udp".to_string())
        .spawn(move || serve(&socket, &handler, &runtime, &stop))?;
    Ok(())
}

fn serve(socket: &Arc<UdpSocket>, handler: &Arc<Handler>, runtime: &Handle, stop: &AtomicBool) {
    let fd = socket.as_raw_fd();
    let upstream_limit = Arc::new(Semaphore::new(MAX_UPSTREAM_IN_FLIGHT));
    let mut queries = vec![[0u8; MAX_QUERY]; BATCH];
    let mut answers: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(512)).collect();
    let mut received: Vec<(usize, SockaddrStorage)> = Vec::with_capacity(BATCH);
    let mut to_send: Vec<(usize, SockaddrStorage)> = Vec::with_capacity(BATCH);
    let mut receive_headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let mut send_headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    while !stop.load(Ordering::Relaxed) {
        received.clear();
        {
            let mut slices: Vec<[IoSliceMut<'_>; 1]> =
                queries.iter_mut().map(|q| [IoSliceMut::new(q)]).collect();
            match socket::recvmmsg(
                fd,
                &mut receive_headers,
                slices.iter_mut(),
                MsgFlags::MSG_WAITFORONE,
                None,
            ) {
                Ok(messages) => {
                    for message in messages {
                        if message.flags.contains(MsgFlags::MSG_TRUNC) {
                            tracing::debug!("oversized UDP query dropped");
                            // Keep the slot so indexes match the buffers.
                            received.push((0, SockaddrStorage::from(unspecified())));
                            continue;
                        }
                        match message.address {
                            Some(address) => received.push((message.bytes, address)),
                            None => received.push((0, SockaddrStorage::from(unspecified()))),
                        }
                    }
                }
                Err(Errno::EAGAIN | Errno::EINTR) => continue,
                Err(error) => {
                    // E.g. an ICMP error for an earlier answer: keep serving.
                    tracing::debug!(%error, "UDP receive failed");
                    continue;
                }
            }
        }
        to_send.clear();
        for (i, &(len, address)) in received.iter().enumerate() {
            if len == 0 {
                continue;
            }
            let packet = &queries[i][..len];
            match handler.answer_local(packet, Transport::Udp, &mut answers[i]) {
                Local::Answered => to_send.push((i, address)),
                Local::Silent => {}
                Local::Upstream => {
                    upstream(socket, handler, runtime, &upstream_limit, packet, address)
                }
            }
        }
        send_all(fd, &mut send_headers, &answers, &to_send);
    }
}

/// Sends the answers `to_send` (index into `answers`, peer) with one
/// `sendmmsg`; when the first datagram fails, it is skipped and the rest sent.
fn send_all(
    fd: i32,
    headers: &mut MultiHeaders<SockaddrStorage>,
    answers: &[Vec<u8>],
    to_send: &[(usize, SockaddrStorage)],
) {
    let mut from = 0;
    while from < to_send.len() {
        let batch = &to_send[from..];
        let slices: Vec<[IoSlice<'_>; 1]> = batch
            .iter()
            .map(|(i, _)| [IoSlice::new(&answers[*i])])
            .collect();
        let addresses: Vec<Option<SockaddrStorage>> = batch.iter().map(|(_, a)| Some(*a)).collect();
        let sent = socket::sendmmsg(
            fd,
            headers,
            slices.iter(),
            &addresses,
            [],
            MsgFlags::empty(),
        );
        match sent {
            // On a blocking socket every datagram is sent unless one fails,
            // which ends the call early; those after it are dropped (the
            // clients retry). The count is not read: nix reads it through
            // receive-side addresses this header never had.
            Ok(_) => return,
            Err(Errno::EINTR) => {}
            Err(error) => {
                tracing::debug!(%error, "UDP send failed");
                from += 1;
            }
        }
    }
}

/// Hands a query that needs an upstream to a task.
fn upstream(
    socket: &Arc<UdpSocket>,
    handler: &Arc<Handler>,
    runtime: &Handle,
    limit: &Arc<Semaphore>,
    packet: &[u8],
    address: SockaddrStorage,
) {
    let Some(peer) = to_std(&address) else {
        return;
    };
    let Ok(permit) = limit.clone().try_acquire_owned() else {
        tracing::debug!(%peer, "too many queries waiting for an upstream; dropping one");
        return;
    };
    let (socket, handler, packet) = (socket.clone(), handler.clone(), packet.to_vec());
    runtime.spawn(async move {
        if let Some(answer) = handler.handle(&packet, Transport::Udp).await {
            // The socket blocks for the receiving thread: never here.
            let sent = socket::sendto(
                socket.as_raw_fd(),
                &answer,
                &address,
                MsgFlags::MSG_DONTWAIT,
            );
            if let Err(error) = sent {
                tracing::debug!(%error, %peer, "UDP send failed");
            }
        }
        drop(permit);
    });
}

fn to_std(address: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::new(v4.ip(), v4.port())));
    }
    let v6 = address.as_sockaddr_in6()?;
    Some(SocketAddr::V6(SocketAddrV6::new(
        v6.ip(),
        v6.port(),
        v6.flowinfo(),
        v6.scope_id(),
    )))
}

fn unspecified() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 0))
}
