//! port-forward, driven like kubectl 1.32: first through the WebSocket tunnel (SPDY split into
//! 1-4 byte binary messages), then over plain SPDY, against a local TCP echo server.

#[path = "support/handlers.rs"]
mod handlers;
#[path = "support/server.rs"]
mod server;
#[path = "support/spdy_client.rs"]
mod spdy_client;

use std::net::SocketAddr;

use portico_streams::spdy::{Frame, Headers};
use spdy_client::{http_upgrade, replied, stream_data, SpdyClient};
use tokio::sync::mpsc;

const PORTFORWARD: &str = "/api/v1/namespaces/default/pods/web/portforward";

async fn server_forwarding_to(target: SocketAddr) -> SocketAddr {
    let (tx, _rx) = mpsc::unbounded_channel();
    server::start(handlers::echo(tx), target).await
}

fn pf(kind: &str, request: u32) -> Headers {
    Headers::new()
        .with("streamtype", kind)
        .with("port", "8080")
        .with("requestid", &request.to_string())
}

/// One forwarded connection as kubectl makes it: error stream (with an immediate empty FIN),
/// data stream, the payload, then FIN when the local side half-closes.
async fn forward_once(
    client: &mut SpdyClient,
    error_id: u32,
    request: u32,
    payload: &[u8],
) -> Vec<Frame> {
    let data_id = error_id + 2;
    client.open(error_id, pf("error", request)).await;
    client.data(error_id, b"", true).await;
    client.open(data_id, pf("data", request)).await;
    let frames = client.collect(|f| replied(f, data_id)).await;
    assert!(
        replied(&frames, error_id) && replied(&frames, data_id),
        "{frames:?}"
    );
    client.data(data_id, payload, false).await;
    client.data(data_id, b"", true).await;
    client
        .collect(|f| stream_data(f, data_id).1 && stream_data(f, error_id).1)
        .await
}

#[tokio::test]
async fn tunnel_forwards_to_the_pod_and_fins_both_streams() {
    let echo = server::echo_server().await;
    let addr = server_forwarding_to(echo).await;
    let (mut client, response) = SpdyClient::tunnel(addr, PORTFORWARD).await;
    assert_eq!(response.status(), 101);
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "SPDY/3.1+portforward.k8s.io"
    );

    let frames = forward_once(&mut client, 1, 0, b"GET / HTTP/1.0\r\n\r\n").await;
    assert_eq!(
        stream_data(&frames, 3),
        (b"GET / HTTP/1.0\r\n\r\n".to_vec(), true)
    );
    assert_eq!(
        stream_data(&frames, 1),
        (Vec::new(), true),
        "error stream must end empty"
    );

    // The tunnel client pings every 10 s; the server echoes.
    client.send(Frame::Ping { id: 5 }).await;
    let frames = client.collect(|f| f.contains(&Frame::Ping { id: 5 })).await;
    assert!(frames.contains(&Frame::Ping { id: 5 }));

    // A second local connection on the same tunnel.
    let frames = forward_once(&mut client, 5, 1, b"second").await;
    assert_eq!(stream_data(&frames, 7), (b"second".to_vec(), true));
    assert_eq!(stream_data(&frames, 5), (Vec::new(), true));
}

#[tokio::test]
async fn plain_spdy_forwards_to_the_pod() {
    let echo = server::echo_server().await;
    let addr = server_forwarding_to(echo).await;
    let (tcp, head) = http_upgrade(addr, "POST", PORTFORWARD, &["portforward.k8s.io"]).await;
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\nx-stream-protocol-version: portforward.k8s.io\r\n"),
        "{head}"
    );
    let mut client = SpdyClient::tcp(tcp);
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let frames = forward_once(&mut client, 1, 0, &big).await;
    let (echoed, fin) = stream_data(&frames, 3);
    assert!(fin);
    assert_eq!(echoed.len(), big.len());
    assert!(echoed == big, "echoed bytes differ");
    assert_eq!(stream_data(&frames, 1), (Vec::new(), true));
}

#[tokio::test]
async fn refused_dial_is_reported_on_the_error_stream() {
    let refused = server::closed_port().await;
    let addr = server_forwarding_to(refused).await;
    let (tcp, _) = http_upgrade(addr, "POST", PORTFORWARD, &["portforward.k8s.io"]).await;
    let mut client = SpdyClient::tcp(tcp);
    client.open(1, pf("error", 0)).await;
    client.data(1, b"", true).await;
    client.open(3, pf("data", 0)).await;
    let frames = client
        .collect(|f| stream_data(f, 1).1 && stream_data(f, 3).1)
        .await;
    let (text, fin) = stream_data(&frames, 1);
    let text = String::from_utf8(text).unwrap();
    assert!(fin);
    assert!(
        text.starts_with("error forwarding port 8080 to pod web, uid 0b5e1d2c-uid: ")
            && text.to_lowercase().contains("refused"),
        "{text}"
    );
    assert_eq!(stream_data(&frames, 3), (Vec::new(), true));
}

#[tokio::test]
async fn streams_with_bad_headers_are_reset() {
    let echo = server::echo_server().await;
    let addr = server_forwarding_to(echo).await;
    let (tcp, _) = http_upgrade(addr, "POST", PORTFORWARD, &["portforward.k8s.io"]).await;
    let mut client = SpdyClient::tcp(tcp);
    client
        .open(1, Headers::new().with("streamtype", "error"))
        .await;
    client
        .open(
            3,
            Headers::new()
                .with("streamtype", "bogus")
                .with("port", "80"),
        )
        .await;
    client
        .open(
            5,
            Headers::new().with("streamtype", "data").with("port", "0"),
        )
        .await;
    let frames = client
        .collect(|f| {
            f.iter()
                .filter(|f| matches!(f, Frame::RstStream { .. }))
                .count()
                == 3
        })
        .await;
    for id in [1, 3, 5] {
        assert!(
            frames.contains(&Frame::RstStream {
                stream_id: id,
                status: 5
            }),
            "{frames:?}"
        );
    }
}

#[tokio::test]
async fn portforward_requires_the_protocol_header() {
    let echo = server::echo_server().await;
    let addr = server_forwarding_to(echo).await;
    let (_tcp, head) = http_upgrade(addr, "POST", PORTFORWARD, &[]).await;
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
}
