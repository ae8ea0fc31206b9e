//! The ownership bookkeeping shared by apply and update: who loses which fields when an object
//! changes, and which fields are never owned.

use crate::managed::{Managed, ManagerKey};
use crate::path::PathElement;
use crate::set::FieldSet;
use crate::typed::Comparison;

/// Fields the server sets, which no manager owns (Kubernetes' `stripMeta`).
pub fn strip_server_fields(set: &FieldSet) -> FieldSet {
    let field = |name: &str| PathElement::Field(name.to_string());
    let mut strip = FieldSet::new();
    strip.insert(&[field("apiVersion")]);
    strip.insert(&[field("kind")]);
    strip.insert(&[field("metadata")]);
    for name in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        strip.insert(&[field("metadata"), field(name)]);
    }
    set.difference(&strip)
}

/// The top-level fields a write through `subresource` does not own: `status` for the main
/// resource (its strategy resets it), everything but `status` for the status subresource.
pub fn ignored_top_level(subresource: &str) -> impl Fn(&str) -> bool + '_ {
    move |name: &str| match subresource {
        "" => name == "status",
        "status" => name != "status",
        _ => false,
    }
}

/// A field some other manager owns and the change would take from it.
pub type Conflicts = Vec<(ManagerKey, FieldSet)>;

/// Takes the changed fields from every manager but `except` (structured-merge-diff's `update`).
///
/// Fields a manager owns that the change modifies or adds are conflicts: without `force` they
/// are returned and nothing changes; with `force` they are taken away. Removed fields are
/// always taken away. Managers left with no field disappear.
pub fn take_changed_fields(
    managed: &mut Managed,
    except: Option<&ManagerKey>,
    changes: &Comparison,
    force: bool,
) -> Result<(), Conflicts> {
    let changed = changes.modified.union(&changes.added);
    let mut conflicts = Conflicts::new();
    for (key, entry) in managed.iter() {
        if Some(key) == except {
            continue;
        }
        let lost = entry.set.intersection(&changed);
        if !lost.is_empty() {
            conflicts.push((key.clone(), lost));
        }
    }
    if !force && !conflicts.is_empty() {
        return Err(conflicts);
    }
    for (key, entry) in managed.iter_mut() {
        if Some(key) == except {
            continue;
        }
        entry.set = entry.set.difference(&changed).difference(&changes.removed);
    }
    managed.retain(|_, entry| !entry.set.is_empty());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_fields_are_never_owned() {
        let set = FieldSet::from_fields_v1(&json!({"f:apiVersion": {}, "f:kind": {},
            "f:metadata": {"f:name": {}, "f:namespace": {}, "f:resourceVersion": {},
                           "f:labels": {"f:app": {}}}}))
        .unwrap();
        assert_eq!(
            strip_server_fields(&set).to_fields_v1(),
            json!({"f:metadata": {"f:labels": {"f:app": {}}}})
        );
    }

    #[test]
    fn status_is_ignored_on_the_main_resource_only() {
        let main = ignored_top_level("");
        assert!(main("status") && !main("spec"));
        let status = ignored_top_level("status");
        assert!(!status("status") && status("spec") && status("metadata"));
    }
}
