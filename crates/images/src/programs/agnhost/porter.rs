//! `agnhost porter`: for each variable `SERVE_PORT_N` (or `SERVE_TCP_PORT_N`) serves its value
//! over HTTP on port N, and for `SERVE_UDP_PORT_N` answers every datagram on port N with it.

use super::{go_log, FlagSet};
use crate::golike::json_marshal;
use crate::http::{self, handler};
use crate::programs::Outcome;
use crate::{Error, RunContext};
use std::collections::BTreeMap;

/// What one variable asks for.
#[derive(Debug, PartialEq, Eq)]
enum Serve {
    Tcp(u16, String),
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
        } else if key.starts_with("SERVE_TLS_PORT_") || key.starts_with("SERVE_SCTP_PORT_") {
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
                tasks.spawn(http::serve_forever(
                    listener,
                    handler(move |req| {
                        let response = if json {
                            let mut body = BTreeMap::new();
                            body.insert("Body", value.clone());
                            body.insert("Method", req.method.to_string());
                            http::respond(200, "application/json", json_marshal(&body))
                        } else {
                            http::text(200, value.clone())
                        };
                        async move { response }
                    }),
                ));
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
                &format!("{key}: TLS and SCTP ports are not supported by Portico's agnhost"),
            ),
        }
    }
    while tasks.join_next().await.is_some() {}
    // Like the original, porter stays up even with nothing to serve.
    std::future::pending::<()>().await;
    Ok(0)
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
                Serve::Unsupported("SERVE_TLS_PORT_9004".to_string()),
            ]
        );
        assert!(plan(&[("SERVE_PORT_x".to_string(), "v".to_string())]).is_err());
    }
}
