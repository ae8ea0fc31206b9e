//! Choosing the streaming protocol from the upgrade request, and the `101` answer.
//!
//! The rules follow the kubelet and apimachinery: a request is a WebSocket upgrade when its
//! `Connection` header has the `upgrade` token and `Upgrade` is `websocket`; the subprotocol is
//! the first one the client offers that the server supports. Otherwise it must be a SPDY/3.1
//! upgrade whose `X-Stream-Protocol-Version` values (repeated or comma-separated) are matched
//! the same way, in the client's order.

use http::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::{Error, StreamOptions};

/// The SPDY protocol-version header kubectl and the kubelet exchange.
pub(crate) const STREAM_PROTOCOL_HEADER: &str = "x-stream-protocol-version";
/// The WebSocket subprotocol of the port-forward tunnel.
pub(crate) const TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";
/// The SPDY protocol of port-forward.
pub(crate) const PORTFORWARD_PROTOCOL: &str = "portforward.k8s.io";

/// A negotiated streaming protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// WebSocket `v5.channel.k8s.io`: binary channels, status JSON, stdin close signal (255).
    WsV5,
    /// WebSocket `v4.channel.k8s.io`: binary channels, status JSON.
    WsV4,
    /// WebSocket `v4.base64.channel.k8s.io`: text messages, channel digit plus base64.
    WsV4Base64,
    /// WebSocket `channel.k8s.io` (or no subprotocol): binary channels, plain-text errors.
    WsV1,
    /// WebSocket `base64.channel.k8s.io`: text channels, plain-text errors.
    WsV1Base64,
    /// SPDY `v5.channel.k8s.io` (for SPDY the same as v4).
    SpdyV5,
    /// SPDY `v4.channel.k8s.io`: status JSON on the error stream, resize stream.
    SpdyV4,
    /// SPDY `v3.channel.k8s.io`: plain-text errors, resize stream.
    SpdyV3,
    /// SPDY `v2.channel.k8s.io`: plain-text errors, no resize.
    SpdyV2,
    /// SPDY `channel.k8s.io` (or no version header at all).
    SpdyV1,
    /// Port-forward SPDY/3.1 tunnelled in WebSocket binary messages.
    PortForwardTunnel,
    /// Port-forward over plain SPDY/3.1.
    PortForwardSpdy,
}

const WS_EXEC: &[(&str, Protocol)] = &[
    ("v5.channel.k8s.io", Protocol::WsV5),
    ("v4.channel.k8s.io", Protocol::WsV4),
    ("v4.base64.channel.k8s.io", Protocol::WsV4Base64),
    ("channel.k8s.io", Protocol::WsV1),
    ("base64.channel.k8s.io", Protocol::WsV1Base64),
];

const SPDY_EXEC: &[(&str, Protocol)] = &[
    ("v5.channel.k8s.io", Protocol::SpdyV5),
    ("v4.channel.k8s.io", Protocol::SpdyV4),
    ("v3.channel.k8s.io", Protocol::SpdyV3),
    ("v2.channel.k8s.io", Protocol::SpdyV2),
    ("channel.k8s.io", Protocol::SpdyV1),
];

impl Protocol {
    /// The protocol's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::WsV5 | Protocol::SpdyV5 => "v5.channel.k8s.io",
            Protocol::WsV4 | Protocol::SpdyV4 => "v4.channel.k8s.io",
            Protocol::WsV4Base64 => "v4.base64.channel.k8s.io",
            Protocol::WsV1 | Protocol::SpdyV1 => "channel.k8s.io",
            Protocol::WsV1Base64 => "base64.channel.k8s.io",
            Protocol::SpdyV3 => "v3.channel.k8s.io",
            Protocol::SpdyV2 => "v2.channel.k8s.io",
            Protocol::PortForwardTunnel => TUNNEL_PROTOCOL,
            Protocol::PortForwardSpdy => PORTFORWARD_PROTOCOL,
        }
    }

    /// Whether the connection is a WebSocket (else SPDY).
    pub fn is_websocket(self) -> bool {
        matches!(
            self,
            Protocol::WsV5
                | Protocol::WsV4
                | Protocol::WsV4Base64
                | Protocol::WsV1
                | Protocol::WsV1Base64
                | Protocol::PortForwardTunnel
        )
    }

    /// Whether the status goes out as `metav1.Status` JSON (v4 and v5) rather than plain text.
    pub(crate) fn status_is_json(self) -> bool {
        matches!(
            self,
            Protocol::WsV5
                | Protocol::WsV4
                | Protocol::WsV4Base64
                | Protocol::SpdyV5
                | Protocol::SpdyV4
        )
    }

    /// Whether WebSocket data travels as base64 text messages.
    pub(crate) fn is_base64(self) -> bool {
        matches!(self, Protocol::WsV4Base64 | Protocol::WsV1Base64)
    }

    /// Whether a SPDY client opens a `resize` stream when it has a TTY.
    pub(crate) fn spdy_has_resize(self) -> bool {
        matches!(self, Protocol::SpdyV5 | Protocol::SpdyV4 | Protocol::SpdyV3)
    }
}

/// The outcome of negotiation: what to answer with and how to speak afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    protocol: Protocol,
    /// Whether to name the protocol in the answer (not when the client offered none).
    echo: bool,
    /// `Sec-WebSocket-Accept` for WebSocket upgrades.
    accept_key: Option<String>,
}

impl Negotiated {
    /// The chosen protocol.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The `101 Switching Protocols` answer, with every header the client checks.
    pub fn response<B: Default>(&self) -> Response<B> {
        let mut response = Response::new(B::default());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        let name = HeaderValue::from_static(self.protocol.name());
        match &self.accept_key {
            Some(key) => {
                headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
                if let Ok(value) = HeaderValue::from_str(key) {
                    headers.insert(SEC_WEBSOCKET_ACCEPT, value);
                }
                if self.echo {
                    headers.insert(SEC_WEBSOCKET_PROTOCOL, name);
                }
            }
            None => {
                headers.insert(UPGRADE, HeaderValue::from_static("SPDY/3.1"));
                if self.echo {
                    headers.insert(STREAM_PROTOCOL_HEADER, name);
                }
            }
        }
        response
    }
}

/// Negotiates an exec or attach upgrade (WebSocket channel protocols, else SPDY/3.1), and
/// checks the query asks for at least one stream.
pub fn negotiate_exec(parts: &http::request::Parts) -> Result<Negotiated, Error> {
    StreamOptions::from_query(parts.uri.query().unwrap_or("")).validate()?;
    if is_websocket(&parts.headers) {
        websocket(parts, WS_EXEC, Some(Protocol::WsV1))
    } else {
        spdy(parts, SPDY_EXEC, Some(Protocol::SpdyV1))
    }
}

/// Negotiates a port-forward upgrade: the `SPDY/3.1+portforward.k8s.io` WebSocket tunnel, or
/// SPDY/3.1 with `X-Stream-Protocol-Version: portforward.k8s.io`.
pub fn negotiate_portforward(parts: &http::request::Parts) -> Result<Negotiated, Error> {
    if is_websocket(&parts.headers) {
        websocket(
            parts,
            &[(TUNNEL_PROTOCOL, Protocol::PortForwardTunnel)],
            None,
        )
    } else {
        spdy(
            parts,
            &[(PORTFORWARD_PROTOCOL, Protocol::PortForwardSpdy)],
            None,
        )
    }
}

/// The comma-separated tokens of every occurrence of a header, trimmed.
fn tokens(headers: &HeaderMap, name: impl http::header::AsHeaderName) -> Vec<&str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

fn has_upgrade_token(headers: &HeaderMap) -> bool {
    tokens(headers, CONNECTION)
        .iter()
        .any(|t| t.eq_ignore_ascii_case("upgrade"))
}

fn is_websocket(headers: &HeaderMap) -> bool {
    has_upgrade_token(headers)
        && tokens(headers, UPGRADE)
            .iter()
            .any(|t| t.eq_ignore_ascii_case("websocket"))
}

fn websocket(
    parts: &http::request::Parts,
    supported: &[(&'static str, Protocol)],
    without_subprotocol: Option<Protocol>,
) -> Result<Negotiated, Error> {
    if parts.method != Method::GET {
        return Err(Error::bad_request("websocket upgrade requires GET"));
    }
    if parts
        .headers
        .get(SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return Err(Error::bad_request(
            "unsupported websocket version (need 13)",
        ));
    }
    let key = parts
        .headers
        .get(SEC_WEBSOCKET_KEY)
        .ok_or_else(|| Error::bad_request("missing Sec-WebSocket-Key"))?;
    let accept_key = Some(derive_accept_key(key.as_bytes()));
    let offered = tokens(&parts.headers, SEC_WEBSOCKET_PROTOCOL);
    if offered.is_empty() {
        return match without_subprotocol {
            Some(protocol) => Ok(Negotiated {
                protocol,
                echo: false,
                accept_key,
            }),
            None => Err(unsupported(
                &offered,
                supported,
                StatusCode::BAD_REQUEST,
                "requested protocol(s) are not supported",
            )),
        };
    }
    match pick(&offered, supported) {
        Some(protocol) => Ok(Negotiated {
            protocol,
            echo: true,
            accept_key,
        }),
        None => Err(unsupported(
            &offered,
            supported,
            StatusCode::BAD_REQUEST,
            "requested protocol(s) are not supported",
        )),
    }
}

fn spdy(
    parts: &http::request::Parts,
    supported: &[(&'static str, Protocol)],
    without_version: Option<Protocol>,
) -> Result<Negotiated, Error> {
    let spdy_upgrade = tokens(&parts.headers, UPGRADE)
        .iter()
        .any(|t| t.eq_ignore_ascii_case("SPDY/3.1"));
    if !has_upgrade_token(&parts.headers) || !spdy_upgrade {
        return Err(Error::bad_request(
            "unable to upgrade: missing upgrade headers in request",
        ));
    }
    let offered = tokens(&parts.headers, STREAM_PROTOCOL_HEADER);
    if offered.is_empty() {
        return match without_version {
            Some(protocol) => Ok(Negotiated {
                protocol,
                echo: false,
                accept_key: None,
            }),
            None => Err(Error::bad_request(
                "unable to upgrade: X-Stream-Protocol-Version is required",
            )),
        };
    }
    match pick(&offered, supported) {
        Some(protocol) => Ok(Negotiated {
            protocol,
            echo: true,
            accept_key: None,
        }),
        None => Err(unsupported(
            &offered,
            supported,
            StatusCode::FORBIDDEN,
            "unable to upgrade: unable to negotiate protocol",
        )),
    }
}

/// The first protocol in the client's order that the server supports.
fn pick(offered: &[&str], supported: &[(&'static str, Protocol)]) -> Option<Protocol> {
    offered.iter().find_map(|o| {
        supported
            .iter()
            .find(|(name, _)| name == o)
            .map(|(_, p)| *p)
    })
}

fn unsupported(
    offered: &[&str],
    supported: &[(&'static str, Protocol)],
    status: StatusCode,
    what: &str,
) -> Error {
    let server: Vec<&str> = supported.iter().map(|(name, _)| *name).collect();
    Error::Upgrade {
        status,
        message: format!(
            "{what}: client supports [{}], server accepts [{}]",
            offered.join(" "),
            server.join(" ")
        ),
    }
}

#[cfg(test)]
#[path = "negotiate/tests.rs"]
mod tests;
