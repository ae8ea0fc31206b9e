//! exec/attach over a WebSocket channel protocol: one task owns the socket, routes the
//! client's channels (stdin, resize, v5 close) and writes the session's output.

use std::time::Duration;

use bytes::Bytes;
use futures::SinkExt;
use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::pipe::{Outbound, Outlet, Target};
use crate::session::{take_sizes, Finisher};
use crate::ws::{self, CLOSE, RESIZE, STDIN};
use crate::{InputStream, Protocol, Session, StreamOptions, TerminalSize};

/// How long to wait, after the close frame, for the client to close its side. Closing the
/// socket while the client still has unread output in flight could reset it and lose output.
pub(crate) const LINGER: Duration = Duration::from_secs(120);

pub(super) async fn start<IO>(io: IO, protocol: Protocol, opts: &StreamOptions) -> Session
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
    let (outlet, out_rx, credit) = Outlet::new();
    let (stdin_tx, stdin) = match opts.stdin {
        true => {
            let (tx, input) = InputStream::new(None);
            (Some(tx), Some(input))
        }
        false => (None, None),
    };
    let (resize_tx, resize) = match opts.tty {
        true => {
            let (tx, rx) = mpsc::channel(8);
            (Some(tx), Some(rx))
        }
        false => (None, None),
    };
    // Like the kubelet, greet with an empty message on the lowest writable channel.
    let greeting = if opts.stdout {
        1
    } else if opts.stderr {
        2
    } else {
        3
    };
    outlet.send(Outbound::Data {
        target: Target::Channel(greeting),
        data: Bytes::new(),
        permit: None,
    });
    let stdout = opts.stdout.then(|| outlet.writer(Target::Channel(1), None));
    let stderr = opts.stderr.then(|| outlet.writer(Target::Channel(2), None));
    let finisher = Finisher::new(outlet, Target::Channel(3), protocol, opts.command.clone());
    let connection = Connection {
        ws,
        protocol,
        stdin_tx,
        resize_tx,
        resize_buf: Vec::new(),
    };
    tokio::spawn(async move {
        connection.run(out_rx).await;
        credit.close();
    });
    Session::new(stdin, stdout, stderr, resize, finisher)
}

struct Connection<IO> {
    ws: WebSocketStream<IO>,
    protocol: Protocol,
    stdin_tx: Option<mpsc::Sender<Bytes>>,
    resize_tx: Option<mpsc::Sender<TerminalSize>>,
    resize_buf: Vec<u8>,
}

/// Waits for room in `tx`, or forever when there is no sender.
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
    In(Option<Result<Message, tokio_tungstenite::tungstenite::Error>>),
    Linger,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Connection<IO> {
    async fn run(mut self, mut out_rx: mpsc::UnboundedReceiver<Outbound>) {
        let mut pending: Option<Bytes> = None;
        let mut closing: Option<Instant> = None;
        let mut out_open = true;
        loop {
            let stdin_tx = pending.as_ref().and(self.stdin_tx.clone());
            let event = tokio::select! {
                message = out_rx.recv(), if out_open => Event::Out(message),
                permit = reserve(stdin_tx), if pending.is_some() => Event::Room(permit),
                incoming = self.ws.next(), if pending.is_none() => Event::In(incoming),
                _ = tokio::time::sleep_until(closing.unwrap_or_else(Instant::now)), if closing.is_some() => Event::Linger,
            };
            match event {
                Event::Out(None) => out_open = false,
                Event::Out(Some(_)) if closing.is_some() => {}
                Event::Out(Some(message)) => match self.write(message).await {
                    Ok(true) => {
                        closing = Some(Instant::now() + LINGER);
                        self.stdin_tx = None;
                        self.resize_tx = None;
                        pending = None;
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "exec websocket write failed");
                        break;
                    }
                },
                Event::Room(permit) => match (permit, pending.take()) {
                    (Some(permit), Some(data)) => {
                        permit.send(data);
                    }
                    _ => self.stdin_tx = None,
                },
                Event::In(Some(Ok(message))) => pending = self.route(&message),
                Event::In(Some(Err(e))) => {
                    tracing::debug!(error = %e, "exec websocket read ended");
                    break;
                }
                Event::In(None) => break,
                Event::Linger => {
                    tracing::debug!("client did not close the exec websocket in time");
                    break;
                }
            }
        }
    }

    /// Writes one outbound message; true once the close frame has gone out.
    async fn write(
        &mut self,
        message: Outbound,
    ) -> Result<bool, tokio_tungstenite::tungstenite::Error> {
        match message {
            Outbound::Data {
                target: Target::Channel(channel),
                data,
                permit,
            } => {
                self.ws
                    .send(ws::encode(channel, &data, self.protocol.is_base64()))
                    .await?;
                drop(permit);
                Ok(false)
            }
            Outbound::Shutdown(done) => {
                let frame = CloseFrame {
                    code: CloseCode::Normal,
                    reason: "".into(),
                };
                self.ws.send(Message::Close(Some(frame))).await?;
                if let Some(done) = done {
                    let _ = done.send(());
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Routes a client message; returns stdin bytes that must wait for room.
    fn route(&mut self, message: &Message) -> Option<Bytes> {
        if let Message::Close(_) = message {
            // The client is leaving: its stdin is over.
            self.stdin_tx = None;
            return None;
        }
        let (channel, data) = ws::decode(message, self.protocol.is_base64())?;
        match channel {
            STDIN if !data.is_empty() => {
                let tx = self.stdin_tx.as_ref()?;
                match tx.try_send(data) {
                    Ok(()) => None,
                    Err(mpsc::error::TrySendError::Full(data)) => Some(data),
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        self.stdin_tx = None;
                        None
                    }
                }
            }
            RESIZE => {
                self.resize(&data);
                None
            }
            CLOSE if self.protocol == Protocol::WsV5 => {
                match data.first() {
                    Some(&STDIN) => self.stdin_tx = None,
                    Some(&RESIZE) => self.resize_tx = None,
                    _ => {}
                }
                None
            }
            _ => None,
        }
    }

    fn resize(&mut self, data: &[u8]) {
        let Some(tx) = &self.resize_tx else { return };
        self.resize_buf.extend_from_slice(data);
        match take_sizes(&mut self.resize_buf) {
            Some(sizes) => {
                for size in sizes {
                    // A caller that does not keep up only misses intermediate sizes.
                    let _ = tx.try_send(size);
                }
            }
            None => self.resize_tx = None,
        }
    }
}
