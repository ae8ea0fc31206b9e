//! `agnhost test-webserver`: a file server of `/` on `--port` (80), with Go's `FileServer`
//! conventions (directory listings, `dir` → `dir/` redirects, `404 page not found`).

use super::FlagSet;
use crate::http::{self, handler, percent_decode, Response};
use crate::programs::Outcome;
use crate::RunContext;
use std::path::{Path, PathBuf};

/// Cleans a URL path into relative segments below the root (`..` cannot leave it).
fn clean(path: &str) -> Vec<String> {
    let mut segments: Vec<String> = Vec::new();
    for segment in percent_decode(path, false).split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other.to_string()),
        }
    }
    segments
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "txt" => "text/plain; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

fn redirect(location: &str) -> Response {
    http::with_header(http::text(301, ""), "location", location)
}

fn not_found() -> Response {
    http::text(404, "404 page not found\n")
}

/// Answers `GET path` from `root`.
pub(super) async fn answer(root: &Path, path: &str) -> Response {
    if path.ends_with("/index.html") {
        return redirect("./");
    }
    let segments = clean(path);
    let mut file: PathBuf = root.to_path_buf();
    for segment in &segments {
        file.push(segment);
    }
    let Ok(meta) = tokio::fs::metadata(&file).await else {
        return not_found();
    };
    if meta.is_dir() {
        if !path.ends_with('/') {
            let last = segments.last().map_or("", String::as_str);
            return redirect(&format!("{last}/"));
        }
        let index = file.join("index.html");
        if let Ok(body) = tokio::fs::read(&index).await {
            return http::respond(200, "text/html; charset=utf-8", body);
        }
        let Ok(mut dir) = tokio::fs::read_dir(&file).await else {
            return http::text(500, "Error reading directory\n");
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
        let mut body = String::from(
            "<!doctype html>\n<meta name=\"viewport\" content=\"width=device-width\">\n<pre>\n",
        );
        for name in names {
            body.push_str(&format!(
                "<a href=\"{}\">{}</a>\n",
                escape(&name),
                escape(&name)
            ));
        }
        body.push_str("</pre>\n");
        return http::html(200, body);
    }
    match tokio::fs::read(&file).await {
        Ok(body) => http::respond(200, content_type(&file), body),
        Err(_) => http::text(403, "403 Forbidden\n"),
    }
}

/// Runs the file server.
pub(crate) async fn run(args: &[String], ctx: &RunContext) -> Outcome {
    let flags = FlagSet::new("test-webserver").int("port", 80).parse(args)?;
    let port = flags.get_port("port")?.unwrap_or(80);
    let listener = ctx.bind_tcp(port).await?;
    let root = ctx.fs_root().to_path_buf();
    http::serve_forever(
        listener,
        handler(move |req| {
            let root = root.clone();
            async move {
                let mut response = answer(&root, &req.path).await;
                for (name, value) in [
                    ("cache-control", "private"),
                    ("access-control-allow-origin", "*"),
                    ("access-control-allow-credentials", "true"),
                    ("access-control-allow-methods", "GET, POST, OPTIONS"),
                    (
                        "access-control-allow-headers",
                        "DNT,X-Mx-ReqToken,Keep-Alive,User-Agent,X-Requested-With,Cache-Control,Content-Type",
                    ),
                ] {
                    response = http::with_header(response, name, value);
                }
                response
            }
        }),
    )
    .await;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_stays_below_root() {
        assert_eq!(clean("/a/../../etc/./passwd"), vec!["etc", "passwd"]);
        assert_eq!(clean("/%2e%2e/x"), vec!["x"]);
        assert!(clean("/").is_empty());
    }
}
