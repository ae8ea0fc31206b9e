//! PATCH in its four flavours (JSON, merge, strategic merge, server-side apply) on an
//! object, its status or its scale.
//!
//! In an older served version, JSON, merge and strategic merge patches apply to the object
//! converted to that version, and the result is converted back. A server-side apply
//! configuration is converted to the stored version and applied there, so managedFields
//! always describe the stored version's fields.

use serde_json::{json, Value};

use super::*;

/// The patch types Kubernetes accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json`.
    Json,
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchType {
    /// From a Content-Type.
    pub fn from_content_type(ct: &str) -> Result<PatchType, Error> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(PatchType::Apply),
            other => Err(Error::UnsupportedPatch(other.to_string())),
        }
    }
}

fn patch_error(e: impl std::fmt::Display) -> Error {
    Error::BadRequest(e.to_string())
}

/// Applies a patch to one object (or its status or scale), retrying on conflicts when the
/// patch itself names no resourceVersion, as Kubernetes does.
pub async fn patch(
    state: &State,
    ctx: &mut WriteCtx,
    req: &ResourceRequest,
    ty: PatchType,
    body: &[u8],
) -> Result<(Value, bool), Error> {
    let info = req.info;
    let name = name_of(req)?.to_string();
    let part = match req.subresource.as_deref() {
        Some("status") => Part::Status,
        _ => Part::Main,
    };
    let patch_doc: Value = match ty {
        PatchType::Apply => portico_apply::parse_apply_body(body).map_err(patch_error)?,
        _ => serde_json::from_slice(body)
            .map_err(|e| Error::BadRequest(format!("error decoding patch: {e}")))?,
    };
    let legacy = portico_api::registry::is_legacy(info);
    // The apply configuration in the stored version (its fields checked in the request's).
    let stored_apply = |ctx: &mut WriteCtx| -> Result<Value, Error> {
        check_strict(
            ctx,
            info,
            Some(&serde_json::to_vec(&patch_doc).unwrap_or_default()),
        )?;
        Ok(to_storage(info, patch_doc.clone()))
    };
    for attempt in 0..8 {
        let Some(kv) = get_kv(state, req, &name).await? else {
            if ty == PatchType::Apply && part == Part::Main && req.subresource.is_none() {
                let config = stored_apply(ctx)?;
                let applied = portico_apply::apply(None, &config, &ctx.manager, ctx.force, &now())
                    .map_err(apply_error)?;
                // Back to the request's version: creation starts from there.
                let mut obj = from_storage(info, applied.object);
                if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.insert("name".into(), json!(name));
                }
                let managed = obj["metadata"]["managedFields"].clone();
                let managed = (!managed.is_null()).then_some(managed);
                let created = create_with(state, ctx, req, obj, None, managed).await?;
                return Ok((created, true));
            }
            return Err(not_found(info, &name));
        };
        let old = decode_stored(&kv)?;
        let (base, scale) = if req.subresource.as_deref() == Some("scale") {
            (scale_of(info, &old)?, true)
        } else if legacy && ty != PatchType::Apply {
            (from_storage(info, old.clone()), false)
        } else {
            (old.clone(), false)
        };
        let mut patched = match ty {
            PatchType::Json => portico_patch::json_patch(&base, &patch_doc).map_err(patch_error)?,
            PatchType::Merge => {
                portico_patch::merge_patch(&base, &patch_doc).map_err(patch_error)?
            }
            PatchType::Strategic => {
                // An old version's lists merge as the stored version's do (Ingress lists
                // are atomic in every version).
                let stored = storage_of(info);
                let (av, kind) = if scale {
                    ("autoscaling/v1".to_string(), "Scale")
                } else {
                    (stored.gvk.api_version(), stored.gvk.kind)
                };
                portico_patch::strategic_merge_patch(&base, &patch_doc, &av, kind)
                    .map_err(patch_error)?
            }
            PatchType::Apply => {
                ctx.apply = true;
                let config = stored_apply(ctx)?;
                portico_apply::apply(Some(&base), &config, &ctx.manager, ctx.force, &now())
                    .map_err(apply_error)?
                    .object
            }
        };
        if scale {
            patched = set_scale(&old, &patched)?;
        } else if legacy && ty != PatchType::Apply {
            patched = to_storage(info, patched);
        }
        let wanted_rv = patched["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let pinned = !wanted_rv.is_empty() && wanted_rv != kv.mod_revision.to_string()
            || patch_doc["metadata"]["resourceVersion"].is_string();
        if pinned && wanted_rv != kv.mod_revision.to_string() {
            return Err(conflict(info, &name));
        }
        let result =
            write_update(state, ctx, req, &name, &old, kv.mod_revision, patched, part).await;
        match result {
            Err(Error::Conflict { .. }) if !pinned && attempt < 7 => continue,
            Err(e) => return Err(e),
            Ok(v) => {
                let v = if scale { scale_of(info, &v)? } else { v };
                return Ok((v, false));
            }
        }
    }
    Err(conflict(info, &name))
}

fn apply_error(e: portico_apply::ApplyError) -> Error {
    match e {
        portico_apply::ApplyError::Conflicts(conflicts) => {
            let message = portico_apply::conflicts_message(&conflicts);
            let causes = conflicts
                .iter()
                .map(|c| json!({"reason": "FieldManagerConflict", "message": c.message, "field": c.field}))
                .collect();
            Error::ApplyConflict { message, causes }
        }
        other => Error::BadRequest(other.to_string()),
    }
}
