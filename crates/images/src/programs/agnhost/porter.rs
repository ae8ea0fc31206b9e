//! `agnhost porter`: for each variable `SERVE_PORT_N` (or `SERVE_TCP_PORT_N`) serves its value
//! over HTTP on port N, for `SERVE_TLS_PORT_N` over HTTPS (the certificate and key of
//! `CERT_FILE` and `KEY_FILE`, by default `localhost.crt` and `localhost.key`; the image's
//! own pair is a self-signed one for `localhost`, made afresh here when the files are
//! absent), and for `SERVE_UDP_PORT_N` answers every datagram on port N with it. Answers
//! carry the type Go's server sniffs from the value; `--json-response` answers
//! `{"Method":...,"Body":...}`.

use super::{go_log, FlagSet};
use crate::golike::{detect_content_type, json_marshal};
use crate::http::{self, handler, Handler};
use crate::programs::Outcome;
use crate::{Error, RunContext};
use std::sync::Arc;

/// What one variable asks for.
#[derive(Debug, PartialEq, Eq)]
enum Serve {
    Tcp(u16, String),
    Tls(u16, String),
    Udp(u16, String),
    Unsupported(String),
}

fn plan(env: &[(String, String)]) -> Result<Vec<Serve>, Error> {
    let port = |key: &str, text: &str| {
        text.parse::<u16>()
            .map_err(|_| Error::Usage(format!("porter: {key}: invalid port {text:?}")))
    };
    let mut plan = Vec::new();
    for (key, value) in env {
        if let Some(p) = key
            .strip_prefix("SERVE_PORT_")
            .or_else(|| key.strip_prefix("SERVE_TCP_PORT_"))
        {
            plan.push(Serve::Tcp(port(key, p)?, value.clone()));
        } else if let Some(p) = key.strip_prefix("SERVE_UDP_PORT_") {
            plan.push(Serve::Udp(port(key, p)?, value.clone()));
        } else if let Some(p) = key.strip_prefix("SERVE_TLS_PORT_") {
            plan.push(Serve::Tls(port(key, p)?, value.clone()));
        } else if key.starts_with("SERVE_SCTP_PORT_") {
            plan.push(Serve::Unsupported(key.clone()));
        }
    }
    Ok(plan)
}

/// Runs porter.
pub(crate) async fn run(args: &[String], ctx: &RunContext) -> Outcome {
    let flags = FlagSet::new("porter")
        .boolean("json-response", false)
        .parse(args)?;
    let json = flags.get_bool("json-response");
    let mut tasks = tokio::task::JoinSet::new();
    for serve in plan(&ctx.env_vars())? {
        match serve {
            Serve::Tcp(port, value) => {
                let listener = ctx.bind_tcp(port).await?;
                tasks.spawn(http::serve_forever(listener, answer(value, json)));
            }
            Serve::Tls(port, value) => {
                let tls = tls_config(ctx).await?;
                let listener = ctx.bind_tcp(port).await?;
                tasks.spawn(http::serve_tls_forever(listener, tls, answer(value, json)));
            }
            Serve::Udp(port, value) => {
                let socket = ctx.bind_udp(None, port).await?;
                go_log(ctx, &format!("Started UDP server on port {port}"));
                let log = ctx.clone();
                tasks.spawn(async move {
                    let mut buf = [0u8; 16];
                    loop {
                        match socket.recv_from(&mut buf).await {
                            Ok((_, client)) => {
                                if let Err(e) = socket.send_to(value.as_bytes(), client).await {
                                    go_log(&log, &format!("UDP: error from WriteTo(): {e}"));
                                }
                            }
                            Err(e) => {
                                go_log(&log, &format!("UDP: error from ReadFrom(): {e}"));
                                return;
                            }
                        }
                    }
                });
            }
            Serve::Unsupported(key) => go_log(
                ctx,
                &format!("{key}: SCTP ports are not supported by Portico's agnhost"),
            ),
        }
    }
    while tasks.join_next().await.is_some() {}
    // Like the original, porter stays up even with nothing to serve.
    std::future::pending::<()>().await;
    Ok(0)
}

/// The answer of every request on one port: the value, or the method and value as JSON.
fn answer(value: String, json: bool) -> Handler {
    handler(move |req| {
        let response = if json {
            // Go marshals the struct's fields in their declared order.
            let body = json_marshal(&JsonResponse {
                method: req.method.to_string(),
                body: value.clone(),
            });
            http::respond(200, "application/json", body)
        } else {
            http::respond(200, detect_content_type(value.as_bytes()), value.clone())
        };
        async move { response }
    })
}

#[derive(serde::Serialize)]
struct JsonResponse {
    #[serde(rename = "Method")]
    method: String,
    #[serde(rename = "Body")]
    body: String,
}

/// The server's certificate: `CERT_FILE`/`KEY_FILE` (PEM) below the image's root if they
/// exist, else a fresh self-signed one for `localhost`.
async fn tls_config(ctx: &RunContext) -> Result<Arc<rustls::ServerConfig>, Error> {
    let tls_err = |e: &dyn std::fmt::Display| Error::Usage(format!("porter: tls: {e}"));
    let cert_file = ctx
        .env_var("CERT_FILE")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "localhost.crt".into());
    let key_file = ctx
        .env_var("KEY_FILE")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "localhost.key".into());
    let root = ctx.fs_root();
    let read = |f: &str| std::fs::read(root.join(f.trim_start_matches('/')));
    let (certs, key) = match (read(&cert_file), read(&key_file)) {
        (Ok(cert_pem), Ok(key_pem)) => {
            use rustls::pki_types::pem::PemObject;
            let certs = rustls::pki_types::CertificateDer::pem_slice_iter(&cert_pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| tls_err(&e))?;
            let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(&key_pem)
                .map_err(|e| tls_err(&e))?;
            (certs, key)
        }
        _ => {
            let key = rcgen::KeyPair::generate().map_err(|e| tls_err(&e))?;
            let params = rcgen::CertificateParams::new(vec!["localhost".to_string()])
                .map_err(|e| tls_err(&e))?;
            let cert = params.self_signed(&key).map_err(|e| tls_err(&e))?;
            let key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der())
                .map_err(|e| tls_err(&e))?;
            (vec![cert.der().clone()], key)
        }
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(&e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| tls_err(&e))?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_serve_variables() {
        let env = vec![
            ("SERVE_PORT_9001".to_string(), "foo".to_string()),
            ("SERVE_TCP_PORT_9002".to_string(), "bar".to_string()),
            ("SERVE_UDP_PORT_9003".to_string(), "baz".to_string()),
            ("SERVE_TLS_PORT_9004".to_string(), "tls".to_string()),
            ("PATH".to_string(), "/bin".to_string()),
        ];
        assert_eq!(
            plan(&env).unwrap(),
            vec![
                Serve::Tcp(9001, "foo".to_string()),
                Serve::Tcp(9002, "bar".to_string()),
                Serve::Udp(9003, "baz".to_string()),
                Serve::Tls(9004, "tls".to_string()),
            ]
        );
        assert!(plan(&[("SERVE_PORT_x".to_string(), "v".to_string())]).is_err());
    }
}
