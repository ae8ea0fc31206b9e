//! Field paths as structured-merge-diff writes them.
//!
//! A path is a list of elements. Each element picks a child: a named field (`f:name`), a list
//! item by its key fields (`k:{"port":80,"protocol":"TCP"}`), a set item by value (`v:"x"`), or
//! an atomic list item by index (`i:0`). The same elements print as `.name`,
//! `[port=80,protocol="TCP"]`, `[="x"]` and `[0]` in conflict messages.

use std::fmt;

use serde_json::Value;

/// One step of a field path.
///
/// Keys and values are held as canonical JSON (object keys sorted, no spaces), so two elements are
/// equal exactly when Kubernetes would consider them equal, and they order the way they serialize.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A field of a struct or a key of a map.
    Field(String),
    /// An item of an associative list, by the canonical JSON object of its key fields.
    Key(String),
    /// An item of a set, by the canonical JSON of its value.
    Value(String),
    /// An item of an atomic list, by position.
    Index(usize),
}

impl PathElement {
    /// The element as a `fieldsV1` object key: `f:…`, `k:…`, `v:…` or `i:…`.
    pub fn to_fields_key(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(json) => format!("k:{json}"),
            PathElement::Value(json) => format!("v:{json}"),
            PathElement::Index(index) => format!("i:{index}"),
        }
    }

    /// Parses a `fieldsV1` object key; `None` if it is not a valid element.
    pub fn from_fields_key(key: &str) -> Option<PathElement> {
        let (prefix, rest) = key.split_at_checked(2)?;
        match prefix {
            "f:" => Some(PathElement::Field(rest.to_string())),
            "k:" => match serde_json::from_str::<Value>(rest).ok()? {
                value @ Value::Object(_) => Some(PathElement::Key(canonical_json(&value))),
                _ => None,
            },
            "v:" => {
                let value = serde_json::from_str::<Value>(rest).ok()?;
                Some(PathElement::Value(canonical_json(&value)))
            }
            "i:" => rest.parse().ok().map(PathElement::Index),
            _ => None,
        }
    }
}

impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(json) => {
                let fields = match serde_json::from_str::<Value>(json) {
                    Ok(Value::Object(map)) => map,
                    _ => return write!(f, "[{json}]"),
                };
                let mut names: Vec<&String> = fields.keys().collect();
                names.sort();
                let parts: Vec<String> = names
                    .into_iter()
                    .map(|name| format!("{name}={}", value_to_string(&fields[name.as_str()])))
                    .collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(json) => match serde_json::from_str::<Value>(json) {
                Ok(value) => write!(f, "[={}]", value_to_string(&value)),
                Err(_) => write!(f, "[={json}]"),
            },
            PathElement::Index(index) => write!(f, "[{index}]"),
        }
    }
}

/// A field path from the root of an object.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Path(pub Vec<PathElement>);

impl Path {
    /// This path extended by one element.
    pub fn child(&self, element: PathElement) -> Path {
        let mut elements = self.0.clone();
        elements.push(element);
        Path(elements)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for element in &self.0 {
            write!(f, "{element}")?;
        }
        Ok(())
    }
}

/// Scalars as structured-merge-diff prints them in paths: strings quoted, numbers and booleans
/// bare.
fn value_to_string(value: &Value) -> String {
    match value {
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(value_to_string).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Object(map) => {
            let mut names: Vec<&String> = map.keys().collect();
            names.sort();
            let parts: Vec<String> = names
                .into_iter()
                .map(|name| format!("{name}={}", value_to_string(&map[name.as_str()])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        other => canonical_json(other),
    }
}

/// Compact JSON with object keys sorted, whatever order the map keeps them in.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut names: Vec<&String> = map.keys().collect();
            names.sort();
            out.push('{');
            for (i, name) in names.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(name.clone()).to_string());
                out.push(':');
                write_canonical(&map[name.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn elements_round_trip_through_fields_keys() {
        for key in [
            "f:targetPort",
            r#"k:{"port":80,"protocol":"TCP"}"#,
            r#"v:"example.com/finalizer""#,
            "i:3",
        ] {
            let element = PathElement::from_fields_key(key).unwrap();
            assert_eq!(element.to_fields_key(), key);
        }
        assert_eq!(PathElement::from_fields_key("x:1"), None);
        assert_eq!(PathElement::from_fields_key("k:[1]"), None);
        assert_eq!(PathElement::from_fields_key("."), None);
    }

    #[test]
    fn key_json_is_sorted_whatever_the_input_order() {
        let element = PathElement::from_fields_key(r#"k:{"protocol":"TCP","port":80}"#).unwrap();
        assert_eq!(element.to_fields_key(), r#"k:{"port":80,"protocol":"TCP"}"#);
    }

    #[test]
    fn paths_print_like_conflict_messages() {
        let path = Path(vec![
            PathElement::Field("spec".into()),
            PathElement::Field("ports".into()),
            PathElement::Key(canonical_json(&json!({"protocol": "TCP", "port": 80}))),
            PathElement::Field("targetPort".into()),
        ]);
        assert_eq!(
            path.to_string(),
            r#".spec.ports[port=80,protocol="TCP"].targetPort"#
        );
        let set_item = Path(vec![
            PathElement::Field("metadata".into()),
            PathElement::Field("finalizers".into()),
            PathElement::Value(canonical_json(&json!("a/b"))),
        ]);
        assert_eq!(set_item.to_string(), r#".metadata.finalizers[="a/b"]"#);
    }
}
