//! The proxy over real sockets on 127.0.0.1: routing answers, forwarding headers, endpoint
//! choice, failures, rewrites, redirects, upgrades and request smuggling.

#[path = "server_support/harness.rs"]
mod harness;

use std::time::{Duration, Instant};

use harness::{backend, closed_port, get, ingress, raw, service, Proxy};
use portico_ingress::snapshot::Inputs;

#[tokio::test]
async fn unknown_host_gets_the_default_backend_404_and_health_is_ok() {
    let one = backend("one").await;
    let mut inputs = Inputs::default();
    service(&mut inputs, "one", &[one]);
    ingress(&mut inputs, "one", "a.example", "/", "one", &[], &[]);
    let proxy = Proxy::start(&inputs).await;

    let got = get(proxy.addrs.http, "b.example", "/", &[]).await;
    assert_eq!(got.status, 404);
    assert_eq!(got.headers["content-type"], "text/html");
    assert!(got.body.contains("default backend - 404"), "{}", got.body);

    let health = proxy.addrs.health.unwrap();
    let got = get(health, "x", "/healthz", &[]).await;
    assert_eq!((got.status.as_u16(), got.body.as_str()), (200, "ok"));
}

#[tokio::test]
async fn route_without_endpoints_is_503() {
    let mut inputs = Inputs::default();
    service(&mut inputs, "empty", &[]);
    ingress(&mut inputs, "empty", "a.example", "/", "empty", &[], &[]);
    ingress(&mut inputs, "missing", "b.example", "/", "nosuch", &[], &[]);
    let proxy = Proxy::start(&inputs).await;
    for host in ["a.example", "b.example"] {
        let got = get(proxy.addrs.http, host, "/", &[]).await;
        assert_eq!(got.status, 503, "{host}");
        assert!(got.body.contains("503 Service Temporarily Unavailable"));
    }
}

#[tokio::test]
async fn forwards_with_x_forwarded_headers_and_strips_hop_by_hop() {
    let one = backend("one").await;
    let mut inputs = Inputs::default();
    service(&mut inputs, "one", &[one]);
    ingress(&mut inputs, "one", "a.example", "/", "one", &[], &[]);
    let proxy = Proxy::start(&inputs).await;
    let port = proxy.addrs.http.port();
    let host = format!("A.Example:{port}");

    let got = get(
        proxy.addrs.http,
        &host,
        "/echo?x=1",
        &[
            ("connection", "x-secret"),
            ("x-secret", "s"),
            ("x-forwarded-for", "10.1.2.3"),
        ],
    )
    .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.backend(), Some("one"));
    assert_eq!(got.request_line(), "GET /echo?x=1 HTTP/1.1");
    assert_eq!(got.echoed("host").as_deref(), Some(host.as_str()));
    assert_eq!(
        got.echoed("x-forwarded-for").as_deref(),
        Some("10.1.2.3, 127.0.0.1")
    );
    assert_eq!(got.echoed("x-real-ip").as_deref(), Some("127.0.0.1"));
    assert_eq!(got.echoed("x-forwarded-proto").as_deref(), Some("http"));
    assert_eq!(
        got.echoed("x-forwarded-host").as_deref(),
        Some(host.as_str())
    );
    assert_eq!(got.echoed("x-forwarded-port"), Some(port.to_string()));
    let id = got.echoed("x-request-id").unwrap();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    assert_eq!(got.echoed("x-secret"), None);
    // The backend's `Connection: keep-alive` is not passed on.
    assert!(!got.headers.contains_key("connection"));

    let got = get(
        proxy.addrs.http,
        "a.example",
        "/",
        &[("x-request-id", "mine")],
    )
    .await;
    assert_eq!(got.echoed("x-request-id").as_deref(), Some("mine"));
}

#[tokio::test]
async fn endpoints_take_turns_and_a_dead_one_is_skipped() {
    let (one, two, dead) = (
        backend("one").await,
        backend("two").await,
        closed_port().await,
    );
    let mut inputs = Inputs::default();
    service(&mut inputs, "both", &[one, two]);
    service(&mut inputs, "half", &[dead, one]);
    service(&mut inputs, "none", &[dead]);
    ingress(&mut inputs, "both", "both.example", "/", "both", &[], &[]);
    ingress(&mut inputs, "half", "half.example", "/", "half", &[], &[]);
    ingress(&mut inputs, "none", "none.example", "/", "none", &[], &[]);
    let proxy = Proxy::start(&inputs).await;

    let mut seen = Vec::new();
    for _ in 0..4 {
        let got = get(proxy.addrs.http, "both.example", "/", &[]).await;
        seen.push(got.backend().unwrap().to_string());
    }
    assert!(
        seen.contains(&"one".to_string()) && seen.contains(&"two".to_string()),
        "{seen:?}"
    );

    for _ in 0..4 {
        let got = get(proxy.addrs.http, "half.example", "/", &[]).await;
        assert_eq!((got.status.as_u16(), got.backend()), (200, Some("one")));
    }
    let got = get(proxy.addrs.http, "none.example", "/", &[]).await;
    assert_eq!(got.status, 502);
    assert!(got.body.contains("502 Bad Gateway"));
}

#[tokio::test]
async fn slow_backend_is_504_after_the_read_timeout() {
    let one = backend("one").await;
    let mut inputs = Inputs::default();
    service(&mut inputs, "one", &[one]);
    ingress(
        &mut inputs,
        "one",
        "a.example",
        "/",
        "one",
        &[("proxy-read-timeout", "1")],
        &[],
    );
    let proxy = Proxy::start(&inputs).await;
    let start = Instant::now();
    let got = get(proxy.addrs.http, "a.example", "/sleep", &[]).await;
    assert_eq!(got.status, 504);
    assert!(
        start.elapsed() < Duration::from_millis(2500),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn affinity_cookie_pins_the_endpoint() {
    let (one, two) = (backend("one").await, backend("two").await);
    let mut inputs = Inputs::default();
    service(&mut inputs, "both", &[one, two]);
    let annotations = [
        ("affinity", "cookie"),
        ("session-cookie-name", "route"),
        ("session-cookie-max-age", "60"),
    ];
    ingress(
        &mut inputs,
        "both",
        "a.example",
        "/",
        "both",
        &annotations,
        &[],
    );
    let proxy = Proxy::start(&inputs).await;

    let first = get(proxy.addrs.http, "a.example", "/", &[]).await;
    let set = first.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(
        set.starts_with("route=")
            && set.contains("Path=/")
            && set.contains("HttpOnly")
            && set.contains("Max-Age=60"),
        "{set}"
    );
    let pair = set.split(';').next().unwrap().to_string();
    let pinned = first.backend().unwrap().to_string();
    for _ in 0..6 {
        let got = get(proxy.addrs.http, "a.example", "/", &[("cookie", &pair)]).await;
        assert_eq!(got.backend(), Some(pinned.as_str()));
        assert!(!got.headers.contains_key("set-cookie"));
    }
    // A cookie naming no current endpoint is replaced.
    let got = get(
        proxy.addrs.http,
        "a.example",
        "/",
        &[("cookie", "route=0000000000000000")],
    )
    .await;
    assert_eq!(got.status, 200);
    assert!(got.headers["set-cookie"]
        .to_str()
        .unwrap()
        .starts_with("route="));
}

#[tokio::test]
async fn rewrite_target_uses_the_captures() {
    let one = backend("one").await;
    let mut inputs = Inputs::default();
    service(&mut inputs, "one", &[one]);
    let annotations = [("use-regex", "true"), ("rewrite-target", "/$2")];
    ingress(
        &mut inputs,
        "re",
        "a.example",
        "/something(/|$)(.*)",
        "one",
        &annotations,
        &[],
    );
    ingress(
        &mut inputs,
        "plain",
        "b.example",
        "/app",
        "one",
        &[("rewrite-target", "/")],
        &[],
    );
    let proxy = Proxy::start(&inputs).await;

    let got = get(proxy.addrs.http, "a.example", "/something/new/x?q=1", &[]).await;
    assert_eq!(got.request_line(), "GET /new/x?q=1 HTTP/1.1");
    assert_eq!(
        got.echoed("x-original-uri").as_deref(),
        Some("/something/new/x?q=1")
    );
    let got = get(proxy.addrs.http, "a.example", "/something", &[]).await;
    assert_eq!(got.request_line(), "GET / HTTP/1.1");
    let got = get(proxy.addrs.http, "b.example", "/app/page", &[]).await;
    assert_eq!(got.request_line(), "GET / HTTP/1.1");
}

#[tokio::test]
async fn force_ssl_redirect_is_a_308_to_https() {
    let one = backend("one").await;
    let mut inputs = Inputs::default();
    service(&mut inputs, "one", &[one]);
    ingress(
        &mut inputs,
        "one",
        "a.example",
        "/",
        "one",
        &[("force-ssl-redirect", "true")],
        &[],
    );
    let proxy = Proxy::start(&inputs).await;
    let got = get(proxy.addrs.http, "a.example:8080", "/p?q=1", &[]).await;
    assert_eq!(got.status, 308);
    let https = proxy.addrs.https.port();
    assert_eq!(
        got.headers["location"],
        format!("https://a.example:{https}/p?q=1").as_str()
    );
}

#[tokio::test]
async fn ambiguous_request_lengths_are_refused() {
    let one = backend("one").await;
    let mut inputs = Inputs::default();
    service(&mut inputs, "one", &[one]);
    ingress(&mut inputs, "one", "a.example", "/", "one", &[], &[]);
    let proxy = Proxy::start(&inputs).await;

    let both = b"POST / HTTP/1.1\r\nHost: a.example\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a.example\r\n\r\n";
    let answer = raw(proxy.addrs.http, both).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(!answer.contains("backend=one"), "{answer}");

    let te_first = b"POST / HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n";
    let answer = raw(proxy.addrs.http, te_first).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

    let two =
        b"POST / HTTP/1.1\r\nHost: a.example\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab";
    let answer = raw(proxy.addrs.http, two).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

    // A plain chunked request still goes through.
    let chunked = b"POST / HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    let answer = raw(proxy.addrs.http, chunked).await;
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.contains("body=abc"),
        "{answer}"
    );
}

#[tokio::test]
async fn websocket_upgrade_round_trip() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let one = backend("one").await;
    let mut inputs = Inputs::default();
    service(&mut inputs, "one", &[one]);
    ingress(&mut inputs, "one", "a.example", "/", "one", &[], &[]);
    let proxy = Proxy::start(&inputs).await;

    let mut stream = tokio::net::TcpStream::connect(proxy.addrs.http)
        .await
        .unwrap();
    let upgrade = b"GET /ws HTTP/1.1\r\nHost: a.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    stream.write_all(upgrade).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).await.unwrap(), 1);
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    stream.write_all(b"ping through the tunnel").await.unwrap();
    let mut echoed = [0u8; 23];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut echoed))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&echoed, b"ping through the tunnel");
}

#[tokio::test]
async fn h2c_backends_get_http2_and_clients_may_speak_h2c() {
    let one = backend("one").await;
    let mut inputs = Inputs::default();
    service(&mut inputs, "one", &[one]);
    ingress(
        &mut inputs,
        "one",
        "a.example",
        "/",
        "one",
        &[("backend-protocol", "GRPC")],
        &[],
    );
    let proxy = Proxy::start(&inputs).await;
    let got = get(proxy.addrs.http, "a.example", "/h2", &[]).await;
    assert_eq!(got.status, 200);
    assert_eq!(
        got.request_line(),
        "GET http://".to_string() + &one.to_string() + "/h2 HTTP/2.0"
    );

    let url = format!("http://a.example:{}/prior", proxy.addrs.http.port());
    let resolve = format!("a.example:{}:127.0.0.1", proxy.addrs.http.port());
    let out = harness::curl(&[
        "--http2-prior-knowledge",
        "--resolve",
        &resolve,
        "-w",
        "\nversion=%{http_version}",
        &url,
    ])
    .await;
    assert!(
        out.contains("backend=one") && out.ends_with("version=2"),
        "{out}"
    );
}
