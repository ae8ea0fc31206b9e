//! Header field names the lean path acts on, recognised without allocating, and the
//! comma-separated lists some of them carry.

/// A header field name the proxy treats specially; everything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name {
    Host,
    Connection,
    ContentLength,
    TransferEncoding,
    /// `Keep-Alive`, `Proxy-Connection`, `Trailer`, `Upgrade`: hop-by-hop, never forwarded.
    HopByHop,
    /// `TE`: hop-by-hop, except `TE: trailers` (gRPC needs it end to end).
    Te,
    Expect,
    Cookie,
    Date,
    XForwardedFor,
    XRequestId,
    XOriginalUri,
    /// The `X-Forwarded-*`, `X-Real-IP`, `X-Scheme` fields the proxy sets itself.
    Forwarded,
    Other,
}

/// Classifies a field name (case-insensitive).
pub fn name(name: &str) -> Name {
    let is = |known: &str| name.eq_ignore_ascii_case(known);
    match name.len() {
        2 if is("te") => Name::Te,
        4 if is("host") => Name::Host,
        4 if is("date") => Name::Date,
        6 if is("cookie") => Name::Cookie,
        6 if is("expect") => Name::Expect,
        7 if is("trailer") || is("upgrade") => Name::HopByHop,
        8 if is("x-scheme") => Name::Forwarded,
        9 if is("x-real-ip") => Name::Forwarded,
        10 if is("connection") => Name::Connection,
        10 if is("keep-alive") => Name::HopByHop,
        12 if is("x-request-id") => Name::XRequestId,
        14 if is("content-length") => Name::ContentLength,
        14 if is("x-original-uri") => Name::XOriginalUri,
        15 if is("x-forwarded-for") => Name::XForwardedFor,
        16 if is("proxy-connection") => Name::HopByHop,
        16 if is("x-forwarded-port") || is("x-forwarded-host") => Name::Forwarded,
        17 if is("transfer-encoding") => Name::TransferEncoding,
        17 if is("x-forwarded-proto") => Name::Forwarded,
        18 if is("x-forwarded-scheme") => Name::Forwarded,
        _ => Name::Other,
    }
}

/// The non-empty, trimmed elements of a comma-separated field value.
pub fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// The field names a `Connection` header listed (beyond `close`, `keep-alive`, `upgrade`),
/// whose fields are hop-by-hop too; a handful at most in practice.
#[derive(Debug, Default)]
pub struct Listed<'b> {
    names: Vec<&'b [u8]>,
}

impl<'b> Listed<'b> {
    /// Notes a listed name.
    pub fn push(&mut self, name: &'b [u8]) {
        self.names.push(name);
    }

    /// True when `name` was listed.
    pub fn contains(&self, name: &str) -> bool {
        self.names
            .iter()
            .any(|listed| listed.eq_ignore_ascii_case(name.as_bytes()))
    }

    /// True when nothing was listed.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// A `Content-Length` value: digits, or a list of identical ones; `None` when invalid.
pub fn content_length(value: &[u8]) -> Option<u64> {
    let mut length = None;
    for token in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
        if token.is_empty() || token.len() > 18 || !token.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = token.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        match length {
            Some(previous) if previous != n => return None,
            _ => length = Some(n),
        }
    }
    length
}

/// True when the last transfer coding of a `Transfer-Encoding` value is `chunked`.
pub fn ends_chunked(value: &[u8]) -> bool {
    tokens(value)
        .last()
        .is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_recognised_in_any_case() {
        assert_eq!(name("Host"), Name::Host);
        assert_eq!(name("CONTENT-LENGTH"), Name::ContentLength);
        assert_eq!(name("x-Forwarded-For"), Name::XForwardedFor);
        assert_eq!(name("X-Forwarded-Port"), Name::Forwarded);
        assert_eq!(name("upgrade"), Name::HopByHop);
        assert_eq!(name("x-secret"), Name::Other);
        assert_eq!(name("hosts"), Name::Other);
    }

    #[test]
    fn lengths_and_codings() {
        assert_eq!(content_length(b"42"), Some(42));
        assert_eq!(content_length(b"5, 5"), Some(5));
        assert_eq!(content_length(b"5, 6"), None);
        assert_eq!(content_length(b"-1"), None);
        assert_eq!(content_length(b"+1"), None);
        assert_eq!(content_length(b""), None);
        assert!(ends_chunked(b"gzip, Chunked"));
        assert!(!ends_chunked(b"chunked, gzip"));
        let listed: Vec<_> = tokens(b" close , x-a,,").collect();
        assert_eq!(listed, [&b"close"[..], b"x-a"]);
    }
}
