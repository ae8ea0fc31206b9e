//! netexec's UDP server: `hostname`, `echo <msg>` and `clientip` (case-insensitive; the
//! text is lower-cased before answering, as agnhost does).

use crate::programs::agnhost::go_log;
use crate::RunContext;
use tokio::net::UdpSocket;

/// The answer to one datagram, if it is a known command.
pub(super) fn answer(text: &str, hostname: &str, client: &str) -> Option<String> {
    let command = text.trim().to_lowercase();
    if command == "hostname" {
        Some(hostname.to_string())
    } else if let Some(rest) = command.strip_prefix("echo ") {
        Some(rest.to_string())
    } else if command == "clientip" {
        Some(client.to_string())
    } else {
        None
    }
}

/// Answers datagrams until the socket fails.
pub(super) async fn serve(socket: UdpSocket, ctx: RunContext) {
    let mut buf = vec![0u8; 2048];
    loop {
        let (n, client) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(e) => {
                go_log(&ctx, &format!("UDP server exited: {e}"));
                return;
            }
        };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let client_text = client.to_string();
        match answer(&text, &ctx.hostname(), &client_text) {
            Some(reply) => {
                let command = text.trim().to_lowercase();
                let line = if command == "hostname" {
                    "Sending udp hostName response".to_string()
                } else if command == "clientip" {
                    format!("Sending clientip back to UDP client {client_text}")
                } else {
                    format!("Echoing {reply} to UDP client {client_text}")
                };
                go_log(&ctx, &line);
                if let Err(e) = socket.send_to(reply.as_bytes(), client).await {
                    go_log(
                        &ctx,
                        &format!("failed to write to UDP client {client_text}: {e}"),
                    );
                }
            }
            None if !text.trim().is_empty() => go_log(
                &ctx,
                &format!(
                    "Unknown UDP command received from {client_text}: {}",
                    text.trim().to_lowercase()
                ),
            ),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(
            answer("hostname\n", "pod-a", "1.2.3.4:5").as_deref(),
            Some("pod-a")
        );
        assert_eq!(answer("HostName", "pod-a", "c").as_deref(), Some("pod-a"));
        assert_eq!(
            answer("echo Hello There", "p", "c").as_deref(),
            Some("hello there")
        );
        assert_eq!(
            answer("clientip", "p", "1.2.3.4:5").as_deref(),
            Some("1.2.3.4:5")
        );
        assert_eq!(answer("what", "p", "c"), None);
    }
}
