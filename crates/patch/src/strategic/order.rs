//! Element identity and ordering for merged lists.
//!
//! After a merge, Kubernetes puts the elements named by the patch (or by
//! `$setElementOrder/<field>`) in the patch's order, keeps the elements only the server had in
//! their old order, and interleaves the two using the old list as the reference. The same
//! rules are reimplemented here.

use serde_json::Value;

use crate::error::{bad_arg_type, PatchError};

/// Whether two scalar JSON values are equal as Go compares decoded `interface{}` values
/// (all numbers are float64).
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        _ => a == b,
    }
}

/// The identity of a list element: its merge key value for lists of objects, the element
/// itself otherwise.
fn identity<'a>(v: &'a Value, key: Option<&str>) -> Option<&'a Value> {
    match (key, v) {
        (Some(k), Value::Object(m)) => m.get(k),
        _ => Some(v),
    }
}

/// Position of the element with `item`'s identity in `list`.
fn index(list: &[Value], item: &Value, key: Option<&str>) -> Option<usize> {
    let want = identity(item, key)?;
    list.iter()
        .position(|v| identity(v, key).is_some_and(|got| json_eq(got, want)))
}

/// Checks that every element of a list of objects carries the merge key.
pub(crate) fn require_merge_key(list: &[Value], key: Option<&str>) -> Result<(), PatchError> {
    let Some(key) = key else { return Ok(()) };
    for v in list {
        match v {
            Value::Object(m) if m.contains_key(key) => {}
            Value::Object(_) => return Err(PatchError::no_merge_key(v, key)),
            other => return Err(bad_arg_type("map[string]interface {}", other)),
        }
    }
    Ok(())
}

/// Splits `merged` into the elements present in `by` and the others, each in `merged` order.
pub(crate) fn partition(
    merged: Vec<Value>,
    by: &[Value],
    key: Option<&str>,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    require_merge_key(&merged, key)?;
    let mut present = Vec::new();
    let mut absent = Vec::new();
    for v in merged {
        if index(by, &v, key).is_some() {
            present.push(v);
        } else {
            absent.push(v);
        }
    }
    Ok((present, absent))
}

/// Orders `patch_items` by `patch_order` and `server_only` by `server_order`, then interleaves
/// them: a server-only element goes before a patch element when the old list had it earlier.
pub(crate) fn normalize(
    patch_items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: Option<&str>,
) -> Result<Vec<Value>, PatchError> {
    require_merge_key(patch_order, key)?;
    let right = sort_by(patch_items, patch_order, key);
    let left = sort_by(server_only, server_order, key);
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        match (left.peek(), right.peek()) {
            (Some(l), Some(r)) => {
                let l_first = match (index(server_order, l, key), index(server_order, r, key)) {
                    (Some(li), Some(ri)) => li < ri,
                    _ => false,
                };
                let next = if l_first { left.next() } else { right.next() };
                out.extend(next);
            }
            (Some(_), None) => out.extend(left.next()),
            (None, Some(_)) => out.extend(right.next()),
            (None, None) => break,
        }
    }
    Ok(out)
}

/// Stable sort by position in `order`; elements not in `order` go last.
fn sort_by(mut items: Vec<Value>, order: &[Value], key: Option<&str>) -> Vec<Value> {
    items.sort_by_key(|v| index(order, v, key).unwrap_or(usize::MAX));
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(v: &[Value]) -> Vec<&str> {
        v.iter().filter_map(|x| x["name"].as_str()).collect()
    }

    #[test]
    fn new_patch_elements_land_before_remaining_server_elements() {
        // Old list a b c; patch touches b and adds d.
        let server_order = vec![
            json!({"name":"a"}),
            json!({"name":"b"}),
            json!({"name":"c"}),
        ];
        let patch_order = vec![json!({"name":"b"}), json!({"name":"d"})];
        let patch_items = vec![json!({"name":"d"}), json!({"name":"b"})];
        let server_only = vec![json!({"name":"c"}), json!({"name":"a"})];
        let out = normalize(
            patch_items,
            server_only,
            &patch_order,
            &server_order,
            Some("name"),
        )
        .unwrap();
        assert_eq!(names(&out), ["a", "b", "d", "c"]);
    }

    #[test]
    fn numbers_compare_as_go_float64() {
        assert!(json_eq(&json!(80), &json!(80.0)));
        assert!(!json_eq(&json!(80), &json!("80")));
    }
}
