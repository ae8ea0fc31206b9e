//! The lean HTTP/1.1 path over real sockets: pipelining, bodies framed every way in both
//! directions, responses without bodies, `Connection: close` from either side, backends that
//! die or close idle connections, and keep-alive reuse of backend connections.

#[path = "server_support/harness.rs"]
mod harness;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use harness::{backend, ingress, raw, service, Proxy};
use portico_ingress::snapshot::Inputs;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A backend answering by path with canned bytes; counts the connections it accepted.
/// `/die` closes without answering, `/die-mid` closes in the middle of a body,
/// `/close-delimited` ends its body by closing, `/close` says `Connection: close`; with
/// `one_shot` every connection is closed after one answer (as an idle timeout would).
async fn scripted(one_shot: bool) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&seen[..end]).into_owned();
                    seen.drain(..end + 4);
                    let path = head.split(' ').nth(1).unwrap_or("/").to_string();
                    let answer: &[u8] = match path.as_str() {
                        "/die" => return,
                        "/die-mid" => b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part",
                        "/chunked" => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
                        "/close-delimited" => b"HTTP/1.1 200 OK\r\n\r\nuntil close",
                        "/close" => b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 6\r\n\r\nclosed",
                        "/204" => b"HTTP/1.1 204 No Content\r\n\r\n",
                        "/304" => b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
                        "/head" => b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
                        "/hints" => b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhints",
                        _ => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                    };
                    if stream.write_all(answer).await.is_err() {
                        return;
                    }
                    if one_shot
                        || matches!(path.as_str(), "/die-mid" | "/close-delimited" | "/close")
                    {
                        return;
                    }
                }
            });
        }
    });
    (addr, accepted)
}

async fn proxy_to(endpoints: &[SocketAddr]) -> Proxy {
    let mut inputs = Inputs::default();
    service(&mut inputs, "one", endpoints);
    ingress(&mut inputs, "one", "a.example", "/", "one", &[], &[]);
    Proxy::start(&inputs).await
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: a.example\r\n{extra}\r\n")
}

/// The responses in `text`, split at status lines.
fn responses(text: &str) -> Vec<&str> {
    let mut starts: Vec<usize> = text.match_indices("HTTP/1.1 ").map(|(i, _)| i).collect();
    starts.push(text.len());
    starts.windows(2).map(|w| &text[w[0]..w[1]]).collect()
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_with_bodies_restated() {
    let (backend, _) = scripted(false).await;
    let proxy = proxy_to(&[backend]).await;
    let requests = [
        get("/", ""),
        get("/chunked", ""),
        get("/hints", ""),
        get("/204", ""),
        get("/304", ""),
        "HEAD /head HTTP/1.1\r\nHost: a.example\r\n\r\n".to_string(),
        get("/close-delimited", ""),
        get("/last", "Connection: close\r\n"),
    ]
    .concat();
    let text = raw(proxy.addrs.http, requests.as_bytes()).await;
    let answers = responses(&text);
    assert_eq!(answers.len(), 8, "{text}");
    assert!(answers[0].starts_with("HTTP/1.1 200 OK\r\n") && answers[0].ends_with("\r\n\r\nok"));
    // Chunks are re-encoded; extensions and trailers stay behind.
    assert!(
        answers[1].contains("transfer-encoding: chunked\r\n"),
        "{}",
        answers[1]
    );
    assert!(
        answers[1].ends_with("\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
        "{}",
        answers[1]
    );
    // 1xx interim responses are not passed on.
    assert!(answers[2].starts_with("HTTP/1.1 200 OK") && answers[2].ends_with("hints"));
    assert!(answers[3].starts_with("HTTP/1.1 204") && answers[3].ends_with("\r\n\r\n"));
    assert!(!answers[3].contains("content-length"));
    assert!(answers[4].starts_with("HTTP/1.1 304") && answers[4].ends_with("\r\n\r\n"));
    assert!(answers[4].contains("content-length: 10\r\n"));
    assert!(answers[5].contains("content-length: 10\r\n") && answers[5].ends_with("\r\n\r\n"));
    // A body that ends when the backend closes reaches an HTTP/1.1 client chunked.
    assert!(
        answers[6].contains("transfer-encoding: chunked\r\n"),
        "{}",
        answers[6]
    );
    assert!(
        answers[6].ends_with("b\r\nuntil close\r\n0\r\n\r\n"),
        "{}",
        answers[6]
    );
    assert!(answers[7].contains("connection: close\r\n") && answers[7].ends_with("ok"));
}

#[tokio::test]
async fn http10_clients_get_close_delimited_bodies_and_keep_alive_on_request() {
    let (backend, _) = scripted(false).await;
    let proxy = proxy_to(&[backend]).await;
    let text = raw(
        proxy.addrs.http,
        b"GET /chunked HTTP/1.0\r\nHost: a.example\r\nConnection: keep-alive\r\n\r\n",
    )
    .await;
    assert!(text.contains("connection: close\r\n"), "{text}");
    assert!(!text.contains("transfer-encoding"), "{text}");
    assert!(text.ends_with("\r\n\r\nhello world"), "{text}");

    let two = b"GET / HTTP/1.0\r\nHost: a.example\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\nHost: a.example\r\n\r\n";
    let text = raw(proxy.addrs.http, two).await;
    let answers = responses(&text);
    assert_eq!(answers.len(), 2, "{text}");
    assert!(
        answers[0].contains("connection: keep-alive\r\n"),
        "{}",
        answers[0]
    );
    assert!(
        answers[1].contains("connection: close\r\n"),
        "{}",
        answers[1]
    );
}

#[tokio::test]
async fn request_bodies_of_every_framing_reach_the_backend() {
    let echo = backend("one").await;
    let proxy = proxy_to(&[echo]).await;
    let mut stream = TcpStream::connect(proxy.addrs.http).await.unwrap();
    // A chunked body in pieces, then a Content-Length body larger than one read, on one
    // connection.
    stream
        .write_all(
            b"POST /a HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwi",
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream
        .write_all(b"ki\r\n5\r\npedia\r\n0\r\n\r\n")
        .await
        .unwrap();
    let big = "x".repeat(100_000);
    let post = format!(
        "POST /b HTTP/1.1\r\nHost: a.example\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{big}",
        big.len()
    );
    stream.write_all(post.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    let answers = responses(&text);
    assert_eq!(answers.len(), 2);
    assert!(answers[0].contains("body=wikipedia\n"), "{}", answers[0]);
    assert!(
        answers[0].contains("transfer-encoding: chunked\n"),
        "{}",
        answers[0]
    );
    assert!(answers[1].contains(&format!("body={big}\n")));
    assert!(answers[1].contains("content-length: 100000\n"));
}

#[tokio::test]
async fn backends_that_die_give_502_or_a_truncated_response() {
    let (backend, _) = scripted(false).await;
    let proxy = proxy_to(&[backend]).await;
    let text = raw(
        proxy.addrs.http,
        get("/die", "Connection: close\r\n").as_bytes(),
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{text}");
    assert!(text.contains("502 Bad Gateway</h1>"));

    // The head was passed on already: the client sees the connection close early.
    let text = raw(proxy.addrs.http, get("/die-mid", "").as_bytes()).await;
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n") && text.contains("content-length: 100\r\n"));
    assert!(text.ends_with("only part"), "{text}");
}

#[tokio::test]
async fn backend_connections_are_reused_and_replaced_when_closed() {
    let (backend, accepted) = scripted(false).await;
    let proxy = proxy_to(&[backend]).await;
    for _ in 0..6 {
        let text = raw(
            proxy.addrs.http,
            get("/", "Connection: close\r\n").as_bytes(),
        )
        .await;
        assert!(text.ends_with("ok"), "{text}");
    }
    // One connection per worker at most.
    let workers = std::thread::available_parallelism().unwrap().get();
    assert!(accepted.load(Ordering::SeqCst) <= workers);

    // `Connection: close` from the backend: passed on as keep-alive, a new one next time.
    let text = raw(
        proxy.addrs.http,
        [get("/close", ""), get("/", "Connection: close\r\n")]
            .concat()
            .as_bytes(),
    )
    .await;
    let answers = responses(&text);
    assert_eq!(answers.len(), 2, "{text}");
    assert!(!answers[0].contains("connection: close") && answers[0].ends_with("closed"));
    assert!(answers[1].ends_with("ok"));

    // A backend that closes every connection after one answer (as an idle timeout does):
    // requests still go through on fresh connections.
    let (flaky, accepted) = scripted(true).await;
    let proxy = proxy_to(&[flaky]).await;
    let mut pipeline = String::new();
    for _ in 0..4 {
        pipeline.push_str(&get("/", ""));
    }
    pipeline.push_str(&get("/", "Connection: close\r\n"));
    let text = raw(proxy.addrs.http, pipeline.as_bytes()).await;
    assert_eq!(responses(&text).len(), 5, "{text}");
    assert!(responses(&text)
        .iter()
        .all(|r| r.starts_with("HTTP/1.1 200") && r.ends_with("ok")));
    assert_eq!(accepted.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn malformed_and_oversized_heads_are_refused() {
    let (backend, accepted) = scripted(false).await;
    let proxy = proxy_to(&[backend]).await;
    let text = raw(
        proxy.addrs.http,
        b"GET / HTTP/1.1\r\nHost a.example\r\n\r\n",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
    assert!(text.contains("connection: close\r\n"));
    let mut big = get("/", "");
    big.insert_str(big.len() - 2, &format!("X-Big: {}\r\n", "y".repeat(70_000)));
    let text = raw(proxy.addrs.http, big.as_bytes()).await;
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");
    let bad_chunks =
        b"POST / HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    let text = raw(proxy.addrs.http, bad_chunks).await;
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert_eq!(accepted.load(Ordering::SeqCst), 0);
}
