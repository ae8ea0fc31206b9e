//! Requests that only a node can answer (`pods/log`, `exec`, `attach`, `portforward`), passed
//! through to the node agent that runs the pod, as the Kubernetes API server proxies them to
//! the kubelet.
//!
//! The node is found from the pod's `spec.nodeName` and the Node's `InternalIP` and
//! `daemonEndpoints.kubeletEndpoint.Port`. The request goes on unchanged but for the
//! `Authorization` header, which carries the API server's own token so the node agent can
//! tell the API server from anyone else on the node network. Upgrades (WebSocket, SPDY) are
//! spliced byte for byte once both sides have switched protocols, so the streaming protocols
//! live in the node agent alone.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::{stream_response, Body, RequestBody};
use crate::error::Error;
use crate::State;

/// Where the node agent of `node` listens, from its Node object.
pub(super) async fn kubelet_address(state: &State, node: &str) -> Result<SocketAddr, Error> {
    let kv = state
        .store
        .get(&format!("/registry/nodes/{node}"))
        .await
        .map_err(Error::Store)?
        .ok_or_else(|| {
            Error::Internal(format!("error dialing backend: node {node:?} not found"))
        })?;
    let obj: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| Error::Internal(format!("stored node {node:?}: {e}")))?;
    let ip = obj["status"]["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["type"] == "InternalIP")
        .and_then(|a| a["address"].as_str())
        .and_then(|a| a.parse::<std::net::IpAddr>().ok())
        .ok_or_else(|| {
            Error::Internal(format!(
                "error dialing backend: node {node:?} has no InternalIP address"
            ))
        })?;
    let port = obj["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
        .as_u64()
        .filter(|p| *p > 0 && *p <= u64::from(u16::MAX))
        .unwrap_or(10250) as u16;
    Ok(SocketAddr::new(ip, port))
}

/// Sends `req` to the node agent at `to` and relays the answer (and, after a `101`, the
/// upgraded connection) back to the client.
pub(super) async fn proxy(
    state: &State,
    mut req: Request<RequestBody>,
    to: SocketAddr,
) -> Result<Response<Body>, Error> {
    let dial_err = |e: &dyn std::fmt::Display| {
        Error::Internal(format!("error dialing backend: dial tcp {to}: {e}"))
    };
    let tcp = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio::net::TcpStream::connect(to),
    )
    .await
    .map_err(|_| dial_err(&"i/o timeout"))?
    .map_err(|e| dial_err(&e))?;
    let _ = tcp.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| dial_err(&e))?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "node connection ended");
        }
    });
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let mut out = Request::builder()
        .method(req.method().clone())
        .uri(path)
        .body(Empty::<Bytes>::new())
        .map_err(|e| Error::Internal(e.to_string()))?;
    for (name, value) in req.headers() {
        if name != header::AUTHORIZATION && name != header::HOST {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    if let Ok(v) = HeaderValue::from_str(&to.to_string()) {
        out.headers_mut().insert(header::HOST, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer {}", state.creds.token)) {
        out.headers_mut().insert(header::AUTHORIZATION, v);
    }
    let upgrading = req.headers().contains_key(header::UPGRADE);
    let mut resp = sender
        .send_request(out)
        .await
        .map_err(|e| Error::Internal(format!("error proxying to node {to}: {e}")))?;
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS && upgrading {
        let from_node = hyper::upgrade::on(&mut resp);
        let from_client = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let (node, client) = match tokio::try_join!(from_node, from_client) {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::debug!(error = %e, "upgrade to node failed");
                    return;
                }
            };
            let (mut node, mut client) = (TokioIo::new(node), TokioIo::new(client));
            if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut node).await {
                tracing::debug!(error = %e, "upgraded node stream ended");
            }
        });
        let mut answer = Response::new(Empty::new().boxed());
        *answer.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        *answer.headers_mut() = resp.headers().clone();
        return Ok(answer);
    }
    // A plain answer (logs, or a refused upgrade): stream the body through.
    let status = resp.status();
    let headers = resp.headers().clone();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("text/plain")
        .to_string();
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let mut body = resp.into_body();
    tokio::spawn(async move {
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { break };
            if let Ok(data) = frame.into_data() {
                if tx.send(data).await.is_err() {
                    break;
                }
            }
        }
    });
    let mut answer = stream_response(rx, &content_type);
    *answer.status_mut() = status;
    answer.headers_mut().remove(header::CACHE_CONTROL);
    Ok(answer)
}
