//! One HTTP/1.1 exchange with a proxy backend: dial (over TLS that verifies nothing for
//! `https`), send the request with the client's body streaming through, and hand back the
//! answer with its body streaming; after a `101` the two connections are spliced.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::{header, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::location::Location;
use crate::error::Error;
use crate::http::{Body, RequestBody};

/// How long dialling a backend may take (Kubernetes' proxy dialer uses 30 s).
const DIAL_TIMEOUT: Duration = Duration::from_secs(30);

/// The backend's answer: its head, and its body as the client's response body.
pub(super) struct Answer {
    /// Status and headers.
    pub head: http::response::Parts,
    /// The body, streamed.
    pub body: Body,
}

fn unreachable(e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("error trying to reach service: {e}"))
}

/// Sends `out` (with `client`'s body) to `to`.
pub(super) async fn send(
    mut client: Request<RequestBody>,
    out: Request<()>,
    to: &Location,
) -> Result<Answer, Error> {
    let upgrading = out.headers().contains_key(header::UPGRADE);
    let tcp = tokio::time::timeout(DIAL_TIMEOUT, tokio::net::TcpStream::connect(to.addr))
        .await
        .map_err(|_| unreachable(format!("dial tcp {}: i/o timeout", to.addr)))?
        .map_err(|e| unreachable(format!("dial tcp {}: {e}", to.addr)))?;
    let _ = tcp.set_nodelay(true);
    let (parts, ()) = out.into_parts();
    // An upgrade request sends no body of its own: the stream follows the 101.
    let body = if upgrading {
        None
    } else {
        Some(std::mem::replace(client.body_mut(), RequestBody(None)))
    };
    let request = Request::from_parts(parts, body.unwrap_or(RequestBody(None)));
    let mut resp = if to.scheme == "https" {
        let connector = tokio_rustls::TlsConnector::from(tls_config()?);
        let name = ServerName::IpAddress(to.addr.ip().into());
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| unreachable(format!("tls: {e}")))?;
        exchange(TokioIo::new(tls), request).await?
    } else {
        exchange(TokioIo::new(tcp), request).await?
    };
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS && upgrading {
        let from_backend = hyper::upgrade::on(&mut resp);
        let from_client = hyper::upgrade::on(&mut client);
        tokio::spawn(async move {
            let (backend, client) = match tokio::try_join!(from_backend, from_client) {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::debug!(error = %e, "proxy upgrade failed");
                    return;
                }
            };
            let (mut backend, mut client) = (TokioIo::new(backend), TokioIo::new(client));
            if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut backend).await {
                tracing::debug!(error = %e, "proxied upgraded stream ended");
            }
        });
        let (head, _) = resp.into_parts();
        return Ok(Answer {
            head,
            body: Empty::new().boxed(),
        });
    }
    let (head, body) = resp.into_parts();
    Ok(Answer {
        head,
        body: stream(body),
    })
}

async fn exchange<I>(io: I, request: Request<RequestBody>) -> Result<Response<Incoming>, Error>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(unreachable)?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "proxy backend connection ended");
        }
    });
    sender.send_request(request).await.map_err(unreachable)
}

/// The backend's body as a response body; a failure midway ends it.
fn stream(body: Incoming) -> Body {
    let frames = futures::stream::unfold(Some(body), |state| async move {
        let mut body = state?;
        match body.frame().await {
            Some(Ok(frame)) => Some((Ok::<_, Infallible>(frame), Some(body))),
            Some(Err(e)) => {
                tracing::debug!(error = %e, "proxied body ended early");
                None
            }
            None => None,
        }
    });
    BodyExt::boxed(StreamBody::new(frames))
}

/// The TLS client configuration for `https` backends: Kubernetes' proxy does not verify
/// the certificates of pods and endpoints.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, Error> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    if let Some(c) = CONFIG.get() {
        return Ok(c.clone());
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let schemes = provider
        .signature_verification_algorithms
        .supported_schemes();
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(schemes)))
        .with_no_client_auth();
    Ok(CONFIG.get_or_init(|| Arc::new(config)).clone())
}

/// Accepts any certificate.
#[derive(Debug)]
struct AcceptAny(Vec<SignatureScheme>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.clone()
    }
}
