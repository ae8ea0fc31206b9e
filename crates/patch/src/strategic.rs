//! Strategic merge patch, as Kubernetes' API server applies it (`application/strategic-merge-patch+json`).
//!
//! Maps merge key by key and `null` deletes a key. Lists that the schema marks as merging
//! ([`schema`]) merge element by element on their merge key (lists of primitives are unioned);
//! every other list is replaced. The directives kubectl sends are honoured:
//!
//! * `$patch: replace` (the map or list becomes the patch's), `$patch: delete` (in a map: the
//!   map becomes empty; in a list element: the element with that key is removed);
//! * `$setElementOrder/<field>`: the final order of a merged list;
//! * `$deleteFromPrimitiveList/<field>`: values to remove from a merged list of primitives;
//! * `$retainKeys`: the keys of the map to keep (others are cleared).
//!
//! Patch values that land where the original had nothing are added without `null`s and
//! without directives, as Kubernetes' typed decoding leaves them.

mod order;
mod schema;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};
use tracing::trace;

use crate::error::{bad_arg_type, go_fmt, go_type_name, PatchError};
use order::{json_eq, normalize, partition, require_merge_key};
use schema::{join, ListStrategy, Schema};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";

/// Applies a strategic merge patch to `doc`, an object of `api_version`/`kind`.
///
/// Kinds without merge information give [`PatchError::UnsupportedKind`], as custom resources
/// do in Kubernetes. The patch must be a JSON object.
pub fn strategic_merge_patch(
    doc: &Value,
    patch: &Value,
    api_version: &str,
    kind: &str,
) -> Result<Value, PatchError> {
    let schema = Schema::for_kind(api_version, kind).ok_or(PatchError::UnsupportedKind)?;
    let Value::Object(patch) = patch else {
        return Err(PatchError::not_an_object(patch));
    };
    let original = match doc {
        Value::Object(m) => m.clone(),
        Value::Null => Map::new(),
        other => return Err(PatchError::not_an_object(other)),
    };
    trace!(api_version, kind, "applying strategic merge patch");
    let merged = Merger { schema: &schema }.merge_map(original, patch.clone(), "")?;
    Ok(Value::Object(merged))
}

/// One patch application against one schema.
struct Merger<'a> {
    schema: &'a Schema,
}

impl Merger<'_> {
    /// Merges `patch` into `original`; `path` is the dotted path of the map.
    fn merge_map(
        &self,
        mut original: Map<String, Value>,
        mut patch: Map<String, Value>,
        path: &str,
    ) -> Result<Map<String, Value>, PatchError> {
        if let Some(directive) = patch.get(DIRECTIVE) {
            return match directive.as_str() {
                Some("replace") => {
                    patch.remove(DIRECTIVE);
                    Ok(clean_map(patch))
                }
                Some("delete") => Ok(Map::new()),
                _ => Err(PatchError::UnknownPatchType {
                    directive: go_fmt(directive),
                    map: go_fmt(&Value::Object(patch.clone())),
                }),
            };
        }
        apply_retain_keys(&mut original, &mut patch)?;
        self.apply_element_orders(&mut original, &mut patch, path)?;

        let mut delete_lists = Vec::new();
        for (key, value) in patch {
            if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
                let field = field_of(&key, DELETE_FROM_PRIMITIVE_LIST)?;
                delete_lists.push((field.to_string(), value));
                continue;
            }
            self.merge_field(&mut original, key, value, path, false)?;
        }
        // Deletions from primitive lists apply after the list's own additions.
        for (field, value) in delete_lists {
            self.merge_field(&mut original, field, value, path, true)?;
        }
        Ok(original)
    }

    /// Merges one patch field into `original`.
    fn merge_field(
        &self,
        original: &mut Map<String, Value>,
        key: String,
        patch: Value,
        path: &str,
        is_delete_list: bool,
    ) -> Result<(), PatchError> {
        if patch.is_null() {
            original.remove(&key);
            return Ok(());
        }
        let Some(slot) = original.get_mut(&key) else {
            if !is_delete_list {
                if let Some(v) = clean(patch) {
                    original.insert(key, v);
                }
            }
            return Ok(());
        };
        let field_path = join(path, &key);
        match (std::mem::take(slot), patch) {
            (Value::Object(o), Value::Object(p)) => {
                *slot = Value::Object(self.merge_map(o, p, &field_path)?);
            }
            (Value::Array(o), Value::Array(p)) => {
                let strategy = self.schema.list(&field_path);
                *slot =
                    Value::Array(self.merge_list(o, p, &field_path, strategy, is_delete_list)?);
            }
            (old, new) => {
                if is_delete_list && go_type_name(&old) != go_type_name(&new) {
                    *slot = old;
                } else {
                    match clean(new) {
                        Some(v) => *slot = v,
                        None => {
                            original.remove(&key);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Merges two lists according to the field's strategy.
    fn merge_list(
        &self,
        original: Vec<Value>,
        patch: Vec<Value>,
        path: &str,
        strategy: ListStrategy,
        is_delete_list: bool,
    ) -> Result<Vec<Value>, PatchError> {
        let key = match strategy {
            ListStrategy::Replace if !is_delete_list => return Ok(clean_list(patch)),
            ListStrategy::MergeByKey(k) => Some(k),
            _ => None,
        };
        if original.is_empty() && patch.is_empty() {
            return Ok(original);
        }
        if !elements_are_objects(&original, &patch)? {
            if is_delete_list {
                return Ok(original
                    .into_iter()
                    .filter(|v| !patch.iter().any(|d| json_eq(v, d)))
                    .collect());
            }
            let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
            for v in original.iter().chain(patch.iter()) {
                if !merged.iter().any(|m| json_eq(m, v)) {
                    merged.push(v.clone());
                }
            }
            let (in_patch, server_only) = partition(merged, &patch, None)?;
            return normalize(in_patch, server_only, &patch, &original, None);
        }
        let Some(key) = key else {
            return Err(PatchError::Merge(
                "cannot merge lists without merge key for struct".to_string(),
            ));
        };
        let (original, patch) = apply_list_directives(original, patch, key)?;
        let server_order = original.clone();
        let merged = self.merge_by_key(original, &patch, key, path)?;
        let (in_patch, server_only) = partition(merged, &patch, Some(key))?;
        normalize(in_patch, server_only, &patch, &server_order, Some(key))
    }

    /// Merges each patch element into the original element with the same key, or appends it.
    fn merge_by_key(
        &self,
        mut original: Vec<Value>,
        patch: &[Value],
        key: &str,
        path: &str,
    ) -> Result<Vec<Value>, PatchError> {
        for element in patch {
            let Value::Object(p) = element else {
                return Err(bad_arg_type("map[string]interface {}", element));
            };
            let Some(want) = p.get(key) else {
                return Err(PatchError::no_merge_key(element, key));
            };
            let mut found = None;
            for (i, v) in original.iter().enumerate() {
                let Value::Object(m) = v else {
                    return Err(PatchError::Merge(format!("value for key {i} is not a map")));
                };
                if m.get(key).is_some_and(|got| json_eq(got, want)) {
                    found = Some(i);
                    break;
                }
            }
            match found {
                Some(i) => {
                    let Value::Object(o) = std::mem::take(&mut original[i]) else {
                        continue;
                    };
                    original[i] = Value::Object(self.merge_map(o, p.clone(), path)?);
                }
                None => original.extend(clean(element.clone())),
            }
        }
        Ok(original)
    }

    /// Handles every `$setElementOrder/<field>` of `patch`: merges the field's list now and
    /// puts it in the requested order.
    fn apply_element_orders(
        &self,
        original: &mut Map<String, Value>,
        patch: &mut Map<String, Value>,
        path: &str,
    ) -> Result<(), PatchError> {
        let directives: Vec<String> = patch
            .keys()
            .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
            .cloned()
            .collect();
        for directive in directives {
            let order = patch.remove(&directive).unwrap_or(Value::Null);
            let Value::Array(order) = order else {
                return Err(bad_arg_type("[]interface {}", &order));
            };
            let field = field_of(&directive, SET_ELEMENT_ORDER)?.to_string();
            let field_path = join(path, &field);
            let strategy = self.schema.list(&field_path);
            let key = match strategy {
                ListStrategy::MergeByKey(k) => Some(k),
                _ => None,
            };
            let original_list = list_field(original, &field)?;
            let patch_list = list_field(patch, &field)?;
            validate_order(patch_list.as_deref().unwrap_or(&[]), &order, key)?;
            let server_order = original_list.clone().unwrap_or_default();
            let merged = match (original_list, patch_list) {
                (Some(o), None) => o,
                (None, Some(p)) => clean_list(p),
                (Some(o), Some(p)) => self.merge_list(o, p, &field_path, strategy, false)?,
                (None, None) => continue,
            };
            let (in_order, server_only) = partition(merged, &order, key)?;
            let both = normalize(in_order, server_only, &order, &server_order, key)?;
            original.insert(field.clone(), Value::Array(both));
            patch.remove(&field);
        }
        Ok(())
    }
}

/// The list under `field`, if any; a non-list there is an error.
fn list_field(m: &Map<String, Value>, field: &str) -> Result<Option<Vec<Value>>, PatchError> {
    match m.get(field) {
        None => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a.clone())),
        Some(other) => Err(bad_arg_type("[]interface {}", other)),
    }
}

/// The field name after `<prefix>/`.
fn field_of<'k>(key: &'k str, prefix: &str) -> Result<&'k str, PatchError> {
    match key.split_once('/') {
        Some((p, field)) if p == prefix => Ok(field),
        _ if prefix == SET_ELEMENT_ORDER => Err(PatchError::BadSetElementOrderFormat),
        _ => Err(PatchError::BadPrimitiveListFormat),
    }
}

/// Applies `$retainKeys`: every patch field must be listed, and unlisted original fields go.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), PatchError> {
    let Some(retain) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(PatchError::BadRetainKeysFormat);
    };
    let keep: Vec<&str> = retain.iter().filter_map(Value::as_str).collect();
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || k.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !keep.contains(&k.as_str()) {
            return Err(PatchError::BadRetainKeysFormat);
        }
    }
    original.retain(|k, _| keep.contains(&k.as_str()));
    Ok(())
}

/// Whether the elements of both lists are objects (`false`: primitives). Mixed element types
/// and lists of lists are errors.
fn elements_are_objects(original: &[Value], patch: &[Value]) -> Result<bool, PatchError> {
    let mut first: Option<&'static str> = None;
    for v in original.iter().chain(patch.iter()) {
        let t = go_type_name(v);
        match first {
            None if v.is_array() => return Err(PatchError::ListOfLists),
            None => first = Some(t),
            Some(f) if f != t => {
                let both = Value::Array(vec![
                    Value::Array(original.to_vec()),
                    Value::Array(patch.to_vec()),
                ]);
                return Err(PatchError::Merge(format!(
                    "list element types are not identical: {}",
                    go_fmt(&both)
                )));
            }
            Some(_) => {}
        }
    }
    Ok(first == Some("map[string]interface {}"))
}

/// Applies the `$patch` elements of a list patch: `delete` removes the original elements with
/// that key, `replace` makes the list the patch's own elements. Returns the original and patch
/// lists left to merge.
fn apply_list_directives(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for element in patch {
        let Some(directive) = element.get(DIRECTIVE) else {
            plain.push(element);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let Some(want) = element.get(key) else {
                    return Err(PatchError::no_merge_key(&element, key));
                };
                original.retain(|v| !v.get(key).is_some_and(|got| json_eq(got, want)));
            }
            Some("replace") => replace = true,
            Some("merge") => {
                return Err(PatchError::Merge(
                    "merging lists cannot yet be specified in the patch".to_string(),
                ))
            }
            _ => {
                return Err(PatchError::UnknownPatchType {
                    directive: go_fmt(directive),
                    map: go_fmt(&element),
                })
            }
        }
    }
    if replace {
        return Ok((clean_list(plain), Vec::new()));
    }
    require_merge_key(&original, Some(key))?;
    Ok((original, plain))
}

/// Checks that the patch list's elements appear in the `$setElementOrder` list, in the same
/// relative order.
fn validate_order(patch: &[Value], order: &[Value], key: Option<&str>) -> Result<(), PatchError> {
    if patch.is_empty() || order.is_empty() {
        return Ok(());
    }
    let items: Vec<&Value> = patch
        .iter()
        .filter(|v| key.is_none() || v.get(DIRECTIVE).and_then(Value::as_str) != Some("delete"))
        .filter(|v| v.get(DIRECTIVE).is_none())
        .collect();
    let same = |a: &Value, b: &Value| -> Result<bool, PatchError> {
        let Some(k) = key else {
            return Ok(json_eq(a, b));
        };
        let va = a.get(k).ok_or_else(|| PatchError::no_merge_key(a, k))?;
        let vb = b.get(k).ok_or_else(|| PatchError::no_merge_key(b, k))?;
        Ok(json_eq(va, vb))
    };
    let (mut pi, mut oi) = (0, 0);
    while pi < items.len() && oi < order.len() {
        if same(items[pi], &order[oi])? {
            pi += 1;
        }
        oi += 1;
    }
    if pi < items.len() {
        return Err(PatchError::Merge(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER} list:\n{}\n",
            go_fmt(&Value::Array(patch.to_vec())),
            go_fmt(&Value::Array(order.to_vec()))
        )));
    }
    Ok(())
}

/// A patch value as stored where the original had nothing: `null` map entries, directive keys
/// and `$patch` maps removed. `None` when the value itself is a directive map.
fn clean(v: Value) -> Option<Value> {
    match v {
        Value::Object(m) if m.contains_key(DIRECTIVE) => None,
        Value::Object(m) => Some(Value::Object(clean_map(m))),
        Value::Array(a) => Some(Value::Array(clean_list(a))),
        other => Some(other),
    }
}

/// [`clean`] for every entry of a map.
fn clean_map(m: Map<String, Value>) -> Map<String, Value> {
    m.into_iter()
        .filter(|(k, v)| !v.is_null() && !is_directive_key(k))
        .filter_map(|(k, v)| clean(v).map(|v| (k, v)))
        .collect()
}

/// [`clean`] for every element of a list (directive elements are dropped).
fn clean_list(a: Vec<Value>) -> Vec<Value> {
    a.into_iter().filter_map(clean).collect()
}

fn is_directive_key(k: &str) -> bool {
    k == DIRECTIVE
        || k == RETAIN_KEYS
        || k.starts_with(SET_ELEMENT_ORDER)
        || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
}
