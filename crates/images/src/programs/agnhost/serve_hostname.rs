//! `agnhost serve-hostname`: answers every HTTP request, TCP connection or UDP datagram with
//! the host name (the pod name).

use super::{go_log, FlagSet};
use crate::http::{self, handler};
use crate::programs::Outcome;
use crate::{RunContext, Signal};
use tokio::io::AsyncWriteExt;

/// Runs serve-hostname with its flags (`--port` 9376, `--http` true, `--tcp`, `--udp`,
/// `--close`). Unlike the original, which sleeps 60 s after SIGTERM "awaiting pod deletion",
/// it exits 0 right after logging that.
pub(crate) async fn run(args: &[String], ctx: &RunContext) -> Outcome {
    let flags = FlagSet::new("serve-hostname")
        .boolean("tcp", false)
        .boolean("udp", false)
        .boolean("http", true)
        .boolean("close", false)
        .int("port", 9376)
        .parse(args)?;
    let (tcp, udp, serve_http, close) = (
        flags.get_bool("tcp"),
        flags.get_bool("udp"),
        flags.get_bool("http"),
        flags.get_bool("close"),
    );
    let port = flags.get_port("port")?.unwrap_or(9376);
    if serve_http && (tcp || udp) {
        go_log(
            ctx,
            "Can't server TCP/UDP mode and HTTP mode at the same time",
        );
        return Ok(1);
    }
    let hostname = ctx.hostname();
    let mut tasks = tokio::task::JoinSet::new();
    if tcp {
        let listener = ctx.bind_tcp(port).await?;
        let (ctx, hostname) = (ctx.clone(), hostname.clone());
        tasks.spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((mut stream, remote)) => {
                        go_log(&ctx, &format!("TCP request from {remote}"));
                        let _ = stream.write_all(hostname.as_bytes()).await;
                        let _ = stream.shutdown().await;
                    }
                    Err(e) => {
                        go_log(&ctx, &format!("Error from Accept(): {e}"));
                        return;
                    }
                }
            }
        });
    }
    if udp {
        let socket = ctx.bind_udp(None, port).await?;
        let (ctx, hostname) = (ctx.clone(), hostname.clone());
        tasks.spawn(async move {
            let mut buf = [0u8; 16];
            loop {
                match socket.recv_from(&mut buf).await {
                    Ok((_, client)) => {
                        go_log(&ctx, &format!("UDP request from {client}"));
                        let _ = socket.send_to(hostname.as_bytes(), client).await;
                    }
                    Err(e) => {
                        go_log(&ctx, &format!("Error from ReadFrom(): {e}"));
                        return;
                    }
                }
            }
        });
    }
    if serve_http {
        let listener = ctx.bind_tcp(port).await?;
        let (log, hostname) = (ctx.clone(), hostname.clone());
        tasks.spawn(http::serve_forever(
            listener,
            handler(move |req| {
                go_log(&log, &format!("HTTP request from {}", req.remote));
                let mut response = http::text(200, hostname.clone());
                if close {
                    response = http::with_header(response, "connection", "close");
                }
                async move { response }
            }),
        ));
    }
    go_log(ctx, &format!("Serving on port {port}."));
    let signal = ctx.signalled().await;
    if signal == Signal::Terminate {
        go_log(ctx, "Shutting down after receiving signal: terminated.");
        go_log(ctx, "Awaiting pod deletion.");
    }
    tasks.abort_all();
    Ok(0)
}
