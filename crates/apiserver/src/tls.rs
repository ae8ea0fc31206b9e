//! The cluster's certificate authority, the API server's serving certificate and the admin
//! bearer token, generated on first start and kept in the data directory.
//!
//! Files (PEM): `ca.crt`, `ca.key`, `apiserver.crt`, `apiserver.key`, and `token` (hex).
//! The serving certificate names `127.0.0.1`, `localhost`, `10.96.0.1` (the `kubernetes`
//! Service) and the `kubernetes.default.svc...` names, plus any extra names the caller passes;
//! it is re-issued when a name is missing, so the CA (and kubeconfigs) stay valid.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::Error;

/// The credentials of one cluster.
#[derive(Clone)]
pub struct Credentials {
    /// The CA certificate in PEM, as written to kubeconfigs.
    pub ca_pem: String,
    /// The serving certificate chain in PEM.
    pub cert_pem: String,
    /// The serving key in PEM.
    pub key_pem: String,
    /// The admin bearer token.
    pub token: String,
}

fn read(dir: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(name)).ok()
}

fn write(dir: &Path, name: &str, contents: &str) -> Result<(), Error> {
    let path: PathBuf = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, contents).map_err(|e| Error::io(&tmp, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600));
    }
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))
}

fn rcgen_err(e: rcgen::Error) -> Error {
    Error::Tls(e.to_string())
}

/// The CA's parameters; fixed, so the issuer can be rebuilt from the stored key.
fn ca_params() -> Result<CertificateParams, Error> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rcgen_err)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "portico-ca");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

/// Loads the credentials from `dir`, creating whatever is missing. `extra_sans` are host
/// names or IP addresses the serving certificate must also cover.
pub fn load_or_create(dir: &Path, extra_sans: &[String]) -> Result<Credentials, Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let (ca_pem, ca_key_pem) = match (read(dir, "ca.crt"), read(dir, "ca.key")) {
        (Some(c), Some(k)) => (c, k),
        _ => {
            let key = KeyPair::generate().map_err(rcgen_err)?;
            let cert = ca_params()?.self_signed(&key).map_err(rcgen_err)?;
            let (c, k) = (cert.pem(), key.serialize_pem());
            write(dir, "ca.key", &k)?;
            write(dir, "ca.crt", &c)?;
            // A new CA invalidates any old serving certificate.
            let _ = std::fs::remove_file(dir.join("apiserver.crt"));
            (c, k)
        }
    };
    let mut sans: Vec<String> = [
        "127.0.0.1",
        "localhost",
        "10.96.0.1",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for s in extra_sans {
        if !sans.contains(s) {
            sans.push(s.clone());
        }
    }
    let sans_record = sans.join(",");
    let current = match (
        read(dir, "apiserver.crt"),
        read(dir, "apiserver.key"),
        read(dir, "apiserver.sans"),
    ) {
        (Some(c), Some(k), Some(s)) if s == sans_record => Some((c, k)),
        _ => None,
    };
    let (cert_pem, key_pem) = match current {
        Some(pair) => pair,
        None => {
            let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(rcgen_err)?;
            // The issuer is rebuilt from the CA's fixed parameters and its stored key: the
            // name and key are all a signature needs.
            let issuer = Issuer::new(ca_params()?, ca_key);
            let key = KeyPair::generate().map_err(rcgen_err)?;
            let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rcgen_err)?;
            params
                .distinguished_name
                .push(DnType::CommonName, "kube-apiserver");
            for s in &sans {
                let san = match s.parse::<IpAddr>() {
                    Ok(ip) => SanType::IpAddress(ip),
                    Err(_) => SanType::DnsName(s.as_str().try_into().map_err(rcgen_err)?),
                };
                params.subject_alt_names.push(san);
            }
            params.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ];
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            params.use_authority_key_identifier_extension = true;
            let cert = params.signed_by(&key, &issuer).map_err(rcgen_err)?;
            let (c, k) = (cert.pem(), key.serialize_pem());
            write(dir, "apiserver.key", &k)?;
            write(dir, "apiserver.crt", &c)?;
            write(dir, "apiserver.sans", &sans_record)?;
            (c, k)
        }
    };
    let token = match read(dir, "token") {
        Some(t) if !t.trim().is_empty() => t.trim().to_string(),
        _ => {
            let bytes: [u8; 24] = rand::random();
            let t: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            write(dir, "token", &t)?;
            t
        }
    };
    Ok(Credentials {
        ca_pem,
        cert_pem,
        key_pem,
        token,
    })
}

/// A rustls server configuration for the credentials, offering HTTP/2 and HTTP/1.1.
pub fn server_config(creds: &Credentials) -> Result<Arc<rustls::ServerConfig>, Error> {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(creds.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| Error::Tls(e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(creds.key_pem.as_bytes())
        .map_err(|e| Error::Tls(e.to_string()))?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The kubeconfig text for an admin user of the cluster at `server` (an https URL).
pub fn kubeconfig(creds: &Credentials, server: &str) -> String {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(creds.ca_pem.as_bytes());
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: portico\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: portico-admin\n  user:\n    token: {token}\ncontexts:\n- name: portico\n  context:\n    cluster: portico\n    user: portico-admin\n    namespace: default\ncurrent-context: portico\npreferences: {{}}\n",
        token = creds.token
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create(dir.path(), &[]).unwrap();
        let b = load_or_create(dir.path(), &[]).unwrap();
        assert_eq!(a.ca_pem, b.ca_pem);
        assert_eq!(a.cert_pem, b.cert_pem);
        assert_eq!(a.token, b.token);
        assert_eq!(a.token.len(), 48);
        // A new name re-issues the serving certificate under the same CA.
        let c = load_or_create(dir.path(), &["127.0.0.2".into()]).unwrap();
        assert_eq!(a.ca_pem, c.ca_pem);
        assert_ne!(a.cert_pem, c.cert_pem);
        server_config(&c).unwrap();
    }
}
