//! exec over SPDY/3.1, driven by a hand-written client that behaves like kubectl's fallback
//! (client-go's SPDY executor on moby/spdystream).

#[path = "support/handlers.rs"]
mod handlers;
#[path = "support/server.rs"]
mod server;
#[path = "support/spdy_client.rs"]
mod spdy_client;

use std::net::SocketAddr;
use std::time::Duration;

use portico_streams::spdy::{Frame, Headers};
use spdy_client::{http_upgrade, replied, stream_data, SpdyClient};
use tokio::sync::mpsc;

const KUBECTL_VERSIONS: &[&str] = &[
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
];
const EXEC: &str = "/api/v1/namespaces/default/pods/web/exec?command=sh&command=-c&command=cat%3B+exit+3&container=web";
const EXIT_3: &str = r#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c cat; exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#;

async fn setup() -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let echo = server::echo_server().await;
    (server::start(handlers::echo(tx), echo).await, rx)
}

fn stream(kind: &str) -> Headers {
    Headers::new().with("streamtype", kind)
}

fn goaway(frames: &[Frame]) -> bool {
    frames.iter().any(|f| matches!(f, Frame::GoAway { .. }))
}

#[tokio::test]
async fn spdy_exec_echo_with_stderr_and_exit_code() {
    let (addr, mut results) = setup().await;
    let (tcp, head) = http_upgrade(
        addr,
        "POST",
        &format!("{EXEC}&stdin=true&stdout=true&stderr=true"),
        KUBECTL_VERSIONS,
    )
    .await;
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains("\r\nx-stream-protocol-version: v5.channel.k8s.io\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nupgrade: spdy/3.1\r\n"), "{head}");
    assert!(head.contains("\r\nconnection: upgrade\r\n"), "{head}");

    let mut client = SpdyClient::tcp(tcp);
    // kubectl's order: error, stdin, stdout, stderr; it waits for each reply.
    for (id, kind) in [(1, "error"), (3, "stdin"), (5, "stdout"), (7, "stderr")] {
        client.open(id, stream(kind)).await;
        let frames = client.collect(|f| replied(f, id)).await;
        assert!(replied(&frames, id), "no SYN_REPLY for {kind}: {frames:?}");
    }
    client.send(Frame::Ping { id: 1 }).await;
    client.data(3, b"hello over spdy\n", false).await;
    client.data(3, b"", true).await;
    let frames = client.collect(goaway).await;

    assert!(
        frames.contains(&Frame::Ping { id: 1 }),
        "ping not echoed: {frames:?}"
    );
    assert_eq!(
        stream_data(&frames, 5),
        (b"hello over spdy\n".to_vec(), true)
    );
    assert_eq!(stream_data(&frames, 7), (b"to stderr\n".to_vec(), true));
    let (status, fin) = stream_data(&frames, 1);
    assert_eq!(String::from_utf8_lossy(&status), EXIT_3);
    assert!(fin, "error stream not finished");
    // Nothing is written on stdin.
    assert_eq!(stream_data(&frames, 3), (Vec::new(), false));
    // Order: stdout and stderr FINs before the status, GOAWAY last.
    let position = |pred: &dyn Fn(&Frame) -> bool| frames.iter().position(pred).unwrap();
    let stdout_fin = position(&|f| {
        matches!(
            f,
            Frame::Data {
                stream_id: 5,
                flags: 1,
                ..
            }
        )
    });
    let status_at =
        position(&|f| matches!(f, Frame::Data { stream_id: 1, data, .. } if !data.is_empty()));
    assert!(stdout_fin < status_at);
    assert!(matches!(
        frames.last(),
        Some(Frame::GoAway { status: 0, .. })
    ));

    // kubectl then resets its streams and goes away; the server closes.
    for id in [1, 3, 5, 7] {
        client
            .send(Frame::RstStream {
                stream_id: id,
                status: 5,
            })
            .await;
    }
    client
        .send(Frame::GoAway {
            last_good_stream_id: 0,
            status: 0,
        })
        .await;
    drop(client);
    let finished = tokio::time::timeout(Duration::from_secs(5), results.recv())
        .await
        .unwrap();
    assert_eq!(finished.as_deref(), Some("Ok(())"));
}

#[tokio::test]
async fn spdy_tty_uses_the_resize_stream() {
    let (addr, _results) = setup().await;
    let (tcp, head) = http_upgrade(
        addr,
        "POST",
        &format!("{EXEC}&stdin=true&stdout=true&tty=true"),
        &["v4.channel.k8s.io"],
    )
    .await;
    assert!(
        head.to_ascii_lowercase()
            .contains("x-stream-protocol-version: v4.channel.k8s.io"),
        "{head}"
    );
    let mut client = SpdyClient::tcp(tcp);
    for (id, kind) in [(1, "error"), (3, "stdin"), (5, "stdout"), (7, "resize")] {
        client.open(id, stream(kind)).await;
    }
    let frames = client.collect(|f| replied(f, 7)).await;
    assert!([1, 3, 5].iter().all(|id| replied(&frames, *id)));
    client
        .data(7, b"{\"Width\":120,\"Height\":40}\n", false)
        .await;
    client.data(3, b"top\r", true).await;
    let frames = client.collect(goaway).await;
    assert_eq!(
        stream_data(&frames, 5),
        (b"size 120x40\ntop\r".to_vec(), true)
    );
    assert_eq!(String::from_utf8_lossy(&stream_data(&frames, 1).0), EXIT_3);
}

#[tokio::test]
async fn pings_are_answered_while_waiting_for_the_streams() {
    let (addr, _results) = setup().await;
    let (tcp, _) = http_upgrade(
        addr,
        "POST",
        &format!("{EXEC}&stdout=true"),
        KUBECTL_VERSIONS,
    )
    .await;
    let mut client = SpdyClient::tcp(tcp);
    client.open(1, stream("error")).await;
    let frames = client.collect(|f| replied(f, 1)).await;
    assert!(replied(&frames, 1));
    // stdout is never opened: the server waits (30 s, like the kubelet), still answering pings.
    client.send(Frame::Ping { id: 3 }).await;
    let frames = client.collect(|f| f.contains(&Frame::Ping { id: 3 })).await;
    assert!(frames.contains(&Frame::Ping { id: 3 }));
}

#[tokio::test]
async fn spdy_without_a_known_version_is_forbidden() {
    let (addr, _results) = setup().await;
    let (_tcp, head) = http_upgrade(
        addr,
        "POST",
        &format!("{EXEC}&stdout=true"),
        &["v9.channel.k8s.io"],
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
}
