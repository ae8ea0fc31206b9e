//! TLS certificates by SNI name: a rustls [`ResolvesServerCert`] whose table is swapped
//! atomically when Secrets change (listeners never restart), with a self-signed default
//! certificate for names no Secret covers, as ingress-nginx's "Fake Certificate".

use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::snapshot::Snapshot;
use crate::Error;

/// The certificate resolver the HTTPS listener uses.
#[derive(Debug)]
pub struct CertResolver {
    default: Arc<CertifiedKey>,
}

impl CertResolver {
    /// A resolver with only the self-signed default certificate.
    pub fn new() -> Result<CertResolver, Error> {
        Err(Error::Tls("not built yet".into()))
    }

    /// Replaces the table with the certificates of `snapshot` (bad pairs are logged and skipped).
    pub fn update(&self, snapshot: &Snapshot) {
        let _ = snapshot;
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let _ = hello;
        Some(self.default.clone())
    }
}
