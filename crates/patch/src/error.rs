//! The one error type of this crate, with Kubernetes' messages and HTTP status codes.

use serde_json::Value;

/// Why a patch could not be applied. Messages follow Kubernetes' (apimachinery `mergepatch`,
/// `strategicpatch` and evanphx/json-patch), so clients see the same text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The patch (or document) is not a JSON object where one is required.
    #[error("json: cannot unmarshal {found} into Go value of type map[string]interface {{}}")]
    NotAnObject {
        /// The JSON type that was found instead (`array`, `string`, `number`, `bool`).
        found: &'static str,
    },
    /// `$deleteFromPrimitiveList` used without a `/<field>` suffix.
    #[error("invalid patch format of primitive list")]
    BadPrimitiveListFormat,
    /// A malformed `$retainKeys` directive, or a patch field missing from it.
    #[error("invalid patch format of retainKeys")]
    BadRetainKeysFormat,
    /// A malformed `$setElementOrder` directive.
    #[error("invalid patch format of setElementOrder list")]
    BadSetElementOrderFormat,
    /// No merge information is known for the kind (Kubernetes: custom resources).
    #[error("strategic merge patch format is not supported")]
    UnsupportedKind,
    /// A list whose elements are lists.
    #[error("lists of lists are not supported")]
    ListOfLists,
    /// A `$patch` directive with an unknown value.
    #[error("unknown patch type: {directive} in map: {map}")]
    UnknownPatchType {
        /// The directive value, as Go's `%s` prints it.
        directive: String,
        /// The map holding it, as Go's `%v` prints it.
        map: String,
    },
    /// An element of a merging list lacks the merge key.
    #[error("map: {map} does not contain declared merge key: {key}")]
    NoMergeKey {
        /// The element, as Go's `%v` prints it.
        map: String,
        /// The merge key of the list.
        key: String,
    },
    /// Any other strategic merge failure (Kubernetes answers these with 500).
    #[error("{0}")]
    Merge(String),
    /// A JSON patch that is not a list of operations.
    #[error("{0}")]
    JsonPatchDecode(String),
    /// A JSON patch operation that does not apply to the document.
    #[error("{0}")]
    JsonPatchApply(String),
}

impl PatchError {
    /// The HTTP status the API server answers with: 400 for malformed patches, 422 for
    /// patches that do not apply, 500 for the rest (as Kubernetes' patch handler does).
    pub fn status_code(&self) -> u16 {
        match self {
            PatchError::NotAnObject { .. }
            | PatchError::BadPrimitiveListFormat
            | PatchError::BadRetainKeysFormat
            | PatchError::BadSetElementOrderFormat
            | PatchError::UnsupportedKind
            | PatchError::JsonPatchDecode(_) => 400,
            PatchError::ListOfLists | PatchError::JsonPatchApply(_) => 422,
            PatchError::UnknownPatchType { .. }
            | PatchError::NoMergeKey { .. }
            | PatchError::Merge(_) => 500,
        }
    }

    /// [`PatchError::NotAnObject`] for `v`.
    pub(crate) fn not_an_object(v: &Value) -> PatchError {
        PatchError::NotAnObject {
            found: go_json_type(v),
        }
    }

    /// [`PatchError::NoMergeKey`] for an element and key.
    pub(crate) fn no_merge_key(element: &Value, key: &str) -> PatchError {
        PatchError::NoMergeKey {
            map: go_fmt(element),
            key: key.to_string(),
        }
    }
}

/// [`PatchError::Merge`] with Go's "expected a X, but received a Y" type-assertion message.
pub(crate) fn bad_arg_type(expected: &str, actual: &Value) -> PatchError {
    PatchError::Merge(format!(
        "expected a {expected}, but received a {}",
        go_type_name(actual)
    ))
}

/// The Go type a decoded JSON value has (`map[string]interface {}`, `[]interface {}`, ...).
pub(crate) fn go_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// The name Go's encoding/json gives a JSON value's type in unmarshal errors.
fn go_json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Formats a JSON value as Go's `%v` prints the decoded `interface{}`: `map[k:v]` with sorted
/// keys, `[a b]`, bare strings, `<nil>`.
pub(crate) fn go_fmt(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{}", f as i64),
            Some(f) => format!("{f}"),
            None => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(go_fmt).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", go_fmt(&m[k])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_formatting_matches_fmt_v() {
        let v = json!({"name": "web", "ports": [80, 1.5], "x": null, "b": true});
        assert_eq!(go_fmt(&v), "map[b:true name:web ports:[80 1.5] x:<nil>]");
    }

    #[test]
    fn messages_and_codes() {
        let e = PatchError::no_merge_key(&json!({"image": "nginx"}), "name");
        assert_eq!(
            e.to_string(),
            "map: map[image:nginx] does not contain declared merge key: name"
        );
        assert_eq!(e.status_code(), 500);
        let e = PatchError::not_an_object(&json!([1]));
        assert_eq!(
            e.to_string(),
            "json: cannot unmarshal array into Go value of type map[string]interface {}"
        );
        assert_eq!(e.status_code(), 400);
    }
}
