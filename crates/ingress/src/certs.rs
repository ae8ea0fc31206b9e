//! TLS certificates by SNI name: a rustls [`ResolvesServerCert`] whose table is swapped
//! atomically when Secrets change (listeners never restart), with a self-signed default
//! certificate for names no Secret covers, as ingress-nginx's "Fake Certificate".

#[cfg(test)]
mod tests;
mod unverified;

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::snapshot::hosts;
use crate::snapshot::{Snapshot, TlsPair};
use crate::Error;

pub use unverified::unverified_client_config;

/// The subject common name of the default certificate (ingress-nginx's).
pub const DEFAULT_CERT_CN: &str = "Kubernetes Ingress Controller Fake Certificate";
/// The DNS name of the default certificate (ingress-nginx's).
pub const DEFAULT_CERT_SAN: &str = "ingress.local";

/// The certificate resolver the HTTPS listener uses.
#[derive(Debug)]
pub struct CertResolver {
    default: Arc<CertifiedKey>,
    table: ArcSwap<Table>,
}

/// The certificates of one snapshot, by host.
#[derive(Debug, Default)]
struct Table {
    /// Exact names.
    exact: HashMap<String, Entry>,
    /// `*.` wildcards, by the part after `*.`.
    wildcard: HashMap<String, Entry>,
}

/// A loaded certificate and the PEM it came from (to skip reloading an unchanged one).
#[derive(Debug, Clone)]
struct Entry {
    pair: TlsPair,
    key: Arc<CertifiedKey>,
}

impl CertResolver {
    /// A resolver with only the self-signed default certificate.
    pub fn new() -> Result<CertResolver, Error> {
        Ok(CertResolver {
            default: Arc::new(default_certificate()?),
            table: ArcSwap::from_pointee(Table::default()),
        })
    }

    /// Replaces the table with the certificates of `snapshot` (bad pairs are logged and skipped).
    pub fn update(&self, snapshot: &Snapshot) {
        let old = self.table.load();
        let mut loaded: Vec<Entry> = Vec::new();
        let mut next = Table::default();
        for (host, pair) in &snapshot.certs {
            let known = old
                .exact
                .values()
                .chain(old.wildcard.values())
                .chain(&loaded)
                .find(|entry| {
                    entry.pair.cert_pem == pair.cert_pem && entry.pair.key_pem == pair.key_pem
                })
                .map(|entry| entry.key.clone());
            let key = match known {
                Some(key) => key,
                None => match load(pair) {
                    Ok(key) => {
                        tracing::info!(host, secret = %pair.secret, "certificate loaded");
                        let key = Arc::new(key);
                        loaded.push(Entry {
                            pair: pair.clone(),
                            key: key.clone(),
                        });
                        key
                    }
                    Err(error) => {
                        tracing::warn!(host, secret = %pair.secret, %error, "certificate not usable; serving the default one");
                        continue;
                    }
                },
            };
            let entry = Entry {
                pair: pair.clone(),
                key,
            };
            match host.strip_prefix("*.") {
                Some(suffix) => next.wildcard.insert(suffix.to_string(), entry),
                None => next.exact.insert(host.clone(), entry),
            };
        }
        self.table.store(Arc::new(next));
    }

    /// The certificate served for SNI name `host` (`None`: the client sent none): an exact
    /// name, else a `*.` wildcard covering one label, else the default certificate.
    pub fn certificate_for(&self, host: Option<&str>) -> Arc<CertifiedKey> {
        let Some(host) = host else {
            return self.default.clone();
        };
        let host = hosts::normalize(host);
        let table = self.table.load();
        table
            .exact
            .get(host.as_ref())
            .or_else(|| hosts::wildcard_suffix(&host).and_then(|suffix| table.wildcard.get(suffix)))
            .map_or_else(|| self.default.clone(), |entry| entry.key.clone())
    }

    /// The self-signed certificate served for names no Secret covers.
    pub fn default_certificate(&self) -> Arc<CertifiedKey> {
        self.default.clone()
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.certificate_for(hello.server_name()))
    }
}

/// The TLS primitives the ingress uses: aws-lc, with the AES-128-GCM suites (SHA-256 key
/// schedule) preferred over AES-256-GCM with SHA-384, as BoringSSL and Go's crypto/tls order
/// them. Both are secure; SHA-256 runs on the CPU's SHA extensions where SHA-384 has none,
/// which makes a TLS 1.3 handshake (a dozen HMACs) markedly cheaper.
pub(crate) fn provider() -> rustls::crypto::CryptoProvider {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider
        .cipher_suites
        .sort_by_key(|suite| match suite.suite() {
            rustls::CipherSuite::TLS13_AES_128_GCM_SHA256 => 0,
            rustls::CipherSuite::TLS13_AES_256_GCM_SHA384 => 1,
            rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => 2,
            rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
            | rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => 3,
            _ => 4,
        });
    provider
}

/// A certificate chain and key from PEM; the key must belong to the first certificate.
fn load(pair: &TlsPair) -> Result<CertifiedKey, Error> {
    let chain = CertificateDer::pem_slice_iter(&pair.cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| Error::Tls(format!("tls.crt: {error}")))?;
    if chain.is_empty() {
        return Err(Error::Tls("tls.crt holds no certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(&pair.key_pem)
        .map_err(|error| Error::Tls(format!("tls.key: {error}")))?;
    CertifiedKey::from_der(chain, key, &provider()).map_err(|error| Error::Tls(error.to_string()))
}

/// ingress-nginx's "Kubernetes Ingress Controller Fake Certificate" for `ingress.local`,
/// generated afresh at start.
fn default_certificate() -> Result<CertifiedKey, Error> {
    let tls = |error: rcgen::Error| Error::Tls(format!("default certificate: {error}"));
    let mut params =
        rcgen::CertificateParams::new(vec![DEFAULT_CERT_SAN.to_string()]).map_err(tls)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Acme Co");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, DEFAULT_CERT_CN);
    let key = rcgen::KeyPair::generate().map_err(tls)?;
    let cert = params.self_signed(&key).map_err(tls)?;
    let key_der = PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|error| Error::Tls(format!("default certificate key: {error}")))?;
    CertifiedKey::from_der(vec![cert.der().clone()], key_der, &provider())
        .map_err(|error| Error::Tls(error.to_string()))
}
