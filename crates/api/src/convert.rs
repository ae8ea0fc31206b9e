//! Conversion between a served version and the version objects are stored in.
//!
//! Objects are stored once, in the version of their [`RESOURCES`](crate::RESOURCES) row.
//! A request in an older served version ([`crate::registry::LEGACY`]) has its body converted
//! with [`to_storage`] (which also applies that version's defaults, as Kubernetes decoded and
//! defaulted the old version before converting) and every object it reads back converted
//! with [`from_storage`]. For a stored version both only set `apiVersion`.
//!
//! The conversions are Kubernetes 1.21's: no annotations are added, and every field the old
//! version can hold survives `from_storage` followed by `to_storage`.

mod ingress;

use serde_json::{json, Value};

use crate::registry::{is_legacy, storage_of, ResourceInfo};

/// Converts an object written in `info`'s version to the stored version, applying the
/// defaults of `info`'s version first. Non-objects are returned unchanged.
pub fn to_storage(info: &ResourceInfo, mut obj: Value) -> Value {
    if !obj.is_object() || !is_legacy(info) {
        return obj;
    }
    let target = storage_of(info);
    if info.gvk.kind == "Ingress" {
        ingress::to_v1(&mut obj);
    }
    obj["apiVersion"] = json!(target.gvk.api_version());
    obj["kind"] = json!(target.gvk.kind);
    obj
}

/// Converts a stored object to `info`'s version. Non-objects (e.g. a `Status` in a watch
/// ERROR event) and objects of another kind are returned unchanged.
pub fn from_storage(info: &ResourceInfo, mut obj: Value) -> Value {
    if !obj.is_object() || !is_legacy(info) || obj["kind"] != json!(info.gvk.kind) {
        return obj;
    }
    if info.gvk.kind == "Ingress" {
        ingress::from_v1(&mut obj);
    }
    obj["apiVersion"] = json!(info.gvk.api_version());
    obj
}

#[cfg(test)]
#[path = "convert/tests.rs"]
mod tests;
