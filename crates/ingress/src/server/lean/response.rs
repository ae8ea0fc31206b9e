//! Response heads on the lean path: the backend's, parsed with `httparse` from the upstream
//! buffer and restated to the client (hop-by-hop fields dropped, framing chosen for the
//! client), and the proxy's own answers.

use http::StatusCode;
use httparse::Header;

use super::date;
use super::fields::{self, Listed, Name};
use super::request::{decimal, field};
use crate::server::pages;

/// Fields a backend's response head may have.
pub const MAX_HEADERS: usize = 100;

/// How the backend delimits the response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// None (a `HEAD` request, 1xx, 204, 304).
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// Chunked.
    Chunked,
    /// Everything until the backend closes the connection.
    UntilClose,
}

/// How the client's copy of the body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No framing field (no body, or the connection closes after it).
    Unframed,
    /// `Content-Length`.
    Length(u64),
    /// Chunked.
    Chunked,
}

/// A backend's response head is not HTTP/1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// A parsed response head.
pub struct Response<'h, 'b> {
    /// The status code.
    pub code: u16,
    reason: &'b str,
    headers: &'h [Header<'b>],
    /// The head's length in bytes.
    pub len: usize,
    /// The body's delimitation.
    pub body: Body,
    /// `Content-Length` as sent (kept on `HEAD` and 304 answers).
    length: Option<u64>,
    /// The backend keeps the connection open after this response.
    pub reusable: bool,
    has_date: bool,
    listed: Listed<'b>,
}

/// Parses the head at the start of `buf` (`head`: the request was `HEAD`); `Ok(None)` while
/// incomplete.
pub fn parse<'h, 'b>(
    buf: &'b [u8],
    slots: &'h mut [Header<'b>],
    head: bool,
) -> Result<Option<Response<'h, 'b>>, Malformed> {
    let mut parsed = httparse::Response::new(slots);
    let len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(Malformed),
    };
    let (Some(code), Some(version)) = (parsed.code, parsed.version) else {
        return Err(Malformed);
    };
    let reason = parsed.reason.unwrap_or("");
    let headers: &'h [Header<'b>] = parsed.headers;
    let mut response = Response {
        code,
        reason,
        headers,
        len,
        body: Body::UntilClose,
        length: None,
        reusable: version == 1,
        has_date: false,
        listed: Listed::default(),
    };
    let mut chunked = None;
    for header in headers {
        match fields::name(header.name) {
            Name::ContentLength => {
                let n = fields::content_length(header.value).ok_or(Malformed)?;
                if response
                    .length
                    .replace(n)
                    .is_some_and(|previous| previous != n)
                {
                    return Err(Malformed);
                }
            }
            Name::TransferEncoding => chunked = Some(fields::ends_chunked(header.value)),
            Name::Date => response.has_date = true,
            Name::Connection => {
                for token in fields::tokens(header.value) {
                    if token.eq_ignore_ascii_case(b"close") {
                        response.reusable = false;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        response.reusable |= version == 0;
                    } else {
                        response.listed.push(token);
                    }
                }
            }
            _ => {}
        }
    }
    response.body = if head || code < 200 || code == 204 || code == 304 {
        Body::Empty
    } else {
        match (chunked, response.length) {
            (Some(true), _) => Body::Chunked,
            (Some(false), _) | (None, None) => Body::UntilClose,
            (None, Some(n)) => Body::Length(n),
        }
    };
    if response.body == Body::UntilClose {
        response.reusable = false;
    }
    Ok(Some(response))
}

impl Response<'_, '_> {
    /// The framing the client gets: the backend's length, else chunked for HTTP/1.1 clients,
    /// else none (the connection then closes after the body).
    pub fn client_framing(&self, http10_client: bool) -> Framing {
        match self.body {
            Body::Empty if self.code == 304 || (self.code >= 200 && self.code != 204) => {
                self.length.map_or(Framing::Unframed, Framing::Length)
            }
            Body::Empty => Framing::Unframed,
            Body::Length(n) => Framing::Length(n),
            Body::Chunked | Body::UntilClose if http10_client => Framing::Unframed,
            Body::Chunked | Body::UntilClose => Framing::Chunked,
        }
    }

    /// Writes the head the client gets; `close`: the connection closes after this response;
    /// `keep_alive_10`: an HTTP/1.0 client's connection stays open.
    pub fn write_client(
        &self,
        out: &mut Vec<u8>,
        framing: Framing,
        set_cookie: Option<&[u8]>,
        close: bool,
        keep_alive_10: bool,
    ) {
        out.extend_from_slice(b"HTTP/1.1 ");
        decimal(out, u64::from(self.code));
        out.push(b' ');
        if self.reason.is_empty() {
            let canonical = StatusCode::from_u16(self.code)
                .ok()
                .and_then(|s| s.canonical_reason());
            out.extend_from_slice(canonical.unwrap_or("").as_bytes());
        } else {
            out.extend_from_slice(self.reason.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        for header in self.headers {
            let keep = match fields::name(header.name) {
                Name::Connection
                | Name::ContentLength
                | Name::TransferEncoding
                | Name::HopByHop
                | Name::Te => false,
                _ => self.listed.is_empty() || !self.listed.contains(header.name),
            };
            if keep {
                field(out, header.name.as_bytes(), header.value);
            }
        }
        if !self.has_date {
            date::write(out);
        }
        write_framing(out, framing);
        if let Some(cookie) = set_cookie {
            field(out, b"set-cookie", cookie);
        }
        write_connection(out, close, keep_alive_10);
        out.extend_from_slice(b"\r\n");
    }
}

fn write_framing(out: &mut Vec<u8>, framing: Framing) {
    match framing {
        Framing::Unframed => {}
        Framing::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            decimal(out, n);
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
}

fn write_connection(out: &mut Vec<u8>, close: bool, keep_alive_10: bool) {
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    } else if keep_alive_10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
}

/// Writes one of the proxy's own answers: the HTML page for `status` (no body for `HEAD`),
/// with `Location` when given.
pub fn write_page(
    out: &mut Vec<u8>,
    status: StatusCode,
    location: Option<&str>,
    head: bool,
    close: bool,
    keep_alive_10: bool,
) {
    let body = pages::html(status);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    field(out, b"content-type", b"text/html");
    if let Some(location) = location {
        field(out, b"location", location.as_bytes());
    }
    date::write(out);
    write_framing(out, Framing::Length(body.len() as u64));
    write_connection(out, close, keep_alive_10);
    out.extend_from_slice(b"\r\n");
    if !head {
        out.extend_from_slice(&body);
    }
}

#[cfg(test)]
#[path = "response/tests.rs"]
mod tests;
