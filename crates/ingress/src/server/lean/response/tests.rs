use super::*;

fn head(raw: &[u8], head_request: bool) -> (Body, bool, usize) {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let r = parse(raw, &mut slots, head_request).unwrap().unwrap();
    (r.body, r.reusable, r.len)
}

fn restated(raw: &[u8], http10_client: bool, close: bool) -> String {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let r = parse(raw, &mut slots, false).unwrap().unwrap();
    let mut out = Vec::new();
    let framing = r.client_framing(http10_client);
    r.write_client(
        &mut out,
        framing,
        Some(b"c=1"),
        close,
        http10_client && !close,
    );
    String::from_utf8(out).unwrap()
}

#[test]
fn bodies_are_delimited_as_rfc_9112_says() {
    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    assert_eq!(head(ok, false), (Body::Length(5), true, ok.len() - 5));
    assert_eq!(head(ok, true).0, Body::Empty);
    let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n";
    assert_eq!(head(chunked, false).0, Body::Chunked);
    let none = b"HTTP/1.1 200 OK\r\n\r\n";
    assert_eq!(head(none, false).0, Body::UntilClose);
    assert!(!head(none, false).1);
    for code in ["100 Continue", "204 No Content", "304 Not Modified"] {
        let raw = format!("HTTP/1.1 {code}\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(head(raw.as_bytes(), false).0, Body::Empty, "{code}");
    }
    let close = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    assert!(!head(close, false).1);
    let old = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
    assert!(!head(old, false).1);
    let old_kept = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
    assert!(head(old_kept, false).1);
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let conflicting = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
    assert!(parse(conflicting, &mut slots, false).is_err());
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    assert!(parse(b"SSH-2.0-OpenSSH\r\n\r\n", &mut slots, false).is_err());
}

#[test]
fn the_client_head_restates_framing_and_drops_hop_by_hop_fields() {
    let raw = b"HTTP/1.1 200 Fine\r\nServer: x\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n\
Keep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n";
    let head = restated(raw, false, false);
    assert!(head.starts_with("HTTP/1.1 200 Fine\r\n"), "{head}");
    assert!(head.contains("Server: x\r\n") && head.contains("transfer-encoding: chunked\r\n"));
    assert!(head.contains("set-cookie: c=1\r\n"));
    assert_eq!(
        head.matches("Date:").count() + head.matches("date:").count(),
        1,
        "{head}"
    );
    let lower = head.to_ascii_lowercase();
    assert!(
        !lower.contains("x-hop") && !lower.contains("keep-alive") && !lower.contains("connection")
    );

    // An HTTP/1.0 client gets the body up to the close instead of chunks.
    let head = restated(raw, true, true);
    assert!(!head.contains("transfer-encoding") && head.contains("connection: close\r\n"));

    // A status without reason phrase gets the canonical one, and a date is added.
    let head = restated(b"HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", true, false);
    assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"), "{head}");
    assert!(head.contains("content-length: 0\r\n") && head.contains("date: "));
    assert!(head.contains("connection: keep-alive\r\n"));
}

#[test]
fn pages_are_complete_responses() {
    let mut out = Vec::new();
    write_page(
        &mut out,
        StatusCode::PERMANENT_REDIRECT,
        Some("https://a/x"),
        false,
        false,
        false,
    );
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with("HTTP/1.1 308 Permanent Redirect\r\n"),
        "{text}"
    );
    assert!(
        text.contains("location: https://a/x\r\n") && text.contains("content-type: text/html\r\n")
    );
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(body.len(), length);
    let mut out = Vec::new();
    write_page(&mut out, StatusCode::BAD_REQUEST, None, true, true, false);
    let text = String::from_utf8(out).unwrap();
    assert!(text.ends_with("connection: close\r\n\r\n"), "{text}");
}
