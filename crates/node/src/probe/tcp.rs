//! `tcpSocket` probes (a connection within the timeout is a success) and the dialing that
//! HTTP probes share, with errors worded like Go's `net` package since they end up in events.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, TCPSocketAction};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::{resolve_port, Outcome};

/// Why a connection was not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DialError {
    /// The deadline passed first.
    Timeout {
        /// `ip:port` (or `host:port` when the name did not resolve in time).
        address: String,
    },
    /// Resolution or connection failed; the text is Go's (`dial tcp 10.0.0.1:80: connect:
    /// connection refused`).
    Failed(String),
}

/// Runs a `tcpSocket` probe: host defaults to the pod IP.
pub(crate) async fn check(
    action: &TCPSocketAction,
    pod_ip: IpAddr,
    container: &Container,
    timeout: Duration,
) -> Outcome {
    let port = match resolve_port(&action.port, container) {
        Ok(port) => port,
        Err(err) => return Outcome::Unknown(err.to_string()),
    };
    let host = match action.host.as_deref().filter(|h| !h.is_empty()) {
        Some(host) => host.to_string(),
        None => pod_ip.to_string(),
    };
    match dial(&host, port, Instant::now() + timeout).await {
        Ok(_) => Outcome::Success,
        Err(DialError::Timeout { address }) => {
            Outcome::Failure(format!("dial tcp {address}: i/o timeout"))
        }
        Err(DialError::Failed(message)) => Outcome::Failure(message),
    }
}

/// Connects to `host:port` (an IP or a name) before `deadline`.
pub(crate) async fn dial(host: &str, port: u16, deadline: Instant) -> Result<TcpStream, DialError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let address = match bare.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port),
        Err(_) => {
            let lookup = tokio::time::timeout_at(deadline, tokio::net::lookup_host((bare, port)));
            match lookup.await {
                Err(_) => {
                    return Err(DialError::Timeout {
                        address: join_host_port(bare, port),
                    })
                }
                Ok(Err(_)) => {
                    return Err(DialError::Failed(format!(
                        "dial tcp: lookup {bare}: no such host"
                    )))
                }
                Ok(Ok(mut found)) => match found.next() {
                    Some(address) => address,
                    None => {
                        return Err(DialError::Failed(format!(
                            "dial tcp: lookup {bare}: no such host"
                        )))
                    }
                },
            }
        }
    };
    match tokio::time::timeout_at(deadline, TcpStream::connect(address)).await {
        Err(_) => Err(DialError::Timeout {
            address: address.to_string(),
        }),
        Ok(Err(err)) => Err(DialError::Failed(format!(
            "dial tcp {address}: connect: {}",
            go_error_text(&err)
        ))),
        Ok(Ok(stream)) => Ok(stream),
    }
}

/// `host:port`, with an IPv6 host in brackets.
pub(crate) fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// An OS error the way Go prints it: `connection refused`, not `Connection refused (os error
/// 111)`.
pub(crate) fn go_error_text(err: &std::io::Error) -> String {
    let text = err.to_string();
    let text = match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_string(),
        _ => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    use tokio::net::TcpListener;

    fn action(port: u16) -> TCPSocketAction {
        TCPSocketAction {
            host: None,
            port: IntOrString::Int(i32::from(port)),
        }
    }

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[tokio::test]
    async fn open_port_succeeds() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let outcome = check(
            &action(port),
            LOCAL,
            &Container::default(),
            Duration::from_secs(1),
        )
        .await;
        assert_eq!(outcome, Outcome::Success);
    }

    #[tokio::test]
    async fn closed_port_fails_like_go() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let outcome = check(
            &action(port),
            LOCAL,
            &Container::default(),
            Duration::from_secs(1),
        )
        .await;
        assert_eq!(
            outcome,
            Outcome::Failure(format!(
                "dial tcp 127.0.0.1:{port}: connect: connection refused"
            ))
        );
    }

    #[tokio::test]
    async fn explicit_host_and_bad_named_port() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut with_host = action(port);
        with_host.host = Some("127.0.0.1".into());
        let elsewhere: IpAddr = [127, 0, 0, 9].into();
        let outcome = check(
            &with_host,
            elsewhere,
            &Container::default(),
            Duration::from_secs(1),
        )
        .await;
        assert_eq!(outcome, Outcome::Success);
        let named = TCPSocketAction {
            host: None,
            port: IntOrString::String("db".into()),
        };
        let outcome = check(&named, LOCAL, &Container::default(), Duration::from_secs(1)).await;
        assert_eq!(
            outcome,
            Outcome::Unknown("strconv.Atoi: parsing \"db\": invalid syntax".into())
        );
    }

    #[test]
    fn go_style_error_text() {
        let refused = std::io::Error::from_raw_os_error(111);
        assert_eq!(go_error_text(&refused), "connection refused");
        let unreachable = std::io::Error::from_raw_os_error(113);
        assert_eq!(go_error_text(&unreachable), "no route to host");
        assert_eq!(join_host_port("fd00::1", 80), "[fd00::1]:80");
        assert_eq!(join_host_port("10.0.0.1", 80), "10.0.0.1:80");
    }
}
