//! Running exec and attach sessions on an upgraded connection.

mod spdy;
mod ws;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::{Error, Negotiated, Session, StreamOptions};

/// How long a SPDY client has to open the streams its request announced (the kubelet's
/// default stream-creation timeout).
pub(crate) const STREAM_CREATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs an exec/attach session on `io`, the connection hyper handed over after the `101`
/// from [`Negotiated::response`] was written.
///
/// WebSocket sessions are ready at once. SPDY sessions are ready once the client has opened the
/// `error` stream and one stream per requested channel (plus `resize` with a TTY), each answered
/// with a SYN_REPLY; [`Error::StreamTimeout`] after 30 seconds without them. A task spawned here
/// drives the connection until the session is finished or the client goes away.
pub async fn exec_session<IO>(
    io: IO,
    negotiated: Negotiated,
    opts: StreamOptions,
) -> Result<Session, Error>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let protocol = negotiated.protocol();
    if protocol.is_websocket() {
        if protocol == crate::Protocol::PortForwardTunnel {
            return Err(Error::bad_request(
                "port-forward protocol negotiated for exec",
            ));
        }
        Ok(ws::start(io, protocol, &opts).await)
    } else {
        if protocol == crate::Protocol::PortForwardSpdy {
            return Err(Error::bad_request(
                "port-forward protocol negotiated for exec",
            ));
        }
        spdy::start(io, protocol, &opts).await
    }
}
