//! Request heads on the lean path: parsed with `httparse` straight from the connection's
//! buffer, their fields sorted into what the proxy acts on, and the head the backend gets
//! written (hop-by-hop fields dropped, `X-Forwarded-*` and `X-Request-ID` set, the body's
//! framing restated).

use httparse::Header;

use super::fields::{self, Listed, Name};
use crate::server::headers::{self, Forwarded};

/// Fields a request head may have (hyper's limit too).
pub const MAX_HEADERS: usize = 100;

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// The chunked transfer coding.
    Chunked,
}

/// Why a request is answered with an error and the connection closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed, or framed ambiguously (request smuggling): 400.
    BadRequest,
    /// Too many fields: 431.
    TooLarge,
}

/// A parsed request head and what the proxy needs from it.
pub struct Request<'h, 'b> {
    /// The method.
    pub method: &'b str,
    /// The request target as sent.
    pub target: &'b str,
    /// HTTP/1.0 rather than HTTP/1.1.
    pub http10: bool,
    /// The fields.
    pub headers: &'h [Header<'b>],
    /// The head's length in bytes.
    pub len: usize,
    /// The body's framing.
    pub framing: Framing,
    /// The `Host` value.
    pub host: Option<&'b [u8]>,
    /// The client wants the connection kept open.
    pub keep_alive: bool,
    /// `Connection: upgrade` with `Upgrade`.
    pub upgrade: bool,
    /// An `Expect` field.
    pub expect: bool,
    /// Fields `Connection` named.
    listed: Listed<'b>,
}

/// Parses the head at the start of `buf`: `Ok(None)` while incomplete.
pub fn parse<'h, 'b>(
    buf: &'b [u8],
    slots: &'h mut [Header<'b>],
) -> Result<Option<Request<'h, 'b>>, Refusal> {
    let mut parsed = httparse::Request::new(slots);
    let len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Refusal::TooLarge),
        Err(_) => return Err(Refusal::BadRequest),
    };
    let (Some(method), Some(target), Some(version)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err(Refusal::BadRequest);
    };
    let headers: &'h [Header<'b>] = parsed.headers;
    let mut request = Request {
        method,
        target,
        http10: version == 0,
        headers,
        len,
        framing: Framing::None,
        host: None,
        keep_alive: version == 1,
        upgrade: false,
        expect: false,
        listed: Listed::default(),
    };
    let mut length = None;
    let mut chunked = None;
    let mut upgrade_field = false;
    for header in headers {
        match fields::name(header.name) {
            // A second `Host` (RFC 9112 section 3.2).
            Name::Host if request.host.replace(header.value).is_some() => {
                return Err(Refusal::BadRequest);
            }
            Name::ContentLength => {
                let n = fields::content_length(header.value).ok_or(Refusal::BadRequest)?;
                if length.replace(n).is_some_and(|previous| previous != n) {
                    return Err(Refusal::BadRequest);
                }
            }
            Name::TransferEncoding => chunked = Some(fields::ends_chunked(header.value)),
            Name::Expect => request.expect = true,
            Name::HopByHop if header.name.eq_ignore_ascii_case("upgrade") => {
                upgrade_field = true;
            }
            Name::Connection => {
                for token in fields::tokens(header.value) {
                    if token.eq_ignore_ascii_case(b"close") {
                        request.keep_alive = false;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        request.keep_alive |= request.http10;
                    } else if token.eq_ignore_ascii_case(b"upgrade") {
                        request.upgrade = true;
                    } else {
                        request.listed.push(token);
                    }
                }
            }
            _ => {}
        }
    }
    request.upgrade &= upgrade_field;
    request.framing = match (length, chunked) {
        // Both, or a coding that does not end in chunked: nobody can tell where it ends.
        (Some(_), Some(_)) | (_, Some(false)) => return Err(Refusal::BadRequest),
        (None, Some(true)) => Framing::Chunked,
        (Some(0) | None, None) => Framing::None,
        (Some(n), None) => Framing::Length(n),
    };
    Ok(Some(request))
}

impl Request<'_, '_> {
    /// The values of the `Cookie` fields.
    pub fn cookies(&self) -> impl Iterator<Item = &str> {
        self.headers
            .iter()
            .filter(|h| fields::name(h.name) == Name::Cookie)
            .filter_map(|h| std::str::from_utf8(h.value).ok())
    }

    /// True when a field is hop-by-hop for this request.
    fn listed(&self, name: &str) -> bool {
        !self.listed.is_empty() && self.listed.contains(name)
    }

    /// Writes the head the backend gets: `path` as the target, the client's end-to-end
    /// fields, the forwarded fields for `origin`, `X-Original-URI` when rewritten.
    pub fn write_upstream(
        &self,
        out: &mut Vec<u8>,
        path: &str,
        origin: &Forwarded,
        original_uri: Option<&str>,
    ) {
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(path.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        let mut forwarded_for: Option<&[u8]> = None;
        let mut request_id: Option<&[u8]> = None;
        for header in self.headers {
            let keep = match fields::name(header.name) {
                Name::Connection
                | Name::ContentLength
                | Name::TransferEncoding
                | Name::HopByHop
                | Name::Forwarded => false,
                Name::Te => header.value.eq_ignore_ascii_case(b"trailers"),
                Name::XOriginalUri => original_uri.is_none(),
                Name::XForwardedFor => {
                    if forwarded_for.is_none() && !self.listed(header.name) {
                        forwarded_for = Some(header.value);
                    }
                    false
                }
                Name::XRequestId => {
                    if request_id.is_none() && !self.listed(header.name) {
                        request_id = Some(header.value);
                    }
                    false
                }
                _ => true,
            };
            if keep && !self.listed(header.name) {
                field(out, header.name.as_bytes(), header.value);
            }
        }
        let ip = origin.ip();
        out.extend_from_slice(b"x-forwarded-for: ");
        if let Some(previous) = forwarded_for.map(<[u8]>::trim_ascii) {
            if !previous.is_empty() {
                out.extend_from_slice(previous);
                out.extend_from_slice(b", ");
            }
        }
        out.extend_from_slice(ip);
        out.extend_from_slice(b"\r\n");
        field(out, b"x-real-ip", ip);
        let scheme = origin.scheme();
        field(out, b"x-forwarded-proto", scheme);
        field(out, b"x-forwarded-scheme", scheme);
        field(out, b"x-scheme", scheme);
        field(out, b"x-forwarded-port", origin.port());
        if let Some(host) = self.host {
            field(out, b"x-forwarded-host", host);
        }
        match request_id {
            Some(id) if !id.is_empty() => field(out, b"x-request-id", id),
            _ => field(out, b"x-request-id", headers::request_id().as_bytes()),
        }
        if let Some(uri) = original_uri {
            field(out, b"x-original-uri", uri.as_bytes());
        }
        match self.framing {
            Framing::None => {}
            Framing::Length(n) => {
                out.extend_from_slice(b"content-length: ");
                decimal(out, n);
                out.extend_from_slice(b"\r\n");
            }
            Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends `name: value\r\n`.
pub fn field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends `n` in decimal.
pub fn decimal(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
#[path = "request/tests.rs"]
mod tests;
