//! The HTTPS side of the proxy: HTTP/2 through ALPN, redirects of TLS hosts, certificates
//! swapped under a running listener, and HTTPS backends.

#[path = "server_support/harness.rs"]
mod harness;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use harness::{backend, curl, get, ingress, service, tls_secret, Proxy};
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use portico_ingress::snapshot::Inputs;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn http2_over_tls_through_alpn() {
    let one = backend("one").await;
    let mut inputs = Inputs::default();
    service(&mut inputs, "one", &[one]);
    ingress(
        &mut inputs,
        "one",
        "a.example",
        "/",
        "one",
        &[],
        &["a.example"],
    );
    tls_secret(&mut inputs, "one", &["a.example"]);
    let proxy = Proxy::start(&inputs).await;
    let port = proxy.addrs.https.port();
    let resolve = format!("a.example:{port}:127.0.0.1");
    let url = format!("https://a.example:{port}/tls?x=1");
    let out = curl(&[
        "--http2",
        "-k",
        "--resolve",
        &resolve,
        "-w",
        "\nversion=%{http_version}",
        &url,
    ])
    .await;
    assert!(out.ends_with("version=2"), "{out}");
    assert!(out.contains("backend=one"), "{out}");
    assert!(out.contains("GET /tls?x=1 HTTP/1.1"), "{out}");
    assert!(out.contains("x-forwarded-proto: https"), "{out}");
    assert!(out.contains(&format!("x-forwarded-port: {port}")), "{out}");
    assert!(out.contains(&format!("host: a.example:{port}")), "{out}");

    let out = curl(&[
        "--http1.1",
        "-k",
        "--resolve",
        &resolve,
        "-w",
        "\nversion=%{http_version}",
        &url,
    ])
    .await;
    assert!(
        out.ends_with("version=1.1") && out.contains("backend=one"),
        "{out}"
    );
}

#[tokio::test]
async fn tls_hosts_redirect_plain_http_unless_told_not_to() {
    let one = backend("one").await;
    let mut inputs = Inputs::default();
    service(&mut inputs, "one", &[one]);
    ingress(
        &mut inputs,
        "one",
        "a.example",
        "/",
        "one",
        &[],
        &["a.example"],
    );
    ingress(
        &mut inputs,
        "two",
        "b.example",
        "/",
        "one",
        &[("ssl-redirect", "false")],
        &["b.example"],
    );
    tls_secret(&mut inputs, "one", &["a.example"]);
    tls_secret(&mut inputs, "two", &["b.example"]);
    let proxy = Proxy::start(&inputs).await;
    let got = get(proxy.addrs.http, "a.example", "/x", &[]).await;
    assert_eq!(got.status, 308);
    let https = proxy.addrs.https.port();
    assert_eq!(
        got.headers["location"],
        format!("https://a.example:{https}/x").as_str()
    );
    let got = get(proxy.addrs.http, "b.example", "/x", &[]).await;
    assert_eq!((got.status.as_u16(), got.backend()), (200, Some("one")));
}

#[tokio::test]
async fn a_new_certificate_is_served_to_the_next_handshake() {
    let one = backend("one").await;
    let mut inputs = Inputs::default();
    service(&mut inputs, "one", &[one]);
    ingress(
        &mut inputs,
        "one",
        "a.example",
        "/",
        "one",
        &[],
        &["a.example"],
    );
    let first = tls_secret(&mut inputs, "one", &["a.example"]);
    let proxy = Proxy::start(&inputs).await;
    assert_eq!(served_cert(proxy.addrs.https, "a.example").await, first);
    assert_ne!(served_cert(proxy.addrs.https, "other.example").await, first);

    let second = tls_secret(&mut inputs, "one", &["a.example"]);
    assert_ne!(first, second);
    proxy.update(&inputs);
    assert_eq!(served_cert(proxy.addrs.https, "a.example").await, second);
}

#[tokio::test]
async fn https_backends_are_spoken_to_over_tls_without_verification() {
    let secure = tls_backend("secure").await;
    let mut inputs = Inputs::default();
    service(&mut inputs, "secure", &[secure]);
    ingress(
        &mut inputs,
        "one",
        "a.example",
        "/",
        "secure",
        &[("backend-protocol", "HTTPS")],
        &[],
    );
    let proxy = Proxy::start(&inputs).await;
    let got = get(proxy.addrs.http, "a.example", "/s", &[]).await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.body, "secure over TLS");
}

/// The certificate the proxy presents for SNI `name`.
#[tokio::test]
async fn handshakes_prefer_aes_128_and_clients_resume_with_the_ticket_they_got() {
    let one = backend("one").await;
    let mut inputs = Inputs::default();
    service(&mut inputs, "one", &[one]);
    ingress(
        &mut inputs,
        "one",
        "a.example",
        "/",
        "one",
        &[],
        &["a.example"],
    );
    tls_secret(&mut inputs, "one", &["a.example"]);
    let proxy = Proxy::start(&inputs).await;
    // rustls' own client lists AES-256-GCM-SHA384 first; the server's order decides.
    let config = Arc::new(client_config());
    assert_eq!(
        config.crypto_provider().cipher_suites[0].suite(),
        rustls::CipherSuite::TLS13_AES_256_GCM_SHA384
    );
    let connector = tokio_rustls::TlsConnector::from(config);
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let stream = tokio::net::TcpStream::connect(proxy.addrs.https)
            .await
            .unwrap();
        let name = ServerName::try_from("a.example").unwrap();
        let mut tls = connector.connect(name, stream).await.unwrap();
        // A request and its answer: the session ticket arrives with it.
        tls.write_all(b"GET / HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        let _ = tls.read_to_end(&mut answer).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let (_, session) = tls.get_ref();
        assert_eq!(
            session.negotiated_cipher_suite().map(|s| s.suite()),
            Some(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256)
        );
        kinds.push(session.handshake_kind());
    }
    use rustls::HandshakeKind::{Full, Resumed};
    assert_eq!(kinds, [Some(Full), Some(Resumed), Some(Resumed)]);
}

async fn served_cert(addr: SocketAddr, name: &str) -> Vec<u8> {
    let config = client_config();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let server_name = ServerName::try_from(name.to_string()).unwrap();
    let tls = connector.connect(server_name, stream).await.unwrap();
    let (_, session) = tls.get_ref();
    session.peer_certificates().unwrap()[0].to_vec()
}

fn client_config() -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny))
        .with_no_client_auth()
}

/// A backend behind TLS (self-signed) answering `<name> over TLS`.
async fn tls_backend(name: &'static str) -> SocketAddr {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["backend".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |_req| async move {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(format!(
                        "{name} over TLS"
                    )))))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    addr
}

#[derive(Debug)]
struct AcceptAny;

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
