//! The schema table: for every message kubectl's `create` subcommands send, which field number
//! carries which JSON field, its type, and how Go's JSON encoder would write it.
//!
//! The numbers and names come from Kubernetes' `generated.proto` files; the emission rules come
//! from the Go struct tags in the matching `types.go` (value or pointer, `omitempty` or not),
//! because the JSON that kubectl would otherwise have sent follows those tags. The tables are
//! plain data, split by API group.

mod apps;
mod authentication;
mod batch;
mod core;
mod meta;
mod networking;
mod pod;

/// What a field holds on the wire and how it turns into JSON.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// A UTF-8 string.
    Str,
    /// Raw bytes, written to JSON as standard base64.
    Bytes,
    /// A varint boolean.
    Bool,
    /// A varint `int32`.
    I32,
    /// A varint `int64`.
    I64,
    /// An embedded message, written as a JSON object.
    Msg(&'static Message),
    /// `meta.v1.Time`: seconds and nanos, written as RFC 3339 at second precision, or null when zero.
    Time,
    /// `meta.v1.MicroTime`: written as RFC 3339 with six fractional digits, or null when zero.
    /// No kind that kubectl creates over protobuf carries one yet (Events do).
    #[allow(dead_code)]
    MicroTime,
    /// `intstr.IntOrString`: written as a number or a string depending on its type.
    IntOrString,
    /// `resource.Quantity`: written as its string form.
    Quantity,
    /// `meta.v1.FieldsV1`: raw JSON carried as bytes, written as that JSON.
    FieldsV1,
}

/// How the Go field is declared, which decides when Go's JSON encoder writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A value field without `omitempty`: always written, the zero value when absent.
    Val,
    /// A value field with `omitempty`: scalars are left out when zero; structs (messages,
    /// times, quantities, IntOrString) are still always written, as Go does.
    ValOmit,
    /// A pointer without `omitempty`: written when present, `null` when absent.
    Ptr,
    /// A pointer with `omitempty`: written only when present.
    PtrOmit,
    /// A slice without `omitempty`: written when non-empty, `null` when empty.
    List,
    /// A slice with `omitempty`: written only when non-empty.
    ListOmit,
    /// A map (protobuf map entries, string keys) with `omitempty`: written only when non-empty.
    MapOmit,
    /// An embedded struct with `json:",inline"`: its fields are written into the parent object.
    Inline,
}

/// One field of a message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    /// The protobuf field number.
    pub(crate) number: u32,
    /// The JSON name.
    pub(crate) name: &'static str,
    /// What it holds.
    pub(crate) kind: Kind,
    /// How it is declared in Go.
    pub(crate) shape: Shape,
}

/// A message: its name (for error messages) and its known fields. Fields not listed are skipped.
#[derive(Debug)]
pub(crate) struct Message {
    /// The protobuf message name.
    pub(crate) name: &'static str,
    /// The known fields, in the order their JSON keys are written.
    pub(crate) fields: &'static [Field],
}

impl Message {
    /// The field with this number, if the schema knows it.
    pub(crate) fn field(&self, number: u32) -> Option<(usize, &'static Field)> {
        self.fields
            .iter()
            .enumerate()
            .find(|(_, f)| f.number == number)
    }
}

/// Shorthand used by the tables.
pub(crate) const fn f(number: u32, name: &'static str, kind: Kind, shape: Shape) -> Field {
    Field {
        number,
        name,
        kind,
        shape,
    }
}

/// Top-level kinds, by apiVersion and kind as named in the envelope.
static TOP_LEVEL: &[(&str, &str, &Message)] = &[
    ("v1", "ConfigMap", &core::CONFIG_MAP),
    ("v1", "Namespace", &core::NAMESPACE),
    ("v1", "Secret", &core::SECRET),
    ("v1", "Service", &core::SERVICE),
    ("v1", "ServiceAccount", &core::SERVICE_ACCOUNT),
    ("apps/v1", "Deployment", &apps::DEPLOYMENT),
    ("batch/v1", "CronJob", &batch::CRON_JOB),
    ("batch/v1", "Job", &batch::JOB),
    ("networking.k8s.io/v1", "Ingress", &networking::INGRESS),
    (
        "authentication.k8s.io/v1",
        "TokenRequest",
        &authentication::TOKEN_REQUEST,
    ),
];

/// The schema of a top-level object, if this crate knows it.
pub(crate) fn top_level(api_version: &str, kind: &str) -> Option<&'static Message> {
    TOP_LEVEL
        .iter()
        .find(|(v, k, _)| *v == api_version && *k == kind)
        .map(|(_, _, m)| *m)
}

/// Every top-level kind this crate decodes, as `(apiVersion, kind)` pairs.
pub fn supported_kinds() -> impl Iterator<Item = (&'static str, &'static str)> {
    TOP_LEVEL.iter().map(|(v, k, _)| (*v, *k))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(msg: &'static Message, seen: &mut Vec<*const Message>) {
        if seen.contains(&(msg as *const Message)) {
            return;
        }
        seen.push(msg);
        let mut numbers: Vec<u32> = msg.fields.iter().map(|f| f.number).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(
            numbers.len(),
            msg.fields.len(),
            "{}: duplicate field number",
            msg.name
        );
        for field in msg.fields {
            if field.shape == Shape::Inline {
                assert!(
                    matches!(field.kind, Kind::Msg(_)),
                    "{}.{}",
                    msg.name,
                    field.name
                );
            }
            if let Kind::Msg(inner) = field.kind {
                check(inner, seen);
            }
        }
        let mut names: Vec<&str> = msg
            .fields
            .iter()
            .filter(|f| f.shape != Shape::Inline)
            .map(|f| f.name)
            .collect();
        names.sort_unstable();
        names.dedup();
        let non_inline = msg
            .fields
            .iter()
            .filter(|f| f.shape != Shape::Inline)
            .count();
        assert_eq!(names.len(), non_inline, "{}: duplicate JSON name", msg.name);
    }

    #[test]
    fn tables_are_consistent() {
        let mut seen = Vec::new();
        for (_, _, msg) in TOP_LEVEL {
            check(msg, &mut seen);
        }
        assert!(seen.len() > 40, "only {} messages reachable", seen.len());
    }

    #[test]
    fn finds_top_level_kinds() {
        assert_eq!(top_level("v1", "Secret").map(|m| m.name), Some("Secret"));
        assert_eq!(
            top_level("apps/v1", "Deployment").map(|m| m.name),
            Some("Deployment")
        );
        assert!(top_level("v1", "Deployment").is_none());
        assert_eq!(supported_kinds().count(), TOP_LEVEL.len());
    }
}
