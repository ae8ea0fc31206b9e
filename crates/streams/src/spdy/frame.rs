//! SPDY/3.1 frames: parsing from and serializing to bytes.
//!
//! Every frame has an 8-byte head. A control frame starts with the control bit and version 3
//! (`0x80 0x03`), then a 16-bit type, an 8-bit flags field and a 24-bit payload length. A data
//! frame starts with a 31-bit stream id (control bit clear), then flags (`0x01` = FIN) and a
//! 24-bit length. Header blocks are compressed, so decoding and encoding take the connection's
//! [`Inflater`] and [`Deflater`]. Nothing here does I/O.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::headers::{Deflater, Headers, Inflater};
use super::SpdyError;

/// The FIN flag, on data frames and on SYN_STREAM/SYN_REPLY/HEADERS.
pub const FLAG_FIN: u8 = 0x01;
/// The UNIDIRECTIONAL flag of SYN_STREAM.
pub const FLAG_UNIDIRECTIONAL: u8 = 0x02;
/// The largest payload a frame can carry (24-bit length).
pub const MAX_PAYLOAD: usize = (1 << 24) - 1;

const TYPE_SYN_STREAM: u16 = 1;
const TYPE_SYN_REPLY: u16 = 2;
const TYPE_RST_STREAM: u16 = 3;
const TYPE_SETTINGS: u16 = 4;
const TYPE_PING: u16 = 6;
const TYPE_GOAWAY: u16 = 7;
const TYPE_HEADERS: u16 = 8;
const TYPE_WINDOW_UPDATE: u16 = 9;

/// RST_STREAM status: protocol error.
pub const RST_PROTOCOL_ERROR: u32 = 1;
/// RST_STREAM status: the stream is refused or cancelled (what Go's spdystream sends on reset).
pub const RST_CANCEL: u32 = 5;

/// One SPDY/3.1 frame, with header blocks already decompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Opens a stream.
    SynStream {
        /// The new stream's id (odd when the client opens it).
        stream_id: u32,
        /// The stream this one is associated with, or 0.
        associated_id: u32,
        /// Priority, 0 (highest) to 7.
        priority: u8,
        /// FIN and UNIDIRECTIONAL flags.
        flags: u8,
        /// The stream's headers.
        headers: Headers,
    },
    /// Accepts a stream.
    SynReply {
        /// The stream being accepted.
        stream_id: u32,
        /// FIN flag.
        flags: u8,
        /// Reply headers (kubelet sends none).
        headers: Headers,
    },
    /// Aborts a stream.
    RstStream {
        /// The stream being reset.
        stream_id: u32,
        /// Why (1 protocol error, 5 cancel, ...).
        status: u32,
    },
    /// Connection settings (not needed by kubectl's flows; parsed and ignored).
    Settings,
    /// A liveness probe, echoed unchanged by the receiver.
    Ping {
        /// Odd from the client, even from the server.
        id: u32,
    },
    /// The sender accepts no new streams.
    GoAway {
        /// The last stream the sender processed.
        last_good_stream_id: u32,
        /// 0 OK, 1 protocol error, 2 internal error.
        status: u32,
    },
    /// Extra headers on an open stream.
    Headers {
        /// The stream.
        stream_id: u32,
        /// FIN flag.
        flags: u8,
        /// The headers.
        headers: Headers,
    },
    /// Flow-control credit (Go's spdystream does no flow control; ignored).
    WindowUpdate {
        /// The stream, or 0 for the connection.
        stream_id: u32,
        /// Extra window in bytes.
        delta: u32,
    },
    /// Stream payload.
    Data {
        /// The stream.
        stream_id: u32,
        /// FIN flag.
        flags: u8,
        /// The bytes.
        data: Bytes,
    },
    /// A control frame of a type this implementation does not know; skipped.
    Unknown {
        /// Its type code.
        frame_type: u16,
    },
}

impl Frame {
    /// Takes one complete frame off the front of `buf`, or returns `None` if more bytes are
    /// needed. Header blocks are inflated with the connection's `inflater`.
    pub fn decode(buf: &mut BytesMut, inflater: &mut Inflater) -> Result<Option<Frame>, SpdyError> {
        if buf.len() < 8 {
            return Ok(None);
        }
        let word = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let flags = buf[4];
        let length = usize::from(buf[5]) << 16 | usize::from(buf[6]) << 8 | usize::from(buf[7]);
        if buf.len() < 8 + length {
            buf.reserve(8 + length - buf.len());
            return Ok(None);
        }
        buf.advance(8);
        let mut payload = buf.split_to(length).freeze();

        if word & 0x8000_0000 == 0 {
            return Ok(Some(Frame::Data {
                stream_id: word,
                flags,
                data: payload,
            }));
        }
        let version = (word >> 16) & 0x7fff;
        if version != 3 {
            return Err(SpdyError::UnsupportedVersion(version));
        }
        // The type is the low 16 bits of the first word.
        let frame_type = (word & 0xffff) as u16;
        let frame = match frame_type {
            TYPE_SYN_STREAM => {
                need(&payload, 10, "SYN_STREAM")?;
                let stream_id = payload.get_u32() & 0x7fff_ffff;
                let associated_id = payload.get_u32() & 0x7fff_ffff;
                let priority = payload.get_u8() >> 5;
                let _slot = payload.get_u8();
                Frame::SynStream {
                    stream_id,
                    associated_id,
                    priority,
                    flags,
                    headers: inflater.decompress(&payload)?,
                }
            }
            TYPE_SYN_REPLY | TYPE_HEADERS => {
                need(&payload, 4, "SYN_REPLY/HEADERS")?;
                let stream_id = payload.get_u32() & 0x7fff_ffff;
                let headers = inflater.decompress(&payload)?;
                if frame_type == TYPE_SYN_REPLY {
                    Frame::SynReply {
                        stream_id,
                        flags,
                        headers,
                    }
                } else {
                    Frame::Headers {
                        stream_id,
                        flags,
                        headers,
                    }
                }
            }
            TYPE_RST_STREAM => {
                need(&payload, 8, "RST_STREAM")?;
                Frame::RstStream {
                    stream_id: payload.get_u32() & 0x7fff_ffff,
                    status: payload.get_u32(),
                }
            }
            TYPE_SETTINGS => Frame::Settings,
            TYPE_PING => {
                need(&payload, 4, "PING")?;
                Frame::Ping {
                    id: payload.get_u32(),
                }
            }
            TYPE_GOAWAY => {
                need(&payload, 4, "GOAWAY")?;
                let last_good_stream_id = payload.get_u32() & 0x7fff_ffff;
                // SPDY/2 peers omit the status; treat it as OK.
                let status = if payload.len() >= 4 {
                    payload.get_u32()
                } else {
                    0
                };
                Frame::GoAway {
                    last_good_stream_id,
                    status,
                }
            }
            TYPE_WINDOW_UPDATE => {
                need(&payload, 8, "WINDOW_UPDATE")?;
                Frame::WindowUpdate {
                    stream_id: payload.get_u32() & 0x7fff_ffff,
                    delta: payload.get_u32() & 0x7fff_ffff,
                }
            }
            other => Frame::Unknown { frame_type: other },
        };
        Ok(Some(frame))
    }

    /// Appends the frame's bytes to `out`, compressing header blocks with `deflater`.
    pub fn encode(&self, out: &mut BytesMut, deflater: &mut Deflater) -> Result<(), SpdyError> {
        match self {
            Frame::Data {
                stream_id,
                flags,
                data,
            } => {
                head(out, stream_id & 0x7fff_ffff, *flags, data.len())?;
                out.put_slice(data);
            }
            Frame::SynStream {
                stream_id,
                associated_id,
                priority,
                flags,
                headers,
            } => {
                let block = deflater.compress(headers)?;
                control(out, TYPE_SYN_STREAM, *flags, 10 + block.len())?;
                out.put_u32(stream_id & 0x7fff_ffff);
                out.put_u32(associated_id & 0x7fff_ffff);
                out.put_u8((priority & 0x07) << 5);
                out.put_u8(0);
                out.put_slice(&block);
            }
            Frame::SynReply {
                stream_id,
                flags,
                headers,
            }
            | Frame::Headers {
                stream_id,
                flags,
                headers,
            } => {
                let frame_type = if matches!(self, Frame::SynReply { .. }) {
                    TYPE_SYN_REPLY
                } else {
                    TYPE_HEADERS
                };
                let block = deflater.compress(headers)?;
                control(out, frame_type, *flags, 4 + block.len())?;
                out.put_u32(stream_id & 0x7fff_ffff);
                out.put_slice(&block);
            }
            Frame::RstStream { stream_id, status } => {
                control(out, TYPE_RST_STREAM, 0, 8)?;
                out.put_u32(stream_id & 0x7fff_ffff);
                out.put_u32(*status);
            }
            Frame::Settings => {
                control(out, TYPE_SETTINGS, 0, 4)?;
                out.put_u32(0);
            }
            Frame::Ping { id } => {
                control(out, TYPE_PING, 0, 4)?;
                out.put_u32(*id);
            }
            Frame::GoAway {
                last_good_stream_id,
                status,
            } => {
                control(out, TYPE_GOAWAY, 0, 8)?;
                out.put_u32(last_good_stream_id & 0x7fff_ffff);
                out.put_u32(*status);
            }
            Frame::WindowUpdate { stream_id, delta } => {
                control(out, TYPE_WINDOW_UPDATE, 0, 8)?;
                out.put_u32(stream_id & 0x7fff_ffff);
                out.put_u32(delta & 0x7fff_ffff);
            }
            Frame::Unknown { frame_type } => return Err(SpdyError::UnknownFrame(*frame_type)),
        }
        Ok(())
    }
}

fn need(payload: &Bytes, len: usize, what: &'static str) -> Result<(), SpdyError> {
    if payload.len() < len {
        return Err(SpdyError::ShortFrame(what));
    }
    Ok(())
}

fn head(out: &mut BytesMut, first: u32, flags: u8, length: usize) -> Result<(), SpdyError> {
    if length > MAX_PAYLOAD {
        return Err(SpdyError::FrameTooLarge(length));
    }
    out.reserve(8 + length);
    out.put_u32(first);
    out.put_u8(flags);
    // The length fits in 24 bits (checked above).
    out.put_slice(&(length as u32).to_be_bytes()[1..]);
    Ok(())
}

fn control(out: &mut BytesMut, frame_type: u16, flags: u8, length: usize) -> Result<(), SpdyError> {
    head(out, 0x8003_0000 | u32::from(frame_type), flags, length)
}

#[cfg(test)]
#[path = "frame/tests.rs"]
mod tests;
