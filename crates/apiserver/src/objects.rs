//! The write pipeline: create, update, patch and delete of one object, and reads of one
//! object. Every write goes decode → strict field check → metadata → defaults → validation →
//! Service allocation → managed fields → compare-and-swap in the store.
//!
//! A request in an older served version ([`portico_api::registry::LEGACY`]) is type-checked
//! and strict-checked in its own version, then converted to the stored version
//! ([`portico_api::convert::to_storage`]); the rest of the pipeline, and what this module
//! returns, is in the stored version. Validation causes still name the request's fields.

mod admission;
mod delete;
mod meta;
mod patch;
mod scale;
mod service;

use std::collections::HashMap;

use portico_api::convert::{from_storage, to_storage};
use portico_api::registry::{storage_of, ResourceInfo};
use portico_store::{KeyValue, StoreError};
use serde_json::{json, Value};

use crate::error::Error;
use crate::request::{qualified, ResourceRequest};
use crate::State;

pub use admission::pick_default_class;
pub use delete::{delete, DeleteOptions};
pub use meta::{now, now_timestamp};
pub use patch::{patch, PatchType};
pub use scale::{scale_of, set_scale};

/// How strictly unknown and duplicate fields are treated (`fieldValidation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    /// Reject with 400.
    Strict,
    /// Accept, with `Warning` headers.
    Warn,
    /// Accept silently.
    Ignore,
}

/// Per-request write options and the warnings the request collected.
#[derive(Debug)]
pub struct WriteCtx {
    /// `dryRun=All`: run everything, persist nothing.
    pub dry_run: bool,
    /// The field manager recorded in managedFields.
    pub manager: String,
    /// `fieldValidation`.
    pub validation: FieldValidation,
    /// `force` (server-side apply).
    pub force: bool,
    /// Warnings to send back as `Warning` headers.
    pub warnings: Vec<String>,
    /// The write is a server-side apply, whose managedFields are already computed.
    pub apply: bool,
}

impl WriteCtx {
    /// Reads the options from the query and the User-Agent.
    pub fn from_query(
        q: &HashMap<String, Vec<String>>,
        user_agent: &str,
    ) -> Result<WriteCtx, Error> {
        let first = |k: &str| q.get(k).and_then(|v| v.first()).map(String::as_str);
        let dry_run = match q.get("dryRun") {
            None => false,
            Some(v) if v.iter().all(|x| x == "All") => true,
            Some(v) => {
                return Err(Error::BadRequest(format!(
                    "Invalid dry run value: {v:?}; supported values: [\"All\"]"
                )))
            }
        };
        let validation = match first("fieldValidation") {
            None | Some("") | Some("Warn") => FieldValidation::Warn,
            Some("Strict") => FieldValidation::Strict,
            Some("Ignore") => FieldValidation::Ignore,
            Some(other) => {
                return Err(Error::BadRequest(format!(
                    "fieldValidation: Invalid value: \"{other}\": fieldValidation must be one of \"Ignore\", \"Strict\", or \"Warn\""
                )))
            }
        };
        let manager = match first("fieldManager") {
            Some(m) if !m.is_empty() => {
                if m.len() > 128 {
                    return Err(Error::BadRequest(
                        "fieldManager: Too long: may not be longer than 128".into(),
                    ));
                }
                m.to_string()
            }
            // Kubernetes derives the manager from the User-Agent's program name.
            _ => user_agent
                .split('/')
                .next()
                .filter(|s| !s.is_empty())
                .unwrap_or("unknown")
                .to_string(),
        };
        let force = match first("force") {
            None | Some("false") | Some("") => false,
            Some("true") => true,
            Some(other) => return Err(Error::BadRequest(format!("invalid force value {other:?}"))),
        };
        Ok(WriteCtx {
            dry_run,
            manager,
            validation,
            force,
            warnings: Vec::new(),
            apply: false,
        })
    }
}

/// Decodes a stored value and sets its `resourceVersion`.
pub fn decode_stored(kv: &KeyValue) -> Result<Value, Error> {
    let mut obj: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| Error::Internal(format!("stored object {} is corrupt: {e}", kv.key)))?;
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.insert("resourceVersion".into(), json!(kv.mod_revision.to_string()));
    }
    Ok(obj)
}

fn encode_for_store(obj: &mut Value) -> Result<Vec<u8>, Error> {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    serde_json::to_vec(obj).map_err(|e| Error::Internal(e.to_string()))
}

fn set_rv(obj: &mut Value, rev: i64) {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.insert("resourceVersion".into(), json!(rev.to_string()));
    }
}

fn name_of(req: &ResourceRequest) -> Result<&str, Error> {
    req.name
        .as_deref()
        .ok_or_else(|| Error::BadRequest("a resource name is required".into()))
}

fn key_of(req: &ResourceRequest, name: &str) -> String {
    req.info.key(req.namespace.as_deref(), name)
}

fn not_found(info: &ResourceInfo, name: &str) -> Error {
    Error::NotFound {
        resource: qualified(info),
        name: name.to_string(),
    }
}

/// Reads one object.
pub async fn get(state: &State, req: &ResourceRequest) -> Result<Value, Error> {
    let name = name_of(req)?;
    let kv = state
        .store
        .get(&key_of(req, name))
        .await?
        .ok_or_else(|| not_found(req.info, name))?;
    decode_stored(&kv)
}

async fn get_kv(
    state: &State,
    req: &ResourceRequest,
    name: &str,
) -> Result<Option<KeyValue>, Error> {
    Ok(state.store.get(&key_of(req, name)).await?)
}

fn conflict(info: &ResourceInfo, name: &str) -> Error {
    Error::Conflict {
        resource: qualified(info),
        name: name.to_string(),
        reason: "the object has been modified; please apply your changes to the latest version and try again".into(),
    }
}

fn invalid(info: &ResourceInfo, name: &str, causes: Vec<portico_api::Cause>) -> Error {
    Error::Invalid {
        kind: info.gvk.kind.to_string(),
        group: info.gvk.group.to_string(),
        name: name.to_string(),
        message: portico_api::validation::invalid_message(
            &portico_api::validation::qualified_kind(info),
            name,
            &causes,
        ),
        causes,
    }
}

fn check_strict(ctx: &mut WriteCtx, info: &ResourceInfo, raw: Option<&[u8]>) -> Result<(), Error> {
    let Some(raw) = raw else { return Ok(()) };
    if ctx.validation == FieldValidation::Ignore {
        return Ok(());
    }
    let problems = portico_api::strict::strict_problems(info, raw);
    if problems.is_empty() {
        return Ok(());
    }
    match ctx.validation {
        FieldValidation::Strict => Err(Error::BadRequest(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
            problems.join(", "),
            kind = info.gvk.kind,
            version = info.gvk.version,
        ))),
        _ => {
            ctx.warnings.extend(problems);
            Ok(())
        }
    }
}

/// Writes a new object (after everything was checked) and returns it with its revision.
async fn store_create(
    state: &State,
    info: &ResourceInfo,
    key: &str,
    mut obj: Value,
    name: &str,
) -> Result<Value, Error> {
    let bytes = encode_for_store(&mut obj)?;
    match state.store.create(key, bytes).await {
        Ok(kv) => {
            set_rv(&mut obj, kv.mod_revision);
            Ok(obj)
        }
        Err(StoreError::AlreadyExists { .. }) => Err(Error::AlreadyExists {
            resource: qualified(info),
            name: name.to_string(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Creates an object from a decoded body. `raw` is the JSON body, for strict field checks.
pub async fn create(
    state: &State,
    ctx: &mut WriteCtx,
    req: &ResourceRequest,
    obj: Value,
    raw: Option<&[u8]>,
) -> Result<Value, Error> {
    create_with(state, ctx, req, obj, raw, None).await
}

/// Like [`create`], but with the managedFields server-side apply computed (`managed`)
/// instead of an `Update` entry for the request's manager.
async fn create_with(
    state: &State,
    ctx: &mut WriteCtx,
    req: &ResourceRequest,
    mut obj: Value,
    raw: Option<&[u8]>,
    managed: Option<Value>,
) -> Result<Value, Error> {
    let info = req.info;
    meta::check_type(info, &mut obj)?;
    check_strict(ctx, info, raw)?;
    let mut obj = to_storage(info, obj);
    meta::prepare_create(state, info, req.namespace.as_deref(), &mut obj).await?;
    let name = meta::name(&obj).to_string();
    portico_api::defaults::apply_defaults(storage_of(info), &mut obj);
    admission::admit_create(state, info, &mut obj).await?;
    let causes = portico_api::validation::validate(info, &obj, None);
    if !causes.is_empty() {
        return Err(invalid(info, &name, causes));
    }
    match managed {
        Some(m) => obj["metadata"]["managedFields"] = m,
        None => portico_apply::record_update(None, &mut obj, &ctx.manager, &now()),
    }
    meta::drop_empty_metadata(&mut obj);
    let key = info.key(req.namespace.as_deref(), &name);
    if info.plural == "services" {
        let mut alloc = state.alloc.lock().await;
        let changes =
            crate::alloc::claims::allocate(state, &mut alloc, &mut obj, None, &key, ctx.dry_run)
                .await
                .map_err(|c| invalid(info, &name, c))?;
        if ctx.dry_run {
            alloc.rollback(changes);
            return Ok(obj);
        }
        return match store_create(state, info, &key, obj, &name).await {
            Ok(v) => {
                alloc.commit(changes);
                Ok(v)
            }
            Err(e) => {
                let (ips, ports) = crate::alloc::Allocator::fresh(&changes);
                crate::alloc::claims::release(state, &key, &ips, &ports).await;
                alloc.rollback(changes);
                Err(e)
            }
        };
    }
    if ctx.dry_run {
        return Ok(obj);
    }
    store_create(state, info, &key, obj, &name).await
}

/// Which part of an object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The main resource: everything but status (for kinds with a status subresource).
    Main,
    /// The status subresource.
    Status,
}

/// Replaces an object (PUT), or creates it where Kubernetes allows create-on-update.
/// Returns the object and whether it was created.
pub async fn update(
    state: &State,
    ctx: &mut WriteCtx,
    req: &ResourceRequest,
    obj: Value,
    raw: Option<&[u8]>,
    part: Part,
) -> Result<(Value, bool), Error> {
    let info = req.info;
    let name = name_of(req)?.to_string();
    let mut obj = obj;
    meta::check_type(info, &mut obj)?;
    check_strict(ctx, info, raw)?;
    let body_name = meta::name(&obj).to_string();
    if !body_name.is_empty() && body_name != name {
        return Err(Error::BadRequest(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let Some(kv) = get_kv(state, req, &name).await? else {
        if meta::create_on_update(info) && part == Part::Main {
            if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                m.insert("name".into(), json!(name));
                m.remove("resourceVersion");
            }
            let created = create(state, ctx, req, obj, None).await?;
            return Ok((created, true));
        }
        return Err(not_found(info, &name));
    };
    let obj = to_storage(info, obj);
    let old = decode_stored(&kv)?;
    let wanted_rv = obj["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("")
        .to_string();
    if !wanted_rv.is_empty() && wanted_rv != kv.mod_revision.to_string() {
        return Err(conflict(info, &name));
    }
    let new = write_update(state, ctx, req, &name, &old, kv.mod_revision, obj, part).await?;
    Ok((new, false))
}

/// The shared tail of update and patch: merge the preserved parts of `old` into `new`,
/// default, validate, allocate and compare-and-swap at `rev`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn write_update(
    state: &State,
    ctx: &mut WriteCtx,
    req: &ResourceRequest,
    name: &str,
    old: &Value,
    rev: i64,
    mut new: Value,
    part: Part,
) -> Result<Value, Error> {
    let info = req.info;
    meta::prepare_update(info, old, &mut new, part);
    if info.plural == "services" && part == Part::Main {
        service::drop_type_dependent_fields(old, &mut new);
    }
    // Validation of updates compares against the stored version.
    set_rv(&mut new, rev);
    portico_api::defaults::apply_defaults(storage_of(info), &mut new);
    if info.plural == "services" {
        portico_api::defaults::carry_over_allocated(&mut new, old);
    }
    let causes = portico_api::validation::validate(info, &new, Some(old));
    if !causes.is_empty() {
        return Err(invalid(info, name, causes));
    }
    if !ctx.apply {
        match part {
            Part::Main => portico_apply::record_update(Some(old), &mut new, &ctx.manager, &now()),
            Part::Status => portico_apply::record_subresource_update(
                Some(old),
                &mut new,
                &ctx.manager,
                "status",
                &now(),
            ),
        }
    }
    meta::drop_empty_metadata(&mut new);
    if meta::unchanged(old, &new) {
        // A no-op write does not create a revision, as in Kubernetes.
        return Ok(old.clone());
    }
    let key = info.key(req.namespace.as_deref(), name);
    let finished = meta::deletion_finished(info, &new);
    let mut alloc_guard = None;
    let mut changes = None;
    if info.plural == "services" && !finished {
        let mut alloc = state.alloc.lock().await;
        changes = Some(
            crate::alloc::claims::allocate(
                state,
                &mut alloc,
                &mut new,
                Some(old),
                &key,
                ctx.dry_run,
            )
            .await
            .map_err(|c| invalid(info, name, c))?,
        );
        alloc_guard = Some(alloc);
    }
    if ctx.dry_run {
        if let (Some(mut a), Some(c)) = (alloc_guard, changes) {
            a.rollback(c);
        }
        return Ok(new);
    }
    let result = if finished {
        // The last finalizer is gone from an object being deleted: remove it.
        match state.store.delete(&key, Some(rev)).await {
            Ok(kv) => {
                crate::gc::deleted(state, info, &new).await;
                set_rv(&mut new, kv.mod_revision);
                Ok(new)
            }
            Err(e) => Err(e),
        }
    } else {
        let bytes = encode_for_store(&mut new)?;
        match state.store.update(&key, bytes, rev).await {
            Ok(kv) => {
                set_rv(&mut new, kv.mod_revision);
                Ok(new)
            }
            Err(e) => Err(e),
        }
    };
    match result {
        Ok(v) => {
            if let (Some(mut a), Some(c)) = (alloc_guard, changes) {
                let (ips, ports) = crate::alloc::Allocator::released(&c);
                crate::alloc::claims::release(state, &key, &ips, &ports).await;
                a.commit(c);
            }
            Ok(v)
        }
        Err(e) => {
            if let (Some(mut a), Some(c)) = (alloc_guard, changes) {
                let (ips, ports) = crate::alloc::Allocator::fresh(&c);
                crate::alloc::claims::release(state, &key, &ips, &ports).await;
                a.rollback(c);
            }
            Err(match e {
                StoreError::Conflict { .. } => conflict(info, name),
                StoreError::NotFound { .. } => not_found(info, name),
                other => other.into(),
            })
        }
    }
}

/// The storage key of a namespace object.
pub fn namespace_key(ns: &str) -> String {
    format!("/registry/namespaces/{ns}")
}
