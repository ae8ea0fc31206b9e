//! SPDY/3 header blocks: the name/value list carried by SYN_STREAM, SYN_REPLY and HEADERS,
//! and the zlib streams that compress them.
//!
//! An uncompressed block is a 32-bit count followed by that many pairs, each a 32-bit length
//! and a lower-case name, then a 32-bit length and a value (several values of one name are
//! joined by NUL bytes). Each direction of a connection compresses all of its blocks with ONE
//! zlib stream primed with [`DICTIONARY`](super::dictionary::DICTIONARY), flushing each block
//! with `Z_SYNC_FLUSH`, so the two sides must keep their zlib state for the whole connection.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::dictionary::DICTIONARY;
use super::SpdyError;

/// The most a single header block may inflate to; a peer that sends more is broken or hostile.
const MAX_INFLATED: usize = 1 << 20;

/// An ordered list of SPDY header names (lower case) and values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// An empty header list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a header; the name is lower-cased as SPDY/3 requires.
    pub fn push(&mut self, name: &str, value: &str) {
        self.0.push((name.to_ascii_lowercase(), value.to_owned()));
    }

    /// Builder form of [`push`](Self::push).
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.push(name, value);
        self
    }

    /// The first value of `name` (case-insensitive), as Go's `http.Header.Get` returns it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.split('\0').next())
    }

    /// All pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Serializes the block, uncompressed.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_len(&mut out, self.0.len());
        for (name, value) in &self.0 {
            put_len(&mut out, name.len());
            out.extend_from_slice(name.as_bytes());
            put_len(&mut out, value.len());
            out.extend_from_slice(value.as_bytes());
        }
        out
    }

    /// Parses an uncompressed block.
    pub fn decode(mut block: &[u8]) -> Result<Self, SpdyError> {
        let count = take_len(&mut block)?;
        let mut headers = Vec::new();
        for _ in 0..count {
            let name = take_str(&mut block)?;
            let value = take_str(&mut block)?;
            headers.push((name.to_ascii_lowercase(), value));
        }
        Ok(Self(headers))
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // Header names and values are far below 4 GiB; saturate rather than panic.
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
}

fn take_len(block: &mut &[u8]) -> Result<usize, SpdyError> {
    let (head, rest) = block
        .split_first_chunk::<4>()
        .ok_or(SpdyError::BadHeaderBlock("truncated length"))?;
    *block = rest;
    usize::try_from(u32::from_be_bytes(*head))
        .map_err(|_| SpdyError::BadHeaderBlock("length too large"))
}

fn take_str(block: &mut &[u8]) -> Result<String, SpdyError> {
    let len = take_len(block)?;
    if len > block.len() {
        return Err(SpdyError::BadHeaderBlock("truncated name or value"));
    }
    let (text, rest) = block.split_at(len);
    *block = rest;
    String::from_utf8(text.to_vec()).map_err(|_| SpdyError::BadHeaderBlock("not UTF-8"))
}

/// The compressing side of one direction of a SPDY connection.
pub struct Deflater {
    zlib: Compress,
}

impl Deflater {
    /// A fresh zlib stream primed with the SPDY/3 dictionary.
    pub fn new() -> Result<Self, SpdyError> {
        let mut zlib = Compress::new(Compression::best(), true);
        zlib.set_dictionary(&DICTIONARY)
            .map_err(|e| SpdyError::Zlib(e.to_string()))?;
        Ok(Self { zlib })
    }

    /// Compresses one header block, ending it with a sync flush.
    pub fn compress(&mut self, headers: &Headers) -> Result<Vec<u8>, SpdyError> {
        let input = headers.encode();
        let mut out = Vec::with_capacity(input.len() + 64);
        let mut pos = 0;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(256);
            }
            let before = self.zlib.total_in();
            self.zlib
                .compress_vec(&input[pos..], &mut out, FlushCompress::Sync)
                .map_err(|e| SpdyError::Zlib(e.to_string()))?;
            pos += usize::try_from(self.zlib.total_in() - before).unwrap_or(usize::MAX);
            // Done once all input is consumed and zlib left room in the buffer (nothing pending).
            if pos >= input.len() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }
}

/// The decompressing side of one direction of a SPDY connection.
pub struct Inflater {
    zlib: Decompress,
}

impl Default for Inflater {
    fn default() -> Self {
        Self::new()
    }
}

impl Inflater {
    /// A fresh zlib stream; the dictionary is supplied when the stream asks for it.
    pub fn new() -> Self {
        Self {
            zlib: Decompress::new(true),
        }
    }

    /// Inflates one compressed header block and parses it.
    pub fn decompress(&mut self, input: &[u8]) -> Result<Headers, SpdyError> {
        let mut out = Vec::with_capacity(input.len() * 4 + 64);
        let mut pos = 0;
        loop {
            if out.capacity() - out.len() < 64 {
                if out.len() >= MAX_INFLATED {
                    return Err(SpdyError::BadHeaderBlock("header block too large"));
                }
                out.reserve(out.len().max(256));
            }
            let before = self.zlib.total_in();
            let result = self
                .zlib
                .decompress_vec(&input[pos..], &mut out, FlushDecompress::Sync);
            pos += usize::try_from(self.zlib.total_in() - before).unwrap_or(usize::MAX);
            match result {
                Ok(Status::StreamEnd) => break,
                Ok(Status::Ok | Status::BufError) => {
                    if pos >= input.len() && out.len() < out.capacity() {
                        break;
                    }
                }
                Err(e) => match e.needs_dictionary() {
                    Some(_) => {
                        self.zlib
                            .set_dictionary(&DICTIONARY)
                            .map_err(|e| SpdyError::Zlib(e.to_string()))?;
                    }
                    None => return Err(SpdyError::Zlib(e.to_string())),
                },
            }
        }
        Headers::decode(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `streamtype: error`, `port: 8080`, `requestid: 0`, compressed by C zlib 1.2.13 at level 9
    /// with the SPDY/3 dictionary and a sync flush, as a Go client's first block would be.
    const ZLIB_FIRST_BLOCK: &[u8] = include_bytes!("testdata/zlib_block1.bin");
    /// The same stream's second block: `streamtype: data`, `port: 8080`, `requestid: 0`.
    const ZLIB_SECOND_BLOCK: &[u8] = include_bytes!("testdata/zlib_block2.bin");

    fn port_headers(kind: &str) -> Headers {
        Headers::new()
            .with("streamtype", kind)
            .with("port", "8080")
            .with("requestid", "0")
    }

    #[test]
    fn uncompressed_block_layout() {
        let block = Headers::new().with("Port", "80").encode();
        assert_eq!(
            block,
            b"\x00\x00\x00\x01\x00\x00\x00\x04port\x00\x00\x00\x0280".to_vec()
        );
        assert_eq!(Headers::new().encode(), vec![0, 0, 0, 0]);
    }

    #[test]
    fn decode_rejects_truncated_blocks() {
        assert!(Headers::decode(b"\x00\x00\x00\x01\x00\x00\x00\x09port").is_err());
        assert!(Headers::decode(b"\x00\x00").is_err());
    }

    #[test]
    fn get_returns_the_first_of_nul_separated_values() {
        let block = b"\x00\x00\x00\x01\x00\x00\x00\x01a\x00\x00\x00\x03x\x00y";
        let headers = Headers::decode(block).unwrap();
        assert_eq!(headers.get("A"), Some("x"));
        assert_eq!(headers.get("b"), None);
    }

    #[test]
    fn inflates_blocks_written_by_c_zlib() {
        let mut inflater = Inflater::new();
        assert_eq!(
            inflater.decompress(ZLIB_FIRST_BLOCK).unwrap(),
            port_headers("error")
        );
        assert_eq!(
            inflater.decompress(ZLIB_SECOND_BLOCK).unwrap(),
            port_headers("data")
        );
    }

    #[test]
    fn deflated_blocks_round_trip_over_one_stream() {
        let mut deflater = Deflater::new().unwrap();
        let mut inflater = Inflater::new();
        for kind in ["error", "data", "stdin", "stdout"] {
            let compressed = deflater.compress(&port_headers(kind)).unwrap();
            // A sync flush ends every block with an empty stored block.
            assert!(compressed.ends_with(&[0x00, 0x00, 0xff, 0xff]));
            assert_eq!(
                inflater.decompress(&compressed).unwrap(),
                port_headers(kind)
            );
        }
        let empty = deflater.compress(&Headers::new()).unwrap();
        assert_eq!(inflater.decompress(&empty).unwrap(), Headers::new());
    }

    #[test]
    fn first_deflated_block_names_the_spdy_dictionary() {
        let mut deflater = Deflater::new().unwrap();
        let compressed = deflater.compress(&Headers::new()).unwrap();
        // zlib header with FDICT set, then the dictionary's Adler-32.
        assert_eq!(compressed[0], 0x78);
        assert_eq!(compressed[1] & 0x20, 0x20);
        assert_eq!(&compressed[2..6], &[0xe3, 0xc6, 0xa7, 0xc2]);
    }
}
