//! A TLS connection-rate load generator for `bench/ingress.sh`: the same client against every
//! server, so that new and resumed handshakes are compared like for like (wrk resumes TLS 1.3
//! sessions with some servers and not others; `openssl s_time` sends no SNI).
//!
//! ```text
//! tls_load ADDR SERVER_NAME SECONDS CONNECTIONS full|resumed
//! ```
//!
//! CONNECTIONS tasks each loop until SECONDS have passed: connect, TLS handshake with SNI,
//! `GET / HTTP/1.1` with `Connection: close`, read to the end, check for a 200. `full` never
//! resumes; `resumed` offers each task's last ticket, as a browser returning to a site does.
//! The client offers what browsers put first (X25519, AES-128-GCM; no post-quantum share, which
//! nginx 1.22 on OpenSSL 3.0 lacks) and verifies nothing. Prints one line:
//! `requests/s p99_ms resumed_percent errors`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rustls::client::{ClientSessionMemoryCache, Resumption};
use rustls::crypto::aws_lc_rs::{cipher_suite, default_provider, kx_group};
use rustls::pki_types::ServerName;
use rustls::HandshakeKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// What one task saw.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    resumed: u64,
    errors: u64,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, name, seconds, connections, mode] = args.as_slice() else {
        bail!("usage: tls_load ADDR SERVER_NAME SECONDS CONNECTIONS full|resumed");
    };
    let addr: SocketAddr = addr.parse().context("ADDR")?;
    let name = ServerName::try_from(name.clone()).context("SERVER_NAME")?;
    let duration = Duration::from_secs(seconds.parse().context("SECONDS")?);
    let connections: usize = connections.parse().context("CONNECTIONS")?;
    let resume = match mode.as_str() {
        "full" => false,
        "resumed" => true,
        other => bail!("mode {other:?}: expected full or resumed"),
    };
    let mut provider = default_provider();
    provider.kx_groups = vec![kx_group::X25519];
    provider.cipher_suites = vec![
        cipher_suite::TLS13_AES_128_GCM_SHA256,
        cipher_suite::TLS13_AES_256_GCM_SHA384,
        cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    ];
    let config = portico_ingress::certs::unverified_client_config(provider)?;
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        name.to_str()
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let tallies = runtime.block_on(async {
        let deadline = Instant::now() + duration;
        let tasks: Vec<_> = (0..connections)
            .map(|_| {
                let mut config = config.clone();
                // Each task keeps its own tickets, as each of wrk's connections keeps its
                // session: a shared cache would hand one ticket to several connections.
                config.resumption = if resume {
                    Resumption::store(Arc::new(ClientSessionMemoryCache::new(1)))
                } else {
                    Resumption::disabled()
                };
                let connector = TlsConnector::from(Arc::new(config));
                let (name, request) = (name.clone(), request.clone());
                tokio::spawn(async move {
                    let mut tally = Tally::default();
                    while Instant::now() < deadline {
                        let start = Instant::now();
                        match fetch(&connector, addr, name.clone(), request.as_bytes()).await {
                            Ok(kind) => {
                                tally.latencies_us.push(start.elapsed().as_micros() as u64);
                                tally.resumed += u64::from(kind == Some(HandshakeKind::Resumed));
                            }
                            Err(_) => tally.errors += 1,
                        }
                    }
                    tally
                })
            })
            .collect();
        let mut tallies = Vec::new();
        for task in tasks {
            tallies.push(task.await?);
        }
        anyhow::Ok(tallies)
    })?;

    let mut latencies: Vec<u64> = tallies
        .iter()
        .flat_map(|t| t.latencies_us.clone())
        .collect();
    latencies.sort_unstable();
    let done = latencies.len() as f64;
    let resumed: u64 = tallies.iter().map(|t| t.resumed).sum();
    let errors: u64 = tallies.iter().map(|t| t.errors).sum();
    let p99 = latencies
        .get(((done * 0.99) as usize).min(latencies.len().saturating_sub(1)))
        .map_or(f64::NAN, |us| *us as f64 / 1000.0);
    println!(
        "{:.0} {:.2} {:.1} {}",
        done / duration.as_secs_f64(),
        p99,
        100.0 * resumed as f64 / done.max(1.0),
        errors
    );
    Ok(())
}

/// One connection: handshake, request, the whole response; the handshake's kind.
async fn fetch(
    connector: &TlsConnector,
    addr: SocketAddr,
    name: ServerName<'static>,
    request: &[u8],
) -> Result<Option<HandshakeKind>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let mut tls = connector.connect(name, tcp).await?;
    let kind = tls.get_ref().1.handshake_kind();
    tls.write_all(request).await?;
    let mut response = Vec::with_capacity(512);
    // A server may close without close_notify after `Connection: close`; what was read counts.
    let _ = tls.read_to_end(&mut response).await;
    if !response.starts_with(b"HTTP/1.1 200") {
        bail!("unexpected response");
    }
    Ok(kind)
}
