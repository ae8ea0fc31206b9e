//! Lists, watches and Table rendering.
//!
//! Lists are consistent at one store revision, page with `limit`/`continue`, and filter with
//! label and field selectors. Watches replay what happened after a resourceVersion (or the
//! current state as ADDED events), then stream changes; a compacted starting point gives an
//! ERROR event with a 410 Status, as Kubernetes sends. `as=Table` in the Accept header turns
//! objects into the rows `kubectl get` prints.
//!
//! Objects come out of the store in their stored version; every object sent is converted to
//! the version of the request ([`portico_api::convert::from_storage`]). Table cells are
//! computed from the stored version, so a Table reads the same in every version.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use futures::StreamExt;
use portico_api::convert::from_storage;
use portico_api::registry::ResourceInfo;
use portico_api::selector::{self, FieldSelector, LabelSelector};
use portico_store::{EventKind, StoreError};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::error::Error;
use crate::objects::{decode_stored, now_timestamp};
use crate::request::ResourceRequest;
use crate::State;

/// What to include in Table rows (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    /// No object.
    None,
    /// `PartialObjectMetadata` (the default).
    Metadata,
    /// The whole object.
    Object,
}

/// How a list or watch should be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Plain JSON objects.
    Json,
    /// `meta.k8s.io/v1` Tables.
    Table(IncludeObject),
}

/// Reads `as=Table` from the Accept header and `includeObject` from the query.
pub fn format(accept: &str, q: &HashMap<String, Vec<String>>) -> Format {
    // The first acceptable type wins; kubectl lists Table first, then plain JSON.
    let first = accept.split(',').next().unwrap_or("").replace(' ', "");
    if first.contains("as=Table") && first.contains("g=meta.k8s.io") {
        let include = match q
            .get("includeObject")
            .and_then(|v| v.first())
            .map(String::as_str)
        {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        };
        Format::Table(include)
    } else {
        Format::Json
    }
}

/// Label and field selectors of a request.
pub struct Selectors {
    labels: LabelSelector,
    fields: FieldSelector,
    plural: &'static str,
}

fn field_keys(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|t| !t.trim().is_empty())
        .map(|t| {
            let end = t.find(['=', '!']).unwrap_or(t.len());
            t[..end].trim().to_string()
        })
        .collect()
}

impl Selectors {
    /// From the `labelSelector` and `fieldSelector` query parameters.
    pub fn parse(
        info: &'static ResourceInfo,
        q: &HashMap<String, Vec<String>>,
    ) -> Result<Selectors, Error> {
        let get = |k: &str| {
            q.get(k)
                .and_then(|v| v.first())
                .cloned()
                .unwrap_or_default()
        };
        let labels = LabelSelector::parse(&get("labelSelector"))
            .map_err(|e| Error::BadRequest(e.to_string()))?;
        let fs = get("fieldSelector");
        for key in field_keys(&fs) {
            if !selector::supported_field(info.plural, &key) {
                return Err(Error::BadRequest(format!(
                    "field label not supported: {key}"
                )));
            }
        }
        let fields = FieldSelector::parse(&fs).map_err(|e| Error::BadRequest(e.to_string()))?;
        Ok(Selectors {
            labels,
            fields,
            plural: info.plural,
        })
    }

    /// Whether an object matches both selectors.
    pub fn matches(&self, obj: &Value) -> bool {
        let labels: BTreeMap<String, String> = obj["metadata"]["labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        if !self.labels.matches(&labels) {
            return false;
        }
        let plural = self.plural;
        self.fields
            .matches(&|f: &str| selector::field_value(plural, obj, f))
    }
}

fn prefix_of(req: &ResourceRequest) -> String {
    match &req.namespace {
        Some(ns) if req.info.namespaced => format!("{}{}/", req.info.key_prefix(), ns),
        _ => req.info.key_prefix(),
    }
}

fn gone_continue() -> Error {
    Error::Gone("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.".into())
}

/// A list answer before rendering.
pub struct ListPage {
    /// The objects.
    pub items: Vec<Value>,
    /// The revision of the list.
    pub revision: i64,
    /// The continue token, if more items follow.
    pub continue_token: Option<String>,
}

/// Lists objects of a resource request, as of now or the requested revision.
pub async fn list(
    state: &State,
    req: &ResourceRequest,
    q: &HashMap<String, Vec<String>>,
) -> Result<ListPage, Error> {
    let sel = Selectors::parse(req.info, q)?;
    let first = |k: &str| {
        q.get(k)
            .and_then(|v| v.first())
            .cloned()
            .unwrap_or_default()
    };
    let limit: usize = match first("limit").as_str() {
        "" => 0,
        l => l
            .parse()
            .map_err(|_| Error::BadRequest(format!("invalid limit {l:?}")))?,
    };
    let prefix = prefix_of(req);
    let (mut revision, mut start_after) = (0i64, None::<String>);
    let cont = first("continue");
    if !cont.is_empty() {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cont.as_bytes())
            .map_err(|_| {
                Error::BadRequest("continue key is not valid: illegal base64 data".into())
            })?;
        let token: Value = serde_json::from_slice(&raw)
            .map_err(|_| Error::BadRequest("continue key is not valid: invalid JSON".into()))?;
        revision = token["rv"].as_i64().unwrap_or(0);
        start_after = token["start"].as_str().map(String::from);
    } else {
        let rv = first("resourceVersion");
        if !rv.is_empty() && rv != "0" {
            let n: i64 = rv.parse().map_err(|_| {
                Error::BadRequest(format!(
                    "resourceVersion: Invalid value: \"{rv}\": must be a valid integer"
                ))
            })?;
            if first("resourceVersionMatch") == "Exact" {
                revision = n;
            } else {
                // NotOlderThan: any revision at or after n; check it is not in the future.
                let current = state.store.current_revision().await?;
                if n > current {
                    return Err(Error::Gone(format!(
                        "Too large resource version: {n}, current: {current}"
                    )));
                }
            }
        }
    }
    let mut items = Vec::new();
    let mut last_key: Option<String> = None;
    let mut more;
    loop {
        let page = state
            .store
            .list(&prefix, revision, start_after.as_deref(), limit)
            .await
            .map_err(|e| match e {
                StoreError::Compacted {
                    requested,
                    compacted,
                } if !cont.is_empty() => {
                    let _ = (requested, compacted);
                    gone_continue()
                }
                StoreError::Compacted {
                    requested,
                    compacted,
                } => Error::Gone(format!(
                    "too old resource version: {requested} ({compacted})"
                )),
                StoreError::FutureRevision { requested, current } => Error::Gone(format!(
                    "Too large resource version: {requested}, current: {current}"
                )),
                other => other.into(),
            })?;
        revision = page.revision;
        more = page.more;
        for kv in &page.items {
            last_key = Some(kv.key.clone());
            let obj = decode_stored(kv)?;
            if sel.matches(&obj) {
                items.push(obj);
                if limit > 0 && items.len() >= limit {
                    break;
                }
            }
        }
        if limit == 0 || items.len() >= limit || !more {
            // Items left in this page after the limit filled also mean "more".
            if limit > 0 && items.len() >= limit {
                let lk = last_key.clone().unwrap_or_default();
                more = more || page.items.last().map(|kv| kv.key != lk).unwrap_or(false);
            }
            break;
        }
        start_after = last_key.clone();
    }
    let continue_token = if more && limit > 0 {
        let token = json!({"rv": revision, "start": last_key});
        Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token.to_string()))
    } else {
        None
    };
    Ok(ListPage {
        items,
        revision,
        continue_token,
    })
}

/// Renders a list page as a `<Kind>List` or a Table.
pub fn render_list(info: &ResourceInfo, page: ListPage, format: Format) -> Value {
    let mut meta = json!({"resourceVersion": page.revision.to_string()});
    if let Some(c) = &page.continue_token {
        meta["continue"] = json!(c);
    }
    match format {
        Format::Json => {
            // Built by hand so the items move into the list instead of being copied.
            let mut list = serde_json::Map::new();
            list.insert("kind".into(), json!(info.list_kind()));
            list.insert("apiVersion".into(), json!(info.gvk.api_version()));
            list.insert("metadata".into(), meta);
            let items = page
                .items
                .into_iter()
                .map(|o| from_storage(info, o))
                .collect();
            list.insert("items".into(), Value::Array(items));
            Value::Object(list)
        }
        Format::Table(include) => table(info, &page.items, meta, include, true),
    }
}

fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"],
    })
}

/// A Table of objects.
pub fn table(
    info: &ResourceInfo,
    objs: &[Value],
    meta: Value,
    include: IncludeObject,
    with_columns: bool,
) -> Value {
    let now = now_timestamp();
    let rows: Vec<Value> = objs
        .iter()
        .map(|o| {
            let mut row = json!({"cells": portico_printers::cells(info.plural, o, now)});
            match include {
                IncludeObject::None => {}
                IncludeObject::Metadata => row["object"] = partial_metadata(o),
                IncludeObject::Object => row["object"] = from_storage(info, o.clone()),
            }
            row
        })
        .collect();
    let columns = if with_columns {
        json!(portico_printers::column_definitions(info.plural))
    } else {
        json!([])
    };
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

/// Renders one object (GET of a name) in the requested format.
pub fn render_object(info: &ResourceInfo, obj: Value, format: Format) -> Value {
    match format {
        Format::Json => from_storage(info, obj),
        Format::Table(include) => {
            let rv = obj["metadata"]["resourceVersion"].clone();
            table(
                info,
                std::slice::from_ref(&obj),
                json!({"resourceVersion": rv}),
                include,
                true,
            )
        }
    }
}

/// Starts a watch and returns the channel its JSON lines arrive on.
pub async fn watch(
    state: Arc<State>,
    req: &ResourceRequest,
    q: &HashMap<String, Vec<String>>,
    format: Format,
) -> Result<mpsc::Receiver<Bytes>, Error> {
    let info = req.info;
    let sel = Selectors::parse(info, q)?;
    let first = |k: &str| {
        q.get(k)
            .and_then(|v| v.first())
            .cloned()
            .unwrap_or_default()
    };
    let bookmarks = matches!(first("allowWatchBookmarks").as_str(), "true" | "1");
    let send_initial = first("sendInitialEvents") == "true";
    let timeout = match first("timeoutSeconds").as_str() {
        "" => Duration::from_secs(1800 + rand::random::<u64>() % 1800),
        t => Duration::from_secs(
            t.parse()
                .map_err(|_| Error::BadRequest(format!("invalid timeoutSeconds {t:?}")))?,
        ),
    };
    let rv = first("resourceVersion");
    let prefix = prefix_of(req);
    // Where to start, and the initial ADDED events when the client wants the current state.
    let (start, initial) = if rv.is_empty() || rv == "0" || send_initial {
        let page = state.store.list(&prefix, 0, None, 0).await?;
        let mut objs = Vec::new();
        for kv in &page.items {
            let o = decode_stored(kv)?;
            if sel.matches(&o) {
                objs.push(o);
            }
        }
        (page.revision, objs)
    } else {
        let n: i64 = rv.parse().map_err(|_| {
            Error::BadRequest(format!(
                "resourceVersion: Invalid value: \"{rv}\": must be a valid integer"
            ))
        })?;
        (n, Vec::new())
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let stream = state.store.watch(&prefix, start).await;
    let shutdown = state.shutdown.clone();
    tokio::spawn(async move {
        let mut first_table = true;
        let mut encode = |kind: &str, obj: &Value| -> Bytes {
            let object = match format {
                Format::Json => from_storage(info, obj.clone()),
                Format::Table(include) if kind != "ERROR" && kind != "BOOKMARK" => {
                    let rv = obj["metadata"]["resourceVersion"].clone();
                    let t = table(
                        info,
                        std::slice::from_ref(obj),
                        json!({"resourceVersion": rv}),
                        include,
                        first_table,
                    );
                    first_table = false;
                    t
                }
                Format::Table(_) => obj.clone(),
            };
            let mut line = json!({"type": kind, "object": object}).to_string();
            line.push('\n');
            Bytes::from(line)
        };
        let bookmark = |rev: i64, end_of_initial: bool| -> Value {
            let mut meta = json!({"resourceVersion": rev.to_string(), "creationTimestamp": null});
            if end_of_initial {
                meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
            }
            json!({"kind": info.gvk.kind, "apiVersion": info.gvk.api_version(), "metadata": meta})
        };
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                let err: Error = match e {
                    StoreError::Compacted {
                        requested,
                        compacted,
                    } => Error::Gone(format!(
                        "too old resource version: {requested} ({compacted})"
                    )),
                    other => other.into(),
                };
                let _ = tx.send(encode("ERROR", &err.status())).await;
                return;
            }
        };
        for o in &initial {
            if tx.send(encode("ADDED", o)).await.is_err() {
                return;
            }
        }
        let mut last = start;
        if send_initial
            && bookmarks
            && tx
                .send(encode("BOOKMARK", &bookmark(start, true)))
                .await
                .is_err()
        {
            return;
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        tick.reset();
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = shutdown.cancelled() => return,
                _ = tick.tick(), if bookmarks => {
                    if tx.send(encode("BOOKMARK", &bookmark(last, false))).await.is_err() {
                        return;
                    }
                }
                _ = tx.closed() => return,
                ev = stream.next() => {
                    let ev = match ev {
                        None => return,
                        Some(Err(e)) => {
                            let err: Error = match e {
                                StoreError::Compacted { requested, compacted } => Error::Gone(format!("too old resource version: {requested} ({compacted})")),
                                other => other.into(),
                            };
                            let _ = tx.send(encode("ERROR", &err.status())).await;
                            return;
                        }
                        Some(Ok(ev)) => ev,
                    };
                    last = ev.kv.mod_revision;
                    let Ok(obj) = decode_stored(&ev.kv) else { continue };
                    let now_matches = sel.matches(&obj);
                    let before = ev.prev.as_ref().and_then(|p| decode_stored(p).ok());
                    let was = before.as_ref().is_some_and(|b| sel.matches(b));
                    let kind = match ev.kind {
                        EventKind::Delete if was || now_matches => "DELETED",
                        EventKind::Delete => continue,
                        EventKind::Put if ev.prev.is_none() && now_matches => "ADDED",
                        EventKind::Put if ev.prev.is_none() => continue,
                        EventKind::Put if was && now_matches => "MODIFIED",
                        EventKind::Put if now_matches => "ADDED",
                        EventKind::Put if was => "DELETED",
                        EventKind::Put => continue,
                    };
                    if tx.send(encode(kind, &obj)).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    Ok(rx)
}
