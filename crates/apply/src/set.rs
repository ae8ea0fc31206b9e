//! Sets of field paths, and their `fieldsV1` encoding.
//!
//! A set is a tree: at each level, `members` are the child elements that are themselves in the
//! set, and `children` hold the deeper paths. An element can be both (a list item that is owned
//! and has owned fields). In `fieldsV1`, every element is an object key; a member with no
//! children maps to `{}`, and a member with children carries a `".": {}` entry.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::path::{Path, PathElement};

/// A set of field paths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    /// Never holds an empty set.
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// An empty set.
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    /// Whether the set holds no path.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    /// Adds a path. The empty path (the root) is ignored.
    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// Whether the path is in the set.
    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self
                .children
                .get(first)
                .is_some_and(|child| child.has(rest)),
        }
    }

    /// Whether the set holds any path that goes below `path`.
    pub fn has_below(&self, path: &[PathElement]) -> bool {
        match path {
            [] => !self.is_empty(),
            [first, rest @ ..] => self
                .children
                .get(first)
                .is_some_and(|child| child.has_below(rest)),
        }
    }

    /// The paths in both sets.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (element, child) in &other.children {
            let merged = match out.children.get(element) {
                Some(mine) => mine.union(child),
                None => child.clone(),
            };
            out.children.insert(element.clone(), merged);
        }
        out
    }

    /// The paths of `self` that are not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (element, child) in &self.children {
            let rest = match other.children.get(element) {
                Some(theirs) => child.difference(theirs),
                None => child.clone(),
            };
            if !rest.is_empty() {
                children.insert(element.clone(), rest);
            }
        }
        FieldSet { members, children }
    }

    /// The paths in both `self` and `other`.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.intersection(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (element, child) in &self.children {
            if let Some(theirs) = other.children.get(element) {
                let both = child.intersection(theirs);
                if !both.is_empty() {
                    children.insert(element.clone(), both);
                }
            }
        }
        FieldSet { members, children }
    }

    /// The set without the top-level fields for which `ignored` holds, nor anything below them.
    pub fn without_top_level(&self, ignored: impl Fn(&str) -> bool) -> FieldSet {
        let keep =
            |element: &PathElement| !matches!(element, PathElement::Field(name) if ignored(name));
        FieldSet {
            members: self.members.iter().filter(|e| keep(e)).cloned().collect(),
            children: self
                .children
                .iter()
                .filter(|(e, _)| keep(e))
                .map(|(e, child)| (e.clone(), child.clone()))
                .collect(),
        }
    }

    /// Every path of the set, in structured-merge-diff's order: at each level the members first,
    /// then the deeper paths, each sorted by element.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect_paths(&Path::default(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &Path, out: &mut Vec<Path>) {
        for member in &self.members {
            out.push(prefix.child(member.clone()));
        }
        for (element, child) in &self.children {
            child.collect_paths(&prefix.child(element.clone()), out);
        }
    }

    /// The set as a `fieldsV1` object.
    pub fn to_fields_v1(&self) -> Value {
        self.encode(false)
    }

    fn encode(&self, include_self: bool) -> Value {
        let mut entries: Vec<(String, Value)> = Vec::new();
        if include_self {
            entries.push((".".to_string(), Value::Object(Map::new())));
        }
        let elements: BTreeSet<&PathElement> =
            self.members.iter().chain(self.children.keys()).collect();
        for element in elements {
            let value = match self.children.get(element) {
                Some(child) => child.encode(self.members.contains(element)),
                None => Value::Object(Map::new()),
            };
            entries.push((element.to_fields_key(), value));
        }
        // Insert in sorted key order so the output is the same whether or not serde_json keeps
        // insertion order.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Value::Object(entries.into_iter().collect())
    }

    /// Parses a `fieldsV1` object.
    pub fn from_fields_v1(value: &Value) -> Result<FieldSet, String> {
        let Value::Object(map) = value else {
            return Err("fieldsV1 must be an object".to_string());
        };
        let mut set = FieldSet::new();
        for (key, child) in map {
            if key == "." {
                continue;
            }
            let element = PathElement::from_fields_key(key)
                .ok_or_else(|| format!("invalid path element {key:?}"))?;
            let Value::Object(child_map) = child else {
                return Err(format!("value of {key:?} must be an object"));
            };
            if child_map.is_empty() || child_map.contains_key(".") {
                set.members.insert(element.clone());
            }
            let nested = FieldSet::from_fields_v1(child)?;
            if !nested.is_empty() {
                set.children.insert(element, nested);
            }
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(value: Value) -> FieldSet {
        FieldSet::from_fields_v1(&value).unwrap()
    }

    #[test]
    fn fields_v1_round_trips() {
        let fields = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {
                ".": {}, "f:port": {}, "f:targetPort": {}}},
                "f:selector": {}}
        });
        let parsed = set(fields.clone());
        assert_eq!(parsed.to_fields_v1(), fields);
        assert!(parsed.has(&[
            PathElement::Field("metadata".into()),
            PathElement::Field("labels".into())
        ]));
        assert!(!parsed.has(&[PathElement::Field("spec".into())]));
        assert!(parsed.has_below(&[PathElement::Field("spec".into())]));
    }

    #[test]
    fn set_algebra_drops_empty_branches() {
        let a = set(json!({"f:spec": {"f:a": {}, "f:b": {}}, "f:data": {"f:x": {}}}));
        let b = set(json!({"f:spec": {"f:a": {}, "f:b": {}}}));
        assert_eq!(
            a.difference(&b).to_fields_v1(),
            json!({"f:data": {"f:x": {}}})
        );
        assert_eq!(a.intersection(&b), b);
        assert_eq!(b.union(&a), a);
        assert!(b.difference(&a).is_empty());
    }

    #[test]
    fn paths_list_members_before_deeper_paths() {
        let s =
            set(json!({"f:spec": {"f:type": {}, "f:ports": {"k:{\"port\":80}": {"f:name": {}}}}}));
        let printed: Vec<String> = s.paths().iter().map(ToString::to_string).collect();
        assert_eq!(printed, [".spec.type", ".spec.ports[port=80].name"]);
    }

    #[test]
    fn rejects_malformed_fields() {
        assert!(FieldSet::from_fields_v1(&json!({"q:x": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"f:x": 1})).is_err());
        assert!(FieldSet::from_fields_v1(&json!([])).is_err());
    }
}
