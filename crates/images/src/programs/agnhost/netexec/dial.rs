//! netexec's `/dial`: asks another endpoint `tries` times over HTTP or UDP and reports
//! `{"errors": [...], "responses": [...]}`, the probe e2e networking tests rely on.

use crate::golike::json_marshal;
use crate::http::{self, client, form_value, Request, Response};
use crate::programs::agnhost::go_log;
use crate::RunContext;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// How long one try may take.
const TRY_TIMEOUT: Duration = Duration::from_secs(5);

/// Go's `http.Error`: text, `nosniff`, message plus newline.
fn go_error(status: u16, message: String) -> Response {
    http::with_header(
        http::text(status, format!("{message}\n")),
        "x-content-type-options",
        "nosniff",
    )
}

#[derive(Clone, Copy)]
enum Protocol {
    Http,
    Udp,
}

/// Handles one `/dial` request.
pub(super) async fn handle(ctx: &RunContext, req: &Request) -> Response {
    let get = |key: &str| form_value(&req.query, key).unwrap_or_default();
    let (host, port, request, protocol, tries_text) = (
        get("host"),
        get("port"),
        get("request"),
        get("protocol"),
        get("tries"),
    );
    go_log(
        ctx,
        &format!("GET /dial?host={host}&protocol={protocol}&port={port}&request={request}&tries={tries_text}"),
    );
    let tries = if tries_text.is_empty() {
        1
    } else {
        match tries_text.parse::<i64>() {
            Ok(tries) => tries,
            Err(_) => {
                return go_error(
                    400,
                    format!("tries parameter is invalid. strconv.Atoi: parsing {tries_text:?}: invalid syntax"),
                )
            }
        }
    };
    if request.is_empty() {
        return go_error(400, "request parameter not specified. <nil>".to_string());
    }
    let protocol = match protocol.to_lowercase().as_str() {
        "" | "http" => Protocol::Http,
        "udp" => Protocol::Udp,
        _ => return go_error(400, format!("unsupported protocol. {protocol}")),
    };
    let host_port = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let addr = match tokio::net::lookup_host(&host_port).await {
        Ok(mut addrs) => match addrs.next() {
            Some(addr) => addr,
            None => {
                return go_error(
                    400,
                    format!("host and/or port param are invalid. no addresses for {host_port}"),
                )
            }
        },
        Err(e) => {
            return go_error(
                400,
                format!("host and/or port param are invalid. address {host_port}: {e}"),
            )
        }
    };

    let mut responses = Vec::new();
    let mut errors = Vec::new();
    let mut last = String::new();
    for _ in 0..tries.max(0) {
        let result = match protocol {
            Protocol::Http => client::get(addr, &request, TRY_TIMEOUT).await,
            Protocol::Udp => dial_udp(&request, addr).await,
        };
        match result {
            Ok(response) => {
                last = response.clone();
                responses.push(response);
            }
            Err(e) => {
                last.clear();
                errors.push(e);
            }
        }
    }
    // As in agnhost, the responses are reported only when the last try answered.
    let mut output = BTreeMap::new();
    if !last.is_empty() {
        output.insert("responses", responses);
    }
    if !errors.is_empty() {
        output.insert("errors", errors);
    }
    http::text(200, json_marshal(&output))
}

/// Sends `request` in one datagram and waits for one answer.
async fn dial_udp(request: &str, addr: SocketAddr) -> Result<String, String> {
    let local: SocketAddr = if addr.is_ipv6() {
        SocketAddr::from(([0u16; 8], 0))
    } else {
        SocketAddr::from(([0u8; 4], 0))
    };
    let socket = tokio::net::UdpSocket::bind(local)
        .await
        .map_err(|e| format!("udp dial failed. err:{}", client::io_text(&e)))?;
    socket
        .connect(addr)
        .await
        .map_err(|e| format!("udp dial failed. err:{}", client::io_text(&e)))?;
    socket
        .send(request.as_bytes())
        .await
        .map_err(|e| format!("udp connection write failed. err:{}", client::io_text(&e)))?;
    let mut buf = vec![0u8; 2048];
    let local = socket
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    match tokio::time::timeout(TRY_TIMEOUT, socket.recv(&mut buf)).await {
        Ok(Ok(n)) if n > 0 => Ok(String::from_utf8_lossy(&buf[..n]).into_owned()),
        Ok(Ok(_)) => Err("reading from udp connection failed. err:'<nil>'".to_string()),
        Ok(Err(e)) => Err(format!(
            "reading from udp connection failed. err:'read udp {local}->{addr}: read: {}'",
            client::io_text(&e)
        )),
        Err(_) => Err(format!(
            "reading from udp connection failed. err:'read udp {local}->{addr}: i/o timeout'"
        )),
    }
}
