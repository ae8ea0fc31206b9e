//! The one error type of this crate.

/// Why a protobuf request body could not be turned into JSON.
#[derive(Debug, thiserror::Error)]
pub enum ProtobufError {
    /// The body does not start with the four bytes `k8s\0`.
    #[error("body does not start with the Kubernetes protobuf prefix \"k8s\\0\"")]
    MissingMagic,
    /// The input ended in the middle of a varint.
    #[error("truncated varint at byte {offset}")]
    TruncatedVarint {
        /// Where the varint started.
        offset: usize,
    },
    /// A varint ran past ten bytes, more than a 64-bit value can need.
    #[error("varint longer than 10 bytes at byte {offset}")]
    VarintTooLong {
        /// Where the varint started.
        offset: usize,
    },
    /// A length-delimited field announced more bytes than remain.
    #[error("field at byte {offset} announces {len} bytes but only {available} remain")]
    LengthOutOfBounds {
        /// Where the payload should start.
        offset: usize,
        /// The announced length.
        len: u64,
        /// How many bytes were left.
        available: usize,
    },
    /// The input ended in the middle of a fixed-width value.
    #[error("truncated {width}-byte fixed value at byte {offset}")]
    TruncatedFixed {
        /// Where the value started.
        offset: usize,
        /// Its width in bytes (4 or 8).
        width: usize,
    },
    /// A field key carried field number 0 or one above the protobuf maximum.
    #[error("invalid field number {number} at byte {offset}")]
    InvalidFieldNumber {
        /// Where the key started.
        offset: usize,
        /// The decoded field number.
        number: u64,
    },
    /// A field key carried a wire type this decoder does not handle (groups, or 6 and 7).
    #[error("unsupported wire type {wire_type} at byte {offset}")]
    UnsupportedWireType {
        /// Where the key started.
        offset: usize,
        /// The wire type found.
        wire_type: u8,
    },
    /// A known field arrived with a wire type that does not match its declared type.
    #[error("field {message}.{field} has wire type {found} at byte {offset}, expected {expected}")]
    WrongWireType {
        /// The message being decoded.
        message: &'static str,
        /// The JSON name of the field.
        field: &'static str,
        /// The wire type found.
        found: u8,
        /// The wire type the schema expects.
        expected: u8,
        /// Where the field key started.
        offset: usize,
    },
    /// The `runtime.Unknown` envelope has no `typeMeta` with both apiVersion and kind.
    #[error("protobuf envelope lacks apiVersion or kind")]
    MissingTypeMeta,
    /// The envelope declares a content encoding (such as gzip) that is not supported.
    #[error("unsupported content encoding {0:?} in protobuf envelope")]
    UnsupportedContentEncoding(String),
    /// No schema is known for this apiVersion and kind.
    #[error("no protobuf schema for {kind} in {api_version}")]
    UnsupportedKind {
        /// The envelope's apiVersion.
        api_version: String,
        /// The envelope's kind.
        kind: String,
    },
    /// An `IntOrString` carried a type other than 0 (int) or 1 (string).
    #[error("IntOrString has invalid type {0}")]
    InvalidIntOrString(i64),
    /// A `Quantity` carried an empty string, which Kubernetes cannot parse.
    #[error("quantity is an empty string")]
    EmptyQuantity,
    /// A timestamp cannot be written as an RFC 3339 date with a four-digit year.
    #[error("timestamp {seconds}s is outside the years 0000-9999")]
    TimestampOutOfRange {
        /// Seconds since the Unix epoch.
        seconds: i64,
    },
    /// A `fieldsV1` payload is not valid JSON.
    #[error("fieldsV1 payload is not valid JSON: {0}")]
    InvalidFieldsV1(#[source] serde_json::Error),
    /// Messages are nested deeper than any Kubernetes object needs.
    #[error("messages nested more than {0} levels deep")]
    TooDeep(usize),
}
