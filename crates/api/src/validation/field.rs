//! Field paths, offending values and the cause constructors, shaped like apimachinery's
//! `field.Error`: the message of a cause is what Kubernetes calls its "error body".

use super::Cause;

/// A field path as Kubernetes prints it: `spec.ports[0].port`, `metadata.labels[app]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Path(String);

impl Path {
    /// A path starting at a top-level field, e.g. `spec`.
    pub fn new(name: &str) -> Path {
        Path(name.to_string())
    }

    /// The path of a child field.
    pub fn child(&self, name: &str) -> Path {
        if self.0.is_empty() {
            Path(name.to_string())
        } else {
            Path(format!("{}.{}", self.0, name))
        }
    }

    /// The path of a list element.
    pub fn index(&self, i: usize) -> Path {
        Path(format!("{}[{}]", self.0, i))
    }

    /// The path of a map entry (Kubernetes prints the key without quotes).
    pub fn key(&self, k: &str) -> Path {
        Path(format!("{}[{}]", self.0, k))
    }

    /// The path as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The offending value of a cause, printed the way Go's validation errors print it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadValue {
    /// A string, printed quoted (`"Foo"`).
    Str(String),
    /// An integer, printed as is.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A nil pointer, printed `null`.
    Null,
    /// A value already rendered the way Go's `%#v` renders it, e.g. `map[string]string{"a":"b"}`.
    Raw(String),
}

impl BadValue {
    /// A string value.
    pub fn str(s: impl Into<String>) -> BadValue {
        BadValue::Str(s.into())
    }

    fn render(&self) -> String {
        match self {
            BadValue::Str(s) => go_quote(s),
            BadValue::Int(i) => i.to_string(),
            BadValue::Bool(b) => b.to_string(),
            BadValue::Null => "null".to_string(),
            BadValue::Raw(r) => r.clone(),
        }
    }
}

/// Quotes a string like Go's `%q`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Renders a string map like Go's `%#v` of `map[string]string` (keys sorted; `nil` when absent).
pub fn go_string_map(m: Option<&serde_json::Map<String, serde_json::Value>>) -> String {
    match m {
        None => "map[string]string(nil)".to_string(),
        Some(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .iter()
                .map(|k| {
                    let v = m.get(*k).and_then(|v| v.as_str()).unwrap_or_default();
                    format!("{}:{}", go_quote(k), go_quote(v))
                })
                .collect();
            format!("map[string]string{{{}}}", items.join(", "))
        }
    }
}

/// Renders a string list like Go's `%#v` of `[]string` (`nil` when absent).
pub fn go_string_slice(v: Option<&Vec<serde_json::Value>>) -> String {
    match v {
        None => "[]string(nil)".to_string(),
        Some(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|x| go_quote(x.as_str().unwrap_or_default()))
                .collect();
            format!("[]string{{{}}}", parts.join(", "))
        }
    }
}

/// Renders a label selector like Go's `%#v` of `v1.LabelSelector`.
pub fn go_label_selector(sel: &serde_json::Value) -> String {
    let labels = go_string_map(sel.get("matchLabels").and_then(|v| v.as_object()));
    let exprs = match sel.get("matchExpressions").and_then(|v| v.as_array()) {
        None => "[]v1.LabelSelectorRequirement(nil)".to_string(),
        Some(list) => {
            let parts: Vec<String> = list
                .iter()
                .map(|e| {
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                        go_quote(e.get("key").and_then(|v| v.as_str()).unwrap_or_default()),
                        go_quote(
                            e.get("operator")
                                .and_then(|v| v.as_str())
                                .unwrap_or_default()
                        ),
                        go_string_slice(e.get("values").and_then(|v| v.as_array()))
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", parts.join(", "))
        }
    };
    format!("v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{exprs}}}")
}

const REQUIRED: &str = "FieldValueRequired";
const INVALID: &str = "FieldValueInvalid";
const NOT_SUPPORTED: &str = "FieldValueNotSupported";
const DUPLICATE: &str = "FieldValueDuplicate";
const FORBIDDEN: &str = "FieldValueForbidden";
const TOO_LONG: &str = "FieldValueTooLong";
const TOO_MANY: &str = "FieldValueTooMany";
const NOT_FOUND: &str = "FieldValueNotFound";
const INTERNAL: &str = "InternalError";

fn with_detail(body: String, detail: &str) -> String {
    if detail.is_empty() {
        body
    } else {
        format!("{body}: {detail}")
    }
}

impl Cause {
    fn make(reason: &str, field: &Path, message: String) -> Cause {
        Cause {
            reason: reason.to_string(),
            message,
            field: field.as_str().to_string(),
        }
    }

    /// `Required value[: detail]`.
    pub fn required(field: &Path, detail: &str) -> Cause {
        Cause::make(
            REQUIRED,
            field,
            with_detail("Required value".into(), detail),
        )
    }

    /// `Forbidden: detail`.
    pub fn forbidden(field: &Path, detail: &str) -> Cause {
        Cause::make(FORBIDDEN, field, with_detail("Forbidden".into(), detail))
    }

    /// `Invalid value: <value>: detail`.
    pub fn invalid(field: &Path, value: BadValue, detail: &str) -> Cause {
        let body = format!("Invalid value: {}", value.render());
        Cause::make(INVALID, field, with_detail(body, detail))
    }

    /// `Unsupported value: <value>: supported values: "a", "b"`.
    pub fn not_supported(field: &Path, value: BadValue, supported: &[&str]) -> Cause {
        let body = format!("Unsupported value: {}", value.render());
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Cause::make(NOT_SUPPORTED, field, with_detail(body, &detail))
    }

    /// `Duplicate value: <value>`.
    pub fn duplicate(field: &Path, value: BadValue) -> Cause {
        Cause::make(
            DUPLICATE,
            field,
            format!("Duplicate value: {}", value.render()),
        )
    }

    /// `Not found: <value>`.
    pub fn not_found(field: &Path, value: BadValue) -> Cause {
        Cause::make(NOT_FOUND, field, format!("Not found: {}", value.render()))
    }

    /// `Too long: may not be more than N bytes`.
    pub fn too_long(field: &Path, max: usize) -> Cause {
        Cause::make(
            TOO_LONG,
            field,
            format!("Too long: may not be more than {max} bytes"),
        )
    }

    /// `Too many: N: must have at most M items`.
    pub fn too_many(field: &Path, actual: usize, max: usize) -> Cause {
        Cause::make(
            TOO_MANY,
            field,
            format!("Too many: {actual}: must have at most {max} items"),
        )
    }

    /// `Internal error: detail`.
    pub fn internal(field: &Path, detail: &str) -> Cause {
        Cause::make(
            INTERNAL,
            field,
            with_detail("Internal error".into(), detail),
        )
    }

    /// Like [`Cause::duplicate`], with a detail after the value (as for node taints).
    pub fn duplicate_with_detail(field: &Path, value: BadValue, detail: &str) -> Cause {
        let body = format!("Duplicate value: {}", value.render());
        Cause::make(DUPLICATE, field, with_detail(body, detail))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_like_kubernetes() {
        let p = Path::new("spec").child("ports").index(0).child("port");
        assert_eq!(p.as_str(), "spec.ports[0].port");
        let k = Path::new("metadata").child("annotations").key("a/b");
        assert_eq!(k.as_str(), "metadata.annotations[a/b]");
    }

    #[test]
    fn messages_follow_error_body() {
        let p = Path::new("spec").child("type");
        assert_eq!(Cause::required(&p, "").message, "Required value");
        let c = Cause::not_supported(&p, BadValue::str("Foo"), &["ClusterIP", "NodePort"]);
        assert_eq!(
            c.message,
            "Unsupported value: \"Foo\": supported values: \"ClusterIP\", \"NodePort\""
        );
        assert_eq!(c.reason, "FieldValueNotSupported");
        assert_eq!(
            Cause::invalid(
                &p,
                BadValue::Int(0),
                "must be between 1 and 65535, inclusive"
            )
            .message,
            "Invalid value: 0: must be between 1 and 65535, inclusive"
        );
        assert_eq!(
            Cause::too_long(&p, 10).message,
            "Too long: may not be more than 10 bytes"
        );
    }

    #[test]
    fn go_renderings() {
        assert_eq!(go_quote("a\"b\n"), "\"a\\\"b\\n\"");
        let m = serde_json::json!({"b": "2", "a": "1"});
        assert_eq!(
            go_string_map(m.as_object()),
            "map[string]string{\"a\":\"1\", \"b\":\"2\"}"
        );
        let sel = serde_json::json!({"matchLabels": {"app": "nginx"}});
        assert_eq!(
            go_label_selector(&sel),
            "v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"nginx\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"
        );
    }
}
