//! DELETE of one object: options, preconditions, and the retry around the marking or
//! removal that `meta::delete_once` performs.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::*;

/// `DeleteOptions`, from the body and the query.
#[derive(Debug, Default, Clone)]
pub struct DeleteOptions {
    /// `Orphan`, `Background` or `Foreground`.
    pub propagation: Option<String>,
    /// Grace period for pods.
    pub grace_period: Option<i64>,
    /// Precondition on uid.
    pub uid: Option<String>,
    /// Precondition on resourceVersion.
    pub resource_version: Option<String>,
}

impl DeleteOptions {
    /// Reads the options from a (possibly empty) JSON body and the query.
    pub fn parse(body: &[u8], q: &HashMap<String, Vec<String>>) -> Result<DeleteOptions, Error> {
        let mut o = DeleteOptions::default();
        if !body.iter().all(u8::is_ascii_whitespace) {
            let v: Value = serde_json::from_slice(body)
                .map_err(|e| Error::BadRequest(format!("error decoding DeleteOptions: {e}")))?;
            o.propagation = v["propagationPolicy"].as_str().map(String::from);
            o.grace_period = v["gracePeriodSeconds"].as_i64();
            o.uid = v["preconditions"]["uid"].as_str().map(String::from);
            o.resource_version = v["preconditions"]["resourceVersion"]
                .as_str()
                .map(String::from);
            if v["orphanDependents"] == json!(true) && o.propagation.is_none() {
                o.propagation = Some("Orphan".into());
            }
        }
        let first = |k: &str| q.get(k).and_then(|v| v.first()).cloned();
        if let Some(p) = first("propagationPolicy") {
            o.propagation = Some(p);
        }
        if let Some(g) = first("gracePeriodSeconds") {
            o.grace_period = Some(
                g.parse()
                    .map_err(|_| Error::BadRequest(format!("invalid gracePeriodSeconds {g:?}")))?,
            );
        }
        if let Some(p) = &o.propagation {
            if !matches!(p.as_str(), "Orphan" | "Background" | "Foreground") {
                return Err(Error::BadRequest(format!(
                    "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"{p}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
                )));
            }
        }
        Ok(o)
    }
}

/// Deletes one object: at once, or by marking it (finalizers, graceful pod deletion,
/// namespaces), as Kubernetes does. Returns the object as deleted or as marked.
pub async fn delete(
    state: &State,
    ctx: &WriteCtx,
    req: &ResourceRequest,
    opts: &DeleteOptions,
) -> Result<Value, Error> {
    let info = req.info;
    let name = name_of(req)?.to_string();
    if info.plural == "namespaces"
        && matches!(name.as_str(), "default" | "kube-system" | "kube-public")
    {
        return Err(Error::Forbidden(format!(
            "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
        )));
    }
    for _ in 0..8 {
        let Some(kv) = get_kv(state, req, &name).await? else {
            return Err(not_found(info, &name));
        };
        let obj = decode_stored(&kv)?;
        match meta::delete_once(
            state,
            ctx,
            info,
            &key_of(req, &name),
            &name,
            obj,
            kv.mod_revision,
            opts,
        )
        .await
        {
            Err(Error::Conflict { .. }) if opts.resource_version.is_none() => continue,
            other => return other,
        }
    }
    Err(conflict(info, &name))
}
