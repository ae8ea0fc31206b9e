//! One task per SPDY connection: reads frames, routes them to streams, writes what the
//! session queues. See the module docs of [`crate::spdy`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

use super::frame::{Frame, FLAG_FIN, RST_CANCEL, RST_PROTOCOL_ERROR};
use super::headers::{Deflater, Headers, Inflater};
use crate::pipe::{InputStream, Outbound, Outlet, OutputStream, Target};

/// A stream the client opened, waiting for the session logic to accept or reject it.
pub(crate) struct Incoming {
    /// The stream id.
    pub id: u32,
    /// The SYN_STREAM headers (`streamtype`, `port`, `requestid`, ...).
    pub headers: Headers,
    /// What the client sends on the stream.
    pub input: InputStream,
    /// What the server sends on the stream.
    pub output: OutputStream,
    outlet: Outlet,
}

impl Incoming {
    /// Accepts the stream (SYN_REPLY with no headers, as the kubelet answers).
    pub fn reply(&self) {
        self.outlet.send(Outbound::Reply(self.id));
    }

    /// Refuses the stream (RST_STREAM CANCEL, as Go's spdystream resets).
    pub fn reject(&self) {
        self.outlet.send(Outbound::Reset(self.id, RST_CANCEL));
    }
}

/// The session logic's end of a connection.
pub(crate) struct Handle {
    /// Streams as the client opens them; ends when the connection does.
    pub incoming: mpsc::UnboundedReceiver<Incoming>,
    /// Keeps the connection's queue open; used for [`Outbound::Shutdown`].
    pub outlet: Outlet,
}

/// Options for a connection.
pub(crate) struct Config {
    /// Whether a reset stream reads as an error (port-forward) instead of EOF (exec stdin).
    pub reset_is_error: bool,
    /// How long to keep reading after our GOAWAY before closing the socket.
    pub linger: Duration,
}

/// Starts the connection task on `io`.
pub(crate) fn spawn<IO>(io: IO, config: Config) -> Handle
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (outlet, out_rx, credit) = Outlet::new();
    let (accept, incoming) = mpsc::unbounded_channel();
    let connection = Connection {
        io,
        config,
        read_buf: BytesMut::with_capacity(16 * 1024),
        write_buf: BytesMut::new(),
        inflater: Inflater::new(),
        deflater: None,
        streams: HashMap::new(),
        accept: Some(accept),
        outlet: outlet.downgrade(),
        last_stream_id: 0,
        going_away: false,
    };
    tokio::spawn(connection.run(out_rx, credit));
    Handle { incoming, outlet }
}

struct Slot {
    /// Feeds the stream's reader; `None` once the client sent FIN.
    tx: Option<mpsc::Sender<Bytes>>,
    reset: Arc<AtomicBool>,
    local_fin: bool,
}

/// Stream data waiting for room in its reader's queue.
struct Pending {
    id: u32,
    tx: mpsc::Sender<Bytes>,
    data: Bytes,
    fin: bool,
}

struct Connection<IO> {
    io: IO,
    config: Config,
    read_buf: BytesMut,
    write_buf: BytesMut,
    inflater: Inflater,
    /// Created on first use (zlib setup can fail; then the connection ends).
    deflater: Option<Deflater>,
    streams: HashMap<u32, Slot>,
    accept: Option<mpsc::UnboundedSender<Incoming>>,
    outlet: crate::pipe::WeakOutlet,
    last_stream_id: u32,
    going_away: bool,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Connection<IO> {
    async fn run(mut self, mut out_rx: mpsc::UnboundedReceiver<Outbound>, credit: Arc<Semaphore>) {
        let mut pending: Option<Pending> = None;
        let mut closing: Option<Instant> = None;
        let mut out_open = true;
        let mut eof = false;
        loop {
            if pending.is_none() {
                match self.parse() {
                    Ok(p) => pending = p,
                    Err(e) => {
                        tracing::debug!(error = %e, "spdy protocol error; closing");
                        break;
                    }
                }
            }
            if let Err(e) = self.flush().await {
                tracing::debug!(error = %e, "spdy write failed");
                break;
            }
            if eof && pending.is_none() {
                break;
            }
            let room = pending.as_ref().map(|p| p.tx.clone());
            let event = tokio::select! {
                message = out_rx.recv(), if out_open => Event::Out(message),
                permit = reserve(room), if pending.is_some() => Event::Room(permit),
                read = self.io.read_buf(&mut self.read_buf), if !eof && pending.is_none() => Event::Read(read),
                _ = tokio::time::sleep_until(closing.unwrap_or_else(Instant::now)), if closing.is_some() => Event::Linger,
            };
            match event {
                Event::Out(None) => out_open = false,
                Event::Out(Some(message)) => {
                    let mut next = Some(message);
                    // Batch what is already queued into one write.
                    while let Some(message) = next {
                        match self.outbound(message) {
                            Ok(Some(done)) => {
                                if let Err(e) = self.flush().await {
                                    tracing::debug!(error = %e, "spdy write failed");
                                    break;
                                }
                                if let Some(done) = done {
                                    let _ = done.send(());
                                }
                                closing.get_or_insert_with(|| Instant::now() + self.config.linger);
                            }
                            Ok(None) => {}
                            Err(e) => tracing::warn!(error = %e, "cannot encode spdy frame"),
                        }
                        next = out_rx.try_recv().ok();
                    }
                }
                Event::Room(permit) => {
                    if let Some(p) = pending.take() {
                        match permit {
                            Some(permit) => {
                                permit.send(p.data);
                            }
                            None => self.close_input(p.id),
                        }
                        if p.fin {
                            self.close_input(p.id);
                        }
                    }
                }
                Event::Read(Ok(0)) => eof = true,
                Event::Read(Ok(_)) => {}
                Event::Read(Err(e)) => {
                    tracing::debug!(error = %e, "spdy read failed");
                    break;
                }
                Event::Linger => {
                    tracing::debug!("client did not close the spdy connection in time");
                    break;
                }
            }
        }
        // The connection is over: wake every reader (as reset where the client had not
        // finished) and every writer.
        for slot in self.streams.values() {
            if slot.tx.is_some() {
                slot.reset.store(true, Ordering::Release);
            }
        }
        self.streams.clear();
        self.accept = None;
        credit.close();
        let _ = self.io.shutdown().await;
    }

    /// Handles every complete frame in the read buffer, stopping at data that must wait.
    fn parse(&mut self) -> Result<Option<Pending>, crate::spdy::SpdyError> {
        while let Some(frame) = Frame::decode(&mut self.read_buf, &mut self.inflater)? {
            if let Some(pending) = self.inbound(frame)? {
                return Ok(Some(pending));
            }
        }
        Ok(None)
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if !self.write_buf.is_empty() {
            self.io.write_all(&self.write_buf).await?;
            self.write_buf.clear();
            self.io.flush().await?;
        }
        Ok(())
    }

    fn write(&mut self, frame: &Frame) -> Result<(), crate::spdy::SpdyError> {
        let deflater = match &mut self.deflater {
            Some(deflater) => deflater,
            None => self.deflater.insert(Deflater::new()?),
        };
        frame.encode(&mut self.write_buf, deflater)
    }

    fn close_input(&mut self, id: u32) {
        if let Some(slot) = self.streams.get_mut(&id) {
            slot.tx = None;
            if slot.local_fin {
                self.streams.remove(&id);
            }
        }
    }

    fn inbound(&mut self, frame: Frame) -> Result<Option<Pending>, crate::spdy::SpdyError> {
        match frame {
            Frame::SynStream {
                stream_id,
                flags,
                headers,
                ..
            } => self.open(stream_id, flags, headers)?,
            Frame::Data {
                stream_id,
                flags,
                data,
            } => {
                let fin = flags & FLAG_FIN != 0;
                let Some(slot) = self.streams.get_mut(&stream_id) else {
                    return Ok(None);
                };
                if let (false, Some(tx)) = (data.is_empty(), &slot.tx) {
                    match tx.try_send(data) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(data)) => {
                            let tx = tx.clone();
                            return Ok(Some(Pending {
                                id: stream_id,
                                tx,
                                data,
                                fin,
                            }));
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => slot.tx = None,
                    }
                }
                if fin {
                    self.close_input(stream_id);
                }
            }
            Frame::RstStream { stream_id, .. } => {
                if let Some(slot) = self.streams.remove(&stream_id) {
                    slot.reset.store(true, Ordering::Release);
                }
            }
            Frame::Ping { id } if id % 2 == 1 => self.write(&Frame::Ping { id })?,
            Frame::GoAway { .. } => self.going_away = true,
            _ => {}
        }
        Ok(None)
    }

    fn open(&mut self, id: u32, flags: u8, headers: Headers) -> Result<(), crate::spdy::SpdyError> {
        if id == 0 || self.streams.contains_key(&id) {
            return self.write(&Frame::RstStream {
                stream_id: id,
                status: RST_PROTOCOL_ERROR,
            });
        }
        let outlet = self.outlet.upgrade();
        let (Some(accept), Some(outlet), false) = (&self.accept, outlet, self.going_away) else {
            return self.write(&Frame::RstStream {
                stream_id: id,
                status: RST_CANCEL,
            });
        };
        self.last_stream_id = self.last_stream_id.max(id);
        let reset = Arc::new(AtomicBool::new(false));
        let (tx, input) = InputStream::new(self.config.reset_is_error.then(|| reset.clone()));
        let output = outlet.writer(Target::Stream(id), Some(reset.clone()));
        let tx = (flags & FLAG_FIN == 0).then_some(tx);
        self.streams.insert(
            id,
            Slot {
                tx,
                reset,
                local_fin: false,
            },
        );
        if accept
            .send(Incoming {
                id,
                headers,
                input,
                output,
                outlet,
            })
            .is_err()
        {
            self.streams.remove(&id);
            return self.write(&Frame::RstStream {
                stream_id: id,
                status: RST_CANCEL,
            });
        }
        Ok(())
    }

    /// Encodes one queued message; `Some` after a shutdown (GOAWAY) was queued.
    #[allow(clippy::type_complexity)]
    fn outbound(
        &mut self,
        message: Outbound,
    ) -> Result<Option<Option<tokio::sync::oneshot::Sender<()>>>, crate::spdy::SpdyError> {
        match message {
            Outbound::Data {
                target: Target::Stream(id),
                data,
                permit,
            } => {
                let open = self.streams.get(&id).is_some_and(|s| !s.local_fin);
                if open && !data.is_empty() {
                    self.write(&Frame::Data {
                        stream_id: id,
                        flags: 0,
                        data,
                    })?;
                }
                drop(permit);
            }
            Outbound::Close(Target::Stream(id)) => {
                if let Some(slot) = self.streams.get_mut(&id) {
                    if !slot.local_fin {
                        slot.local_fin = true;
                        let remote_done = slot.tx.is_none();
                        self.write(&Frame::Data {
                            stream_id: id,
                            flags: FLAG_FIN,
                            data: Bytes::new(),
                        })?;
                        if remote_done {
                            self.streams.remove(&id);
                        }
                    }
                }
            }
            Outbound::Reply(id) => {
                if self.streams.contains_key(&id) {
                    self.write(&Frame::SynReply {
                        stream_id: id,
                        flags: 0,
                        headers: Headers::new(),
                    })?;
                }
            }
            Outbound::Reset(id, status) => {
                if let Some(slot) = self.streams.remove(&id) {
                    slot.reset.store(true, Ordering::Release);
                }
                self.write(&Frame::RstStream {
                    stream_id: id,
                    status,
                })?;
            }
            Outbound::Shutdown(done) => {
                self.going_away = true;
                self.write(&Frame::GoAway {
                    last_good_stream_id: self.last_stream_id,
                    status: 0,
                })?;
                return Ok(Some(done));
            }
            Outbound::Data { .. } | Outbound::Close(Target::Channel(_)) => {}
        }
        Ok(None)
    }
}

async fn reserve(tx: Option<mpsc::Sender<Bytes>>) -> Option<mpsc::OwnedPermit<Bytes>> {
    match tx {
        Some(tx) => tx.reserve_owned().await.ok(),
        None => std::future::pending().await,
    }
}

/// What woke the connection task.
enum Event {
    Out(Option<Outbound>),
    Room(Option<mpsc::OwnedPermit<Bytes>>),
    Read(std::io::Result<usize>),
    Linger,
}
