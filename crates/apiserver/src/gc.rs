//! Deletion that outlives a request: cascading through ownerReferences (background,
//! foreground and orphan propagation) and emptying namespaces that are being deleted.
//!
//! Requests only mark objects (`deletionTimestamp`, finalizers) or delete them and then
//! wake the collector, which works out what follows by scanning the store. The scan is
//! idempotent, so a crash between steps is repaired by the scan at the next start.

use std::collections::HashMap;
use std::sync::Arc;

use portico_api::registry::{ResourceInfo, RESOURCES};
use serde_json::{json, Value};

use crate::objects::{self, decode_stored, DeleteOptions, Part, WriteCtx};
use crate::request::ResourceRequest;
use crate::State;

/// Called after an object was removed from the store.
pub async fn deleted(state: &State, info: &ResourceInfo, obj: &Value) {
    if info.plural == "services" {
        let mut alloc = state.alloc.lock().await;
        let owner = info.key(
            obj["metadata"]["namespace"].as_str(),
            obj["metadata"]["name"].as_str().unwrap_or(""),
        );
        crate::alloc::claims::release_service(state, &owner, obj).await;
        alloc.release_service(obj);
    }
    state.gc.notify_one();
}

/// Called after an object was marked for deletion.
pub fn marked(state: &State) {
    state.gc.notify_one();
}

/// Starts the collector; it runs once at start and then whenever woken.
pub fn spawn(state: Arc<State>) {
    tokio::spawn(async move {
        loop {
            match scan(&state).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "garbage collection scan failed"),
            }
            tokio::select! {
                _ = state.shutdown.cancelled() => return,
                _ = state.gc.notified() => {}
                _ = tokio::time::sleep(std::time::Duration::from_secs(30)) => {}
            }
        }
    });
}

struct Entry {
    info: &'static ResourceInfo,
    obj: Value,
}

fn gc_ctx() -> WriteCtx {
    WriteCtx {
        dry_run: false,
        manager: "portico-gc".into(),
        validation: objects::FieldValidation::Ignore,
        force: false,
        warnings: Vec::new(),
        apply: false,
    }
}

fn request_for(e: &Entry) -> ResourceRequest {
    ResourceRequest {
        info: e.info,
        namespace: e.obj["metadata"]["namespace"].as_str().map(String::from),
        name: e.obj["metadata"]["name"].as_str().map(String::from),
        subresource: None,
        legacy_watch: false,
    }
}

fn str_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

async fn delete_entry(state: &State, e: &Entry, propagation: &str) {
    let opts = DeleteOptions {
        propagation: Some(propagation.into()),
        ..Default::default()
    };
    if let Err(err) = objects::delete(state, &gc_ctx(), &request_for(e), &opts).await {
        tracing::debug!(error = %err, "garbage collector delete");
    }
}

/// Rewrites an object through the update pipeline with `f` applied.
async fn rewrite(state: &State, e: &Entry, f: impl Fn(&mut Value)) {
    let mut new = e.obj.clone();
    f(&mut new);
    let rev: i64 = e.obj["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let req = request_for(e);
    let name = req.name.clone().unwrap_or_default();
    let mut ctx = gc_ctx();
    if let Err(err) =
        objects::write_update(state, &mut ctx, &req, &name, &e.obj, rev, new, Part::Main).await
    {
        tracing::debug!(error = %err, "garbage collector update");
    }
}

/// One pass; returns whether it changed anything (so another pass may follow).
async fn scan(state: &State) -> Result<bool, crate::Error> {
    let mut all: Vec<Entry> = Vec::new();
    for info in RESOURCES {
        let page = state.store.list(&info.key_prefix(), 0, None, 0).await?;
        for kv in &page.items {
            if let Ok(obj) = decode_stored(kv) {
                all.push(Entry { info, obj });
            }
        }
    }
    let by_uid: HashMap<String, usize> = all
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            e.obj["metadata"]["uid"]
                .as_str()
                .map(|u| (u.to_string(), i))
        })
        .collect();
    let mut dependents: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, e) in all.iter().enumerate() {
        if let Some(refs) = e.obj["metadata"]["ownerReferences"].as_array() {
            for r in refs {
                if let Some(uid) = r["uid"].as_str() {
                    dependents.entry(uid.to_string()).or_default().push(i);
                }
            }
        }
    }
    let mut changed = false;
    // Dependents whose owners are all gone go too (background propagation).
    for e in &all {
        let Some(refs) = e.obj["metadata"]["ownerReferences"].as_array() else {
            continue;
        };
        if refs.is_empty() || e.obj["metadata"]["deletionTimestamp"].is_string() {
            continue;
        }
        let all_gone = refs
            .iter()
            .all(|r| r["uid"].as_str().is_none_or(|u| !by_uid.contains_key(u)));
        if all_gone {
            delete_entry(state, e, "Background").await;
            changed = true;
        }
    }
    for e in &all {
        let meta = &e.obj["metadata"];
        if !meta["deletionTimestamp"].is_string() {
            continue;
        }
        let uid = meta["uid"].as_str().unwrap_or("").to_string();
        let finalizers = str_list(&meta["finalizers"]);
        let deps: Vec<&Entry> = dependents
            .get(&uid)
            .map(|d| d.iter().map(|i| &all[*i]).collect())
            .unwrap_or_default();
        if finalizers.iter().any(|f| f == "orphan") {
            for d in &deps {
                let owner = uid.clone();
                rewrite(state, d, move |o| {
                    if let Some(refs) = o["metadata"]["ownerReferences"].as_array_mut() {
                        refs.retain(|r| r["uid"].as_str() != Some(owner.as_str()));
                    }
                })
                .await;
            }
            rewrite(state, e, |o| remove_finalizer(o, "orphan")).await;
            changed = true;
        } else if finalizers.iter().any(|f| f == "foregroundDeletion") {
            if deps.is_empty() {
                rewrite(state, e, |o| remove_finalizer(o, "foregroundDeletion")).await;
            } else {
                for d in deps {
                    if !d.obj["metadata"]["deletionTimestamp"].is_string() {
                        delete_entry(state, d, "Foreground").await;
                    }
                }
            }
            changed = true;
        }
        if e.info.plural == "namespaces" {
            let ns = meta["name"].as_str().unwrap_or("");
            let inside: Vec<&Entry> = all
                .iter()
                .filter(|o| {
                    o.info.namespaced && o.obj["metadata"]["namespace"].as_str() == Some(ns)
                })
                .collect();
            if inside.is_empty() {
                rewrite(state, e, |o| {
                    o["spec"]["finalizers"] = json!([]);
                })
                .await;
                changed = true;
            } else {
                for o in inside {
                    if !o.obj["metadata"]["deletionTimestamp"].is_string() {
                        delete_entry(state, o, "Background").await;
                        changed = true;
                    }
                }
            }
        }
    }
    Ok(changed)
}

fn remove_finalizer(o: &mut Value, name: &str) {
    if let Some(f) = o["metadata"]["finalizers"].as_array_mut() {
        f.retain(|x| x.as_str() != Some(name));
    }
}
