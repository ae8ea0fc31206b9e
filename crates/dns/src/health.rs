//! The probe endpoints, as CoreDNS' health (`GET /health` on :8080) and
//! ready (`GET /ready` on :8181) plugins serve them: a tiny HTTP/1.1
//! answer, `200 OK` with body `OK`, or `503` while not ready.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// The longest request head read.
const MAX_HEAD: usize = 8192;

/// Which probe a listener answers.
#[derive(Debug, Clone)]
pub enum Probe {
    /// `GET /health`: 200 while the process serves.
    Health,
    /// `GET /ready`: 200 once the flag is set (the caches synced), 503 before.
    Ready(Arc<AtomicBool>),
}

impl Probe {
    fn path(&self) -> &'static str {
        match self {
            Probe::Health => "/health",
            Probe::Ready(_) => "/ready",
        }
    }
}

/// Answers `probe` on `listener` until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, probe: Probe, shutdown: CancellationToken) {
    loop {
        let stream = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::debug!(%error, "probe accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let probe = probe.clone();
        tokio::spawn(async move {
            let answer = tokio::time::timeout(Duration::from_secs(5), answer(stream, &probe)).await;
            if let Ok(Err(error)) = answer {
                tracing::debug!(%error, "probe request failed");
            }
        });
    }
}

async fn answer(mut stream: TcpStream, probe: &Probe) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, body) = if method != "GET" && method != "HEAD" {
        ("405 Method Not Allowed", "method not allowed\n")
    } else if path != probe.path() {
        ("404 Not Found", "404 page not found\n")
    } else {
        match probe {
            Probe::Ready(flag) if !flag.load(Ordering::Acquire) => {
                ("503 Service Unavailable", "kubernetes\n")
            }
            _ => ("200 OK", "OK"),
        }
    };
    let body = if method == "HEAD" { "" } else { body };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(addr: std::net::SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn health_and_ready() {
        let token = CancellationToken::new();
        let health = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let health_addr = health.local_addr().unwrap();
        tokio::spawn(serve(health, Probe::Health, token.clone()));
        let flag = Arc::new(AtomicBool::new(false));
        let ready = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ready_addr = ready.local_addr().unwrap();
        tokio::spawn(serve(ready, Probe::Ready(flag.clone()), token.clone()));

        let r = get(health_addr, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.ends_with("\r\n\r\nOK"), "{r}");
        let r = get(health_addr, "GET /nope HTTP/1.1\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 404"), "{r}");
        let r = get(ready_addr, "GET /ready HTTP/1.1\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 503"), "{r}");
        flag.store(true, Ordering::Release);
        let r = get(ready_addr, "GET /ready HTTP/1.1\r\n\r\n").await;
        assert!(
            r.starts_with("HTTP/1.1 200 OK\r\n") && r.ends_with("OK"),
            "{r}"
        );
        token.cancel();
    }
}
