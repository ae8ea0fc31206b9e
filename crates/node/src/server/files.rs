//! The kubelet's own endpoints that `nodes/NAME/proxy/...` reaches: `/healthz`, and `/logs/`,
//! a read-only file server of the node's log directory. The kubelet serves the host's
//! `/var/log`; this node serves what it logs itself: `/logs/pods/<ns>_<pod>_<uid>/<container>/<n>.log`,
//! the layout of the kubelet's `/var/log/pods`.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use super::Body;

fn answer(code: u16, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// The segments of a URL path below the root (`..` cannot leave it).
fn segments(path: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for s in path.split('/') {
        match s {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
}

/// Answers `GET /healthz` and `GET /logs/...`; `None` for any other path.
pub(super) async fn serve(data_dir: &Path, path: &str) -> Option<Response<Body>> {
    if path == "/healthz" {
        return Some(answer(200, "text/plain; charset=utf-8", "ok"));
    }
    let rest = path.strip_prefix("/logs")?;
    if !rest.is_empty() && !rest.starts_with('/') {
        return None;
    }
    let segs = segments(rest);
    Some(match segs.split_first() {
        None => listing(&["pods/".to_string()], rest.ends_with('/'), "logs"),
        Some((&"pods", below)) => {
            let mut file: PathBuf = data_dir.join("pods");
            for s in below {
                file.push(s);
            }
            let last = segs.last().copied().unwrap_or("logs");
            file_or_dir(&file, rest.ends_with('/'), last).await
        }
        Some(_) => answer(404, "text/plain; charset=utf-8", "404 page not found\n"),
    })
}

async fn file_or_dir(file: &Path, slash: bool, last: &str) -> Response<Body> {
    let Ok(meta) = tokio::fs::metadata(file).await else {
        return answer(404, "text/plain; charset=utf-8", "404 page not found\n");
    };
    if !meta.is_dir() {
        return match tokio::fs::read(file).await {
            Ok(body) => answer(200, "text/plain; charset=utf-8", body),
            Err(_) => answer(403, "text/plain; charset=utf-8", "403 Forbidden\n"),
        };
    }
    let Ok(mut dir) = tokio::fs::read_dir(file).await else {
        return answer(
            500,
            "text/plain; charset=utf-8",
            "Error reading directory\n",
        );
    };
    let mut names = Vec::new();
    while let Ok(Some(entry)) = dir.next_entry().await {
        let mut name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().await.is_ok_and(|t| t.is_dir()) {
            name.push('/');
        }
        names.push(name);
    }
    names.sort();
    listing(&names, slash, last)
}

/// Go's `FileServer` directory page (a directory asked without its slash is redirected).
fn listing(names: &[String], slash: bool, last: &str) -> Response<Body> {
    if !slash {
        let mut r = answer(301, "text/html; charset=utf-8", "");
        // Relative, as Go's FileServer redirects: the last segment plus a slash.
        if let Ok(v) = HeaderValue::from_str(&format!("{last}/")) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        return r;
    }
    let mut body = String::from("<pre>\n");
    for name in names {
        body.push_str(&format!(
            "<a href=\"{}\">{}</a>\n",
            escape(name),
            escape(name)
        ));
    }
    body.push_str("</pre>\n");
    answer(200, "text/html; charset=utf-8", body)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn text(r: Response<Body>) -> (u16, String) {
        let code = r.status().as_u16();
        let body = r.into_body().collect().await.unwrap().to_bytes();
        (code, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn serves_health_and_pod_logs_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("pods/ns_web_uid/c");
        std::fs::create_dir_all(&logs).unwrap();
        std::fs::write(logs.join("0.log"), "hello\n").unwrap();
        let (code, body) = text(serve(dir.path(), "/healthz").await.unwrap()).await;
        assert_eq!((code, body.as_str()), (200, "ok"));
        let (code, body) = text(serve(dir.path(), "/logs/").await.unwrap()).await;
        assert_eq!(code, 200);
        assert!(body.contains("<a href=\"pods/\">pods/</a>"), "{body}");
        let (_, body) = text(serve(dir.path(), "/logs/pods/").await.unwrap()).await;
        assert!(body.contains("ns_web_uid/"), "{body}");
        let (code, body) = text(
            serve(dir.path(), "/logs/pods/ns_web_uid/c/0.log")
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((code, body.as_str()), (200, "hello\n"));
        let (code, _) = text(serve(dir.path(), "/logs/../../etc/passwd").await.unwrap()).await;
        assert_eq!(code, 404);
        let r = serve(dir.path(), "/logs/pods").await.unwrap();
        assert_eq!(r.status().as_u16(), 301);
        assert_eq!(r.headers()[header::LOCATION], "pods/");
        assert!(serve(dir.path(), "/metrics").await.is_none());
        assert!(serve(dir.path(), "/logsx").await.is_none());
    }
}
