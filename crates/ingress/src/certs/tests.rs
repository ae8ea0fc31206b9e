//! The resolver picks certificates by SNI, falls back to the fake certificate, and follows
//! Secret changes without a new listener.

use std::collections::BTreeMap;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::snapshot::Inputs;

/// A certificate and key for `names`, PEM.
fn issue(names: &[&str]) -> (Vec<u8>, Vec<u8>, CertificateDer<'static>) {
    let names: Vec<String> = names.iter().map(ToString::to_string).collect();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(names)
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (
        cert.pem().into_bytes(),
        key.serialize_pem().into_bytes(),
        cert.der().clone(),
    )
}

fn pair(secret: &str, cert: &[u8], key: &[u8]) -> TlsPair {
    TlsPair {
        secret: secret.to_string(),
        cert_pem: cert.to_vec(),
        key_pem: key.to_vec(),
    }
}

fn snapshot(certs: &[(&str, TlsPair)]) -> Snapshot {
    Snapshot {
        certs: certs
            .iter()
            .map(|(host, pair)| (host.to_string(), pair.clone()))
            .collect::<BTreeMap<_, _>>(),
        ..Snapshot::default()
    }
}

fn served_der(resolver: &CertResolver, host: Option<&str>) -> CertificateDer<'static> {
    resolver.certificate_for(host).cert[0].clone()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[test]
fn default_certificate_is_ingress_nginx_fake_certificate() {
    let resolver = CertResolver::new().unwrap();
    let der = served_der(&resolver, None);
    assert!(contains(&der, DEFAULT_CERT_CN));
    assert!(contains(&der, DEFAULT_CERT_SAN));
    assert_eq!(served_der(&resolver, Some("anything.example.com")), der);
}

#[test]
fn picks_by_sni_exact_then_wildcard_then_default() {
    let resolver = CertResolver::new().unwrap();
    let default = served_der(&resolver, None);
    let (foo_cert, foo_key, foo) = issue(&["foo.example.com"]);
    let (wild_cert, wild_key, wild) = issue(&["*.example.com"]);
    resolver.update(&snapshot(&[
        ("foo.example.com", pair("default/foo", &foo_cert, &foo_key)),
        ("*.example.com", pair("default/wild", &wild_cert, &wild_key)),
    ]));
    assert_eq!(served_der(&resolver, Some("foo.example.com")), foo);
    assert_eq!(served_der(&resolver, Some("FOO.example.com")), foo);
    assert_eq!(served_der(&resolver, Some("bar.example.com")), wild);
    assert_eq!(
        served_der(&resolver, Some("a.bar.example.com")),
        default,
        "a wildcard covers one label"
    );
    assert_eq!(served_der(&resolver, Some("example.com")), default);
    assert_eq!(served_der(&resolver, None), default);
}

#[test]
fn unusable_pairs_fall_back_to_default() {
    let resolver = CertResolver::new().unwrap();
    let default = served_der(&resolver, None);
    let (cert, _, _) = issue(&["mismatch.example.com"]);
    let (_, other_key, _) = issue(&["other.example.com"]);
    resolver.update(&snapshot(&[
        (
            "garbage.example.com",
            pair("default/garbage", b"not pem", b"not pem"),
        ),
        (
            "mismatch.example.com",
            pair("default/mismatch", &cert, &other_key),
        ),
    ]));
    assert_eq!(served_der(&resolver, Some("garbage.example.com")), default);
    assert_eq!(served_der(&resolver, Some("mismatch.example.com")), default);
}

fn object<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Arc<T> {
    Arc::new(serde_json::from_value(value).unwrap())
}

/// Inputs with one Ingress of class `portico` serving `foo.example.com` over TLS from the
/// Secret `foo-tls` holding `cert` and `key`.
fn cluster(cert: &[u8], key: &[u8]) -> Inputs {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    Inputs {
        ingresses: vec![object(json!({
            "metadata": {"name": "site", "namespace": "default"},
            "spec": {
                "ingressClassName": "portico",
                "tls": [{"hosts": ["foo.example.com"], "secretName": "foo-tls"}],
                "rules": [{"host": "foo.example.com"}],
            },
        }))],
        classes: vec![object(json!({
            "metadata": {"name": "portico"},
            "spec": {"controller": "portico.dev/ingress-controller"},
        }))],
        secrets: vec![object(json!({
            "metadata": {"name": "foo-tls", "namespace": "default"},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": b64(cert), "tls.key": b64(key)},
        }))],
        ..Inputs::default()
    }
}

#[test]
fn a_secret_change_swaps_the_certificate() {
    let resolver = CertResolver::new().unwrap();
    let build =
        |inputs: &Inputs| Snapshot::build(inputs, "portico", "portico.dev/ingress-controller");
    let (cert_a, key_a, der_a) = issue(&["foo.example.com"]);
    resolver.update(&build(&cluster(&cert_a, &key_a)));
    assert_eq!(served_der(&resolver, Some("foo.example.com")), der_a);
    let before = resolver.certificate_for(Some("foo.example.com"));
    resolver.update(&build(&cluster(&cert_a, &key_a)));
    assert!(
        Arc::ptr_eq(&before, &resolver.certificate_for(Some("foo.example.com"))),
        "an unchanged Secret is not reloaded"
    );

    let (cert_b, key_b, der_b) = issue(&["foo.example.com"]);
    resolver.update(&build(&cluster(&cert_b, &key_b)));
    assert_eq!(served_der(&resolver, Some("foo.example.com")), der_b);

    resolver.update(&Snapshot::default());
    assert_eq!(
        served_der(&resolver, Some("foo.example.com")),
        served_der(&resolver, None),
        "a deleted Secret leaves the default certificate"
    );
}

/// Accepts any server certificate: the test looks at which one was sent.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
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
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The certificate a TLS client asking for `sni` is sent by a server using `resolver`.
async fn handshake(resolver: Arc<CertResolver>, sni: &str) -> CertificateDer<'static> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    let client = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let serving = tokio::spawn(async move {
        let mut stream = acceptor.accept(server_io).await.unwrap();
        stream.write_all(b"ok").await.unwrap();
        stream.shutdown().await.unwrap();
    });
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let name = ServerName::try_from(sni.to_string()).unwrap();
    let mut stream = connector.connect(name, client_io).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    assert_eq!(answer, b"ok");
    serving.await.unwrap();
    let (_, connection) = stream.get_ref();
    connection.peer_certificates().unwrap()[0].clone()
}

#[tokio::test]
async fn tls_handshakes_get_the_certificate_for_their_sni() {
    let resolver = Arc::new(CertResolver::new().unwrap());
    let default = served_der(&resolver, None);
    let (cert_a, key_a, der_a) = issue(&["foo.example.com"]);
    resolver.update(&snapshot(&[(
        "foo.example.com",
        pair("default/a", &cert_a, &key_a),
    )]));
    assert_eq!(handshake(resolver.clone(), "foo.example.com").await, der_a);
    assert_eq!(
        handshake(resolver.clone(), "other.example.com").await,
        default
    );
    // The same resolver (as a running listener holds it) follows the change.
    let (cert_b, key_b, der_b) = issue(&["foo.example.com"]);
    resolver.update(&snapshot(&[(
        "foo.example.com",
        pair("default/b", &cert_b, &key_b),
    )]));
    assert_eq!(handshake(resolver, "foo.example.com").await, der_b);
}
