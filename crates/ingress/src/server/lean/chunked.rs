//! The chunked transfer coding (RFC 9112 section 7.1): a strict incremental decoder that hands
//! out the data and stops right after the message's end, and the encoder's pieces.

/// The last chunk and an empty trailer section.
pub const LAST: &[u8] = b"0\r\n\r\n";

/// Malformed chunked framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Hex digits of a chunk size (`digits` so far).
    Size { digits: u8 },
    /// After the digits: whitespace, an extension, or the line end.
    AfterSize,
    /// A chunk extension, up to the line end.
    Extension,
    /// The `\n` of a size line.
    SizeLf,
    /// Chunk data.
    Data,
    /// The `\r` after chunk data.
    DataCr,
    /// The `\n` after chunk data.
    DataLf,
    /// The start of a trailer line (or of the final empty line).
    Trailer,
    /// Inside a trailer field line.
    TrailerLine,
    /// The `\n` of a trailer field line.
    TrailerLf,
    /// The `\n` of the final empty line.
    EndLf,
    /// The message ended.
    Done,
}

/// Decodes one chunked message body fed in pieces.
#[derive(Debug, Clone)]
pub struct Decoder {
    state: State,
    /// The size of the current chunk, then what is left of its data.
    size: u64,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            state: State::Size { digits: 0 },
            size: 0,
        }
    }
}

impl Decoder {
    /// True once the last chunk and the trailer section were read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from `input`, passing chunk data to `data`; returns how many bytes were used
    /// (fewer than given only when the message ended inside `input`).
    pub fn feed(&mut self, input: &[u8], mut data: impl FnMut(&[u8])) -> Result<usize, Malformed> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                State::Done => return Ok(i),
                State::Data => {
                    let available = (input.len() - i) as u64;
                    let n = self.size.min(available) as usize;
                    data(&input[i..i + n]);
                    self.size -= n as u64;
                    i += n;
                    if self.size == 0 {
                        self.state = State::DataCr;
                    }
                    continue;
                }
                State::Size { digits } => match hex(b) {
                    Some(v) => {
                        if digits >= 15 {
                            return Err(Malformed);
                        }
                        self.size = (self.size << 4) | u64::from(v);
                        self.state = State::Size { digits: digits + 1 };
                    }
                    None if digits == 0 => return Err(Malformed),
                    None => {
                        self.state = State::AfterSize;
                        continue;
                    }
                },
                State::AfterSize => match b {
                    b' ' | b'\t' => {}
                    b';' => self.state = State::Extension,
                    b'\r' => self.state = State::SizeLf,
                    _ => return Err(Malformed),
                },
                State::Extension => match b {
                    b'\r' => self.state = State::SizeLf,
                    b'\n' => return Err(Malformed),
                    _ => {}
                },
                State::SizeLf => {
                    if b != b'\n' {
                        return Err(Malformed);
                    }
                    self.state = if self.size == 0 {
                        State::Trailer
                    } else {
                        State::Data
                    };
                }
                State::DataCr => {
                    if b != b'\r' {
                        return Err(Malformed);
                    }
                    self.state = State::DataLf;
                }
                State::DataLf => {
                    if b != b'\n' {
                        return Err(Malformed);
                    }
                    self.state = State::Size { digits: 0 };
                }
                State::Trailer => {
                    self.state = match b {
                        b'\r' => State::EndLf,
                        b'\n' => return Err(Malformed),
                        _ => State::TrailerLine,
                    }
                }
                State::TrailerLine => match b {
                    b'\r' => self.state = State::TrailerLf,
                    b'\n' => return Err(Malformed),
                    _ => {}
                },
                State::TrailerLf => {
                    if b != b'\n' {
                        return Err(Malformed);
                    }
                    self.state = State::Trailer;
                }
                State::EndLf => {
                    if b != b'\n' {
                        return Err(Malformed);
                    }
                    self.state = State::Done;
                    return Ok(i + 1);
                }
            }
            i += 1;
        }
        Ok(i)
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Appends `data` as one chunk (nothing for empty data, which would end the body).
pub fn encode(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut n = data.len();
    let mut at = digits.len();
    while n > 0 {
        at -= 1;
        digits[at] = HEX[n & 0xf];
        n >>= 4;
    }
    out.extend_from_slice(&digits[at..]);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(input: &[u8], piece: usize) -> Result<(Vec<u8>, usize), Malformed> {
        let mut decoder = Decoder::default();
        let mut body = Vec::new();
        let mut used = 0;
        for part in input.chunks(piece) {
            used += decoder.feed(part, |d| body.extend_from_slice(d))?;
            if decoder.is_done() {
                break;
            }
        }
        assert!(decoder.is_done(), "not done");
        Ok((body, used))
    }

    #[test]
    fn decodes_in_any_pieces_and_stops_at_the_end() {
        let msg = b"3;ext=1\r\nabc\r\nA \r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nGET /next";
        for piece in [1, 2, 5, 100] {
            let (body, used) = decode_in_pieces(msg, piece).unwrap();
            assert_eq!(body, b"abc0123456789");
            assert_eq!(&msg[used..], b"GET /next", "piece {piece}");
        }
    }

    #[test]
    fn refuses_bad_framing() {
        for bad in [
            &b"x\r\n"[..],
            b"3\nabc\r\n",
            b"3\r\nabcd\r\n",
            b"3\r\nabc\n0\r\n\r\n",
            b"10000000000000000\r\n",
            b"0\r\nX\nY\r\n\r\n",
        ] {
            let mut decoder = Decoder::default();
            assert_eq!(decoder.feed(bad, |_| {}), Err(Malformed), "{bad:?}");
        }
    }

    #[test]
    fn encodes_chunks_a_decoder_reads_back() {
        let mut out = Vec::new();
        encode(&mut out, b"hello");
        encode(&mut out, &[b'x'; 300]);
        encode(&mut out, b"");
        out.extend_from_slice(LAST);
        assert!(out.starts_with(b"5\r\nhello\r\n12c\r\n"));
        let (body, used) = decode_in_pieces(&out, 7).unwrap();
        assert_eq!(body.len(), 305);
        assert_eq!(used, out.len());
    }
}
