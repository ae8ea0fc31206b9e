//! Merging an applied configuration into a live object, and pruning the fields an applier
//! stopped applying.

use serde_json::{Map, Value};

use super::{child_schema_path, classify, index_items, Kind};
use crate::path::{Path, PathElement};
use crate::schema::Schema;
use crate::set::FieldSet;

/// Merges `config` into `live` (structured-merge-diff's `Merge`): the configuration wins on
/// leaves and atomic values, objects merge field by field, associative lists and sets merge item
/// by item. A `null` in the configuration removes the field.
pub fn merge(schema: &Schema, live: &Value, config: &Value) -> Result<Value, String> {
    let mut path = Path::default();
    let merged = merge_node(
        schema,
        Some(live),
        config,
        "",
        &mut path,
        Some(Kind::Struct),
    )?;
    Ok(merged.unwrap_or_else(|| Value::Object(Map::new())))
}

fn same_type(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn merge_node(
    schema: &Schema,
    live: Option<&Value>,
    config: &Value,
    sp: &str,
    path: &mut Path,
    item_kind: Option<Kind>,
) -> Result<Option<Value>, String> {
    if config.is_null() {
        return Ok(None);
    }
    let kind = item_kind.unwrap_or_else(|| classify(schema, sp, config).0);
    match (kind, live.filter(|l| same_type(l, config)), config) {
        (Kind::Struct | Kind::Map, Some(Value::Object(live_map)), Value::Object(config_map)) => {
            let mut out = live_map.clone();
            for (name, child) in config_map {
                path.0.push(PathElement::Field(name.clone()));
                let child_sp = child_schema_path(kind, sp, name);
                match merge_node(schema, live_map.get(name), child, &child_sp, path, None)? {
                    Some(value) => out.insert(name.clone(), value),
                    None => out.remove(name),
                };
                path.0.pop();
            }
            Ok(Some(Value::Object(out)))
        }
        (
            Kind::Set | Kind::Assoc(_),
            Some(Value::Array(live_items)),
            Value::Array(config_items),
        ) => {
            let lhs = index_items(kind, live_items, path, false)?;
            let rhs = index_items(kind, config_items, path, true)?;
            let mut out = Vec::with_capacity(lhs.len().max(rhs.len()));
            for step in merge_order(&lhs, &rhs) {
                let item = match step {
                    Step::Live(i) => Some(lhs[i].1.clone()),
                    Step::Config(j) => {
                        let (element, config_item) = &rhs[j];
                        let live_item = lhs.iter().find(|(e, _)| e == element).map(|(_, v)| *v);
                        path.0.push(element.clone());
                        let merged = merge_node(
                            schema,
                            live_item,
                            config_item,
                            sp,
                            path,
                            Some(kind.item_kind()),
                        )?;
                        path.0.pop();
                        merged
                    }
                };
                out.extend(item);
            }
            Ok(Some(Value::Array(out)))
        }
        _ => Ok(Some(without_nulls(config))),
    }
}

/// One item of a merged list: from the live list only, or from the configuration (merged with
/// the live item of the same key, if any).
enum Step {
    Live(usize),
    Config(usize),
}

/// The order of a merged list, as structured-merge-diff builds it: live items keep their place,
/// items of both lists follow the configuration's order, and new items come where the
/// configuration puts them.
fn merge_order(lhs: &[(PathElement, &Value)], rhs: &[(PathElement, &Value)]) -> Vec<Step> {
    let in_rhs = |e: &PathElement| rhs.iter().any(|(r, _)| r == e);
    let mut shared = rhs
        .iter()
        .map(|(e, _)| e)
        .filter(|e| lhs.iter().any(|(l, _)| l == *e));
    let mut next_shared = shared.next();
    let mut steps = Vec::with_capacity(lhs.len() + rhs.len());
    let (mut li, mut ri) = (0, 0);
    while li < lhs.len() || ri < rhs.len() {
        if li < lhs.len() && ri < rhs.len() {
            if lhs[li].0 == rhs[ri].0 {
                steps.push(Step::Config(ri));
                li += 1;
                ri += 1;
                next_shared = shared.next();
                continue;
            }
            if in_rhs(&lhs[li].0) && next_shared.is_some_and(|n| *n != lhs[li].0) {
                // Shared, but the configuration wants another shared item first.
                li += 1;
                continue;
            }
        }
        if li < lhs.len() && !in_rhs(&lhs[li].0) {
            steps.push(Step::Live(li));
            li += 1;
            continue;
        }
        if ri < rhs.len() {
            if next_shared.is_some_and(|n| *n == rhs[ri].0) {
                next_shared = shared.next();
            }
            steps.push(Step::Config(ri));
            ri += 1;
            continue;
        }
        // A shared live item already emitted from the configuration.
        li += 1;
    }
    steps
}

/// A copy of `value` without `null` object fields: Kubernetes drops them when it decodes.
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// Removes what an applier applied last time (`previous`) but owns no more, unless someone else
/// (or its new configuration) owns it (`keep`).
///
/// A struct field counts as owned when anything below it is owned, so a struct that nobody owns
/// anything in any more goes away as a whole. Objects and lists emptied by the removal go too.
pub fn prune(schema: &Schema, merged: &mut Value, previous: &FieldSet, keep: &FieldSet) {
    let mut path = Path::default();
    prune_node(schema, merged, "", &mut path, Kind::Struct, previous, keep);
}

fn is_empty_container(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// Prunes below `value`; says whether anything was removed.
fn prune_node(
    schema: &Schema,
    value: &mut Value,
    sp: &str,
    path: &mut Path,
    kind: Kind,
    previous: &FieldSet,
    keep: &FieldSet,
) -> bool {
    let mut removed = false;
    match (kind, value) {
        (Kind::Struct | Kind::Map, Value::Object(map)) => {
            let names: Vec<String> = map.keys().cloned().collect();
            for name in names {
                path.0.push(PathElement::Field(name.clone()));
                let named = kind == Kind::Struct;
                let below = previous.has_below(&path.0);
                let applied_before = previous.has(&path.0) || (named && below);
                let kept = keep.has(&path.0) || (named && keep.has_below(&path.0));
                if applied_before && !kept {
                    map.remove(&name);
                    removed = true;
                } else if below {
                    let child_sp = child_schema_path(kind, sp, &name);
                    if let Some(child) = map.get_mut(&name) {
                        let (child_kind, _) = classify(schema, &child_sp, child);
                        if prune_node(schema, child, &child_sp, path, child_kind, previous, keep) {
                            removed = true;
                            if is_empty_container(child) {
                                map.remove(&name);
                            }
                        }
                    }
                }
                path.0.pop();
            }
        }
        (Kind::Set | Kind::Assoc(_), Value::Array(items)) => {
            let mut kept_items = Vec::with_capacity(items.len());
            for mut item in std::mem::take(items) {
                let Ok(element) = super::item_element(kind, &item) else {
                    kept_items.push(item);
                    continue;
                };
                path.0.push(element);
                let drop = if previous.has(&path.0) && !keep.has(&path.0) {
                    true
                } else if previous.has_below(&path.0)
                    && prune_node(
                        schema,
                        &mut item,
                        sp,
                        path,
                        kind.item_kind(),
                        previous,
                        keep,
                    )
                {
                    removed = true;
                    is_empty_container(&item)
                } else {
                    false
                };
                path.0.pop();
                if drop {
                    removed = true;
                } else {
                    kept_items.push(item);
                }
            }
            *items = kept_items;
        }
        _ => {}
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_keeps_live_fields_and_merges_ports_by_key() {
        let schema = Schema::for_kind("v1", "Service");
        let live = json!({"spec": {"clusterIP": "10.0.0.7", "selector": {"app": "a", "tier": "x"},
            "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80, "nodePort": 30001},
                      {"port": 53, "protocol": "UDP"}]}});
        let config = json!({"spec": {"selector": {"app": "b"}, "ports": [
            {"port": 443, "targetPort": 8443}, {"port": 80, "targetPort": 8080}]}});
        let merged = merge(&schema, &live, &config).unwrap();
        assert_eq!(
            merged,
            json!({"spec": {"clusterIP": "10.0.0.7", "selector": {"app": "b"},
            "ports": [{"port": 443, "targetPort": 8443},
                      {"port": 80, "protocol": "TCP", "targetPort": 8080, "nodePort": 30001},
                      {"port": 53, "protocol": "UDP"}]}})
        );
    }

    #[test]
    fn merge_follows_the_configuration_order_for_shared_items() {
        let schema = Schema::for_kind("v1", "Pod");
        let live = json!({"spec": {"containers": [{"name": "a"}, {"name": "x"}, {"name": "b"}]}});
        let config = json!({"spec": {"containers": [{"name": "b"}, {"name": "a"}]}});
        let merged = merge(&schema, &live, &config).unwrap();
        let names: Vec<&str> = merged["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["x", "b", "a"]);
    }

    #[test]
    fn null_in_the_configuration_removes_the_field() {
        let schema = Schema::for_kind("v1", "ConfigMap");
        let live = json!({"data": {"a": "1", "b": "2"}});
        let merged = merge(&schema, &live, &json!({"data": {"a": null}})).unwrap();
        assert_eq!(merged, json!({"data": {"b": "2"}}));
    }

    #[test]
    fn prune_removes_only_what_nobody_keeps() {
        let schema = Schema::for_kind("v1", "Service");
        let mut merged = json!({"metadata": {"labels": {"a": "1", "b": "2"}},
            "spec": {"ports": [{"port": 80, "protocol": "TCP"}, {"port": 81, "protocol": "TCP"}],
                     "sessionAffinity": "None"}});
        let previous = FieldSet::from_fields_v1(&json!({
            "f:metadata": {"f:labels": {"f:a": {}, "f:b": {}}},
            "f:spec": {"f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}},
                                   "k:{\"port\":81,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}}}}}))
        .unwrap();
        let keep = FieldSet::from_fields_v1(&json!({
            "f:metadata": {"f:labels": {"f:a": {}}},
            "f:spec": {"f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}}}}}))
        .unwrap();
        prune(&schema, &mut merged, &previous, &keep);
        assert_eq!(
            merged,
            json!({"metadata": {"labels": {"a": "1"}},
            "spec": {"ports": [{"port": 80, "protocol": "TCP"}], "sessionAffinity": "None"}})
        );
    }
}
