//! Routing one authenticated request: non-resource paths, discovery, and the verbs on
//! resources and their subresources.

use std::collections::HashMap;
use std::sync::Arc;

use http::{header, HeaderValue, Method, Request, Response};
use http_body_util::BodyExt;
use serde_json::{json, Value};

use super::{json_response, stream_response, text_response, Body, RequestBody};
use crate::discovery;
use crate::error::Error;
use crate::list::{self, Format};
use crate::objects::{self, DeleteOptions, Part, PatchType, WriteCtx};
use crate::request::{self, ResourceRequest, Target};
use crate::State;

const TABLE_CT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

fn header_str(req: &Request<RequestBody>, name: header::HeaderName) -> &str {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Routes one request.
pub async fn route(state: Arc<State>, req: Request<RequestBody>) -> Result<Response<Body>, Error> {
    let path = req.uri().path().to_string();
    let q = request::query(req.uri().query());
    let accept = header_str(&req, header::ACCEPT).to_string();
    let get = req.method() == Method::GET;
    let legacy = state.config.legacy_apis;
    match path.as_str() {
        "/version" | "/version/" if get => {
            return Ok(json_response(
                200,
                &discovery::version(),
                "application/json",
            ))
        }
        "/healthz" | "/livez" | "/readyz" if get => return Ok(text_response(200, "ok")),
        p if get
            && (p.starts_with("/healthz/")
                || p.starts_with("/livez/")
                || p.starts_with("/readyz/")) =>
        {
            return Ok(text_response(200, "ok"))
        }
        "/openapi/v3" | "/openapi/v3/" if get => {
            return Ok(json_response(
                200,
                &discovery::openapi_root(legacy),
                "application/json",
            ))
        }
        p if get && p.starts_with("/openapi/v3/") => {
            let doc = discovery::openapi_group_version(&p["/openapi/v3/".len()..], legacy)
                .ok_or(Error::NoRoute)?;
            return Ok(json_response(200, &doc, "application/json"));
        }
        "/openapi/v2" | "/swagger.json" if get => {
            // An empty OpenAPI v2 document (the empty protobuf message): kubectl reads it for
            // kinds the v3 documents do not name, finds nothing, and reports the kind as
            // unknown to the server rather than failing to download a schema.
            let mut resp = Response::new(http_body_util::BodyExt::boxed(
                http_body_util::Full::new(bytes::Bytes::new()),
            ));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
                ),
            );
            return Ok(resp);
        }
        _ => {}
    }
    let target = request::parse(&path, legacy).map_err(|_| Error::NoRoute)?;
    match target {
        Target::CoreVersions | Target::Groups if get => {
            let core = target == Target::CoreVersions;
            Ok(match discovery::wants_aggregated(&accept) {
                Some(ct) => json_response(200, &discovery::aggregated(core, ct, legacy), ct),
                None if core => json_response(
                    200,
                    &discovery::api_versions(&state.address.to_string()),
                    "application/json",
                ),
                None => json_response(200, &discovery::api_group_list(legacy), "application/json"),
            })
        }
        Target::Group(g) if get => Ok(json_response(
            200,
            &discovery::group(&g, legacy),
            "application/json",
        )),
        Target::GroupVersion { group, version } if get => Ok(json_response(
            200,
            &discovery::resource_list(&group, &version, legacy),
            "application/json",
        )),
        Target::Resource(r) => {
            // Every request in a deprecated version carries Kubernetes' deprecation warning,
            // whatever its outcome.
            let warning = portico_api::registry::deprecation_warning(r.info);
            let resp = resource(state, req, r, q, &accept).await;
            match warning {
                None => resp,
                Some(w) => Ok(with_warning(
                    resp.unwrap_or_else(|e| super::error_response(&e)),
                    &w,
                )),
            }
        }
        _ => Err(Error::MethodNotAllowed),
    }
}

/// Reads the body, up to the configured limit. A larger body is read to its end and thrown
/// away (up to a hard cap) before the 413 answer, so HTTP/2 clients see the answer rather
/// than a reset stream.
async fn read_body(
    state: &State,
    req: Request<RequestBody>,
) -> Result<(bytes::Bytes, String), Error> {
    let ct = header_str(&req, header::CONTENT_TYPE).to_string();
    let limit = state.config.max_body_bytes;
    let hard_cap = limit.saturating_mul(16);
    let declared: Option<usize> = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    if declared.is_some_and(|n| n > hard_cap) {
        return Err(Error::TooLarge(limit));
    }
    let mut body = req.into_body();
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| Error::BadRequest(format!("reading the request body failed: {e}")))?;
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            if seen > hard_cap {
                return Err(Error::TooLarge(limit));
            }
            if seen <= limit {
                buf.extend_from_slice(&data);
            }
        }
    }
    if seen > limit {
        return Err(Error::TooLarge(limit));
    }
    Ok((buf.freeze(), ct))
}

/// Decodes an object body by Content-Type; returns the object and its JSON text (for the
/// strict field check) when the body was JSON or YAML.
fn decode_object(ct: &str, body: &[u8]) -> Result<(Value, Option<Vec<u8>>), Error> {
    let base = ct.split(';').next().unwrap_or("").trim();
    match base {
        "" | "application/json" | "*/*" => {
            let v: Value = serde_json::from_slice(body).map_err(|e| {
                Error::BadRequest(format!("couldn't get version/kind; json parse error: {e}"))
            })?;
            Ok((v, Some(body.to_vec())))
        }
        "application/yaml" | "application/x-yaml" | "text/yaml" => {
            let text = std::str::from_utf8(body)
                .map_err(|_| Error::BadRequest("the YAML body is not valid UTF-8".into()))?;
            let v: Value = serde_saphyr::from_str(text)
                .map_err(|e| Error::BadRequest(format!("error converting YAML to JSON: {e}")))?;
            let raw = serde_json::to_vec(&v).ok();
            Ok((v, raw))
        }
        "application/vnd.kubernetes.protobuf" => {
            let v = portico_protobuf::decode(body).map_err(|e| {
                Error::BadRequest(format!("the protobuf body could not be decoded: {e}"))
            })?;
            Ok((v, None))
        }
        _ => Err(Error::UnsupportedMediaType),
    }
}

/// Adds one `Warning: 299 - "<text>"` header.
fn with_warning(mut resp: Response<Body>, text: &str) -> Response<Body> {
    let text = format!("299 - \"{}\"", text.replace('"', "\\\""));
    if let Ok(v) = HeaderValue::from_str(&text) {
        resp.headers_mut().append(header::WARNING, v);
    }
    resp
}

fn with_warnings(mut resp: Response<Body>, ctx: &WriteCtx) -> Response<Body> {
    for w in &ctx.warnings {
        resp = with_warning(resp, w);
    }
    resp
}

/// One object (stored version) as the answer, in the request's version.
fn object_response(code: u16, r: &ResourceRequest, obj: Value, format: Format) -> Response<Body> {
    let ct = if matches!(format, Format::Table(_)) {
        TABLE_CT
    } else {
        "application/json"
    };
    json_response(code, &list::render_object(r.info, obj, format), ct)
}

fn success(code: u16, details: Value) -> Response<Body> {
    json_response(
        code,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details, "code": code}),
        "application/json",
    )
}

async fn node_route(
    state: &State,
    req: Request<RequestBody>,
    r: &ResourceRequest,
) -> Result<Response<Body>, Error> {
    let pod = objects::get(state, r).await?;
    let name = r.name.clone().unwrap_or_default();
    let node = pod["spec"]["nodeName"].as_str().unwrap_or("");
    if node.is_empty() {
        return Err(Error::BadRequest(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let to = super::node_proxy::kubelet_address(state, node).await?;
    super::node_proxy::proxy(state, req, to).await
}

async fn resource(
    state: Arc<State>,
    req: Request<RequestBody>,
    r: ResourceRequest,
    q: HashMap<String, Vec<String>>,
    accept: &str,
) -> Result<Response<Body>, Error> {
    let method = req.method().clone();
    let user_agent = header_str(&req, header::USER_AGENT).to_string();
    let format = list::format(accept, &q);
    let sub = r.subresource.as_deref();
    let watching = r.legacy_watch
        || matches!(
            q.get("watch").and_then(|v| v.first()).map(String::as_str),
            Some("true" | "1")
        );
    match (&method, r.name.is_some(), sub) {
        (&Method::GET, false, None) if watching => {
            let rx = list::watch(state.clone(), &r, &q, format).await?;
            Ok(stream_response(rx, "application/json"))
        }
        (&Method::GET, false, None) => {
            let page = list::list(&state, &r, &q).await?;
            let ct = if matches!(format, Format::Table(_)) {
                TABLE_CT
            } else {
                "application/json"
            };
            Ok(json_response(
                200,
                &list::render_list(r.info, page, format),
                ct,
            ))
        }
        (&Method::GET, true, None) if watching => {
            // A watch on one name: the legacy path form.
            let mut q = q.clone();
            q.insert(
                "fieldSelector".into(),
                vec![format!(
                    "metadata.name={}",
                    r.name.clone().unwrap_or_default()
                )],
            );
            let coll = ResourceRequest {
                name: None,
                ..r.clone()
            };
            let rx = list::watch(state.clone(), &coll, &q, format).await?;
            Ok(stream_response(rx, "application/json"))
        }
        (&Method::GET, true, None | Some("status")) => {
            let obj = objects::get(&state, &r).await?;
            Ok(object_response(
                200,
                &r,
                obj,
                if sub.is_some() { Format::Json } else { format },
            ))
        }
        (&Method::GET, true, Some("scale")) => {
            let obj = objects::get(&state, &r).await?;
            Ok(json_response(
                200,
                &objects::scale_of(r.info, &obj)?,
                "application/json",
            ))
        }
        (_, true, Some("proxy")) => super::proxy::serve(&state, req, &r).await,
        (_, true, Some("log" | "exec" | "attach" | "portforward")) => {
            node_route(&state, req, &r).await
        }
        (&Method::POST, false, None) => {
            let mut ctx = WriteCtx::from_query(&q, &user_agent)?;
            let (body, ct) = read_body(&state, req).await?;
            let (obj, raw) = decode_object(&ct, &body)?;
            let created = objects::create(&state, &mut ctx, &r, obj, raw.as_deref()).await?;
            Ok(with_warnings(
                object_response(201, &r, created, Format::Json),
                &ctx,
            ))
        }
        (&Method::POST, true, Some("binding")) => {
            let (body, ct) = read_body(&state, req).await?;
            let (binding, _) = decode_object(&ct, &body)?;
            bind(&state, &r, &binding).await?;
            Ok(success(201, json!({})))
        }
        (&Method::POST, true, Some("eviction")) => {
            let ctx = WriteCtx::from_query(&q, &user_agent)?;
            let (body, _) = read_body(&state, req).await?;
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let opts = DeleteOptions::parse(
                &serde_json::to_vec(&v["deleteOptions"]).unwrap_or_default(),
                &HashMap::new(),
            )
            .unwrap_or_default();
            let pod = ResourceRequest {
                subresource: None,
                ..r.clone()
            };
            objects::delete(&state, &ctx, &pod, &opts).await?;
            Ok(success(201, json!({})))
        }
        (&Method::PUT, true, None | Some("status")) => {
            let mut ctx = WriteCtx::from_query(&q, &user_agent)?;
            let (body, ct) = read_body(&state, req).await?;
            let (obj, raw) = decode_object(&ct, &body)?;
            let part = if sub == Some("status") {
                Part::Status
            } else {
                Part::Main
            };
            let (obj, created) =
                objects::update(&state, &mut ctx, &r, obj, raw.as_deref(), part).await?;
            Ok(with_warnings(
                object_response(if created { 201 } else { 200 }, &r, obj, Format::Json),
                &ctx,
            ))
        }
        (&Method::PUT, true, Some("scale")) => {
            let mut ctx = WriteCtx::from_query(&q, &user_agent)?;
            let (body, ct) = read_body(&state, req).await?;
            let (scale, _) = decode_object(&ct, &body)?;
            let main = ResourceRequest {
                subresource: None,
                ..r.clone()
            };
            let old = objects::get(&state, &main).await?;
            let wanted = objects::set_scale(&old, &scale)?;
            let (obj, _) =
                objects::update(&state, &mut ctx, &main, wanted, None, Part::Main).await?;
            Ok(json_response(
                200,
                &objects::scale_of(r.info, &obj)?,
                "application/json",
            ))
        }
        (&Method::PATCH, true, None | Some("status") | Some("scale")) => {
            let mut ctx = WriteCtx::from_query(&q, &user_agent)?;
            let ty = PatchType::from_content_type(header_str(&req, header::CONTENT_TYPE))?;
            if ty == PatchType::Apply && !q.contains_key("fieldManager") {
                return Err(Error::BadRequest(
                    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".into(),
                ));
            }
            let (body, _) = read_body(&state, req).await?;
            let (obj, created) = objects::patch(&state, &mut ctx, &r, ty, &body).await?;
            Ok(with_warnings(
                object_response(if created { 201 } else { 200 }, &r, obj, Format::Json),
                &ctx,
            ))
        }
        (&Method::DELETE, true, None) => {
            let ctx = WriteCtx::from_query(&q, &user_agent)?;
            let (body, _) = read_body(&state, req).await?;
            let opts = DeleteOptions::parse(&body, &q)?;
            let obj = objects::delete(&state, &ctx, &r, &opts).await?;
            Ok(object_response(200, &r, obj, Format::Json))
        }
        (&Method::DELETE, false, None) => {
            let ctx = WriteCtx::from_query(&q, &user_agent)?;
            let (body, _) = read_body(&state, req).await?;
            let opts = DeleteOptions::parse(&body, &q)?;
            let mut lq = q.clone();
            lq.remove("limit");
            lq.remove("continue");
            let page = list::list(&state, &r, &lq).await?;
            let mut deleted = Vec::new();
            for obj in page.items {
                let one = ResourceRequest {
                    name: obj["metadata"]["name"].as_str().map(String::from),
                    namespace: obj["metadata"]["namespace"].as_str().map(String::from),
                    ..r.clone()
                };
                match objects::delete(&state, &ctx, &one, &opts).await {
                    Ok(o) => deleted.push(o),
                    Err(Error::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            let page = list::ListPage {
                items: deleted,
                revision: state.store.current_revision().await?,
                continue_token: None,
            };
            Ok(json_response(
                200,
                &list::render_list(r.info, page, Format::Json),
                "application/json",
            ))
        }
        _ => Err(Error::MethodNotAllowed),
    }
}

/// `pods/binding`: what the scheduler writes. Like Kubernetes' binding storage it writes the
/// pod directly (pod updates may not change `spec.nodeName`).
async fn bind(state: &State, r: &ResourceRequest, binding: &Value) -> Result<(), Error> {
    let node = binding["target"]["name"].as_str().unwrap_or("").to_string();
    let name = r.name.clone().unwrap_or_default();
    if node.is_empty() {
        return Err(Error::BadRequest("binding target name is required".into()));
    }
    let key = r.info.key(r.namespace.as_deref(), &name);
    for _ in 0..8 {
        let kv = state
            .store
            .get(&key)
            .await?
            .ok_or_else(|| Error::NotFound {
                resource: "pods".into(),
                name: name.clone(),
            })?;
        let mut pod: Value =
            serde_json::from_slice(&kv.value).map_err(|e| Error::Internal(e.to_string()))?;
        if pod["metadata"]["deletionTimestamp"].is_string() {
            return Err(Error::Conflict {
                resource: "pods".into(),
                name: name.clone(),
                reason: "pod is being deleted, cannot be assigned to a host".into(),
            });
        }
        if let Some(current) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
            return Err(Error::Conflict {
                resource: "pods".into(),
                name: name.clone(),
                reason: format!("pod {name} is already assigned to node \"{current}\""),
            });
        }
        pod["spec"]["nodeName"] = json!(node);
        let condition = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": objects::now()});
        match pod["status"]["conditions"].as_array_mut() {
            Some(c) => {
                c.retain(|x| x["type"] != "PodScheduled");
                c.push(condition);
            }
            None => pod["status"]["conditions"] = json!([condition]),
        }
        let bytes = serde_json::to_vec(&pod).map_err(|e| Error::Internal(e.to_string()))?;
        match state.store.update(&key, bytes, kv.mod_revision).await {
            Ok(_) => return Ok(()),
            Err(portico_store::StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict {
        resource: "pods".into(),
        name,
        reason: "too many concurrent updates".into(),
    })
}
