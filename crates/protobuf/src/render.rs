//! Turns protobuf bytes into JSON by walking the schema table, applying Go's JSON rules for
//! each field shape (see [`Shape`]).

mod time;

#[cfg(test)]
mod tests;

use std::borrow::Cow;

use base64::Engine as _;
use serde_json::{Map, Number, Value};

use crate::schema::{Field, Kind, Message, Shape};
use crate::wire::{Payload, Reader, LEN, VARINT};
use crate::ProtobufError;

/// Deeper nesting than any supported object needs; a guard against hostile input.
const MAX_DEPTH: usize = 32;

/// Decodes `bytes` (which start at byte `base` of the body) as `msg` into a JSON object.
pub(crate) fn message(
    msg: &'static Message,
    bytes: &[u8],
    base: usize,
    depth: usize,
) -> Result<Value, ProtobufError> {
    let mut out = Map::new();
    fill(msg, bytes, base, depth, &mut out)?;
    Ok(Value::Object(out))
}

/// Decodes `bytes` as `msg` and writes its fields into `out` (shared with the parent object
/// when the message is inlined).
fn fill(
    msg: &'static Message,
    bytes: &[u8],
    base: usize,
    depth: usize,
    out: &mut Map<String, Value>,
) -> Result<(), ProtobufError> {
    if depth > MAX_DEPTH {
        return Err(ProtobufError::TooDeep(MAX_DEPTH));
    }
    let mut slots: Vec<Vec<Payload<'_>>> = vec![Vec::new(); msg.fields.len()];
    let mut reader = Reader::new(bytes, base);
    while let Some(wire) = reader.next_field()? {
        let Some((index, field)) = msg.field(wire.number) else {
            continue; // unknown fields are skipped, as protobuf requires
        };
        let found = wire.payload.wire_type();
        let expected = expected_wire_type(field);
        let packed = found == LEN && is_list(field.shape) && expected == VARINT;
        if found != expected && !packed {
            return Err(ProtobufError::WrongWireType {
                message: msg.name,
                field: field.name,
                found,
                expected,
                offset: wire.offset,
            });
        }
        if let Some(slot) = slots.get_mut(index) {
            slot.push(wire.payload);
        }
    }
    for (field, payloads) in msg.fields.iter().zip(&slots) {
        write_field(field, payloads, depth, out)?;
    }
    Ok(())
}

fn is_list(shape: Shape) -> bool {
    matches!(shape, Shape::List | Shape::ListOmit)
}

fn expected_wire_type(field: &Field) -> u8 {
    match (field.shape, field.kind) {
        (Shape::MapOmit, _) => LEN,
        (_, Kind::Bool | Kind::I32 | Kind::I64) => VARINT,
        _ => LEN,
    }
}

/// Writes one field into `out` following Go's encoding/json rules for its shape.
fn write_field(
    field: &'static Field,
    payloads: &[Payload<'_>],
    depth: usize,
    out: &mut Map<String, Value>,
) -> Result<(), ProtobufError> {
    let name = field.name.to_owned();
    match field.shape {
        Shape::Inline => {
            let Kind::Msg(inner) = field.kind else {
                return Ok(());
            };
            let (bytes, base) = merged(payloads);
            fill(inner, &bytes, base, depth + 1, out)?;
        }
        Shape::MapOmit => {
            let mut map = Map::new();
            for payload in payloads {
                if let Payload::Len { bytes, offset } = payload {
                    let (key, value) = map_entry(field, bytes, *offset, depth)?;
                    map.insert(key, value);
                }
            }
            if !map.is_empty() {
                out.insert(name, Value::Object(map));
            }
        }
        Shape::List | Shape::ListOmit => {
            let mut items = Vec::new();
            for payload in payloads {
                list_items(field.kind, payload, depth, &mut items)?;
            }
            if !items.is_empty() {
                out.insert(name, Value::Array(items));
            } else if field.shape == Shape::List {
                out.insert(name, Value::Null);
            }
        }
        Shape::Val | Shape::ValOmit | Shape::Ptr | Shape::PtrOmit => {
            if payloads.is_empty() {
                match field.shape {
                    Shape::Val => {
                        out.insert(name, zero(field.kind, depth)?);
                    }
                    Shape::ValOmit if is_struct(field.kind) => {
                        out.insert(name, zero(field.kind, depth)?);
                    }
                    Shape::Ptr => {
                        out.insert(name, Value::Null);
                    }
                    _ => {}
                }
                return Ok(());
            }
            let value = single(field.kind, payloads, depth)?;
            if field.shape == Shape::ValOmit && is_empty_scalar(&value, field.kind) {
                return Ok(());
            }
            out.insert(name, value);
        }
    }
    Ok(())
}

/// Kinds that Go encodes from structs, which `omitempty` never leaves out.
fn is_struct(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Msg(_)
            | Kind::Time
            | Kind::MicroTime
            | Kind::IntOrString
            | Kind::Quantity
            | Kind::FieldsV1
    )
}

fn is_empty_scalar(value: &Value, kind: Kind) -> bool {
    if is_struct(kind) {
        return false;
    }
    match value {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_i64() == Some(0),
        Value::Null => true,
        _ => false,
    }
}

/// Joins the payloads of a non-repeated embedded message: protobuf merges repeated
/// occurrences, which is the same as decoding their concatenation.
fn merged<'a>(payloads: &[Payload<'a>]) -> (Cow<'a, [u8]>, usize) {
    let chunks: Vec<(&'a [u8], usize)> = payloads
        .iter()
        .filter_map(|p| match p {
            Payload::Len { bytes, offset } => Some((*bytes, *offset)),
            _ => None,
        })
        .collect();
    match chunks.as_slice() {
        [] => (Cow::Borrowed(&[]), 0),
        [(bytes, offset)] => (Cow::Borrowed(*bytes), *offset),
        [(_, offset), ..] => (
            Cow::Owned(chunks.iter().flat_map(|(b, _)| b.iter().copied()).collect()),
            *offset,
        ),
    }
}

/// The value of a non-repeated field: the last occurrence for scalars, the merge for messages.
fn single(kind: Kind, payloads: &[Payload<'_>], depth: usize) -> Result<Value, ProtobufError> {
    if is_struct(kind) {
        let (bytes, base) = merged(payloads);
        return structured(kind, &bytes, base, depth);
    }
    match payloads.last() {
        Some(payload) => scalar(kind, payload),
        None => zero(kind, depth),
    }
}

/// A scalar from one wire payload.
fn scalar(kind: Kind, payload: &Payload<'_>) -> Result<Value, ProtobufError> {
    Ok(match (kind, payload) {
        (Kind::Str, Payload::Len { bytes, .. }) => {
            Value::String(String::from_utf8_lossy(bytes).into_owned())
        }
        (Kind::Bytes, Payload::Len { bytes, .. }) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        (Kind::Bool, Payload::Varint(v)) => Value::Bool(*v != 0),
        // Protobuf truncates int32 varints to their low 32 bits.
        (Kind::I32, Payload::Varint(v)) => Value::Number(Number::from(*v as i32)),
        (Kind::I64, Payload::Varint(v)) => Value::Number(Number::from(*v as i64)),
        // The callers check wire types first; anything else is a mismatch.
        (kind, payload) => {
            return Err(ProtobufError::WrongWireType {
                message: "scalar",
                field: kind_name(kind),
                found: payload.wire_type(),
                expected: if matches!(kind, Kind::Bool | Kind::I32 | Kind::I64) {
                    VARINT
                } else {
                    LEN
                },
                offset: 0,
            })
        }
    })
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Str => "string",
        Kind::Bytes => "bytes",
        Kind::Bool => "bool",
        Kind::I32 => "int32",
        Kind::I64 => "int64",
        Kind::Msg(msg) => msg.name,
        Kind::Time => "Time",
        Kind::MicroTime => "MicroTime",
        Kind::IntOrString => "IntOrString",
        Kind::Quantity => "Quantity",
        Kind::FieldsV1 => "FieldsV1",
    }
}

fn payload_bytes<'a>(payload: &Payload<'a>) -> &'a [u8] {
    match payload {
        Payload::Len { bytes, .. } => bytes,
        _ => &[],
    }
}

/// Appends the items of one occurrence of a repeated field (several for packed scalars).
fn list_items(
    kind: Kind,
    payload: &Payload<'_>,
    depth: usize,
    items: &mut Vec<Value>,
) -> Result<(), ProtobufError> {
    match (kind, payload) {
        (Kind::Bool | Kind::I32 | Kind::I64, Payload::Len { bytes, offset }) => {
            let mut reader = Reader::new(bytes, *offset);
            while !reader.is_empty() {
                items.push(scalar(kind, &Payload::Varint(reader.varint()?))?);
            }
        }
        (kind, payload) if is_struct(kind) => {
            let Payload::Len { bytes, offset } = payload else {
                return Ok(());
            };
            items.push(structured(kind, bytes, *offset, depth)?);
        }
        (kind, payload) => items.push(scalar(kind, payload)?),
    }
    Ok(())
}

/// A map entry message: key in field 1, value in field 2.
fn map_entry(
    field: &'static Field,
    bytes: &[u8],
    base: usize,
    depth: usize,
) -> Result<(String, Value), ProtobufError> {
    let mut key = String::new();
    let mut value: Option<Value> = None;
    let mut reader = Reader::new(bytes, base);
    while let Some(wire) = reader.next_field()? {
        if wire.number != 1 && wire.number != 2 {
            continue;
        }
        let found = wire.payload.wire_type();
        let expected = if wire.number == 1 {
            LEN
        } else {
            match field.kind {
                Kind::Bool | Kind::I32 | Kind::I64 => VARINT,
                _ => LEN,
            }
        };
        if found != expected {
            return Err(ProtobufError::WrongWireType {
                message: "map entry",
                field: field.name,
                found,
                expected,
                offset: wire.offset,
            });
        }
        if wire.number == 1 {
            key = String::from_utf8_lossy(payload_bytes(&wire.payload)).into_owned();
        } else {
            value = Some(single(field.kind, &[wire.payload], depth)?);
        }
    }
    let value = match value {
        Some(v) => v,
        None if matches!(field.kind, Kind::Bytes) => Value::String(String::new()),
        None => zero(field.kind, depth)?,
    };
    Ok((key, value))
}

/// What Go writes for a zero value of this kind.
fn zero(kind: Kind, depth: usize) -> Result<Value, ProtobufError> {
    Ok(match kind {
        Kind::Str => Value::String(String::new()),
        Kind::Bytes | Kind::Time | Kind::MicroTime | Kind::FieldsV1 => Value::Null,
        Kind::Bool => Value::Bool(false),
        Kind::I32 | Kind::I64 | Kind::IntOrString => Value::Number(0.into()),
        Kind::Quantity => Value::String("0".to_owned()),
        Kind::Msg(msg) => message(msg, &[], 0, depth + 1)?,
    })
}

/// Message-encoded kinds: embedded messages and the special apimachinery types.
fn structured(kind: Kind, bytes: &[u8], base: usize, depth: usize) -> Result<Value, ProtobufError> {
    match kind {
        Kind::Msg(msg) => message(msg, bytes, base, depth + 1),
        Kind::Time | Kind::MicroTime => {
            // An empty message is the zero time (null); anything else is a real instant, even
            // 1970-01-01. Time keeps whole seconds only; MicroTime keeps microseconds.
            if bytes.is_empty() {
                return Ok(Value::Null);
            }
            let micro = matches!(kind, Kind::MicroTime);
            let seconds = varint_field(bytes, base, 1)? as i64;
            let nanos = if micro {
                varint_field(bytes, base, 2)? as i32
            } else {
                0
            };
            Ok(Value::String(time::rfc3339(seconds, nanos, micro)?))
        }
        Kind::IntOrString => {
            let kind_tag = varint_field(bytes, base, 1)? as i64;
            match kind_tag {
                0 => Ok(Value::Number((varint_field(bytes, base, 2)? as i32).into())),
                1 => Ok(Value::String(
                    string_field(bytes, base, 3)?.unwrap_or_default(),
                )),
                other => Err(ProtobufError::InvalidIntOrString(other)),
            }
        }
        // An absent string is the zero quantity; an empty one does not parse in Kubernetes.
        Kind::Quantity => match string_field(bytes, base, 1)? {
            None => Ok(Value::String("0".to_owned())),
            Some(text) if text.is_empty() => Err(ProtobufError::EmptyQuantity),
            Some(text) => Ok(Value::String(text)),
        },
        Kind::FieldsV1 => {
            let raw = last_len(bytes, base, 1)?;
            match raw {
                None => Ok(Value::Null),
                Some(raw) => serde_json::from_slice(raw).map_err(ProtobufError::InvalidFieldsV1),
            }
        }
        scalar_kind => scalar(
            scalar_kind,
            &Payload::Len {
                bytes,
                offset: base,
            },
        ),
    }
}

/// The last varint in field `number` of a small message, 0 when absent.
fn varint_field(bytes: &[u8], base: usize, number: u32) -> Result<u64, ProtobufError> {
    let mut value = 0;
    let mut reader = Reader::new(bytes, base);
    while let Some(wire) = reader.next_field()? {
        if wire.number == number {
            match wire.payload {
                Payload::Varint(v) => value = v,
                other => {
                    return Err(ProtobufError::WrongWireType {
                        message: "apimachinery value",
                        field: "varint",
                        found: other.wire_type(),
                        expected: VARINT,
                        offset: wire.offset,
                    })
                }
            }
        }
    }
    Ok(value)
}

/// The last length-delimited payload in field `number` of a small message.
fn last_len(bytes: &[u8], base: usize, number: u32) -> Result<Option<&[u8]>, ProtobufError> {
    let mut value = None;
    let mut reader = Reader::new(bytes, base);
    while let Some(wire) = reader.next_field()? {
        if wire.number == number {
            match wire.payload {
                Payload::Len { bytes, .. } => value = Some(bytes),
                other => {
                    return Err(ProtobufError::WrongWireType {
                        message: "apimachinery value",
                        field: "bytes",
                        found: other.wire_type(),
                        expected: LEN,
                        offset: wire.offset,
                    })
                }
            }
        }
    }
    Ok(value)
}

fn string_field(bytes: &[u8], base: usize, number: u32) -> Result<Option<String>, ProtobufError> {
    Ok(last_len(bytes, base, number)?.map(|b| String::from_utf8_lossy(b).into_owned()))
}
