//! A minimal SPDY/3.1 server, enough for kubectl's exec fallback and port-forward.
//!
//! [`frame`] parses and serializes frames and [`headers`] handles header blocks and their zlib
//! compression; both are pure. `conn` drives a connection: it hands each stream the client
//! opens to the session logic, feeds stream data to readers, writes what the session sends,
//! echoes PINGs and honours RST_STREAM and GOAWAY. Like Go's spdystream (kubectl's side), it
//! does no flow control: WINDOW_UPDATE and SETTINGS are read and ignored.

mod dictionary;
pub mod frame;
pub mod headers;

pub(crate) mod conn;

pub use frame::Frame;
pub use headers::{Deflater, Headers, Inflater};

/// A SPDY protocol violation or a header-compression failure.
#[derive(Debug, thiserror::Error)]
pub enum SpdyError {
    /// A control frame of another SPDY version.
    #[error("unsupported SPDY version {0}")]
    UnsupportedVersion(u32),
    /// A control frame shorter than its fixed fields.
    #[error("{0} frame too short")]
    ShortFrame(&'static str),
    /// A frame too large for the 24-bit length field.
    #[error("frame payload of {0} bytes is too large")]
    FrameTooLarge(usize),
    /// A frame type this implementation cannot write.
    #[error("unknown frame type {0}")]
    UnknownFrame(u16),
    /// A malformed (decompressed) header block.
    #[error("bad header block: {0}")]
    BadHeaderBlock(&'static str),
    /// zlib failed.
    #[error("zlib: {0}")]
    Zlib(String),
}
