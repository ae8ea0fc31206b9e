//! The node's own API, reached through the API server's proxy: container logs, `exec`,
//! `attach` and `port-forward` for the pods of this node, and (through `nodes/proxy`) the
//! kubelet's `/healthz` and `/logs/` ([`files`]).
//!
//! Paths are the API server's (`/api/v1/namespaces/NS/pods/NAME/log|exec|attach|portforward`)
//! so the proxy passes requests on unchanged. Only the API server may call: it presents the
//! cluster token as a bearer token.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

mod files;

use crate::logs::{self, LogOptions, Stream};
use crate::pods::{ContainerLive, Manager, PodHandle};
use crate::runtime::{self, Stdio3};

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// Serves the node API on `listener` until shutdown.
pub async fn serve(
    listener: tokio::net::TcpListener,
    manager: Arc<Manager>,
    shutdown: CancellationToken,
) {
    loop {
        let (tcp, _) = tokio::select! {
            _ = shutdown.cancelled() => return,
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let manager = manager.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let manager = manager.clone();
                async move { Ok::<_, Infallible>(handle(manager, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades()
                .await;
        });
    }
}

fn status(code: u16, reason: &str, message: &str) -> Response<Body> {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code,
    });
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())).boxed());
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

fn boxed(r: Response<Full<Bytes>>) -> Response<Body> {
    r.map(|b| b.boxed())
}

async fn handle(manager: Arc<Manager>, req: Request<Incoming>) -> Response<Body> {
    let token = &manager.config.token;
    let authorized = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| {
            let (a, b) = (t.trim().as_bytes(), token.as_bytes());
            a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
        });
    if !authorized {
        return status(401, "Unauthorized", "Unauthorized");
    }
    let path = req.uri().path().to_string();
    if req.method() == http::Method::GET {
        if let Some(r) = files::serve(&manager.config.data_dir, &path).await {
            return r;
        }
    }
    let query = req.uri().query().unwrap_or("").to_string();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let ["api", "v1", "namespaces", ns, "pods", name, sub] = parts.as_slice() else {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
    };
    let Some(pod) = manager.lookup(ns, name) else {
        return status(404, "NotFound", &format!("pods \"{name}\" not found"));
    };
    let pairs = logs::form_pairs(&query);
    let container = pairs
        .iter()
        .find(|(k, _)| k == "container")
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty());
    let live = match pick_container(&pod, container.as_deref()) {
        Ok(l) => l,
        Err(resp) => return *resp,
    };
    match *sub {
        "log" => log(&pod, live, &pairs, &query).await,
        "exec" => exec(manager.clone(), pod, live, req, &pairs),
        "attach" => attach(live, req),
        "portforward" => portforward(pod, req),
        _ => status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ),
    }
}

/// The named container, or the only/first one, with kubelet's messages when it cannot be used.
fn pick_container(
    pod: &PodHandle,
    name: Option<&str>,
) -> Result<(String, Option<ContainerLive>), Box<Response<Body>>> {
    let live = pod
        .live
        .lock()
        .map_err(|_| Box::new(status(500, "InternalError", "pod state poisoned")))?;
    let name = match name {
        Some(n) => n.to_string(),
        None => match live.order.first() {
            Some(n) => n.clone(),
            None => return Ok((String::new(), None)),
        },
    };
    Ok((name.clone(), live.containers.get(&name).cloned()))
}

async fn log(
    pod: &PodHandle,
    (name, live): (String, Option<ContainerLive>),
    pairs: &[(String, String)],
    query: &str,
) -> Response<Body> {
    let options = match LogOptions::from_query(query) {
        Ok(o) => o,
        Err(e) => return status(400, "BadRequest", &e),
    };
    let previous = pairs
        .iter()
        .any(|(k, v)| k == "previous" && (v == "true" || v == "1"));
    let Some(live) = live else {
        return status(
            400,
            "BadRequest",
            &format!(
                "container \"{name}\" in pod \"{}\" is waiting to start: ContainerCreating",
                pod.name
            ),
        );
    };
    let (path, done) = if previous {
        if live.restart == 0 {
            return status(
                400,
                "BadRequest",
                &format!(
                    "previous terminated container \"{name}\" in pod \"{}\" not found",
                    pod.name
                ),
            );
        }
        (logs::path(&pod.dir, &name, live.restart - 1), None)
    } else {
        if let Some(reason) = &live.waiting {
            if !logs::path(&pod.dir, &name, live.restart).exists() {
                return status(
                    400,
                    "BadRequest",
                    &format!(
                        "container \"{name}\" in pod \"{}\" is waiting to start: {reason}",
                        pod.name
                    ),
                );
            }
        }
        (
            logs::path(&pod.dir, &name, live.restart),
            Some(live.done.clone()),
        )
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    tokio::spawn(logs::stream(path, options, done, tx));
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain"),
    );
    r
}

/// The argv that runs `command` in container `container`: a path its image holds a built-in
/// program under (`/agnhost`) runs that program, as it would run the image's file; anything
/// else runs as given.
async fn image_argv(
    manager: &Manager,
    pod: &PodHandle,
    container: &str,
    command: Vec<String>,
) -> Vec<String> {
    let api: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(manager.client.clone(), &pod.namespace);
    let Ok(Some(spec)) = api.get_opt(&pod.name).await.map(|p| p.and_then(|p| p.spec)) else {
        return command;
    };
    let image = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == container)
        .and_then(|c| c.image.clone());
    let Some(image) = image else {
        return command;
    };
    match manager
        .catalog
        .resolve(&image, &command, &[], &manager.config.self_exe)
    {
        Ok(resolved) => resolved.argv,
        Err(_) => command,
    }
}

fn exec(
    manager: Arc<Manager>,
    pod: Arc<PodHandle>,
    (name, live): (String, Option<ContainerLive>),
    req: Request<Incoming>,
    pairs: &[(String, String)],
) -> Response<Body> {
    let command: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    let Some(live) = live.filter(|l| l.running) else {
        return status(
            400,
            "BadRequest",
            &format!("container not found (\"{name}\")"),
        );
    };
    let Some(ns) = pod.live.lock().ok().and_then(|l| l.namespaces.clone()) else {
        return status(
            400,
            "BadRequest",
            &format!("container not found (\"{name}\")"),
        );
    };
    if command.is_empty() {
        return status(400, "BadRequest", "you must specify at least 1 command");
    }
    let tty = pairs
        .iter()
        .any(|(k, v)| k == "tty" && (v == "true" || v == "1"));
    boxed(portico_streams::upgrade_exec(
        req,
        move |mut session: portico_streams::Session| async move {
            let tty = tty;
            let command = image_argv(&manager, &pod, &name, command).await;
            let stdio = if tty {
                Stdio3::Tty
            } else {
                Stdio3::Pipes {
                    stdin: session.stdin.is_some(),
                }
            };
            let mut proc = match runtime::spawn_in_pod(
                &ns,
                &command,
                &live.env,
                live.working_dir.as_deref(),
                stdio,
            ) {
                Ok(p) => p,
                Err(e) => {
                    let _ = session
                    .finish(portico_streams::Outcome::Failure(format!(
                        "error executing command in container: failed to exec in container: starting {command:?}: {e}"
                    )))
                    .await;
                    return;
                }
            };
            let mut tasks = Vec::new();
            if let Some(pty) = proc.pty.take() {
                let pty = Arc::new(pty);
                if let (Some(mut input), Ok(fd)) = (session.stdin.take(), pty.try_clone()) {
                    let mut w = tokio::fs::File::from_std(std::fs::File::from(fd));
                    tasks.push(tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut input, &mut w).await;
                    }));
                }
                if let (Some(mut out), Ok(fd)) = (session.stdout.take(), pty.try_clone()) {
                    let mut r = tokio::fs::File::from_std(std::fs::File::from(fd));
                    tasks.push(tokio::spawn(async move {
                        // EIO when the last process holding the terminal exits.
                        let _ = tokio::io::copy(&mut r, &mut out).await;
                        let _ = out.shutdown().await;
                    }));
                }
                if let Some(mut resize) = session.resize.take() {
                    let pty = pty.clone();
                    tokio::spawn(async move {
                        while let Some(size) = resize.recv().await {
                            runtime::resize(&pty, size.width, size.height);
                        }
                    });
                }
            } else {
                if let (Some(mut input), Some(mut w)) =
                    (session.stdin.take(), proc.child.stdin.take())
                {
                    tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut input, &mut w).await;
                        let _ = w.shutdown().await;
                    });
                }
                if let (Some(mut out), Some(mut r)) =
                    (session.stdout.take(), proc.child.stdout.take())
                {
                    tasks.push(tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut r, &mut out).await;
                        let _ = out.shutdown().await;
                    }));
                }
                if let (Some(mut out), Some(mut r)) =
                    (session.stderr.take(), proc.child.stderr.take())
                {
                    tasks.push(tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut r, &mut out).await;
                        let _ = out.shutdown().await;
                    }));
                }
            }
            let status = proc.child.wait().await;
            if tty {
                // The terminal's reader ends when the process is gone; give it a moment.
                for t in tasks {
                    let _ = tokio::time::timeout(std::time::Duration::from_millis(500), t).await;
                }
            } else {
                for t in tasks {
                    let _ = t.await;
                }
            }
            let outcome = match status {
                Ok(s) => {
                    use std::os::unix::process::ExitStatusExt;
                    match s.code().or_else(|| s.signal().map(|sig| 128 + sig)) {
                        Some(0) => portico_streams::Outcome::Success,
                        Some(c) => portico_streams::Outcome::ExitCode(c),
                        None => {
                            portico_streams::Outcome::Failure("process ended without status".into())
                        }
                    }
                }
                Err(e) => portico_streams::Outcome::Failure(e.to_string()),
            };
            let _ = session.finish(outcome).await;
            let _ = pod;
        },
    ))
}

fn attach((name, live): (String, Option<ContainerLive>), req: Request<Incoming>) -> Response<Body> {
    let Some(live) = live.filter(|l| l.running) else {
        return status(
            400,
            "BadRequest",
            &format!("container not found (\"{name}\")"),
        );
    };
    boxed(portico_streams::upgrade_exec(
        req,
        move |mut session: portico_streams::Session| async move {
            let mut output = live.live.subscribe();
            let mut done = live.done.clone();
            if let (Some(mut input), Some(tx)) = (session.stdin.take(), live.stdin.clone()) {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    loop {
                        match input.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if tx
                                    .send(Some(Bytes::copy_from_slice(&buf[..n])))
                                    .await
                                    .is_err()
                                {
                                    break;
                                }
                            }
                        }
                    }
                });
            }
            if let (Some(mut resize), Some(pty)) = (session.resize.take(), live.pty.clone()) {
                tokio::spawn(async move {
                    while let Some(size) = resize.recv().await {
                        runtime::resize(&pty, size.width, size.height);
                    }
                });
            }
            let mut stdout = session.stdout.take();
            let mut stderr = session.stderr.take();
            loop {
                tokio::select! {
                    msg = output.recv() => match msg {
                        Ok((Stream::Stdout, b)) => {
                            if let Some(w) = stdout.as_mut() {
                                if w.write_all(&b).await.is_err() { break }
                                let _ = w.flush().await;
                            }
                        }
                        Ok((Stream::Stderr, b)) => {
                            let target = if stderr.is_some() { stderr.as_mut() } else { stdout.as_mut() };
                            if let Some(w) = target {
                                if w.write_all(&b).await.is_err() { break }
                                let _ = w.flush().await;
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(_) => break,
                    },
                    changed = done.changed() => {
                        if changed.is_err() || *done.borrow() { break }
                    }
                }
            }
            if let Some(mut w) = stdout {
                let _ = w.shutdown().await;
            }
            if let Some(mut w) = stderr {
                let _ = w.shutdown().await;
            }
            let _ = session.finish(portico_streams::Outcome::Success).await;
        },
    ))
}

fn portforward(pod: Arc<PodHandle>, req: Request<Incoming>) -> Response<Body> {
    let Some(ip) = pod.live.lock().ok().and_then(|l| l.pod_ip) else {
        return status(400, "BadRequest", "pod has no address yet");
    };
    let target = portico_streams::PodTarget {
        pod: pod.name.clone(),
        uid: pod.uid.clone(),
    };
    boxed(portico_streams::upgrade_portforward(
        req,
        target,
        move |port: u16| async move {
            tokio::net::TcpStream::connect((ip, port))
                .await
                .map_err(|e| {
                    std::io::Error::new(
                        e.kind(),
                        format!(
                            "dial tcp {ip}:{port}: connect: {}",
                            e.to_string().to_lowercase()
                        ),
                    )
                })
        },
    ))
}
