use super::*;
use crate::server::headers::Origin;

fn parsed(raw: &[u8]) -> Result<Option<(usize, Framing, bool, bool)>, Refusal> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    Ok(parse(raw, &mut slots)?.map(|r| (r.len, r.framing, r.keep_alive, r.upgrade)))
}

fn upstream(raw: &[u8], path: &str, original: Option<&str>) -> String {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let request = parse(raw, &mut slots).unwrap().unwrap();
    let origin = Origin {
        client: "10.0.0.9".parse().unwrap(),
        port: 80,
        tls: false,
    };
    let mut out = Vec::new();
    request.write_upstream(&mut out, path, &Forwarded::new(&origin), original);
    String::from_utf8(out).unwrap()
}

#[test]
fn heads_are_framed_and_keep_alive_follows_the_version() {
    assert_eq!(parsed(b"GET / HTTP/1.1\r\nHost: a").unwrap(), None);
    let raw = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /next";
    assert_eq!(
        parsed(raw).unwrap(),
        Some((raw.len() - 9, Framing::None, true, false))
    );
    let raw = b"POST / HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc";
    assert_eq!(
        parsed(raw).unwrap(),
        Some((raw.len() - 3, Framing::Length(3), false, false))
    );
    let raw = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(
        parsed(raw).unwrap(),
        Some((raw.len(), Framing::Chunked, false, false))
    );
    let raw = b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
    assert!(parsed(raw).unwrap().unwrap().2);
    let raw = b"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    assert!(parsed(raw).unwrap().unwrap().3);
    let raw = b"GET / HTTP/1.1\r\nConnection: Upgrade\r\n\r\n";
    assert!(!parsed(raw).unwrap().unwrap().3);
}

#[test]
fn ambiguous_or_malformed_heads_are_refused() {
    for raw in [
        &b"POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
    ] {
        assert_eq!(
            parsed(raw),
            Err(Refusal::BadRequest),
            "{}",
            String::from_utf8_lossy(raw)
        );
    }
    let mut many = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..=MAX_HEADERS {
        many.extend_from_slice(format!("x-{i}: 1\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_eq!(parsed(&many), Err(Refusal::TooLarge));
}

#[test]
fn the_backend_head_drops_hop_by_hop_fields_and_sets_forwarded_ones() {
    let raw =
        b"POST /a?b=1 HTTP/1.1\r\nHost: A.example:8080\r\nConnection: keep-alive, X-Secret\r\n\
X-Secret: s\r\nKeep-Alive: timeout=5\r\nTE: gzip\r\nX-Forwarded-For: 10.1.1.1\r\n\
X-Real-IP: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nTransfer-Encoding: chunked\r\nX-Kept: 1\r\n\r\n";
    let head = upstream(raw, "/a?b=1", None);
    let lines: Vec<&str> = head.split("\r\n").collect();
    assert_eq!(lines[0], "POST /a?b=1 HTTP/1.1");
    assert!(head.ends_with("\r\n\r\n"));
    for expected in [
        "Host: A.example:8080",
        "X-Kept: 1",
        "x-forwarded-for: 10.1.1.1, 10.0.0.9",
        "x-real-ip: 10.0.0.9",
        "x-forwarded-proto: http",
        "x-forwarded-scheme: http",
        "x-scheme: http",
        "x-forwarded-port: 80",
        "x-forwarded-host: A.example:8080",
        "transfer-encoding: chunked",
    ] {
        assert!(lines.contains(&expected), "{expected} missing in {head}");
    }
    let lower = head.to_ascii_lowercase();
    for gone in [
        "x-secret",
        "keep-alive",
        "te:",
        "connection",
        "6.6.6.6",
        "https",
    ] {
        assert!(!lower.contains(gone), "{gone} kept in {head}");
    }
    let id = lines
        .iter()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .unwrap();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
}

#[test]
fn request_id_is_kept_and_rewrites_carry_the_original_uri() {
    let raw = b"GET /something/x HTTP/1.1\r\nHost: a\r\nX-Request-ID: mine\r\nTE: trailers\r\n\
Content-Length: 2\r\nX-Original-URI: /forged\r\n\r\nhi";
    let head = upstream(raw, "/x", Some("/something/x"));
    assert!(head.starts_with("GET /x HTTP/1.1\r\n"), "{head}");
    assert!(head.contains("x-request-id: mine\r\n"), "{head}");
    assert!(head.contains("TE: trailers\r\n"), "{head}");
    assert!(head.contains("content-length: 2\r\n"), "{head}");
    assert!(head.contains("x-original-uri: /something/x\r\n"), "{head}");
    assert!(!head.contains("/forged"), "{head}");
    assert_eq!(
        head.matches("x-forwarded-for: 10.0.0.9\r\n").count(),
        1,
        "{head}"
    );
}

#[test]
fn decimals() {
    let mut out = Vec::new();
    decimal(&mut out, 0);
    out.push(b' ');
    decimal(&mut out, 18_446_744_073_709_551_615);
    assert_eq!(out, b"0 18446744073709551615");
}
