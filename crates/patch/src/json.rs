//! JSON patch (RFC 6902) and JSON merge patch (RFC 7386).
//!
//! Both are generic JSON operations; only the error messages are made to read like the ones
//! Kubernetes' API server returns (it uses evanphx/json-patch).

use json_patch::{Patch, PatchErrorKind, PatchOperation};
use serde_json::Value;

use crate::error::PatchError;

/// Applies an RFC 6902 JSON patch (a list of operations) to `doc`.
///
/// A body that is not a list of operations gives [`PatchError::JsonPatchDecode`] (400); an
/// operation that does not apply (missing path, failed `test`) gives
/// [`PatchError::JsonPatchApply`] (422). Operations apply all or nothing.
pub fn json_patch(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    if !patch.is_array() {
        let found = match patch {
            Value::Object(_) => "object",
            Value::String(_) => "string",
            Value::Number(_) => "number",
            Value::Bool(_) => "bool",
            _ => "null",
        };
        return Err(PatchError::JsonPatchDecode(format!(
            "json: cannot unmarshal {found} into Go value of type jsonpatch.Patch"
        )));
    }
    let ops: Patch = serde_json::from_value(patch.clone())
        .map_err(|e| PatchError::JsonPatchDecode(e.to_string()))?;
    let mut out = doc.clone();
    if let Err(e) = json_patch::patch(&mut out, &ops) {
        let op = ops.0.get(e.operation);
        return Err(PatchError::JsonPatchApply(apply_message(op, &e.kind)));
    }
    Ok(out)
}

/// Applies an RFC 7386 merge patch: objects merge recursively, `null` removes a key, anything
/// else (including arrays and a non-object patch) replaces.
pub fn merge_patch(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    let mut out = doc.clone();
    json_patch::merge(&mut out, patch);
    Ok(out)
}

/// The evanphx/json-patch message for a failed operation.
fn apply_message(op: Option<&PatchOperation>, kind: &PatchErrorKind) -> String {
    let Some(op) = op else {
        return kind.to_string();
    };
    let path = op.path().to_string();
    match (op, kind) {
        (PatchOperation::Test(_), _) => format!("testing value {path} failed: test failed"),
        (PatchOperation::Add(_), _) => {
            format!("add operation does not apply: doc is missing path: \"{path}\": missing value")
        }
        (PatchOperation::Remove(_), _) => format!(
            "remove operation does not apply: doc is missing path: \"{path}\": missing value"
        ),
        (PatchOperation::Replace(_), _) => {
            format!("replace operation does not apply: doc is missing key: {path}: missing value")
        }
        (PatchOperation::Move(m), PatchErrorKind::InvalidFromPointer) => format!(
            "move operation does not apply: doc is missing from path: {}: missing value",
            m.from
        ),
        (PatchOperation::Move(_), _) => format!(
            "move operation does not apply: doc is missing destination path: {path}: missing value"
        ),
        (PatchOperation::Copy(c), PatchErrorKind::InvalidFromPointer) => format!(
            "copy operation does not apply: doc is missing from path: {}: missing value",
            c.from
        ),
        (PatchOperation::Copy(_), _) => format!(
            "copy operation does not apply: doc is missing destination path: {path}: missing value"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc() -> Value {
        json!({"metadata": {"name": "web", "labels": {"app": "web", "tier": "fe"}},
               "spec": {"ports": [{"port": 80}], "replicas": 1}})
    }

    /// Expected labels after the patch, or the error message and HTTP status.
    type Want = Result<Value, (&'static str, u16)>;

    #[test]
    fn json_patch_table() {
        let cases: Vec<(&str, Value, Want)> = vec![
            (
                "add a label",
                json!([{"op": "add", "path": "/metadata/labels/env", "value": "prod"}]),
                Ok(json!({"app": "web", "tier": "fe", "env": "prod"})),
            ),
            (
                "remove a label",
                json!([{"op": "remove", "path": "/metadata/labels/tier"}]),
                Ok(json!({"app": "web"})),
            ),
            (
                "replace a label",
                json!([{"op": "replace", "path": "/metadata/labels/app", "value": "api"}]),
                Ok(json!({"app": "api", "tier": "fe"})),
            ),
            (
                "test passes then add",
                json!([{"op": "test", "path": "/metadata/labels/app", "value": "web"},
                       {"op": "add", "path": "/metadata/labels/x", "value": "y"}]),
                Ok(json!({"app": "web", "tier": "fe", "x": "y"})),
            ),
            (
                "test fails",
                json!([{"op": "test", "path": "/metadata/labels/app", "value": "db"}]),
                Err(("testing value /metadata/labels/app failed: test failed", 422)),
            ),
            (
                "remove missing",
                json!([{"op": "remove", "path": "/metadata/labels/nope"}]),
                Err(("remove operation does not apply: doc is missing path: \"/metadata/labels/nope\": missing value", 422)),
            ),
            (
                "replace missing",
                json!([{"op": "replace", "path": "/metadata/annotations/a", "value": "b"}]),
                Err(("replace operation does not apply: doc is missing key: /metadata/annotations/a: missing value", 422)),
            ),
            (
                "not a list",
                json!({"op": "add"}),
                Err(("json: cannot unmarshal object into Go value of type jsonpatch.Patch", 400)),
            ),
        ];
        for (name, patch, want) in cases {
            let got = json_patch(&svc(), &patch);
            match (got, want) {
                (Ok(v), Ok(labels)) => assert_eq!(v["metadata"]["labels"], labels, "{name}"),
                (Err(e), Err((msg, code))) => {
                    assert_eq!(e.to_string(), msg, "{name}");
                    assert_eq!(e.status_code(), code, "{name}");
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn failed_json_patch_changes_nothing() {
        let patch = json!([{"op": "add", "path": "/metadata/labels/x", "value": "y"},
                           {"op": "test", "path": "/spec/replicas", "value": 3}]);
        assert!(json_patch(&svc(), &patch).is_err());
    }

    #[test]
    fn merge_patch_follows_rfc7386() {
        let out = merge_patch(
            &svc(),
            &json!({"metadata": {"labels": {"tier": null, "env": "prod"}},
                    "spec": {"ports": [{"port": 8080}], "replicas": 3, "new": {"a": null, "b": 1}}}),
        )
        .unwrap();
        assert_eq!(
            out["metadata"]["labels"],
            json!({"app": "web", "env": "prod"})
        );
        // Lists are replaced whole, nulls in new objects are dropped.
        assert_eq!(out["spec"]["ports"], json!([{"port": 8080}]));
        assert_eq!(out["spec"]["replicas"], json!(3));
        assert_eq!(out["spec"]["new"], json!({"b": 1}));
        assert_eq!(out["metadata"]["name"], json!("web"));
    }

    #[test]
    fn scale_shaped_merge_patch() {
        let out = merge_patch(&svc(), &json!({"spec": {"replicas": 0}})).unwrap();
        assert_eq!(out["spec"]["replicas"], json!(0));
        assert_eq!(out["spec"]["ports"], json!([{"port": 80}]));
    }
}
