//! Lenient accessors over `serde_json::Value`: validation reads typed fields out of the stored
//! JSON and treats a missing (or mistyped) field as its Go zero value.

use serde_json::{Map, Value};

/// Read access to an object's fields.
pub trait Access {
    /// A string field, `""` when absent.
    fn s(&self, key: &str) -> &str;
    /// A string field that may be absent.
    fn opt_s(&self, key: &str) -> Option<&str>;
    /// An integer field that may be absent.
    fn i(&self, key: &str) -> Option<i64>;
    /// A boolean field, `false` when absent.
    fn b(&self, key: &str) -> bool;
    /// A list field, empty when absent.
    fn arr(&self, key: &str) -> &[Value];
    /// An object field that may be absent.
    fn obj(&self, key: &str) -> Option<&Map<String, Value>>;
    /// A field, `None` when absent or `null`.
    fn field(&self, key: &str) -> Option<&Value>;
}

impl Access for Value {
    fn s(&self, key: &str) -> &str {
        self.opt_s(key).unwrap_or_default()
    }

    fn opt_s(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    fn i(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(Value::as_i64)
    }

    fn b(&self, key: &str) -> bool {
        self.get(key).and_then(Value::as_bool).unwrap_or(false)
    }

    fn arr(&self, key: &str) -> &[Value] {
        self.get(key)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    fn obj(&self, key: &str) -> Option<&Map<String, Value>> {
        self.get(key).and_then(Value::as_object)
    }

    fn field(&self, key: &str) -> Option<&Value> {
        self.get(key).filter(|v| !v.is_null())
    }
}

/// The shared empty object, for absent sub-objects.
pub fn empty() -> &'static Value {
    static EMPTY: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| Value::Object(Map::new()))
}

/// A sub-object, or the empty object.
pub fn sub<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.field(key).unwrap_or_else(|| empty())
}

/// The entries of a string map field in key order (values that are not strings read as `""`).
pub fn string_map<'a>(v: &'a Value, key: &str) -> Vec<(&'a str, &'a str)> {
    v.obj(key)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}
