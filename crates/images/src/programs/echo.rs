//! `jmalloc/echo-server`: answers every HTTP request with the pod's name and the request as it
//! arrived (request line, headers, body), and echoes WebSocket messages after a first message
//! naming the pod. Listens on `$PORT` (default 8080). The image ingress users test WebSocket
//! pass-through with.

use std::convert::Infallible;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Message, Role};
use tokio_tungstenite::WebSocketStream;

use super::Outcome;
use crate::RunContext;

/// Largest body echoed back.
const MAX_BODY: usize = 1 << 20;

/// Runs the server until the container is stopped.
pub(crate) async fn run(ctx: &RunContext) -> Outcome {
    let port = ctx
        .env_var("PORT")
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let listener = ctx.bind_tcp(port).await?;
    ctx.log(&format!("Echo server listening on port {port}."));
    let hostname = ctx.hostname();
    loop {
        let (stream, _) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(_) => continue,
            },
            _ = ctx.signalled() => return Ok(0),
        };
        let _ = stream.set_nodelay(true);
        let hostname = hostname.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| answer(req, hostname.clone()));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

async fn answer(
    req: Request<Incoming>,
    hostname: String,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if upgrade {
        return Ok(websocket(req, hostname));
    }
    let mut text = format!(
        "Request served by {hostname}\n\n{} {} {:?}\n\n",
        req.method(),
        req.uri(),
        req.version()
    );
    let mut names: Vec<&header::HeaderName> = req.headers().keys().collect();
    names.sort_by_key(|n| n.as_str());
    names.dedup();
    for name in names {
        for value in req.headers().get_all(name) {
            text.push_str(&format!(
                "{}: {}\n",
                canonical(name.as_str()),
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
    }
    let body = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if !body.is_empty() {
        text.push('\n');
        text.push_str(&String::from_utf8_lossy(&body));
    }
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Full::new(Bytes::from(text)))
        .unwrap_or_default())
}

/// Completes the WebSocket handshake and echoes on the upgraded connection.
fn websocket(mut req: Request<Incoming>, hostname: String) -> Response<Full<Bytes>> {
    let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY).cloned() else {
        return Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .body(Full::new(Bytes::from_static(
                b"missing Sec-WebSocket-Key\n",
            )))
            .unwrap_or_default();
    };
    let accept = derive_accept_key(key.as_bytes());
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let mut ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        let hello = format!("Request served by {hostname}");
        if ws.send(Message::text(hello)).await.is_err() {
            return;
        }
        while let Some(Ok(msg)) = ws.next().await {
            let reply = match msg {
                Message::Text(_) | Message::Binary(_) => msg,
                Message::Ping(p) => Message::Pong(p),
                Message::Close(_) => break,
                _ => continue,
            };
            if ws.send(reply).await.is_err() {
                break;
            }
        }
    });
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = res.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    res
}

/// `x-forwarded-for` → `X-Forwarded-For`, as Go prints header names.
fn canonical(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn header_names_print_in_go_form() {
        assert_eq!(canonical("x-forwarded-for"), "X-Forwarded-For");
        assert_eq!(canonical("host"), "Host");
    }
}
