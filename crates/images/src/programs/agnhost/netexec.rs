//! `agnhost netexec`: an HTTP server with test endpoints (`/hostname`, `/clientip`, `/echo`,
//! `/dial`, `/shell`, `/exit`, ...) and a UDP server answering `hostname`, `echo X` and
//! `clientip`.

mod dial;
mod udp;

use super::{go_log, FlagSet};
use crate::golike::{self, json_marshal};
use crate::http::{self, handler, Request, Response};
use crate::programs::Outcome;
use crate::{Error, RunContext};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How `/exit` or `/shutdown` asked the process to end.
#[derive(Debug, Clone, Copy)]
struct ExitRequest {
    code: u8,
    /// Zero: exit at once; otherwise stop serving and allow this long for connections.
    timeout: Duration,
}

/// What every handler shares.
struct State {
    ctx: RunContext,
    /// The UDP server is up (what `/healthz` reports).
    ready: AtomicBool,
    exit: mpsc::UnboundedSender<ExitRequest>,
}

/// Runs netexec with its flags.
pub(crate) async fn run(args: &[String], ctx: &RunContext) -> Outcome {
    let flags = FlagSet::new("netexec")
        .int("http-port", 8080)
        .int("udp-port", 8081)
        .int("sctp-port", -1)
        .text("tls-cert-file", "")
        .text("tls-private-key-file", "")
        .text("http-override", "")
        .text("udp-listen-addresses", "")
        .int("delay-shutdown", 0)
        .parse(args)?;
    if !flags.get_text("tls-cert-file").is_empty() {
        return Err(Error::Usage(
            "netexec: --tls-cert-file (HTTPS) is not supported by Portico's agnhost".to_string(),
        ));
    }
    if flags.get_int("sctp-port") != -1 {
        go_log(
            ctx,
            "SCTP is not supported by Portico's agnhost; --sctp-port is ignored",
        );
    }
    let http_port = flags.get_port("http-port")?.unwrap_or(8080);
    let (exit_tx, mut exit_rx) = mpsc::unbounded_channel();
    let state = Arc::new(State {
        ctx: ctx.clone(),
        ready: AtomicBool::new(false),
        exit: exit_tx,
    });

    if let Some(udp_port) = flags.get_port("udp-port")? {
        let addresses = parse_addresses(&flags.get_text("udp-listen-addresses"))?;
        for address in addresses {
            let socket = ctx.bind_udp(address, udp_port).await?;
            let shown = address.map(|a| a.to_string()).unwrap_or_default();
            go_log(
                ctx,
                &format!("Started UDP server on port {shown} {udp_port}"),
            );
            state.ready.store(true, Ordering::SeqCst);
            tokio::spawn(udp::serve(socket, state.ctx.clone()));
        }
    }

    let listener = ctx.bind_tcp(http_port).await?;
    go_log(ctx, &format!("Started HTTP server on port {http_port}"));
    let override_target = flags.get_text("http-override");
    let handler_state = state.clone();
    let http_handler = handler(move |mut req: Request| {
        let state = handler_state.clone();
        if !override_target.is_empty() {
            let (path, query) = override_target
                .split_once('?')
                .unwrap_or((override_target.as_str(), ""));
            req.method = ::http::Method::GET;
            req.path = path.to_string();
            req.query = query.to_string();
        }
        async move { route(&state, req).await }
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let server = http::serve(listener, http_handler, stop_rx);
    tokio::pin!(server);
    let request = tokio::select! {
        _ = &mut server => return Ok(0),
        request = exit_rx.recv() => request,
    };
    let Some(request) = request else {
        return Ok(0);
    };
    if request.timeout.is_zero() {
        return Ok(request.code);
    }
    stop_tx.send_replace(true);
    let finished = tokio::time::timeout(request.timeout, &mut server).await;
    let outcome = match finished {
        Ok(()) => "<nil>".to_string(),
        Err(_) => "context deadline exceeded".to_string(),
    };
    go_log(ctx, &format!("Graceful shutdown completed with: {outcome}"));
    Ok(request.code)
}

/// `--udp-listen-addresses`: empty means any address.
fn parse_addresses(list: &str) -> Result<Vec<Option<IpAddr>>, Error> {
    if list.is_empty() {
        return Ok(vec![None]);
    }
    let mut addresses = Vec::new();
    for item in list.split(',') {
        let ip: IpAddr = item
            .trim()
            .parse()
            .map_err(|_| Error::Usage(format!("parseAddress: invalid address {item}")))?;
        if !addresses.contains(&Some(ip)) {
            addresses.push(Some(ip));
        }
    }
    addresses.sort();
    Ok(addresses)
}

/// Go's ServeMux for netexec's routes: exact paths, everything else is `/`.
async fn route(state: &State, req: Request) -> Response {
    let ctx = &state.ctx;
    match req.path.as_str() {
        "/clientip" => {
            go_log(ctx, "GET /clientip");
            http::text(200, req.remote.to_string())
        }
        "/dial" => dial::handle(ctx, &req).await,
        "/echo" => echo(ctx, &req),
        "/exit" => exit(state, &req).await,
        "/healthz" => {
            go_log(ctx, "GET /healthz");
            let status = if state.ready.load(Ordering::SeqCst) {
                200
            } else {
                412
            };
            http::text(status, "")
        }
        "/hostname" | "/hostName" => {
            go_log(ctx, &format!("GET {}", req.path));
            http::text(200, ctx.hostname())
        }
        "/header" => {
            let key = req.form_value("key");
            go_log(ctx, &format!("GET /header?key={key}"));
            http::text(200, req.header(&key))
        }
        "/redirect" => redirect(ctx, &req),
        "/shell" => shell(ctx, &req).await,
        "/shutdown" => {
            go_log(ctx, "GET /shutdown");
            let _ = state.exit.send(ExitRequest {
                code: 0,
                timeout: Duration::ZERO,
            });
            std::future::pending().await
        }
        "/upload" => http::text(501, "upload is not supported by Portico's agnhost\n"),
        _ => {
            go_log(ctx, "GET /");
            http::text(200, format!("NOW: {}", golike::now_string()))
        }
    }
}

/// `/echo?msg=X&code=N`.
fn echo(ctx: &RunContext, req: &Request) -> Response {
    let msg = req.form_value("msg");
    let code = req.form_value("code");
    go_log(ctx, &format!("GET /echo?msg={msg}&code={code}"));
    if code.is_empty() {
        return http::text(200, msg);
    }
    match code.parse::<u16>() {
        Ok(status) if (100..=999).contains(&status) => http::text(status, msg),
        _ => http::text(
            200,
            format!("argument 'code' must be an integer or empty, got {code:?}\n"),
        ),
    }
}

/// `/exit?code=N&timeout=D&wait=D`.
async fn exit(state: &State, req: &Request) -> Response {
    let ctx = &state.ctx;
    let wait_text = req.form_value("wait");
    let timeout_text = req.form_value("timeout");
    let code_text = req.form_value("code");
    go_log(
        ctx,
        &format!("GET /exit?code={code_text}&timeout={timeout_text}&wait={wait_text}"),
    );
    let duration = |text: &str| {
        if text.is_empty() {
            Some(Duration::ZERO)
        } else {
            golike::parse_duration(text)
        }
    };
    let Some(timeout) = duration(&timeout_text) else {
        return http::text(
            200,
            format!("argument 'timeout' must be a valid golang duration or empty, got {timeout_text:?}\n"),
        );
    };
    let Some(wait) = duration(&wait_text) else {
        return http::text(
            200,
            format!(
                "argument 'wait' must be a valid golang duration or empty, got {wait_text:?}\n"
            ),
        );
    };
    let code = if code_text.is_empty() {
        0
    } else {
        match code_text.parse::<i64>() {
            Ok(code) => code.rem_euclid(256) as u8,
            Err(_) => {
                return http::text(
                    200,
                    format!(
                        "argument 'code' must be an integer [0-127] or empty, got {code_text:?}\n"
                    ),
                )
            }
        }
    };
    go_log(
        ctx,
        &format!(
            "Will begin shutdown in {}, allowing {} for connections to close, then will exit with {code}",
            golike::format_duration(wait),
            golike::format_duration(timeout)
        ),
    );
    tokio::time::sleep(wait).await;
    let _ = state.exit.send(ExitRequest { code, timeout });
    if timeout.is_zero() {
        // The process ends before answering, as with Go's os.Exit.
        return std::future::pending().await;
    }
    http::text(200, "")
}

/// `/redirect?location=L&code=N`.
fn redirect(ctx: &RunContext, req: &Request) -> Response {
    let location = req.form_value("location");
    let code_text = req.form_value("code");
    go_log(
        ctx,
        &format!("{} /redirect?msg={location}&code={code_text}", req.method),
    );
    let code = if code_text.is_empty() {
        302
    } else {
        match code_text.parse::<u16>() {
            Ok(code) if (100..=999).contains(&code) => code,
            _ => {
                return http::text(
                    200,
                    format!("argument 'code' must be an integer or empty, got {code_text:?}\n"),
                )
            }
        }
    };
    let target = if location.contains("://") || location.starts_with('/') {
        location
    } else {
        let dir = req.path.rsplit_once('/').map_or("", |(dir, _)| dir);
        format!("{dir}/{location}")
    };
    let reason = ::http::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let body = if req.method == ::http::Method::GET || req.method == ::http::Method::HEAD {
        format!("<a href=\"{}\">{reason}</a>.\n\n", html_escape(&target))
    } else {
        String::new()
    };
    http::with_header(http::html(code, body), "location", &target)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

/// `/shell?cmd=C` (or `shellCommand=C`): runs `/bin/sh -c C`, answers
/// `{"output": stdout+stderr, "error": "exit status N"}` (fields present when non-empty).
async fn shell(ctx: &RunContext, req: &Request) -> Response {
    let mut command = req.form_value("shellCommand");
    if command.is_empty() {
        command = req.form_value("cmd");
    }
    go_log(ctx, &format!("GET /shell?cmd={command}"));
    let outcome = tokio::task::spawn_blocking(move || run_shell(&command)).await;
    let (output, error) = match outcome {
        Ok(result) => result,
        Err(e) => (String::new(), Some(e.to_string())),
    };
    let mut fields = BTreeMap::new();
    if !output.is_empty() {
        fields.insert("output", output);
    }
    if let Some(error) = error {
        fields.insert("error", error);
    }
    let shown: Vec<String> = fields.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    go_log(ctx, &format!("Output: map[{}]", shown.join(" ")));
    http::text(200, json_marshal(&fields))
}

/// Runs the shell with stdout and stderr into one pipe, like Go's `CombinedOutput`.
fn run_shell(command: &str) -> (String, Option<String>) {
    use std::io::Read;
    let (mut reader, writer) = match std::io::pipe() {
        Ok(pipe) => pipe,
        Err(e) => return (String::new(), Some(e.to_string())),
    };
    let stderr = match writer.try_clone() {
        Ok(w) => w,
        Err(e) => return (String::new(), Some(e.to_string())),
    };
    let mut child = match std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .stdout(writer)
        .stderr(stderr)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => return (String::new(), Some(format!("fork/exec /bin/sh: {e}"))),
    };
    let mut output = Vec::new();
    let _ = reader.read_to_end(&mut output);
    let error = match child.wait() {
        Ok(status) if status.success() => None,
        Ok(status) => Some(match status.code() {
            Some(code) => format!("exit status {code}"),
            None => {
                use std::os::unix::process::ExitStatusExt;
                format!("signal: {}", status.signal().unwrap_or(0))
            }
        }),
        Err(e) => Some(e.to_string()),
    };
    (String::from_utf8_lossy(&output).into_owned(), error)
}
