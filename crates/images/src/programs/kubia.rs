//! The Node.js apps of "Kubernetes in Action" (`luksa/kubia` and friends), on port 8080.

use super::Outcome;
use crate::http::{self, handler, node_remote_address, Response};
use crate::{Error, RunContext};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Which kubia app.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Variant {
    /// Chapter 2: `You've hit <hostname>`.
    Hit,
    /// Chapter 9's tagged versions: `This is vN running in pod <hostname>`; v3 fails from
    /// its fifth request on.
    Version(u8),
    /// Chapter 4's `kubia-unhealthy`: 500 after the fifth request.
    Unhealthy,
}

/// A Node.js `response.writeHead(status); response.end(body)`: no content type.
fn node(status: u16, body: String) -> Response {
    let mut response = http::text(status, body);
    response.headers_mut().remove(::http::header::CONTENT_TYPE);
    response
}

fn answer(variant: Variant, count: u64, host: &str) -> Response {
    match variant {
        Variant::Hit => node(200, format!("You've hit {host}\n")),
        Variant::Unhealthy if count > 5 => {
            node(500, "I'm not well. Please restart me!".to_string())
        }
        Variant::Unhealthy => node(200, format!("You've hit {host}\n")),
        Variant::Version(3) if count >= 5 => node(
            500,
            format!("Some internal error has occurred! This is pod {host}\n"),
        ),
        Variant::Version(n) => node(200, format!("This is v{n} running in pod {host}\n")),
    }
}

/// Serves `variant` on 8080, logging each request like the original app.js.
pub(crate) async fn run(variant: Variant, ctx: &RunContext) -> Outcome {
    ctx.log("Kubia server starting...");
    let listener = ctx.bind_tcp(8080).await?;
    let count = Arc::new(AtomicU64::new(0));
    let host = ctx.hostname();
    let log = ctx.clone();
    http::serve_forever(
        listener,
        handler(move |req| {
            log.log(&format!(
                "Received request from {}",
                node_remote_address(req.remote)
            ));
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            let response = answer(variant, n, &host);
            async move { response }
        }),
    )
    .await;
    Ok(0)
}

/// Chapter 10's `kubia-pet`: POST stores the body in `/var/data/kubia.txt`, GET shows it.
pub(crate) async fn run_pet(ctx: &RunContext) -> Outcome {
    ctx.log("Kubia server starting...");
    let listener = ctx.bind_tcp(8080).await?;
    let data_file = ctx.data_dir().join("kubia.txt");
    let host = ctx.hostname();
    let log = ctx.clone();
    http::serve_forever(
        listener,
        handler(move |req| {
            let data_file = data_file.clone();
            let host = host.clone();
            let log = log.clone();
            async move {
                if req.method == ::http::Method::POST {
                    if let Err(e) = tokio::fs::write(&data_file, &req.body).await {
                        let e = Error::Io {
                            context: format!("cannot write {}", data_file.display()),
                            source: e,
                        };
                        log.log_error(&e.to_string());
                        return node(500, format!("{e}\n"));
                    }
                    log.log("New data has been received and stored.");
                    return node(200, format!("Data stored on pod {host}\n"));
                }
                let data = tokio::fs::read_to_string(&data_file)
                    .await
                    .unwrap_or_else(|_| "No data posted yet".to_string());
                node(
                    200,
                    format!("You've hit {host}\nData stored on this pod: {data}\n"),
                )
            }
        }),
    )
    .await;
    Ok(0)
}
