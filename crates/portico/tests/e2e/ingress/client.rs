//! The clients the ingress tests use from the host: curl with the status code apart, waiting
//! for a route to answer as expected, and a WebSocket round trip written out by hand.

use std::process::Command;

use crate::sandbox::Up;

/// What curl printed, and its `%{http_code}`.
pub(super) struct Curl {
    pub code: String,
    pub body: String,
    pub stderr: String,
}

/// Runs curl on the host with `args`; the last line of stdout is the status code.
pub(super) fn curl(args: &[&str]) -> Curl {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("run curl");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = stdout.rsplit_once('\n').unwrap_or(("", stdout.as_str()));
    Curl {
        code: code.to_string(),
        body: body.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

/// `curl --resolve host:port:LISTEN scheme://host:port/path`.
pub(super) fn curl_host(c: &Up, scheme: &str, host: &str, path: &str, extra: &[&str]) -> Curl {
    let port = if scheme == "https" { "8443" } else { "8080" };
    let resolve = format!("{host}:{port}:{}", c.listen);
    let url = format!("{scheme}://{host}:{port}{path}");
    let mut args = vec!["--resolve", resolve.as_str()];
    args.extend_from_slice(extra);
    args.push(&url);
    curl(&args)
}

/// Waits until `kubectl get ing NAME` shows an ADDRESS, and returns it.
pub(super) fn address(c: &Up, name: &str) -> String {
    c.eventually(60, || {
        let v = c.get_json(&["ingress", name]);
        v["status"]["loadBalancer"]["ingress"][0]["ip"]
            .as_str()
            .map(str::to_string)
    })
}

/// Waits until `f` gives the answer the route should give (routes follow changes within
/// moments, and the backends' readiness first).
pub(super) fn until(what: &str, mut f: impl FnMut() -> Curl, ok: impl Fn(&Curl) -> bool) -> Curl {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let r = f();
        if ok(&r) {
            return r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: still {} after 60 s: {} {}",
            r.code,
            r.body,
            r.stderr
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Opens a WebSocket to `host` through `LISTEN:8080`, reads the first message, sends `text`
/// and reads the answer (RFC 6455 by hand: client frames masked, server frames not).
pub(super) fn websocket_round_trip(listen: &str, host: &str, text: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect((listen, 8080)).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .expect("send");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).expect("response head");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "the accept key of RFC 6455's example: {head}"
    );
    let read_frame = |s: &mut std::net::TcpStream| {
        let mut h = [0u8; 2];
        s.read_exact(&mut h).expect("frame header");
        assert_eq!(h[0] & 0x0f, 1, "a text frame");
        let len = usize::from(h[1] & 0x7f);
        assert!(len < 126, "short message");
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).expect("frame body");
        String::from_utf8(body).expect("utf-8")
    };
    let hello = read_frame(&mut s);
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81, 0x80 | text.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    s.write_all(&frame).expect("send frame");
    (hello, read_frame(&mut s))
}
