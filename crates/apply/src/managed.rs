//! `metadata.managedFields`: decoding, encoding and the identity of a manager.
//!
//! Kubernetes keys each entry by its manager name, operation, subresource and, for `Update`
//! entries only, API version; time and fields are not part of the identity. Entries are written
//! sorted by operation (`Apply` first), then time, manager, API version and subresource.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::set::FieldSet;

/// The operation an entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// Server-side apply.
    Apply,
    /// Any other write: create, update, patch.
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// The identity of a managedFields entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ManagerKey {
    /// The field manager name.
    pub manager: String,
    /// Apply or Update.
    pub operation: Operation,
    /// The API version, for Update entries only (empty for Apply).
    pub api_version: String,
    /// The subresource written through (empty for the main resource).
    pub subresource: String,
}

impl ManagerKey {
    /// The key of an `Apply` entry.
    pub fn apply(manager: &str, subresource: &str) -> ManagerKey {
        ManagerKey {
            manager: manager.to_string(),
            operation: Operation::Apply,
            api_version: String::new(),
            subresource: subresource.to_string(),
        }
    }

    /// The key of an `Update` entry.
    pub fn update(manager: &str, api_version: &str, subresource: &str) -> ManagerKey {
        ManagerKey {
            manager: manager.to_string(),
            operation: Operation::Update,
            api_version: api_version.to_string(),
            subresource: subresource.to_string(),
        }
    }

    /// How conflict messages name the manager: `"kubectl"`, or `"kubectl-edit" using v1` for
    /// updates, with ` with subresource "status"` when written through a subresource.
    pub fn describe(&self) -> String {
        let mut out = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            out.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if self.operation == Operation::Update {
            out.push_str(&format!(" using {}", self.api_version));
        }
        out
    }
}

/// The rest of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The API version the fields are expressed in.
    pub api_version: String,
    /// When the manager last changed the object (RFC 3339), if recorded.
    pub time: Option<String>,
    /// The owned fields.
    pub set: FieldSet,
}

/// All entries of an object.
pub type Managed = BTreeMap<ManagerKey, Entry>;

/// The `metadata.managedFields` value of an object, if any.
pub fn managed_fields_of(object: &Value) -> Option<&Value> {
    object
        .get("metadata")?
        .get("managedFields")
        .filter(|v| !v.is_null())
}

/// A copy of `object` without `metadata.managedFields`.
pub fn without_managed_fields(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(metadata) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
    copy
}

/// Whether a request asks to clear managedFields: an empty list, or a list of one empty entry.
pub fn is_reset(list: Option<&Value>) -> bool {
    match list.and_then(Value::as_array).map(Vec::as_slice) {
        Some([]) => true,
        Some([only]) => only.as_object().is_some_and(Map::is_empty),
        _ => false,
    }
}

/// Decodes a `metadata.managedFields` list.
pub fn decode(list: Option<&Value>) -> Result<Managed, String> {
    let mut managed = Managed::new();
    let Some(list) = list else {
        return Ok(managed);
    };
    let entries = list.as_array().ok_or("managedFields must be a list")?;
    for (i, entry) in entries.iter().enumerate() {
        let text = |name: &str| entry.get(name).and_then(Value::as_str).unwrap_or_default();
        let operation = match text("operation") {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            _ => return Err("operation must be `Apply` or `Update`".to_string()),
        };
        let api_version = text("apiVersion");
        if api_version.is_empty() {
            return Err("apiVersion must not be empty".to_string());
        }
        match text("fieldsType") {
            "FieldsV1" => {}
            "" => return Err(format!("missing fieldsType in managed fields entry {i}")),
            other => {
                return Err(format!(
                    "invalid fieldsType {other:?} in managed fields entry {i}"
                ))
            }
        }
        let set = match entry.get("fieldsV1") {
            Some(fields) => FieldSet::from_fields_v1(fields)
                .map_err(|e| format!("error decoding versioned set from entry {i}: {e}"))?,
            None => FieldSet::new(),
        };
        let key = match operation {
            Operation::Apply => ManagerKey::apply(text("manager"), text("subresource")),
            Operation::Update => {
                ManagerKey::update(text("manager"), api_version, text("subresource"))
            }
        };
        let time = entry
            .get("time")
            .and_then(Value::as_str)
            .map(str::to_string);
        managed.insert(
            key,
            Entry {
                api_version: api_version.to_string(),
                time,
                set,
            },
        );
    }
    Ok(managed)
}

/// Encodes entries as a sorted `metadata.managedFields` list; `None` when there are none.
pub fn encode(managed: &Managed) -> Option<Value> {
    if managed.is_empty() {
        return None;
    }
    let mut entries: Vec<(&ManagerKey, &Entry)> = managed.iter().collect();
    entries.sort_by(|(ka, ea), (kb, eb)| {
        ka.operation
            .cmp(&kb.operation)
            .then_with(|| {
                ea.time
                    .as_deref()
                    .unwrap_or("")
                    .cmp(eb.time.as_deref().unwrap_or(""))
            })
            .then_with(|| ka.manager.cmp(&kb.manager))
            .then_with(|| ea.api_version.cmp(&eb.api_version))
            .then_with(|| ka.subresource.cmp(&kb.subresource))
    });
    let list = entries
        .into_iter()
        .map(|(key, entry)| {
            let mut object = Map::new();
            object.insert("manager".into(), json!(key.manager));
            object.insert("operation".into(), json!(key.operation.as_str()));
            object.insert("apiVersion".into(), json!(entry.api_version));
            if let Some(time) = &entry.time {
                object.insert("time".into(), json!(time));
            }
            object.insert("fieldsType".into(), json!("FieldsV1"));
            object.insert("fieldsV1".into(), entry.set.to_fields_v1());
            if !key.subresource.is_empty() {
                object.insert("subresource".into(), json!(key.subresource));
            }
            Value::Object(object)
        })
        .collect();
    Some(Value::Array(list))
}

/// Writes `managedFields` into `object` (or removes it when there are no entries).
pub fn store(object: &mut Value, managed: &Managed) {
    let Some(root) = object.as_object_mut() else {
        return;
    };
    let metadata = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(metadata) = metadata.as_object_mut() else {
        return;
    };
    match encode(managed) {
        Some(list) => metadata.insert("managedFields".into(), list),
        None => metadata.remove("managedFields"),
    };
}

/// Most `Update` entries kept; older ones are merged into `ancient-changes` entries.
pub const MAX_UPDATE_MANAGERS: usize = 10;

/// Keeps at most `max` Update entries by merging the oldest into one `ancient-changes` entry per
/// API version, as Kubernetes does.
pub fn cap_updates(managed: &mut Managed, max: usize) {
    let mut updaters: Vec<ManagerKey> = managed
        .keys()
        .filter(|k| k.operation == Operation::Update)
        .cloned()
        .collect();
    if updaters.len() <= max {
        return;
    }
    let time_of = |k: &ManagerKey| {
        managed
            .get(k)
            .and_then(|e| e.time.clone())
            .unwrap_or_default()
    };
    updaters.sort_by(|a, b| time_of(a).cmp(&time_of(b)).then_with(|| a.cmp(b)));
    let mut count = updaters.len();
    let mut first_of_version: BTreeMap<String, ManagerKey> = BTreeMap::new();
    for key in updaters {
        if count <= max {
            break;
        }
        let Some(entry) = managed.get(&key).cloned() else {
            continue;
        };
        let bucket = ManagerKey::update("ancient-changes", &entry.api_version, "");
        match first_of_version.get(&entry.api_version) {
            None => {
                first_of_version.insert(entry.api_version.clone(), key);
            }
            Some(first) => {
                if !managed.contains_key(&bucket) {
                    if let Some(first_entry) = managed.remove(first) {
                        managed.insert(bucket.clone(), first_entry);
                    }
                }
                managed.remove(&key);
                if let Some(bucket_entry) = managed.get_mut(&bucket) {
                    bucket_entry.set = entry.set.union(&bucket_entry.set);
                    bucket_entry.time = entry.time.clone();
                }
                count -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_and_encode_round_trip_in_kubernetes_order() {
        let list = json!([
            {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
             "time": "2019-03-30T16:00:00Z", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:data": {"f:key": {}}}},
            {"manager": "kubectl", "operation": "Apply", "apiVersion": "v1",
             "time": "2019-03-30T15:00:00Z", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:metadata": {"f:labels": {"f:test-label": {}}}}}
        ]);
        let managed = decode(Some(&list)).unwrap();
        let encoded = encode(&managed).unwrap();
        assert_eq!(encoded[0]["manager"], "kubectl");
        assert_eq!(encoded[1]["manager"], "kube-controller-manager");
        assert_eq!(decode(Some(&encoded)).unwrap(), managed);
    }

    #[test]
    fn invalid_entries_are_errors() {
        let bad_op = json!([{"manager": "m", "operation": "Patch", "apiVersion": "v1", "fieldsType": "FieldsV1"}]);
        assert_eq!(
            decode(Some(&bad_op)).unwrap_err(),
            "operation must be `Apply` or `Update`"
        );
        let no_type = json!([{"manager": "m", "operation": "Update", "apiVersion": "v1"}]);
        assert_eq!(
            decode(Some(&no_type)).unwrap_err(),
            "missing fieldsType in managed fields entry 0"
        );
    }

    #[test]
    fn managers_are_described_like_kubernetes() {
        assert_eq!(ManagerKey::apply("kubectl", "").describe(), "\"kubectl\"");
        assert_eq!(
            ManagerKey::update("kubectl-client-side-apply", "v1", "").describe(),
            "\"kubectl-client-side-apply\" using v1"
        );
        assert_eq!(
            ManagerKey::update("kcm", "v1", "status").describe(),
            "\"kcm\" with subresource \"status\" using v1"
        );
    }

    #[test]
    fn reset_means_empty_list_or_one_empty_entry() {
        assert!(is_reset(Some(&json!([]))));
        assert!(is_reset(Some(&json!([{}]))));
        assert!(!is_reset(None));
        assert!(!is_reset(Some(&json!([{"manager": "x"}]))));
    }

    #[test]
    fn update_entries_are_capped_into_ancient_changes() {
        let mut managed = Managed::new();
        for i in 0..12 {
            let set = FieldSet::from_fields_v1(&json!({format!("f:f{i}"): {}})).unwrap();
            managed.insert(
                ManagerKey::update(&format!("m{i:02}"), "v1", ""),
                Entry {
                    api_version: "v1".into(),
                    time: Some(format!("2024-01-01T00:00:{i:02}Z")),
                    set,
                },
            );
        }
        cap_updates(&mut managed, MAX_UPDATE_MANAGERS);
        assert_eq!(managed.len(), 10);
        let bucket = &managed[&ManagerKey::update("ancient-changes", "v1", "")];
        assert_eq!(
            bucket.set.to_fields_v1(),
            json!({"f:f0": {}, "f:f1": {}, "f:f2": {}})
        );
        assert_eq!(bucket.time.as_deref(), Some("2024-01-01T00:00:02Z"));
    }
}
