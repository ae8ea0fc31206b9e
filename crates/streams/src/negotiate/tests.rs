//! Negotiation tests with the headers kubectl 1.32 sends.

use super::*;
use http::Request;

fn parts(builder: http::request::Builder) -> http::request::Parts {
    builder.body(()).unwrap().into_parts().0
}

fn ws_exec(protocols: &[&str]) -> http::request::Builder {
    let mut builder = Request::get(
        "/api/v1/namespaces/default/pods/web/exec?command=echo&command=hi&stderr=true&stdout=true",
    )
    .header("Connection", "Upgrade")
    .header("Upgrade", "websocket")
    .header("Sec-WebSocket-Version", "13")
    .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
    for p in protocols {
        builder = builder.header("Sec-WebSocket-Protocol", *p);
    }
    builder
}

#[test]
fn websocket_v5_answer_has_accept_key_and_subprotocol() {
    let n = negotiate_exec(&parts(ws_exec(&["v5.channel.k8s.io"]))).unwrap();
    assert_eq!(n.protocol(), Protocol::WsV5);
    let response: Response<()> = n.response();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    let h = response.headers();
    // RFC 6455's worked example.
    assert_eq!(h["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(h["sec-websocket-protocol"], "v5.channel.k8s.io");
    assert_eq!(h["upgrade"], "websocket");
    assert_eq!(h["connection"], "Upgrade");
}

#[test]
fn websocket_follows_the_client_order() {
    let n = negotiate_exec(&parts(ws_exec(&["v4.channel.k8s.io, v5.channel.k8s.io"]))).unwrap();
    assert_eq!(n.protocol(), Protocol::WsV4);
    let n = negotiate_exec(&parts(ws_exec(&["bogus", "base64.channel.k8s.io"]))).unwrap();
    assert_eq!(n.protocol(), Protocol::WsV1Base64);
}

#[test]
fn websocket_without_subprotocol_is_channel_v1_and_echoes_nothing() {
    let n = negotiate_exec(&parts(ws_exec(&[]))).unwrap();
    assert_eq!(n.protocol(), Protocol::WsV1);
    let response: Response<()> = n.response();
    assert!(response.headers().get("sec-websocket-protocol").is_none());
}

#[test]
fn unknown_websocket_subprotocol_fails_so_kubectl_falls_back() {
    let err = negotiate_exec(&parts(ws_exec(&["v6.channel.k8s.io"]))).unwrap_err();
    assert_eq!(err.http_status(), StatusCode::BAD_REQUEST);
    assert!(err.to_string().contains("v6.channel.k8s.io"), "{err}");
}

fn spdy_exec(versions: &[&str]) -> http::request::Builder {
    let mut builder = Request::post(
        "/api/v1/namespaces/default/pods/web/exec?command=sh&stdin=true&stdout=true&tty=true",
    )
    .header("Connection", "Upgrade")
    .header("Upgrade", "SPDY/3.1");
    for v in versions {
        builder = builder.header("X-Stream-Protocol-Version", *v);
    }
    builder
}

#[test]
fn spdy_picks_v5_from_kubectls_list_and_echoes_it() {
    let n = negotiate_exec(&parts(spdy_exec(&[
        "v5.channel.k8s.io",
        "v4.channel.k8s.io",
        "v3.channel.k8s.io",
        "v2.channel.k8s.io",
        "channel.k8s.io",
    ])))
    .unwrap();
    assert_eq!(n.protocol(), Protocol::SpdyV5);
    let response: Response<()> = n.response();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(
        response.headers()["x-stream-protocol-version"],
        "v5.channel.k8s.io"
    );
    assert_eq!(response.headers()["upgrade"], "SPDY/3.1");
    assert_eq!(response.headers()["connection"], "Upgrade");
}

#[test]
fn spdy_without_match_is_forbidden_like_apimachinery() {
    let err = negotiate_exec(&parts(spdy_exec(&["v9.channel.k8s.io"]))).unwrap_err();
    assert_eq!(err.http_status(), StatusCode::FORBIDDEN);
    assert_eq!(
        err.to_string(),
        "unable to upgrade: unable to negotiate protocol: client supports [v9.channel.k8s.io], server accepts \
         [v5.channel.k8s.io v4.channel.k8s.io v3.channel.k8s.io v2.channel.k8s.io channel.k8s.io]"
    );
}

#[test]
fn plain_request_is_not_an_upgrade() {
    let err = negotiate_exec(&parts(Request::post("/exec?stdout=1"))).unwrap_err();
    assert_eq!(err.http_status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        err.to_string(),
        "unable to upgrade: missing upgrade headers in request"
    );
}

#[test]
fn exec_without_streams_is_rejected_before_upgrading() {
    let err = negotiate_exec(&parts(
        Request::get("/exec?command=ls")
            .header("Connection", "Upgrade")
            .header("Upgrade", "websocket"),
    ))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "you must specify at least 1 of stdin, stdout, stderr"
    );
}

#[test]
fn portforward_tunnel_and_spdy() {
    let tunnel = parts(
        Request::get("/api/v1/namespaces/default/pods/web/portforward")
            .header("Connection", "Upgrade")
            .header("Upgrade", "websocket")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("Sec-WebSocket-Protocol", "SPDY/3.1+portforward.k8s.io"),
    );
    let n = negotiate_portforward(&tunnel).unwrap();
    assert_eq!(n.protocol(), Protocol::PortForwardTunnel);
    let response: Response<()> = n.response();
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "SPDY/3.1+portforward.k8s.io"
    );

    let spdy = parts(
        Request::post("/api/v1/namespaces/default/pods/web/portforward")
            .header("Connection", "Upgrade")
            .header("Upgrade", "SPDY/3.1")
            .header("X-Stream-Protocol-Version", "portforward.k8s.io"),
    );
    let n = negotiate_portforward(&spdy).unwrap();
    assert_eq!(n.protocol(), Protocol::PortForwardSpdy);
    let response: Response<()> = n.response();
    assert_eq!(
        response.headers()["x-stream-protocol-version"],
        "portforward.k8s.io"
    );

    let missing = parts(
        Request::post("/portforward")
            .header("Connection", "Upgrade")
            .header("Upgrade", "SPDY/3.1"),
    );
    assert_eq!(
        negotiate_portforward(&missing).unwrap_err().to_string(),
        "unable to upgrade: X-Stream-Protocol-Version is required"
    );
}
