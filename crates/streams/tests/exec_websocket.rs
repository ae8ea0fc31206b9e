//! exec over WebSocket, driven by a client that behaves like kubectl 1.32
//! (client-go's WebSocket executor, subprotocol `v5.channel.k8s.io`).

#[path = "support/handlers.rs"]
mod handlers;
#[path = "support/server.rs"]
mod server;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

const EXIT_3: &str = r#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c cat; exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#;
const EXEC: &str = "/api/v1/namespaces/default/pods/web/exec?command=sh&command=-c&command=cat%3B+exit+3&container=web";

async fn setup() -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let echo = server::echo_server().await;
    (server::start(handlers::echo(tx), echo).await, rx)
}

async fn connect(
    addr: SocketAddr,
    query: &str,
    protocol: &str,
) -> Result<WebSocketStream<TcpStream>, WsError> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut request = format!("ws://{addr}{EXEC}&{query}")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    let (ws, response) = tokio_tungstenite::client_async(request, tcp).await?;
    assert_eq!(response.headers()["sec-websocket-protocol"], protocol);
    Ok(ws)
}

/// What the client saw: bytes per channel, number of messages per channel, the close code.
#[derive(Default, Debug)]
struct Seen {
    channels: [Vec<u8>; 5],
    messages: [usize; 5],
    close: Option<CloseCode>,
    pongs: usize,
}

async fn read_all(ws: &mut WebSocketStream<TcpStream>) -> Seen {
    let mut seen = Seen::default();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("server hung");
        match message {
            Some(Ok(Message::Binary(data))) => {
                let channel = usize::from(data[0]);
                assert!(channel < 5, "unexpected channel {channel}");
                seen.channels[channel].extend_from_slice(&data[1..]);
                seen.messages[channel] += 1;
            }
            Some(Ok(Message::Close(frame))) => seen.close = frame.map(|f| f.code),
            Some(Ok(Message::Pong(_))) => seen.pongs += 1,
            Some(Ok(other)) => panic!("unexpected message {other:?}"),
            Some(Err(e)) => panic!("websocket error {e}"),
            None => return seen,
        }
    }
}

#[tokio::test]
async fn v5_echo_with_stderr_and_exit_code() {
    let (addr, mut results) = setup().await;
    let mut ws = connect(
        addr,
        "stdin=true&stdout=true&stderr=true",
        "v5.channel.k8s.io",
    )
    .await
    .unwrap();
    ws.send(Message::Ping(Bytes::from_static(b"keepalive")))
        .await
        .unwrap();
    ws.send(Message::Binary(Bytes::from_static(b"\x00hello ")))
        .await
        .unwrap();
    ws.send(Message::Binary(Bytes::from_static(b"\x00world\n")))
        .await
        .unwrap();
    // kubectl's v5 CLOSE signal for stdin.
    ws.send(Message::Binary(Bytes::from_static(&[0xff, 0x00])))
        .await
        .unwrap();
    let seen = read_all(&mut ws).await;
    assert_eq!(String::from_utf8_lossy(&seen.channels[1]), "hello world\n");
    assert_eq!(String::from_utf8_lossy(&seen.channels[2]), "to stderr\n");
    assert_eq!(String::from_utf8_lossy(&seen.channels[3]), EXIT_3);
    assert_eq!(seen.messages[3], 1, "the status is one message");
    assert_eq!(seen.close, Some(CloseCode::Normal));
    assert_eq!(seen.pongs, 1);
    let finished = tokio::time::timeout(Duration::from_secs(5), results.recv())
        .await
        .unwrap();
    assert_eq!(finished.as_deref(), Some("Ok(())"));
}

#[tokio::test]
async fn tty_gets_resize_and_never_channel_2() {
    let (addr, _results) = setup().await;
    let mut ws = connect(addr, "stdin=true&stdout=true&tty=true", "v5.channel.k8s.io")
        .await
        .unwrap();
    ws.send(Message::Binary(Bytes::from_static(
        b"\x04{\"Width\":100,\"Height\":30}\n",
    )))
    .await
    .unwrap();
    ws.send(Message::Binary(Bytes::from_static(b"\x00ls\r")))
        .await
        .unwrap();
    ws.send(Message::Binary(Bytes::from_static(&[0xff, 0x00])))
        .await
        .unwrap();
    let seen = read_all(&mut ws).await;
    assert_eq!(
        String::from_utf8_lossy(&seen.channels[1]),
        "size 100x30\nls\r"
    );
    assert_eq!(seen.messages[2], 0, "kubectl discards channel 2 with a tty");
    assert_eq!(String::from_utf8_lossy(&seen.channels[3]), EXIT_3);
    assert_eq!(seen.close, Some(CloseCode::Normal));
}

#[tokio::test]
async fn without_stdin_the_session_ends_on_its_own() {
    let (addr, _results) = setup().await;
    let mut ws = connect(addr, "stdout=true&stderr=true", "v5.channel.k8s.io")
        .await
        .unwrap();
    let seen = read_all(&mut ws).await;
    // The kubelet greets with an empty stdout message.
    assert!(seen.messages[1] >= 1);
    assert!(seen.channels[1].is_empty());
    assert_eq!(String::from_utf8_lossy(&seen.channels[2]), "to stderr\n");
    assert_eq!(String::from_utf8_lossy(&seen.channels[3]), EXIT_3);
}

#[tokio::test]
async fn v4_client_gets_the_same_json_status() {
    let (addr, _results) = setup().await;
    let mut ws = connect(addr, "stdin=1&stdout=1", "v4.channel.k8s.io")
        .await
        .unwrap();
    ws.send(Message::Binary(Bytes::from_static(b"\x00abc")))
        .await
        .unwrap();
    // v4 has no close signal: the client closes the socket's stdin by closing the connection.
    ws.close(None).await.unwrap();
    let seen = read_all(&mut ws).await;
    assert_eq!(String::from_utf8_lossy(&seen.channels[1]), "abc");
}

#[tokio::test]
async fn base64_protocol_uses_text_frames() {
    let (addr, _results) = setup().await;
    let mut ws = connect(addr, "stdout=1&stderr=1", "base64.channel.k8s.io")
        .await
        .unwrap();
    let mut texts = Vec::new();
    while let Some(Ok(message)) = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
    {
        if let Message::Text(text) = message {
            texts.push(text.to_string());
        }
    }
    assert!(
        texts.contains(&"2dG8gc3RkZXJyCg==".to_string()),
        "{texts:?}"
    );
    // Pre-v4 protocols carry the failure message as plain text.
    let status = texts
        .iter()
        .find(|t| t.starts_with('3') && t.len() > 1)
        .unwrap();
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&status[1..])
        .unwrap();
    assert_eq!(
        String::from_utf8(decoded).unwrap(),
        "command terminated with non-zero exit code: error executing command [sh -c cat; exit 3], exit code 3"
    );
}

#[tokio::test]
async fn unsupported_subprotocol_is_refused_so_kubectl_falls_back() {
    let (addr, _results) = setup().await;
    match connect(addr, "stdout=true", "v6.channel.k8s.io").await {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 400),
        other => panic!("expected an HTTP error, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn client_that_vanishes_does_not_hang_the_session() {
    let (addr, mut results) = setup().await;
    let mut ws = connect(addr, "stdin=true&stdout=true", "v5.channel.k8s.io")
        .await
        .unwrap();
    ws.send(Message::Binary(Bytes::from_static(b"\x00partial")))
        .await
        .unwrap();
    // Drop the TCP connection without any close handshake.
    drop(ws);
    let finished = tokio::time::timeout(Duration::from_secs(5), results.recv()).await;
    assert!(
        finished.is_ok(),
        "the session hung after the client vanished"
    );
}

#[tokio::test]
async fn dropping_the_session_reports_an_internal_error() {
    let (tx, _rx) = mpsc::unbounded_channel::<String>();
    drop(tx);
    let echo = server::echo_server().await;
    let handler: server::ExecHandler =
        std::sync::Arc::new(|session| Box::pin(async move { drop(session) }));
    let addr = server::start(handler, echo).await;
    let mut ws = connect(addr, "stdout=true", "v5.channel.k8s.io")
        .await
        .unwrap();
    let seen = read_all(&mut ws).await;
    assert_eq!(
        String::from_utf8_lossy(&seen.channels[3]),
        r#"{"metadata":{},"status":"Failure","message":"Internal error occurred: the session ended without reporting a result","reason":"InternalError","details":{"causes":[{"message":"the session ended without reporting a result"}]},"code":500}"#
    );
    assert_eq!(seen.close, Some(CloseCode::Normal));
}
