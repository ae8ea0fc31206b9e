//! port-forward: one SPDY connection, one (error, data) stream pair per forwarded TCP
//! connection, as the kubelet serves it.
//!
//! Each stream carries `streamtype` (`error` or `data`), `port` and `requestid` headers; streams
//! with a missing or bad header are refused with RST_STREAM. Once both streams of a request are
//! open, the pod's port is dialled: bytes are copied both ways, and when the pod closes its side
//! the data stream and then the error stream get their FIN (kubectl keeps the local socket open
//! until the error stream ends). A failed dial is reported on the error stream with the
//! kubelet's wording before the FINs.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

use crate::exec::STREAM_CREATION_TIMEOUT;
use crate::spdy::conn::{self, Config, Incoming};
use crate::tunnel::WsBytes;
use crate::{Error, Negotiated, Protocol};

/// How long to keep reading after the session ends before closing the socket.
const LINGER: Duration = Duration::from_secs(5);

/// The pod a port-forward reaches, as named in error messages
/// (`error forwarding port 8080 to pod <pod>, uid <uid>: <dial error>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodTarget {
    /// The pod's name as the kubelet prints it (e.g. its full name or sandbox id).
    pub pod: String,
    /// The pod's UID.
    pub uid: String,
}

/// Serves a port-forward connection until the client goes away.
///
/// `dial(port)` connects to the pod's port; its error's `Display` text ends the message written
/// on the error stream, so return errors worded for the user (e.g. `dial tcp 10.0.0.7:8080:
/// connect: connection refused`).
pub async fn portforward_session<IO, D, F>(
    io: IO,
    negotiated: Negotiated,
    target: PodTarget,
    dial: D,
) -> Result<(), Error>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    D: Fn(u16) -> F + Send + Sync + 'static,
    F: Future<Output = io::Result<TcpStream>> + Send + 'static,
{
    let config = Config {
        reset_is_error: true,
        linger: LINGER,
    };
    let handle = match negotiated.protocol() {
        Protocol::PortForwardTunnel => {
            let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
            conn::spawn(WsBytes::new(ws), config)
        }
        Protocol::PortForwardSpdy => conn::spawn(io, config),
        other => {
            return Err(Error::bad_request(format!(
                "{} is not a port-forward protocol",
                other.name()
            )))
        }
    };
    serve(handle, Arc::new(target), Arc::new(dial)).await;
    Ok(())
}

#[derive(Default)]
struct Pair {
    error: Option<Incoming>,
    data: Option<Incoming>,
    deadline: Option<Instant>,
}

/// Checks a stream's headers as the kubelet does; returns its port and type.
fn check(headers: &crate::spdy::Headers) -> Result<(u16, &str), String> {
    let port = headers
        .get("port")
        .filter(|p| !p.is_empty())
        .ok_or("\"port\" header is required")?;
    let port: u16 = port
        .parse()
        .map_err(|e| format!("unable to parse {port:?} as a port: {e}"))?;
    if port < 1 {
        return Err(format!("port \"{port}\" must be > 0"));
    }
    match headers.get("streamtype") {
        None | Some("") => Err("\"streamtype\" header is required".into()),
        Some(kind @ ("error" | "data")) => Ok((port, kind)),
        Some(other) => Err(format!("invalid stream type {other:?}")),
    }
}

async fn serve<D, F>(mut handle: conn::Handle, target: Arc<PodTarget>, dial: Arc<D>)
where
    D: Fn(u16) -> F + Send + Sync + 'static,
    F: Future<Output = io::Result<TcpStream>> + Send + 'static,
{
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    loop {
        let next_deadline = pairs.values().filter_map(|p| p.deadline).min();
        let stream = tokio::select! {
            stream = handle.incoming.recv() => match stream {
                Some(stream) => stream,
                None => break,
            },
            _ = tokio::time::sleep_until(next_deadline.unwrap_or_else(Instant::now)), if next_deadline.is_some() => {
                let now = Instant::now();
                pairs.retain(|request, pair| {
                    let expired = pair.deadline.is_some_and(|d| d <= now);
                    if expired {
                        tracing::warn!(request, "timed out waiting for port-forward streams");
                        if let Some(error) = pair.error.take() {
                            tokio::spawn(report(error.output, format!("(request={request}) timed out waiting for streams")));
                        }
                    }
                    !expired
                });
                continue;
            }
        };
        let (port, kind) = match check(&stream.headers) {
            Ok((port, kind)) => (port, kind.to_owned()),
            Err(reason) => {
                tracing::warn!(stream = stream.id, reason, "refusing port-forward stream");
                stream.reject();
                continue;
            }
        };
        stream.reply();
        // Old clients send no request id; the kubelet pairs consecutive stream ids instead.
        let request = match stream.headers.get("requestid") {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ if kind == "error" => stream.id.to_string(),
            _ => stream.id.saturating_sub(2).to_string(),
        };
        let pair = pairs.entry(request.clone()).or_default();
        pair.deadline
            .get_or_insert_with(|| Instant::now() + STREAM_CREATION_TIMEOUT);
        let slot = if kind == "error" {
            &mut pair.error
        } else {
            &mut pair.data
        };
        if slot.is_some() {
            let message = format!(
                "error processing stream for request {request}: {kind} stream already assigned"
            );
            tracing::warn!(message);
            stream.reject();
            continue;
        }
        *slot = Some(stream);
        if pair.error.is_some() && pair.data.is_some() {
            if let Some(Pair {
                error: Some(error),
                data: Some(data),
                ..
            }) = pairs.remove(&request)
            {
                tokio::spawn(forward(error, data, port, target.clone(), dial.clone()));
            }
        }
    }
}

/// Writes `message` on an error stream, then ends it.
async fn report(mut error: crate::OutputStream, message: String) {
    let _ = error.write_all(message.as_bytes()).await;
    let _ = error.shutdown().await;
}

async fn forward<D, F>(
    error: Incoming,
    data: Incoming,
    port: u16,
    target: Arc<PodTarget>,
    dial: Arc<D>,
) where
    D: Fn(u16) -> F + Send + Sync + 'static,
    F: Future<Output = io::Result<TcpStream>> + Send + 'static,
{
    let Incoming {
        input: mut from_client,
        output: mut to_client,
        ..
    } = data;
    let mut error_out = error.output;
    let pod = match dial(port).await {
        Ok(pod) => pod,
        Err(e) => {
            let message = format!(
                "error forwarding port {port} to pod {}, uid {}: {e}",
                target.pod, target.uid
            );
            tracing::warn!(message);
            let _ = error_out.write_all(message.as_bytes()).await;
            let _ = to_client.shutdown().await;
            let _ = error_out.shutdown().await;
            return;
        }
    };
    let (mut pod_read, mut pod_write) = pod.into_split();
    let upstream = async {
        let copied = tokio::io::copy(&mut from_client, &mut pod_write).await;
        if copied.is_ok() {
            // The client half-closed: pass it on, keep the other direction going.
            let _ = pod_write.shutdown().await;
        }
        copied
    };
    let downstream = async {
        let _ = tokio::io::copy(&mut pod_read, &mut to_client).await;
        // The pod is done sending: FIN the data stream, then the error stream.
        let _ = to_client.shutdown().await;
        let _ = error_out.shutdown().await;
    };
    tokio::pin!(upstream, downstream);
    tokio::select! {
        _ = &mut downstream => {
            // Let the client finish sending until it closes or resets the stream.
            let _ = (&mut upstream).await;
        }
        copied = &mut upstream => match copied {
            Ok(_) => (&mut downstream).await,
            Err(e) => tracing::debug!(error = %e, port, "port-forward stream aborted by the client"),
        },
    }
}
