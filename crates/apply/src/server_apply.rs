//! The apply operation: merge, prune, take ownership, detect conflicts.

use serde_json::{Map, Value};

use crate::last_applied;
use crate::managed::{self, Entry, Managed, ManagerKey};
use crate::ownership::{ignored_top_level, strip_server_fields, take_changed_fields};
use crate::schema::Schema;
use crate::typed::{self, merge};
use crate::{ApplyError, ApplyOutcome, Conflict};

/// The manager that owns what an object held before its first apply, if nobody managed it.
const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// The object's `apiVersion` and `kind`, as strings (empty when missing).
fn type_of(object: &Value) -> (&str, &str) {
    let text = |name: &str| object.get(name).and_then(Value::as_str).unwrap_or_default();
    (text("apiVersion"), text("kind"))
}

/// Go's `GroupVersionKind.String()`: `apps/v1, Kind=Deployment`, `/v1, Kind=Service`.
fn gvk_string(api_version: &str, kind: &str) -> String {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    format!("{group}/{version}, Kind={kind}")
}

/// See [`crate::apply`].
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<ApplyOutcome, ApplyError> {
    if !config.is_object() {
        return Err(ApplyError::BadRequest(
            "the applied configuration must be an object".into(),
        ));
    }
    let (api_version, kind) = type_of(config);
    let expected = live.map(type_of).unwrap_or((api_version, kind));
    let differs = |mine: &str, theirs: &str| !theirs.is_empty() && mine != theirs;
    if api_version.is_empty()
        || kind.is_empty()
        || differs(api_version, expected.0)
        || differs(kind, expected.1)
    {
        return Err(ApplyError::BadRequest(format!(
            "invalid object type: {}",
            gvk_string(api_version, kind)
        )));
    }
    if managed::managed_fields_of(config).is_some() {
        return Err(ApplyError::BadRequest(
            "metadata.managedFields must be nil".into(),
        ));
    }
    let schema = Schema::for_kind(api_version, kind);
    let managed = match live {
        Some(live) => managed::decode(managed::managed_fields_of(live)).map_err(|e| {
            ApplyError::ManagedFields(format!("failed to decode managed fields: {e}"))
        })?,
        None => Managed::new(),
    };
    let mut live_body = live
        .map(managed::without_managed_fields)
        .unwrap_or_else(|| Value::Object(Map::new()));
    if let Some(body) = live_body.as_object_mut() {
        // Some stores keep objects without their type; the configuration names it.
        body.entry("apiVersion")
            .or_insert_with(|| api_version.into());
        body.entry("kind").or_insert_with(|| kind.into());
    }
    let managed = if managed.is_empty() && live.is_some() {
        // An object nobody manages yet: what it holds belongs to "before-first-apply".
        let empty = Value::Object(Map::new());
        let (before, first) = (BEFORE_FIRST_APPLY, Managed::new());
        crate::update::track(
            &schema,
            &empty,
            &live_body,
            first,
            before,
            api_version,
            "",
            now,
        )
        .map_err(ApplyError::BadRequest)?
    } else {
        managed
    };
    // The strategy of the main resource resets status, so an apply never sets it.
    let mut applied = config.clone();
    if let Some(object) = applied.as_object_mut() {
        object.remove("status");
    }
    let key = ManagerKey::apply(manager, "");
    let merged = match merge_and_own(
        &schema,
        &live_body,
        &applied,
        managed.clone(),
        &key,
        api_version,
        force,
    ) {
        Ok(done) => done,
        Err(MergeError::Conflicts(conflicts)) if manager == last_applied::KUBECTL && !force => {
            // Fields client-side apply set, unchanged since, move over without conflicts.
            let allowed = live.and_then(|l| last_applied::allowed_conflicts(&schema, l));
            let remaining: Vec<Conflict> = match &allowed {
                Some(allowed) => conflicts
                    .into_iter()
                    .filter(|c| !allowed.has(&c.path.0))
                    .map(Conflict::from)
                    .collect(),
                None => conflicts.into_iter().map(Conflict::from).collect(),
            };
            if !remaining.is_empty() {
                return Err(ApplyError::Conflicts(remaining));
            }
            merge_and_own(
                &schema,
                &live_body,
                &applied,
                managed,
                &key,
                api_version,
                true,
            )
            .map_err(MergeError::into_apply_error)?
        }
        Err(e) => return Err(e.into_apply_error()),
    };
    let (mut object, mut managed, changed) = merged;
    if let Some(entry) = managed.get_mut(&key) {
        entry.set = strip_server_fields(&entry.set);
        if changed {
            entry.time = Some(now.to_string());
        }
        if entry.set.is_empty() {
            managed.remove(&key);
        }
    }
    if manager == last_applied::KUBECTL {
        last_applied::refresh(&mut object, config);
    }
    managed::store(&mut object, &managed);
    let mut baseline = live.cloned();
    if let Some(Value::Object(body)) = baseline.as_mut() {
        body.entry("apiVersion")
            .or_insert_with(|| api_version.into());
        body.entry("kind").or_insert_with(|| kind.into());
    }
    let changed = baseline.as_ref() != Some(&object);
    tracing::debug!(manager, force, changed, kind, "server-side apply");
    Ok(ApplyOutcome { object, changed })
}

/// A conflict before it is described.
pub struct RawConflict {
    /// Who owns the field.
    pub manager: ManagerKey,
    /// The field.
    pub path: crate::path::Path,
}

impl From<RawConflict> for Conflict {
    fn from(raw: RawConflict) -> Conflict {
        let described = raw.manager.describe();
        Conflict {
            manager: raw.manager.manager,
            field: raw.path.to_string(),
            message: format!("conflict with {described}"),
        }
    }
}

enum MergeError {
    Conflicts(Vec<RawConflict>),
    Invalid(String),
}

impl MergeError {
    fn into_apply_error(self) -> ApplyError {
        match self {
            MergeError::Conflicts(raw) => {
                ApplyError::Conflicts(raw.into_iter().map(Conflict::from).collect())
            }
            MergeError::Invalid(message) => ApplyError::BadRequest(message),
        }
    }
}

/// structured-merge-diff's `Updater.Apply`: the merged and pruned object, the new managed
/// fields, and whether the object changed.
fn merge_and_own(
    schema: &Schema,
    live: &Value,
    config: &Value,
    mut managed: Managed,
    key: &ManagerKey,
    api_version: &str,
    force: bool,
) -> Result<(Value, Managed, bool), MergeError> {
    let ignored = ignored_top_level("");
    let mut object = merge::merge(schema, live, config).map_err(MergeError::Invalid)?;
    let set = typed::to_field_set(schema, config)
        .map_err(MergeError::Invalid)?
        .without_top_level(&ignored);
    let previous = managed.remove(key);
    let mut keep = set.clone();
    for entry in managed.values() {
        keep = keep.union(&entry.set);
    }
    if let Some(previous) = &previous {
        merge::prune(schema, &mut object, &previous.set, &keep);
    }
    let time = previous.and_then(|p| p.time);
    managed.insert(
        key.clone(),
        Entry {
            api_version: api_version.to_string(),
            time,
            set,
        },
    );
    let changes = typed::compare(schema, live, &object)
        .map_err(MergeError::Invalid)?
        .without_top_level(&ignored);
    take_changed_fields(&mut managed, Some(key), &changes, force).map_err(|conflicts| {
        let mut raw: Vec<RawConflict> = conflicts
            .into_iter()
            .flat_map(|(manager, set)| {
                set.paths().into_iter().map(move |path| RawConflict {
                    manager: manager.clone(),
                    path,
                })
            })
            .collect();
        raw.sort_by(|a, b| a.manager.cmp(&b.manager));
        MergeError::Conflicts(raw)
    })?;
    let changed = object != *live;
    Ok((object, managed, changed))
}
