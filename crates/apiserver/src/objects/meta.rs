//! Object metadata rules: type checks, what the server sets on create, what an update may
//! not change, and how a delete proceeds (at once or by marking).

use portico_api::registry::ResourceInfo;
use serde_json::{json, Value};

use super::{conflict, decode_stored, encode_for_store, set_rv, DeleteOptions, WriteCtx};
use crate::error::Error;
use crate::request::qualified;
use crate::State;

/// Now, as the RFC 3339 string Kubernetes writes (whole seconds).
pub fn now() -> String {
    now_timestamp().to_string()
}

/// Now, truncated to whole seconds.
pub fn now_timestamp() -> jiff::Timestamp {
    let s = jiff::Timestamp::now().as_second();
    jiff::Timestamp::from_second(s).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// The object's name (empty if missing).
pub fn name(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or("")
}

/// Checks (and fills in when missing) `apiVersion` and `kind` against the resource.
pub fn check_type(info: &ResourceInfo, obj: &mut Value) -> Result<(), Error> {
    let Some(map) = obj.as_object_mut() else {
        return Err(Error::BadRequest(
            "the request body must be a JSON object".into(),
        ));
    };
    let want_av = info.gvk.api_version();
    match map.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("apiVersion".into(), json!(want_av));
        }
        Some(av) if av == want_av => {}
        Some(av) => {
            return Err(Error::BadRequest(format!(
                "the API version in the data ({av}) does not match the expected API version ({want_av})"
            )))
        }
    }
    match map.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("kind".into(), json!(info.gvk.kind));
        }
        Some(k) if k == info.gvk.kind => {}
        Some(k) => {
            return Err(Error::BadRequest(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                info.gvk.kind
            )))
        }
    }
    match map.get("metadata") {
        None | Some(Value::Null) => {
            map.insert("metadata".into(), json!({}));
        }
        Some(Value::Object(_)) => {}
        Some(_) => return Err(Error::BadRequest("metadata must be an object".into())),
    }
    Ok(())
}

/// Kinds whose objects carry `metadata.generation`.
fn has_generation(info: &ResourceInfo) -> bool {
    matches!(
        info.plural,
        "deployments"
            | "replicasets"
            | "replicationcontrollers"
            | "statefulsets"
            | "ingresses"
            | "ingressclasses"
    )
}

/// Drops the empty metadata maps and lists that Kubernetes' encoder leaves out
/// (`omitempty`), e.g. after `kubectl label svc x tier-` removed the last label.
pub fn drop_empty_metadata(obj: &mut Value) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "labels",
            "annotations",
            "ownerReferences",
            "finalizers",
            "managedFields",
        ] {
            let empty = match meta.get(k) {
                Some(Value::Object(m)) => m.is_empty(),
                Some(Value::Array(a)) => a.is_empty(),
                Some(Value::Null) => true,
                _ => false,
            };
            if empty {
                meta.remove(k);
            }
        }
    }
}

/// Kinds whose PUT creates a missing object (Kubernetes' AllowCreateOnUpdate).
pub fn create_on_update(info: &ResourceInfo) -> bool {
    matches!(
        info.plural,
        "endpoints" | "leases" | "nodes" | "events" | "endpointslices"
    )
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| ALPHABET[rand::random::<u32>() as usize % ALPHABET.len()] as char)
        .collect()
}

/// Sets what the server owns on a new object: namespace, name from generateName, uid,
/// creationTimestamp, generation, and the initial status.
pub async fn prepare_create(
    state: &State,
    info: &ResourceInfo,
    namespace: Option<&str>,
    obj: &mut Value,
) -> Result<(), Error> {
    let meta = obj
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| Error::BadRequest("metadata must be an object".into()))?;
    if info.namespaced {
        let ns = namespace.ok_or_else(|| {
            Error::BadRequest("the namespace of the object is required on this path".into())
        })?;
        match meta.get("namespace").and_then(Value::as_str) {
            Some(given) if !given.is_empty() && given != ns => {
                return Err(Error::BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request".into(),
                ))
            }
            _ => {
                meta.insert("namespace".into(), json!(ns));
            }
        }
    } else {
        meta.remove("namespace");
    }
    let has_name = meta
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    if !has_name {
        if let Some(prefix) = meta.get("generateName").and_then(Value::as_str) {
            if !prefix.is_empty() {
                let mut base = prefix.to_string();
                base.truncate(63 - 5);
                meta.insert("name".into(), json!(format!("{base}{}", random_suffix())));
            }
        }
    }
    if meta
        .get("resourceVersion")
        .and_then(Value::as_str)
        .is_some_and(|v| !v.is_empty())
    {
        return Err(Error::Internal(
            "resourceVersion should not be set on objects to be created".into(),
        ));
    }
    meta.remove("resourceVersion");
    meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    meta.insert("creationTimestamp".into(), json!(super::now()));
    meta.remove("deletionTimestamp");
    meta.remove("deletionGracePeriodSeconds");
    meta.remove("managedFields");
    if has_generation(info) {
        meta.insert("generation".into(), json!(1));
    } else {
        meta.remove("generation");
    }
    if info.subresources.contains(&"status") {
        let status = match info.plural {
            "pods" => {
                json!({"phase": "Pending", "qosClass": portico_api::defaults::qos_class(&obj["spec"])})
            }
            "namespaces" => json!({"phase": "Active"}),
            "services" | "ingresses" => json!({"loadBalancer": {}}),
            _ => json!({}),
        };
        if let Some(map) = obj.as_object_mut() {
            if info.plural == "nodes" {
                // Nodes report their own status on create (the node agent registers them).
            } else {
                map.insert("status".into(), status);
            }
        }
    }
    if info.namespaced {
        let ns = namespace.unwrap_or_default();
        let key = crate::objects::namespace_key(ns);
        match state.store.get(&key).await? {
            None => {
                return Err(Error::NotFound {
                    resource: "namespaces".into(),
                    name: ns.to_string(),
                })
            }
            Some(kv) => {
                let nsobj = decode_stored(&kv)?;
                if nsobj["metadata"]["deletionTimestamp"].is_string() {
                    return Err(Error::Forbidden(format!(
                        "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                        qualified(info),
                        name(obj)
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Keeps what an update may not change: identity, timestamps, deletion state and (for the
/// main resource of kinds with a status subresource) the status; for status writes, the
/// spec and everything else outside metadata and status (Kubernetes' status strategies:
/// metadata changes made through `/status` stick). Bumps `generation` when the spec changed.
pub fn prepare_update(info: &ResourceInfo, old: &Value, new: &mut Value, part: super::Part) {
    if part == super::Part::Status {
        keep_all_but_status(info, old, new);
    }
    let Some(map) = new.as_object_mut() else {
        return;
    };
    if part == super::Part::Main
        && info.subresources.contains(&"status")
        && info.plural != "namespaces"
    {
        match old.get("status") {
            Some(s) => {
                map.insert("status".into(), s.clone());
            }
            None => {
                map.remove("status");
            }
        }
    }
    if part == super::Part::Main && info.plural == "namespaces" {
        // Namespace status is server-managed too (phase).
        if let Some(s) = old.get("status") {
            map.insert("status".into(), s.clone());
        }
    }
    let old_meta = &old["metadata"];
    if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "namespace",
            "name",
            "generateName",
        ] {
            match old_meta.get(k) {
                Some(v) => {
                    meta.insert(k.into(), v.clone());
                }
                None => {
                    meta.remove(k);
                }
            }
        }
        if has_generation(info) {
            let gen = old_meta["generation"].as_i64().unwrap_or(1);
            meta.insert("generation".into(), json!(gen));
        } else {
            meta.remove("generation");
        }
    }
    if has_generation(info) {
        let strip = |v: &Value| {
            let mut v = v.clone();
            if let Some(m) = v.as_object_mut() {
                m.remove("metadata");
                m.remove("status");
            }
            v
        };
        if strip(old) != strip(new) {
            let gen = old_meta["generation"].as_i64().unwrap_or(1) + 1;
            new["metadata"]["generation"] = json!(gen);
        }
    }
}

/// A status write: the written metadata and status (the stored status when the body has
/// none) over the stored object. As in Kubernetes' status strategies, the workload kinds
/// also keep their labels and a pod its owner references.
fn keep_all_but_status(info: &ResourceInfo, old: &Value, new: &mut Value) {
    let mut merged = old.clone();
    if let Some(map) = merged.as_object_mut() {
        if let Some(meta) = new.get("metadata").filter(|m| m.is_object()) {
            let mut meta = meta.clone();
            let keep: &[&str] = match info.plural {
                "deployments" | "replicasets" | "statefulsets" | "daemonsets" => &["labels"],
                "pods" => &["ownerReferences"],
                _ => &[],
            };
            if let Some(m) = meta.as_object_mut() {
                for k in keep {
                    match old["metadata"].get(*k) {
                        Some(v) => {
                            m.insert((*k).into(), v.clone());
                        }
                        None => {
                            m.remove(*k);
                        }
                    }
                }
            }
            map.insert("metadata".into(), meta);
        }
        if let Some(status) = new.get("status") {
            map.insert("status".into(), status.clone());
        }
    }
    *new = merged;
}

/// Whether an update changed nothing but managed-field timestamps.
pub fn unchanged(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
            m.remove("managedFields");
        }
        v
    };
    strip(old) == strip(new)
}

/// Whether an object that is being deleted has nothing left holding it.
pub fn deletion_finished(info: &ResourceInfo, obj: &Value) -> bool {
    let meta = &obj["metadata"];
    if !meta["deletionTimestamp"].is_string() {
        return false;
    }
    let finalizers_empty = meta["finalizers"].as_array().is_none_or(|f| f.is_empty());
    let spec_finalizers_empty = info.plural != "namespaces"
        || obj["spec"]["finalizers"]
            .as_array()
            .is_none_or(|f| f.is_empty());
    // A pod waits for its node (a delete with grace period 0) unless it never ran.
    let pod_pending =
        info.plural == "pods" && meta["deletionGracePeriodSeconds"].as_i64().unwrap_or(0) > 0;
    finalizers_empty && spec_finalizers_empty && !pod_pending
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn delete_once(
    state: &State,
    ctx: &WriteCtx,
    info: &'static ResourceInfo,
    key: &str,
    name: &str,
    mut obj: Value,
    rev: i64,
    opts: &DeleteOptions,
) -> Result<Value, Error> {
    let meta = &obj["metadata"];
    if let Some(uid) = &opts.uid {
        if meta["uid"].as_str() != Some(uid.as_str()) {
            return Err(Error::Conflict {
                resource: qualified(info),
                name: name.into(),
                reason: format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta["uid"].as_str().unwrap_or("")
                ),
            });
        }
    }
    if let Some(want) = &opts.resource_version {
        if *want != rev.to_string() {
            return Err(Error::Conflict {
                resource: qualified(info),
                name: name.into(),
                reason: format!(
                    "Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {rev}"
                ),
            });
        }
    }
    let being_deleted = meta["deletionTimestamp"].is_string();
    let mut finalizers: Vec<Value> = meta["finalizers"].as_array().cloned().unwrap_or_default();
    let is_pod = info.plural == "pods";
    let grace = if is_pod {
        opts.grace_period
            .or_else(|| obj["spec"]["terminationGracePeriodSeconds"].as_i64())
            .unwrap_or(30)
            .max(0)
    } else {
        0
    };
    let node = obj["spec"]["nodeName"].as_str().unwrap_or("").to_string();
    let phase = obj["status"]["phase"].as_str().unwrap_or("");
    let node_runs_it = is_pod
        && !node.is_empty()
        && phase != "Succeeded"
        && phase != "Failed"
        && state
            .store
            .get(&format!("/registry/nodes/{node}"))
            .await?
            .is_some();
    let graceful = node_runs_it && grace > 0;
    match opts.propagation.as_deref() {
        Some("Foreground") if !being_deleted => finalizers.push(json!("foregroundDeletion")),
        Some("Orphan") if !being_deleted => finalizers.push(json!("orphan")),
        _ => {}
    }
    finalizers.dedup();
    let is_namespace = info.plural == "namespaces";
    if being_deleted && !(is_pod && grace == 0) {
        return Ok(obj);
    }
    if !finalizers.is_empty() || graceful || is_namespace {
        if ctx.dry_run {
            return Ok(obj);
        }
        let when = if graceful {
            jiff::Timestamp::from_second(super::now_timestamp().as_second() + grace)
                .map(|t| t.to_string())
                .unwrap_or_else(|_| super::now())
        } else {
            super::now()
        };
        let m = obj["metadata"]
            .as_object_mut()
            .ok_or_else(|| Error::Internal("object without metadata".into()))?;
        m.insert("deletionTimestamp".into(), json!(when));
        m.insert(
            "deletionGracePeriodSeconds".into(),
            json!(if graceful { grace } else { 0 }),
        );
        if !finalizers.is_empty() {
            m.insert("finalizers".into(), Value::Array(finalizers));
        }
        if is_namespace {
            obj["status"]["phase"] = json!("Terminating");
        }
        let bytes = encode_for_store(&mut obj)?;
        let kv = state
            .store
            .update(key, bytes, rev)
            .await
            .map_err(|e| match e {
                portico_store::StoreError::Conflict { .. } => conflict(info, name),
                other => other.into(),
            })?;
        set_rv(&mut obj, kv.mod_revision);
        crate::gc::marked(state);
        return Ok(obj);
    }
    if ctx.dry_run {
        return Ok(obj);
    }
    let kv = match state.store.delete(key, Some(rev)).await {
        Ok(kv) => kv,
        Err(portico_store::StoreError::Conflict { .. }) => return Err(conflict(info, name)),
        Err(portico_store::StoreError::NotFound { .. }) => {
            return Err(Error::NotFound {
                resource: qualified(info),
                name: name.into(),
            })
        }
        Err(e) => return Err(e.into()),
    };
    crate::gc::deleted(state, info, &obj).await;
    set_rv(&mut obj, kv.mod_revision);
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::Part;
    use portico_api::registry::by_plural;

    #[test]
    fn a_status_write_keeps_its_metadata_changes_but_not_the_spec() {
        let info = by_plural("networking.k8s.io", "v1", "ingresses").unwrap();
        let old = json!({
            "metadata": {"name": "a", "uid": "u1", "creationTimestamp": "2024-01-01T00:00:00Z", "generation": 1},
            "spec": {"defaultBackend": {"service": {"name": "b", "port": {"number": 80}}}},
        });
        let mut new = json!({
            "metadata": {"name": "a", "uid": "other", "annotations": {"patchedstatus": "true"}},
            "spec": {"defaultBackend": {"service": {"name": "changed", "port": {"number": 80}}}},
            "status": {"loadBalancer": {"ingress": [{"ip": "169.1.1.1"}]}},
        });
        prepare_update(info, &old, &mut new, Part::Status);
        assert_eq!(new["metadata"]["annotations"]["patchedstatus"], "true");
        assert_eq!(new["metadata"]["uid"], "u1", "identity stays");
        assert_eq!(new["metadata"]["generation"], 1);
        assert_eq!(
            new["spec"], old["spec"],
            "the spec is not the status writer's"
        );
        assert_eq!(
            new["status"]["loadBalancer"]["ingress"][0]["ip"],
            "169.1.1.1"
        );
    }

    #[test]
    fn a_status_write_without_status_keeps_the_stored_one_and_workloads_keep_labels() {
        let info = by_plural("apps", "v1", "deployments").unwrap();
        let old = json!({
            "metadata": {"name": "d", "labels": {"app": "x"}, "generation": 3},
            "spec": {"replicas": 2},
            "status": {"replicas": 2},
        });
        let mut new =
            json!({"metadata": {"name": "d", "labels": {"app": "y"}, "annotations": {"a": "b"}}});
        prepare_update(info, &old, &mut new, Part::Status);
        assert_eq!(new["metadata"]["labels"]["app"], "x");
        assert_eq!(new["metadata"]["annotations"]["a"], "b");
        assert_eq!(new["status"]["replicas"], 2);
        assert_eq!(new["metadata"]["generation"], 3);
    }

    #[test]
    fn a_main_write_keeps_the_stored_status() {
        let info = by_plural("", "v1", "services").unwrap();
        let old = json!({"metadata": {"name": "s"}, "spec": {"ports": []}, "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}});
        let mut new = json!({"metadata": {"name": "s"}, "spec": {"ports": []}, "status": {}});
        prepare_update(info, &old, &mut new, Part::Main);
        assert_eq!(new["status"], old["status"]);
    }
}
