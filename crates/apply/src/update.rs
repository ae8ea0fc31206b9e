//! Recording ordinary writes (create, update, non-apply patch) in managedFields.

use serde_json::{Map, Value};

use crate::managed::{self, Entry, Managed, ManagerKey, MAX_UPDATE_MANAGERS};
use crate::ownership::{ignored_top_level, strip_server_fields, take_changed_fields};
use crate::schema::Schema;
use crate::typed;

/// See [`crate::record_update`] and [`crate::record_subresource_update`].
pub fn record(old: Option<&Value>, new: &mut Value, manager: &str, subresource: &str, now: &str) {
    if !new.is_object() {
        return;
    }
    let text = |object: Option<&Value>, name: &str| {
        object
            .and_then(|o| o.get(name))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut api_version = text(Some(new), "apiVersion");
    if api_version.is_empty() {
        api_version = text(old, "apiVersion");
    }
    let mut kind = text(Some(new), "kind");
    if kind.is_empty() {
        kind = text(old, "kind");
    }
    let old_list = old.and_then(managed::managed_fields_of).cloned();
    let from_old = || managed::decode(old_list.as_ref()).unwrap_or_default();
    // A client may set managedFields itself (kubectl does, to migrate from client-side apply),
    // or clear them; through a subresource it may not.
    let new_list = managed::managed_fields_of(new);
    let starting = if !subresource.is_empty() {
        from_old()
    } else if managed::is_reset(new_list) {
        Managed::new()
    } else {
        match managed::decode(new_list) {
            Ok(decoded) if !decoded.is_empty() => decoded,
            _ => from_old(),
        }
    };
    if starting.is_empty() && old.is_some() {
        // Kubernetes tracks an object from its creation, or from its first apply: an update of
        // an object without managedFields stays untracked.
        managed::store(new, &starting);
        return;
    }
    let schema = Schema::for_kind(&api_version, &kind);
    let old_body = old
        .map(managed::without_managed_fields)
        .unwrap_or_else(|| Value::Object(Map::new()));
    let new_body = managed::without_managed_fields(new);
    match track(
        &schema,
        &old_body,
        &new_body,
        starting,
        manager,
        &api_version,
        subresource,
        now,
    ) {
        Ok(managed) => managed::store(new, &managed),
        Err(error) => {
            // As Kubernetes does, keep the previous managedFields rather than fail the write.
            tracing::warn!(%error, manager, kind, "could not update managedFields");
            let previous = managed::decode(old_list.as_ref()).unwrap_or_default();
            managed::store(new, &previous);
        }
    }
}

/// structured-merge-diff's `Updater.Update`, with Kubernetes' bookkeeping around it.
#[allow(clippy::too_many_arguments)]
pub fn track(
    schema: &Schema,
    old: &Value,
    new: &Value,
    mut managed: Managed,
    manager: &str,
    api_version: &str,
    subresource: &str,
    now: &str,
) -> Result<Managed, String> {
    let ignored = ignored_top_level(subresource);
    let changes = typed::compare(schema, old, new)?.without_top_level(&ignored);
    // Everybody, this manager's earlier entry included, loses what this write changed.
    let _ = take_changed_fields(&mut managed, None, &changes, true);
    let taken = strip_server_fields(&changes.modified.union(&changes.added));
    if !taken.is_empty() {
        let key = ManagerKey::update(manager, api_version, subresource);
        let set = match managed.remove(&key) {
            Some(previous) => taken.union(&previous.set),
            None => taken,
        };
        let entry = Entry {
            api_version: api_version.to_string(),
            time: Some(now.to_string()),
            set,
        };
        managed.insert(key, entry);
    }
    managed::cap_updates(&mut managed, MAX_UPDATE_MANAGERS);
    Ok(managed)
}
