//! `httpGet` probes: one `GET` over HTTP/1.1 with the kubelet's headers, following redirects
//! that stay on the same host; a final status from 200 to 399 is a success. Failures read
//! like Go's HTTP client errors, since the kubelet puts those in events verbatim.
//!
//! Only the response head is read: the kubelet reads at most 10 KiB of the body and only
//! logs it, so the body is skipped altogether. HTTPS is not supported (no TLS client here).

use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, HTTPGetAction, HTTPHeader};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::tcp::{dial, go_error_text, join_host_port, DialError};
use super::{resolve_port, Outcome, ProbeError};
use target::{resolve, Target};

/// The kubelet's `User-Agent`: `kube-probe/<major>.<minor>`.
pub(crate) const USER_AGENT: &str = "kube-probe/1.32";

/// Largest response head accepted (Go's default `MaxResponseHeaderBytes`).
const MAX_HEAD: usize = 1 << 20;

/// Requests made before a further redirect is refused (`stopped after 10 redirects`).
const MAX_REDIRECTS: usize = 10;

/// Go's text for a request that ran out of time.
const CLIENT_TIMEOUT: &str =
    "context deadline exceeded (Client.Timeout exceeded while awaiting headers)";

/// The request headers besides `Host`.
#[derive(Debug, Clone, Default)]
struct Headers {
    /// A `Host` header from the probe, which replaces the URL's host.
    host: Option<String>,
    /// Header lines in order, `User-Agent` and `Accept` included.
    lines: Vec<(String, String)>,
    /// Whether to ask for gzip like Go's transport does.
    accept_gzip: bool,
}

/// A parsed response head: all the prober looks at.
#[derive(Debug)]
struct Head {
    status: u16,
    location: Option<String>,
}

/// Runs an `httpGet` probe within `timeout` (the whole exchange, redirects included).
pub(crate) async fn check(
    action: &HTTPGetAction,
    pod_ip: IpAddr,
    container: &Container,
    timeout: Duration,
) -> Outcome {
    let port = match resolve_port(&action.port, container) {
        Ok(port) => port,
        Err(err) => return Outcome::Unknown(err.to_string()),
    };
    let scheme = action
        .scheme
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or("http")
        .to_ascii_lowercase();
    let host = match action.host.as_deref().filter(|h| !h.is_empty()) {
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        None => pod_ip.to_string(),
    };
    let path = action.path.clone().unwrap_or_default();
    let path = if path.is_empty() || path.starts_with('/') || path.starts_with('?') {
        path
    } else {
        format!("/{path}")
    };
    let target = Target {
        scheme,
        host,
        port,
        path,
    };
    let headers = headers(action.http_headers.as_deref().unwrap_or_default());
    get(target, headers, Instant::now() + timeout).await
}

/// Follows the request through same-host redirects and judges the final status.
async fn get(first: Target, headers: Headers, deadline: Instant) -> Outcome {
    let mut current = first.clone();
    let mut host_override = headers.host.clone();
    let mut requests = 0;
    loop {
        let url = current.url();
        match current.scheme.as_str() {
            "http" => {}
            "https" => return Outcome::Unknown(ProbeError::HttpsUnsupported.to_string()),
            other => {
                return Outcome::Failure(format!(
                    "Get {url:?}: unsupported protocol scheme {other:?}"
                ))
            }
        }
        requests += 1;
        let exchange = exchange(&current, &headers, host_override.as_deref(), deadline);
        let head = match tokio::time::timeout_at(deadline, exchange).await {
            Err(_) | Ok(Err(Failed::Timeout)) => {
                return Outcome::Failure(format!("Get {url:?}: {CLIENT_TIMEOUT}"))
            }
            Ok(Err(Failed::Error(message))) => {
                return Outcome::Failure(format!("Get {url:?}: {message}"))
            }
            Ok(Ok(head)) => head,
        };
        let location = head.location.filter(|_| is_redirect(head.status));
        let Some(location) = location else {
            return judge(head.status);
        };
        let (next, absolute) = match resolve(&current, &location) {
            Ok(next) => next,
            Err(reason) => {
                return Outcome::Failure(format!(
                    "Get {url:?}: failed to parse Location header {location:?}: {reason}"
                ))
            }
        };
        if next.host != first.host {
            // The kubelet does not follow redirects off the host: the 3xx is the answer.
            return judge(head.status);
        }
        if requests >= MAX_REDIRECTS {
            return Outcome::Failure(format!("Get {url:?}: stopped after 10 redirects"));
        }
        if absolute {
            host_override = None;
        }
        current = next;
    }
}

/// 200–399 passes (a 3xx here is a redirect that was not followed, which the kubelet
/// counts as a success with a warning).
fn judge(status: u16) -> Outcome {
    if (200..400).contains(&status) {
        Outcome::Success
    } else {
        Outcome::Failure(format!("HTTP probe failed with statuscode: {status}"))
    }
}

/// The statuses Go's client follows.
fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// Why one request failed.
enum Failed {
    /// The deadline passed.
    Timeout,
    /// Anything else, in Go's words, without the `Get "url": ` prefix.
    Error(String),
}

/// One request and its response head.
async fn exchange(
    target: &Target,
    headers: &Headers,
    host_override: Option<&str>,
    deadline: Instant,
) -> Result<Head, Failed> {
    let mut stream = match dial(&target.host, target.port, deadline).await {
        Ok(stream) => stream,
        Err(DialError::Timeout { .. }) => return Err(Failed::Timeout),
        Err(DialError::Failed(message)) => return Err(Failed::Error(message)),
    };
    let host = host_override
        .map(str::to_string)
        .unwrap_or_else(|| join_host_port(&target.host, target.port));
    let request = request_bytes(target, &host, headers);
    if let Err(err) = stream.write_all(&request).await {
        return Err(Failed::Error(format!(
            "write tcp {}: write: {}",
            endpoints(&stream),
            go_error_text(&err)
        )));
    }
    read_head(&mut stream).await.map_err(Failed::Error)
}

/// `local->remote`, as Go names a connection in read and write errors.
fn endpoints(stream: &TcpStream) -> String {
    match (stream.local_addr(), stream.peer_addr()) {
        (Ok(local), Ok(remote)) => format!("{local}->{remote}"),
        _ => String::from("?"),
    }
}

/// The request: request line, `Host`, the probe's headers, then what Go's transport adds.
fn request_bytes(target: &Target, host: &str, headers: &Headers) -> Vec<u8> {
    let mut text = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\n",
        target.request_target(),
        clean(host)
    );
    for (name, value) in &headers.lines {
        text.push_str(&format!("{name}: {}\r\n", clean(value)));
    }
    text.push_str("Connection: close\r\n");
    if headers.accept_gzip {
        text.push_str("Accept-Encoding: gzip\r\n");
    }
    text.push_str("\r\n");
    text.into_bytes()
}

/// A header value with line breaks replaced, so a value cannot add header lines.
fn clean(value: &str) -> String {
    value.replace(['\r', '\n'], " ")
}

/// The probe's headers with the kubelet's defaults: `User-Agent: kube-probe/1.32` and
/// `Accept: */*` unless the probe sets them (an empty `Accept` removes it, an empty
/// `User-Agent` sends none). A `Host` header replaces the request's host.
fn headers(probe_headers: &[HTTPHeader]) -> Headers {
    let mut result = Headers {
        accept_gzip: true,
        ..Headers::default()
    };
    let mut user_agent: Option<String> = None;
    let mut accept_set = false;
    let mut rest = Vec::new();
    for header in probe_headers {
        let name = canonical_name(&header.name);
        match name.as_str() {
            "Host" => {
                result.host.get_or_insert_with(|| header.value.clone());
            }
            "User-Agent" => {
                user_agent.get_or_insert_with(|| header.value.clone());
            }
            _ => {
                if name == "Accept" {
                    accept_set = true;
                }
                if name == "Accept-Encoding" || name == "Range" {
                    result.accept_gzip = false;
                }
                rest.push((name, header.value.clone()));
            }
        }
    }
    let user_agent = user_agent.unwrap_or_else(|| USER_AGENT.to_string());
    if !user_agent.is_empty() {
        result.lines.push(("User-Agent".into(), user_agent));
    }
    let accept_empty = rest
        .iter()
        .find(|(n, _)| n == "Accept")
        .is_some_and(|(_, v)| v.is_empty());
    if !accept_set {
        result.lines.push(("Accept".into(), "*/*".into()));
    }
    result.lines.extend(
        rest.into_iter()
            .filter(|(n, _)| !(accept_empty && n == "Accept")),
    );
    result
}

/// A header name in Go's canonical form (`x-custom-header` → `X-Custom-Header`); names with
/// characters outside a token are left alone.
fn canonical_name(name: &str) -> String {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return name.to_string();
    }
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

/// Reads a response head, skipping informational (1xx) responses.
async fn read_head(stream: &mut TcpStream) -> Result<Head, String> {
    let mut buffer: Vec<u8> = Vec::with_capacity(4096);
    loop {
        let end = loop {
            if let Some(end) = head_end(&buffer) {
                break end;
            }
            if buffer.len() > MAX_HEAD {
                return Err(format!(
                    "net/http: server response headers exceeded {MAX_HEAD} bytes; aborted"
                ));
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) if buffer.is_empty() => return Err("EOF".into()),
                Ok(0) => return Err("unexpected EOF".into()),
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                Err(err) => {
                    return Err(format!(
                        "read tcp {}: read: {}",
                        endpoints(stream),
                        go_error_text(&err)
                    ))
                }
            }
        };
        let head = parse_head(&buffer[..end])?;
        if (100..200).contains(&head.status) && head.status != 101 {
            buffer.drain(..end);
            continue;
        }
        return Ok(head);
    }
}

/// Where the head ends (just after its blank line), if it has.
fn head_end(buffer: &[u8]) -> Option<usize> {
    let crlf = buffer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4);
    let lf = buffer.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Parses the status line and the `Location` header.
fn parse_head(bytes: &[u8]) -> Result<Head, String> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.lines();
    let status_line = lines.next().unwrap_or("");
    let broken = |what: &str, detail: &str| {
        format!("net/http: HTTP/1.x transport connection broken: malformed HTTP {what} {detail:?}")
    };
    let Some((proto, rest)) = status_line.split_once(' ') else {
        return Err(broken("response", status_line));
    };
    if !proto.starts_with("HTTP/") {
        return Err(broken("version", proto));
    }
    let code = rest.split(' ').next().unwrap_or("");
    let status = match code.parse::<u16>() {
        Ok(status) if code.len() == 3 && (100..1000).contains(&status) => status,
        _ => return Err(broken("status code", code)),
    };
    let location = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("location"))
        .map(|(_, value)| value.trim().to_string());
    Ok(Head { status, location })
}

mod target;

#[cfg(test)]
mod tests;
