//! Walking JSON objects with a [`Schema`]: the owned-field set of an applied configuration and
//! the comparison of two versions of an object. Merging and pruning are in [`merge`].

pub mod merge;

use serde_json::{Map, Value};

use crate::path::{canonical_json, Path, PathElement};
use crate::schema::{self, ListKey, Schema, Shape};
use crate::set::FieldSet;

/// How a node is walked, once the schema and the value have been looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A scalar, or anything atomic: owned and compared as a whole.
    Leaf,
    /// An object of declared fields.
    Struct,
    /// An object of data keys.
    Map,
    /// A list of unique scalars.
    Set,
    /// A list of objects identified by key fields.
    Assoc(&'static [ListKey]),
}

impl Kind {
    /// The kind of the items of a list of this kind.
    pub fn item_kind(self) -> Kind {
        match self {
            Kind::Assoc(_) => Kind::Struct,
            _ => Kind::Leaf,
        }
    }
}

/// The kind of the node at schema path `sp` holding `sample`, and whether it is always present.
pub fn classify(schema: &Schema, sp: &str, sample: &Value) -> (Kind, bool) {
    let node = schema.node(sp);
    let always = node.is_some_and(|n| n.always);
    let kind = match (node.map(|n| n.shape), sample) {
        (Some(Shape::Atomic), _) => Kind::Leaf,
        (Some(Shape::Map), Value::Object(_)) => Kind::Map,
        (Some(Shape::Set), Value::Array(_)) => Kind::Set,
        (Some(Shape::Assoc(keys)), Value::Array(_)) => Kind::Assoc(keys),
        (Some(Shape::Struct) | None, Value::Object(_)) => Kind::Struct,
        _ => Kind::Leaf,
    };
    (kind, always)
}

/// The schema path of a child of an object of `kind` at `sp`.
pub fn child_schema_path(kind: Kind, sp: &str, name: &str) -> String {
    match kind {
        Kind::Map => schema::map_value_path(sp),
        _ => schema::field_path(sp, name),
    }
}

/// The path element naming `item` in a list of `kind`.
pub fn item_element(kind: Kind, item: &Value) -> Result<PathElement, String> {
    match kind {
        Kind::Assoc(keys) => {
            let Value::Object(fields) = item else {
                return Err("associative list items must be objects".to_string());
            };
            let mut key = Map::new();
            for list_key in keys {
                let value = match fields.get(list_key.name) {
                    Some(value) if !value.is_null() => value.clone(),
                    _ => match list_key.default {
                        Some(default) => Value::String(default.to_string()),
                        None => {
                            return Err(format!(
                                "associative list with keys has an element that omits key field {:?} (and doesn't have default value)",
                                list_key.name
                            ))
                        }
                    },
                };
                key.insert(list_key.name.to_string(), value);
            }
            Ok(PathElement::Key(canonical_json(&Value::Object(key))))
        }
        _ => Ok(PathElement::Value(canonical_json(item))),
    }
}

/// The items of a list, each with its element. With `strict`, a repeated element is an error;
/// otherwise later repeats are ignored, as Kubernetes does for stored objects.
pub fn index_items<'a>(
    kind: Kind,
    list: &'a [Value],
    path: &Path,
    strict: bool,
) -> Result<Vec<(PathElement, &'a Value)>, String> {
    let mut out: Vec<(PathElement, &Value)> = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let element = item_element(kind, item).map_err(|e| format!("{path}: element {i}: {e}"))?;
        if out.iter().any(|(seen, _)| *seen == element) {
            if strict {
                return Err(format!("{path}: duplicate entries for key {element}"));
            }
            continue;
        }
        out.push((element, item));
    }
    Ok(out)
}

/// Whether a value counts as empty: missing, null, `{}` or `[]`.
fn is_empty(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::Object(map)) => map.is_empty(),
        Some(Value::Array(items)) => items.is_empty(),
        Some(_) => false,
    }
}

/// The fields an applied configuration sets: structured-merge-diff's `ToFieldSet`.
///
/// Scalars, atomic values, list items and map keys are members; struct fields are members only
/// when null or `{}`.
pub fn to_field_set(schema: &Schema, value: &Value) -> Result<FieldSet, String> {
    let mut out = FieldSet::new();
    collect(
        schema,
        value,
        "",
        &mut Path::default(),
        Kind::Struct,
        &mut out,
    )?;
    Ok(out)
}

fn collect(
    schema: &Schema,
    value: &Value,
    sp: &str,
    path: &mut Path,
    kind: Kind,
    out: &mut FieldSet,
) -> Result<(), String> {
    match (kind, value) {
        (Kind::Struct | Kind::Map, Value::Object(map)) => {
            for (name, child) in map {
                let child_sp = child_schema_path(kind, sp, name);
                let (child_kind, _) = classify(schema, &child_sp, child);
                path.0.push(PathElement::Field(name.clone()));
                let empty_object = matches!(child, Value::Object(m) if m.is_empty());
                if kind == Kind::Map || child.is_null() || empty_object {
                    out.insert(&path.0);
                }
                collect(schema, child, &child_sp, path, child_kind, out)?;
                path.0.pop();
            }
        }
        (Kind::Set | Kind::Assoc(_), Value::Array(items)) => {
            for (element, item) in index_items(kind, items, path, true)? {
                path.0.push(element);
                out.insert(&path.0);
                collect(schema, item, sp, path, kind.item_kind(), out)?;
                path.0.pop();
            }
        }
        (Kind::Struct | Kind::Map | Kind::Set | Kind::Assoc(_), _) => {}
        (Kind::Leaf, _) => out.insert(&path.0),
    }
    Ok(())
}

/// What changed between two versions of an object, as field paths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Present only in the new version.
    pub added: FieldSet,
    /// Present in both, with a different value.
    pub modified: FieldSet,
    /// Present only in the old version.
    pub removed: FieldSet,
}

impl Comparison {
    /// Drops the paths at or below the given top-level fields.
    pub fn without_top_level(&self, ignored: impl Fn(&str) -> bool) -> Comparison {
        Comparison {
            added: self.added.without_top_level(&ignored),
            modified: self.modified.without_top_level(&ignored),
            removed: self.removed.without_top_level(&ignored),
        }
    }
}

/// Compares two versions of an object (structured-merge-diff's `Compare`). Leaves are reported
/// when added, removed or changed; objects and list items when added or removed as a whole.
pub fn compare(schema: &Schema, old: &Value, new: &Value) -> Result<Comparison, String> {
    let mut out = Comparison::default();
    let mut path = Path::default();
    compare_node(
        schema,
        Some(old),
        Some(new),
        "",
        &mut path,
        Kind::Struct,
        &mut out,
    )?;
    Ok(out)
}

/// A child of an object on one side of a comparison. A field the Go type always serializes is
/// present (empty) whenever its parent is.
fn side<'v>(
    parent: Option<&'v Map<String, Value>>,
    name: &str,
    always: Option<&'v Value>,
) -> Option<&'v Value> {
    let parent = parent?;
    parent.get(name).or(always)
}

fn compare_node(
    schema: &Schema,
    old: Option<&Value>,
    new: Option<&Value>,
    sp: &str,
    path: &mut Path,
    kind: Kind,
    out: &mut Comparison,
) -> Result<(), String> {
    let mismatched = match (old, new) {
        (Some(a), Some(b)) => {
            std::mem::discriminant(a) != std::mem::discriminant(b) && !a.is_null() && !b.is_null()
        }
        _ => false,
    };
    if kind == Kind::Leaf || mismatched || (is_empty(old) && is_empty(new)) {
        match (old, new) {
            (None, Some(_)) => out.added.insert(&path.0),
            (Some(_), None) => out.removed.insert(&path.0),
            (Some(a), Some(b)) if a != b => out.modified.insert(&path.0),
            _ => {}
        }
        return Ok(());
    }
    match kind {
        Kind::Struct | Kind::Map => {
            let old_map = old.and_then(Value::as_object);
            let new_map = new.and_then(Value::as_object);
            let mut names: Vec<&String> = old_map
                .into_iter()
                .chain(new_map)
                .flat_map(|m| m.keys())
                .collect();
            names.sort();
            names.dedup();
            let empty_object = Value::Object(Map::new());
            let empty_list = Value::Array(Vec::new());
            for name in names {
                let child_sp = child_schema_path(kind, sp, name);
                let Some(sample) = new_map
                    .and_then(|m| m.get(name))
                    .or(old_map.and_then(|m| m.get(name)))
                else {
                    continue;
                };
                let (child_kind, always) = classify(schema, &child_sp, sample);
                let default = match (always, child_kind) {
                    (false, _) | (true, Kind::Leaf) => None,
                    (true, Kind::Set | Kind::Assoc(_)) => Some(&empty_list),
                    (true, _) => Some(&empty_object),
                };
                path.0.push(PathElement::Field(name.clone()));
                let (old_child, new_child) =
                    (side(old_map, name, default), side(new_map, name, default));
                compare_node(
                    schema, old_child, new_child, &child_sp, path, child_kind, out,
                )?;
                path.0.pop();
            }
        }
        Kind::Set | Kind::Assoc(_) => {
            let no_items = Vec::new();
            let old_items = old.and_then(Value::as_array).unwrap_or(&no_items);
            let new_items = new.and_then(Value::as_array).unwrap_or(&no_items);
            let old_index = index_items(kind, old_items, path, false)?;
            let new_index = index_items(kind, new_items, path, false)?;
            fn find<'v>(
                index: &[(PathElement, &'v Value)],
                element: &PathElement,
            ) -> Option<&'v Value> {
                index.iter().find(|(e, _)| e == element).map(|(_, v)| *v)
            }
            let mut elements: Vec<&PathElement> = old_index
                .iter()
                .chain(new_index.iter())
                .map(|(e, _)| e)
                .collect();
            elements.sort();
            elements.dedup();
            for element in elements {
                let (old_item, new_item) = (find(&old_index, element), find(&new_index, element));
                path.0.push(element.clone());
                compare_node(schema, old_item, new_item, sp, path, kind.item_kind(), out)?;
                path.0.pop();
            }
        }
        Kind::Leaf => {}
    }
    if !path.0.is_empty() {
        match (old, new) {
            (None, Some(_)) => out.added.insert(&path.0),
            (Some(_), None) => out.removed.insert(&path.0),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(schema: &Schema, value: Value) -> Value {
        to_field_set(schema, &value).unwrap().to_fields_v1()
    }

    #[test]
    fn applied_service_owns_ports_by_key_without_defaulted_protocol() {
        let schema = Schema::for_kind("v1", "Service");
        let config = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}});
        assert_eq!(
            fields(&schema, config),
            json!({"f:apiVersion": {}, "f:kind": {},
                "f:metadata": {"f:name": {}, "f:labels": {"f:app": {}}},
                "f:spec": {"f:selector": {}, "f:ports": {
                    "k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}, "f:targetPort": {}}}}})
        );
    }

    #[test]
    fn missing_or_repeated_keys_are_rejected_in_applied_lists() {
        let schema = Schema::for_kind("v1", "Service");
        let no_port = json!({"spec": {"ports": [{"targetPort": 80}]}});
        let err = to_field_set(&schema, &no_port).unwrap_err();
        assert!(err.contains("omits key field \"port\""), "{err}");
        let twice = json!({"spec": {"ports": [{"port": 80}, {"port": 80, "protocol": "TCP"}]}});
        let err = to_field_set(&schema, &twice).unwrap_err();
        assert_eq!(
            err,
            ".spec.ports: duplicate entries for key [port=80,protocol=\"TCP\"]"
        );
    }

    #[test]
    fn comparison_reports_new_containers_but_not_value_structs() {
        let schema = Schema::for_kind("v1", "Service");
        let old = json!({"metadata": {"name": "web"}});
        let new = json!({"metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"ports": [{"port": 80, "protocol": "TCP"}], "type": "ClusterIP"}});
        let c = compare(&schema, &old, &new).unwrap();
        assert_eq!(
            c.added.to_fields_v1(),
            json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {"f:type": {}, "f:ports": {".": {},
                    "k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}, "f:protocol": {}}}}})
        );
        assert!(c.modified.is_empty() && c.removed.is_empty());
        let back = compare(&schema, &new, &old).unwrap();
        assert_eq!(back.removed, c.added);
    }

    #[test]
    fn comparison_of_changed_leaves_and_atomic_values() {
        let schema = Schema::for_kind("v1", "Service");
        let old =
            json!({"spec": {"selector": {"app": "a"}, "ports": [{"port": 80, "targetPort": 80}]}});
        let new =
            json!({"spec": {"selector": {"app": "b"}, "ports": [{"port": 80, "targetPort": 81}]}});
        let c = compare(&schema, &old, &new).unwrap();
        let printed: Vec<String> = c.modified.paths().iter().map(ToString::to_string).collect();
        assert_eq!(
            printed,
            [
                ".spec.selector",
                ".spec.ports[port=80,protocol=\"TCP\"].targetPort"
            ]
        );
        assert!(c.added.is_empty() && c.removed.is_empty());
        assert_eq!(compare(&schema, &old, &old).unwrap(), Comparison::default());
    }
}
