//! The protobuf wire format, read by hand: keys, varints, fixed-width values and
//! length-delimited payloads. Every read is bounds-checked and reports an error instead of
//! panicking, so arbitrary bytes are safe to feed in.

use crate::ProtobufError;

/// Wire type of varint-encoded scalars (ints, bools, enums).
pub(crate) const VARINT: u8 = 0;
/// Wire type of 8-byte little-endian values.
pub(crate) const FIXED64: u8 = 1;
/// Wire type of strings, bytes, embedded messages and packed repeated scalars.
pub(crate) const LEN: u8 = 2;
/// Wire type of 4-byte little-endian values.
pub(crate) const FIXED32: u8 = 5;

/// Largest field number protobuf allows (2^29 - 1).
const MAX_FIELD_NUMBER: u64 = (1 << 29) - 1;

/// The payload of one field, still in wire form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Payload<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2; `offset` is where the bytes start in the whole body.
    Len { bytes: &'a [u8], offset: usize },
    /// Wire type 5.
    Fixed32(u32),
}

impl Payload<'_> {
    /// The wire type this payload was encoded with.
    pub(crate) fn wire_type(&self) -> u8 {
        match self {
            Payload::Varint(_) => VARINT,
            Payload::Fixed64(_) => FIXED64,
            Payload::Len { .. } => LEN,
            Payload::Fixed32(_) => FIXED32,
        }
    }
}

/// One field occurrence: its number, where its key starts, and its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WireField<'a> {
    /// The field number from the key.
    pub(crate) number: u32,
    /// Offset of the key in the whole body, for error messages.
    pub(crate) offset: usize,
    /// The value.
    pub(crate) payload: Payload<'a>,
}

/// A cursor over one message's bytes. `base` is the position of `buf` inside the whole body,
/// so that errors name absolute offsets.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`, which starts at byte `base` of the body.
    pub(crate) fn new(buf: &'a [u8], base: usize) -> Self {
        Reader { buf, pos: 0, base }
    }

    /// Whether every byte has been consumed.
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Reads one base-128 varint.
    pub(crate) fn varint(&mut self) -> Result<u64, ProtobufError> {
        let start = self.base + self.pos;
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(ProtobufError::TruncatedVarint { offset: start });
            };
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtobufError::VarintTooLong { offset: start })
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], ProtobufError> {
        let offset = self.base + self.pos;
        let bytes = self
            .buf
            .get(self.pos..)
            .and_then(|rest| rest.get(..N))
            .and_then(|b| <[u8; N]>::try_from(b).ok())
            .ok_or(ProtobufError::TruncatedFixed { offset, width: N })?;
        self.pos += N;
        Ok(bytes)
    }

    fn len_delimited(&mut self) -> Result<(&'a [u8], usize), ProtobufError> {
        let len = self.varint()?;
        let offset = self.base + self.pos;
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let bytes = usize::try_from(len)
            .ok()
            .and_then(|n| rest.get(..n))
            .ok_or(ProtobufError::LengthOutOfBounds {
                offset,
                len,
                available: rest.len(),
            })?;
        self.pos += bytes.len();
        Ok((bytes, offset))
    }

    /// Reads the next field, or `None` at the end of the message.
    pub(crate) fn next_field(&mut self) -> Result<Option<WireField<'a>>, ProtobufError> {
        if self.is_empty() {
            return Ok(None);
        }
        let offset = self.base + self.pos;
        let key = self.varint()?;
        let number = key >> 3;
        if number == 0 || number > MAX_FIELD_NUMBER {
            return Err(ProtobufError::InvalidFieldNumber { offset, number });
        }
        let number = u32::try_from(number)
            .map_err(|_| ProtobufError::InvalidFieldNumber { offset, number })?;
        // The low three bits of the key are the wire type.
        let wire_type = (key & 0x7) as u8;
        let payload = match wire_type {
            VARINT => Payload::Varint(self.varint()?),
            FIXED64 => Payload::Fixed64(u64::from_le_bytes(self.fixed::<8>()?)),
            LEN => {
                let (bytes, offset) = self.len_delimited()?;
                Payload::Len { bytes, offset }
            }
            FIXED32 => Payload::Fixed32(u32::from_le_bytes(self.fixed::<4>()?)),
            other => {
                return Err(ProtobufError::UnsupportedWireType {
                    offset,
                    wire_type: other,
                })
            }
        };
        Ok(Some(WireField {
            number,
            offset,
            payload,
        }))
    }
}

/// Test helpers that write the wire format, used to build inputs by hand.
#[cfg(test)]
pub(crate) mod encode {
    /// Appends a varint.
    pub(crate) fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// Appends a varint field.
    pub(crate) fn int(out: &mut Vec<u8>, number: u32, v: u64) {
        varint(out, u64::from(number) << 3);
        varint(out, v);
    }

    /// Appends a length-delimited field.
    pub(crate) fn bytes(out: &mut Vec<u8>, number: u32, payload: &[u8]) {
        varint(out, (u64::from(number) << 3) | 2);
        varint(out, payload.len() as u64);
        out.extend_from_slice(payload);
    }

    /// Builds a message from a closure that appends fields.
    pub(crate) fn msg(build: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut out = Vec::new();
        build(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(buf: &[u8]) -> Result<Vec<WireField<'_>>, ProtobufError> {
        let mut reader = Reader::new(buf, 0);
        let mut out = Vec::new();
        while let Some(f) = reader.next_field()? {
            out.push(f);
        }
        Ok(out)
    }

    #[test]
    fn reads_each_wire_type() {
        let buf = [
            0x08, 0x96, 0x01, // 1: varint 150
            0x11, 1, 0, 0, 0, 0, 0, 0, 0x80, // 2: fixed64
            0x1a, 0x02, b'h', b'i', // 3: "hi"
            0x25, 0x01, 0x02, 0x03, 0x04, // 4: fixed32
        ];
        let got = fields(&buf).unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].payload, Payload::Varint(150));
        assert_eq!(got[1].payload, Payload::Fixed64(0x8000_0000_0000_0001));
        assert_eq!(
            got[2].payload,
            Payload::Len {
                bytes: b"hi",
                offset: 14
            }
        );
        assert_eq!(got[3].payload, Payload::Fixed32(0x0403_0201));
        assert_eq!(got[3].number, 4);
        assert_eq!(got[3].offset, 16);
    }

    #[test]
    fn reads_largest_varint() {
        let mut buf = Vec::new();
        encode::int(&mut buf, 1, u64::MAX);
        assert_eq!(fields(&buf).unwrap()[0].payload, Payload::Varint(u64::MAX));
    }

    #[test]
    fn rejects_malformed_input() {
        let cases: &[(&[u8], &str)] = &[
            (&[0x08], "truncated varint at byte 1"),
            (&[0x08, 0x80], "truncated varint at byte 1"),
            (
                &[
                    0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                ],
                "varint longer than 10 bytes at byte 1",
            ),
            (
                &[0x0a, 0x05, b'a'],
                "field at byte 2 announces 5 bytes but only 1 remain",
            ),
            (
                &[0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
                "announces",
            ),
            (&[0x11, 1, 2], "truncated 8-byte fixed value at byte 1"),
            (&[0x15, 1], "truncated 4-byte fixed value at byte 1"),
            (&[0x00, 0x00], "invalid field number 0 at byte 0"),
            (&[0x0b], "unsupported wire type 3 at byte 0"),
            (&[0x0e, 0x00], "unsupported wire type 6 at byte 0"),
        ];
        for (input, want) in cases {
            let err = fields(input).unwrap_err().to_string();
            assert!(err.contains(want), "{input:?}: got {err:?}, want {want:?}");
        }
    }

    #[test]
    fn offsets_are_absolute() {
        let mut reader = Reader::new(&[0x08], 100);
        let err = reader.next_field().unwrap_err().to_string();
        assert_eq!(err, "truncated varint at byte 101");
    }
}
