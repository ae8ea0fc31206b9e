//! The `k8s\0` prefix and the `runtime.Unknown` envelope around every protobuf body.

use crate::wire::{Payload, Reader};
use crate::ProtobufError;

/// The four bytes every Kubernetes protobuf body starts with.
pub(crate) const MAGIC: &[u8; 4] = b"k8s\0";

/// The envelope's contents, borrowed from the body.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Envelope<'a> {
    /// `typeMeta.apiVersion`.
    pub(crate) api_version: String,
    /// `typeMeta.kind`.
    pub(crate) kind: String,
    /// The object, in protobuf.
    pub(crate) raw: &'a [u8],
    /// Offset of `raw` in the body.
    pub(crate) raw_offset: usize,
}

/// Checks the prefix and reads the `runtime.Unknown` message that follows it.
pub(crate) fn parse(body: &[u8]) -> Result<Envelope<'_>, ProtobufError> {
    let rest = body
        .strip_prefix(MAGIC.as_slice())
        .ok_or(ProtobufError::MissingMagic)?;
    let mut envelope = Envelope {
        raw_offset: MAGIC.len(),
        ..Envelope::default()
    };
    let mut content_encoding = String::new();
    let mut reader = Reader::new(rest, MAGIC.len());
    while let Some(field) = reader.next_field()? {
        let Payload::Len { bytes, offset } = field.payload else {
            continue;
        };
        match field.number {
            1 => type_meta(bytes, offset, &mut envelope)?,
            2 => {
                envelope.raw = bytes;
                envelope.raw_offset = offset;
            }
            3 => content_encoding = String::from_utf8_lossy(bytes).into_owned(),
            _ => {}
        }
    }
    if !content_encoding.is_empty() {
        return Err(ProtobufError::UnsupportedContentEncoding(content_encoding));
    }
    if envelope.api_version.is_empty() || envelope.kind.is_empty() {
        return Err(ProtobufError::MissingTypeMeta);
    }
    Ok(envelope)
}

fn type_meta(bytes: &[u8], base: usize, envelope: &mut Envelope<'_>) -> Result<(), ProtobufError> {
    let mut reader = Reader::new(bytes, base);
    while let Some(field) = reader.next_field()? {
        let Payload::Len { bytes, .. } = field.payload else {
            continue;
        };
        let text = String::from_utf8_lossy(bytes).into_owned();
        match field.number {
            1 => envelope.api_version = text,
            2 => envelope.kind = text,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::encode::{bytes, msg};

    fn body(api_version: &str, kind: &str, raw: &[u8], encoding: &str) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend(msg(|m| {
            bytes(
                m,
                1,
                &msg(|t| {
                    bytes(t, 1, api_version.as_bytes());
                    bytes(t, 2, kind.as_bytes());
                }),
            );
            bytes(m, 2, raw);
            bytes(m, 3, encoding.as_bytes());
            bytes(m, 4, b"");
        }));
        out
    }

    #[test]
    fn reads_type_meta_and_raw() {
        let input = body("apps/v1", "Deployment", b"\x0a\x00", "");
        let envelope = parse(&input).unwrap();
        assert_eq!(envelope.api_version, "apps/v1");
        assert_eq!(envelope.kind, "Deployment");
        assert_eq!(envelope.raw, b"\x0a\x00");
        assert_eq!(
            &input[envelope.raw_offset..envelope.raw_offset + 2],
            b"\x0a\x00"
        );
    }

    #[test]
    fn rejects_bad_envelopes() {
        assert!(matches!(parse(b"k8s"), Err(ProtobufError::MissingMagic)));
        assert!(matches!(
            parse(b"{\"kind\":1}"),
            Err(ProtobufError::MissingMagic)
        ));
        assert!(matches!(
            parse(b"k8s\0"),
            Err(ProtobufError::MissingTypeMeta)
        ));
        assert!(matches!(
            parse(&body("v1", "", b"", "")),
            Err(ProtobufError::MissingTypeMeta)
        ));
        assert!(matches!(
            parse(&body("v1", "Secret", b"", "gzip")),
            Err(ProtobufError::UnsupportedContentEncoding(e)) if e == "gzip"
        ));
    }
}
