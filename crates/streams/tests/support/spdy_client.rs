//! A SPDY/3.1 client that behaves like kubectl's (client-go over moby/spdystream), over plain
//! TCP after an HTTP upgrade or tunnelled in WebSocket binary messages split into 1-4 bytes.

#![allow(dead_code)]

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use portico_streams::spdy::frame::FLAG_FIN;
use portico_streams::spdy::{Deflater, Frame, Headers, Inflater};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

enum Transport {
    Tcp(TcpStream),
    Ws(Box<WebSocketStream<TcpStream>>),
}

/// The client end of a SPDY connection.
pub struct SpdyClient {
    transport: Transport,
    deflater: Deflater,
    inflater: Inflater,
    read_buf: BytesMut,
    split: usize,
}

/// Sends an HTTP/1.1 upgrade request by hand and returns the connection and the answer head.
pub async fn http_upgrade(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    versions: &[&str],
) -> (TcpStream, String) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: kubectl/v1.32.4 (linux/amd64) kubernetes/4cb5f07\r\nContent-Length: 0\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n");
    for v in versions {
        request.push_str(&format!("X-Stream-Protocol-Version: {v}\r\n"));
    }
    request.push_str("\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    // Read the answer head byte by byte so no SPDY byte is swallowed.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = tokio::time::timeout(Duration::from_secs(5), tcp.read_u8())
            .await
            .unwrap()
            .unwrap();
        head.push(byte);
    }
    (tcp, String::from_utf8(head).unwrap())
}

impl SpdyClient {
    /// A client over an upgraded TCP connection.
    pub fn tcp(tcp: TcpStream) -> Self {
        Self::new(Transport::Tcp(tcp))
    }

    /// Opens the port-forward WebSocket tunnel at `path`; returns the client and the answer.
    pub async fn tunnel(
        addr: std::net::SocketAddr,
        path: &str,
    ) -> (Self, http::Response<Option<Vec<u8>>>) {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "SPDY/3.1+portforward.k8s.io".parse().unwrap(),
        );
        let (ws, response) = tokio_tungstenite::client_async(request, tcp).await.unwrap();
        (Self::new(Transport::Ws(Box::new(ws))), response)
    }

    fn new(transport: Transport) -> Self {
        Self {
            transport,
            deflater: Deflater::new().unwrap(),
            inflater: Inflater::new(),
            read_buf: BytesMut::new(),
            split: 0,
        }
    }

    /// Sends one frame; in the tunnel, as binary messages of 1 to 4 bytes (and an empty one).
    pub async fn send(&mut self, frame: Frame) {
        let mut bytes = BytesMut::new();
        frame.encode(&mut bytes, &mut self.deflater).unwrap();
        match &mut self.transport {
            Transport::Tcp(tcp) => tcp.write_all(&bytes).await.unwrap(),
            Transport::Ws(ws) => {
                ws.feed(Message::Binary(Bytes::new())).await.unwrap();
                let mut rest = bytes.freeze();
                while !rest.is_empty() {
                    self.split = self.split % 4 + 1;
                    let n = self.split.min(rest.len());
                    ws.feed(Message::Binary(rest.split_to(n))).await.unwrap();
                }
                ws.flush().await.unwrap();
            }
        }
    }

    /// Opens stream `id` with `headers`, as spdystream's CreateStream does.
    pub async fn open(&mut self, id: u32, headers: Headers) {
        self.send(Frame::SynStream {
            stream_id: id,
            associated_id: 0,
            priority: 0,
            flags: 0,
            headers,
        })
        .await;
    }

    /// Sends data on a stream, optionally with FIN.
    pub async fn data(&mut self, id: u32, data: &[u8], fin: bool) {
        let flags = if fin { FLAG_FIN } else { 0 };
        self.send(Frame::Data {
            stream_id: id,
            flags,
            data: Bytes::copy_from_slice(data),
        })
        .await;
    }

    /// The next frame, or `None` when the server closed the connection (5 s timeout).
    pub async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = Frame::decode(&mut self.read_buf, &mut self.inflater).unwrap() {
                return Some(frame);
            }
            let more = tokio::time::timeout(Duration::from_secs(5), async {
                match &mut self.transport {
                    Transport::Tcp(tcp) => {
                        matches!(tcp.read_buf(&mut self.read_buf).await, Ok(n) if n > 0)
                    }
                    Transport::Ws(ws) => loop {
                        match ws.next().await {
                            Some(Ok(Message::Binary(b))) => {
                                self.read_buf.extend_from_slice(&b);
                                break true;
                            }
                            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break false,
                            Some(Ok(_)) => {}
                        }
                    },
                }
            })
            .await
            .expect("timed out waiting for a frame");
            if !more {
                return None;
            }
        }
    }

    /// Reads until the connection closes or `until` says stop, collecting frames.
    pub async fn collect(&mut self, mut until: impl FnMut(&[Frame]) -> bool) -> Vec<Frame> {
        let mut frames = Vec::new();
        while !until(&frames) {
            match self.next().await {
                Some(frame) => frames.push(frame),
                None => break,
            }
        }
        frames
    }
}

/// All DATA payload bytes on `id`, and whether a FIN was seen.
pub fn stream_data(frames: &[Frame], id: u32) -> (Vec<u8>, bool) {
    let mut data = Vec::new();
    let mut fin = false;
    for frame in frames {
        if let Frame::Data {
            stream_id,
            flags,
            data: d,
        } = frame
        {
            if *stream_id == id {
                assert!(!fin, "data after FIN on stream {id}");
                data.extend_from_slice(d);
                fin |= flags & FLAG_FIN != 0;
            }
        }
    }
    (data, fin)
}

/// Whether a SYN_REPLY for `id` is among `frames`.
pub fn replied(frames: &[Frame], id: u32) -> bool {
    frames
        .iter()
        .any(|f| matches!(f, Frame::SynReply { stream_id, .. } if *stream_id == id))
}
