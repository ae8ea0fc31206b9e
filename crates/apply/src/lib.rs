//! Server-side apply with field ownership, as Kubernetes implements it with
//! structured-merge-diff.
//!
//! Every object carries `metadata.managedFields`: one entry per field manager and operation
//! (`Apply` or `Update`), each with the set of fields it owns in the `fieldsV1` format
//! (`f:name`, `k:{"port":80,"protocol":"TCP"}`, `v:"value"`, `"."`).
//!
//! - [`apply`] merges an applied configuration into the live object (creating it when absent),
//!   removes the fields the same manager applied before but no longer names (unless another
//!   manager owns them), and fails with [`ApplyError::Conflicts`] when it would change a field
//!   another manager owns, unless forced.
//! - [`record_update`] records any other write: the writer takes the fields it changed.
//!
//! Which lists are associative (and by which keys), which are sets or atomic, and which objects
//! are maps rather than structs is kept per kind in [`schema`].

mod last_applied;
mod managed;
mod ownership;
pub mod path;
pub mod schema;
mod server_apply;
pub mod set;
mod typed;
mod update;

use serde_json::Value;

pub use last_applied::ANNOTATION as LAST_APPLIED_ANNOTATION;

/// The result of a server-side apply.
#[derive(Clone, Debug, PartialEq)]
pub struct ApplyOutcome {
    /// The object to store, with `metadata.managedFields` updated.
    pub object: Value,
    /// Whether `object` differs from the live object (always true on create). When false, the
    /// apply was a no-op and nothing needs to be written.
    pub changed: bool,
}

/// One field another manager owns and the apply would change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The manager that owns the field.
    pub manager: String,
    /// The field, as Kubernetes prints it: `.spec.ports[port=80,protocol="TCP"].targetPort`.
    pub field: String,
    /// The Status cause message: `conflict with "kubectl-client-side-apply" using v1`.
    pub message: String,
}

/// Why an apply failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The apply would change fields other managers own (HTTP 409, one `FieldManagerConflict`
    /// cause per conflict).
    #[error("{}", conflicts_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The body or the configuration is not acceptable (HTTP 400).
    #[error("{0}")]
    BadRequest(String),
    /// The live object's managedFields cannot be read (HTTP 500).
    #[error("{0}")]
    ManagedFields(String),
}

impl ApplyError {
    /// The HTTP status code Kubernetes answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            ApplyError::Conflicts(_) => 409,
            ApplyError::BadRequest(_) => 400,
            ApplyError::ManagedFields(_) => 500,
        }
    }
}

/// The Status message for a list of conflicts, worded as Kubernetes words it:
/// `Apply failed with 1 conflict: conflict with "mgr" using v1: .spec.x`, or for several,
/// `Apply failed with 2 conflicts: conflicts with "a":\n- .spec.x\n- .spec.y`, grouped by manager.
pub fn conflicts_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: {}: {}",
            only.message, only.field
        );
    }
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for conflict in conflicts {
        let described = conflict
            .message
            .strip_prefix("conflict with ")
            .unwrap_or(&conflict.message);
        match groups.iter_mut().find(|(m, _)| *m == described) {
            Some((_, fields)) => fields.push(&conflict.field),
            None => groups.push((described, vec![&conflict.field])),
        }
    }
    groups.sort_by(|a, b| a.0.cmp(b.0));
    let mut lines = Vec::new();
    for (described, fields) in groups {
        lines.push(format!("conflicts with {described}:"));
        lines.extend(fields.into_iter().map(|f| format!("- {f}")));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// Server-side apply of `config` (the applied configuration, already parsed) by `manager` onto
/// `live` (`None`: the object does not exist yet). Returns the new object with
/// `metadata.managedFields` updated. `now` is the RFC 3339 time to record.
///
/// `status` in the configuration is ignored (the main resource's strategy resets it), and so
/// are the fields the server sets (`metadata.name`, `uid`, `resourceVersion`, ...) as far as
/// ownership goes. For the `kubectl` manager, conflicts on fields that the
/// `last-applied-configuration` annotation still describes are forced, and the annotation is
/// rewritten to the applied configuration, as Kubernetes does.
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<ApplyOutcome, ApplyError> {
    server_apply::apply(live, config, manager, force, now)
}

/// Records an ordinary write (create/update/patch) by `manager` (e.g.
/// `kubectl-client-side-apply`, `kubectl-edit`, `kubectl-label`): updates
/// `metadata.managedFields` of `new` given the previous object `old` (`None` on create), with
/// operation `Update`, and takes those fields away from other managers' entries.
///
/// Call it with the object as it will be stored, after defaulting. managedFields that `new`
/// carries and that differ from `old`'s are taken as the client's own edit of them (an empty
/// list clears them); when `new` has none, `old`'s are kept. `status` changes are not owned
/// through the main resource.
pub fn record_update(old: Option<&Value>, new: &mut Value, manager: &str, now: &str) {
    update::record(old, new, manager, "", now);
}

/// Like [`record_update`], for a write through a subresource (`status`, `scale`): the entry
/// records the subresource, and a `status` write owns only `status` fields.
pub fn record_subresource_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: &str,
    now: &str,
) {
    update::record(old, new, manager, subresource, now);
}

/// Parses an `application/apply-patch+yaml` body: JSON (what kubectl sends) or YAML.
pub fn parse_apply_body(body: &[u8]) -> Result<Value, ApplyError> {
    let value = match serde_json::from_slice::<Value>(body) {
        Ok(value) => value,
        Err(_) => {
            let text = std::str::from_utf8(body)
                .map_err(|e| ApplyError::BadRequest(format!("error decoding YAML: {e}")))?;
            serde_saphyr::from_str::<Value>(text)
                .map_err(|e| ApplyError::BadRequest(format!("error decoding YAML: {e}")))?
        }
    };
    if !value.is_object() {
        return Err(ApplyError::BadRequest(
            "error decoding YAML: the apply body must be an object".to_string(),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests;
