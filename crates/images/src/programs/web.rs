//! Small web images: `takytaky/hostname`, `go-myweb`, `network-multitool`, `nginx`, `httpd`.

use super::{exec, Outcome};
use crate::http::{self, handler, Request, Response};
use crate::RunContext;

/// nginx's default `index.html`.
const NGINX_INDEX: &str = r#"<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"#;

/// Apache's 404 page.
const HTTPD_404: &str = "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>404 Not Found</title>\n</head><body>\n<h1>Not Found</h1>\n<p>The requested URL was not found on this server.</p>\n</body></html>\n";

/// The version nginx names in its `Server` header and error pages.
const NGINX_VERSION: &str = "1.27.3";

/// One access-log line in nginx's `main` format (the official image's default).
fn nginx_access_line(req: &Request, status: u16, bytes: usize) -> String {
    let time = jiff::Timestamp::now().strftime("%d/%b/%Y:%H:%M:%S +0000");
    let or_dash = |v: String| if v.is_empty() { "-".to_string() } else { v };
    format!(
        "{} - - [{time}] \"{} {} {:?}\" {status} {bytes} \"{}\" \"{}\" \"{}\"",
        req.remote.ip(),
        req.method,
        req.target(),
        req.version,
        or_dash(req.header("referer")),
        or_dash(req.header("user-agent")),
        or_dash(req.header("x-forwarded-for")),
    )
}

/// Serves an HTML page on `port` for every path, with nginx-style access logs.
async fn serve_page(ctx: &RunContext, port: u16, page: String) -> Outcome {
    let listener = ctx.bind_tcp(port).await?;
    let log = ctx.clone();
    http::serve_forever(
        listener,
        handler(move |req| {
            log.log(&nginx_access_line(&req, 200, page.len()));
            let response = http::html(200, page.clone());
            async move { response }
        }),
    )
    .await;
    Ok(0)
}

/// `takytaky/hostname`: a page greeting with the host name on port 80.
pub(crate) async fn takytaky_hostname(ctx: &RunContext) -> Outcome {
    let host = ctx.hostname();
    let page = format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta charset=\"utf-8\">\n    <title>Hostname</title>\n  </head>\n  <body>\n    <blockquote>\n        <p>Hello,  {host}</p> </blockquote>\n  </body>\n</html>\n"
    );
    serve_page(ctx, 80, page).await
}

/// `ghcr.io/c1t1d0s7/go-myweb`: `Hello World!` and the host name on port 8080.
pub(crate) async fn go_myweb(ctx: &RunContext) -> Outcome {
    let listener = ctx.bind_tcp(8080).await?;
    let host = ctx.hostname();
    let log = ctx.clone();
    http::serve_forever(
        listener,
        handler(move |req| {
            log.log(&format!(
                "{} {} from {}",
                req.method,
                req.target(),
                req.remote
            ));
            let response = http::text(200, format!("Hello World!\n{host}\n"));
            async move { response }
        }),
    )
    .await;
    Ok(0)
}

/// The IPv4 addresses of the non-loopback interfaces, as `hostname -i` lists them.
fn interface_addresses() -> Vec<String> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    addrs
        .filter_map(|a| a.address.and_then(|s| s.as_sockaddr_in().map(|v4| v4.ip())))
        .filter(|ip| !ip.is_loopback())
        .map(|ip| ip.to_string())
        .collect()
}

/// `praqma/network-multitool`: without arguments a page naming the pod on `HTTP_PORT`
/// (default 80); with arguments it runs them, like the image's entrypoint script.
pub(crate) async fn network_multitool(args: &[String], ctx: &RunContext) -> Outcome {
    if !args.is_empty() {
        return exec(args);
    }
    let port = ctx
        .env_var("HTTP_PORT")
        .and_then(|p| p.parse().ok())
        .unwrap_or(80);
    let page = format!(
        "Praqma Network MultiTool (with NGINX) - {} - {}\n",
        ctx.hostname(),
        interface_addresses().join(" ")
    );
    serve_page(ctx, port, page).await
}

/// nginx's answer to a path: the index for `/` and `/index.html`, its 404 page otherwise.
fn nginx_answer(req: &Request) -> Response {
    let response = if req.path == "/" || req.path == "/index.html" {
        http::respond(200, "text/html", NGINX_INDEX)
    } else {
        http::respond(
            404,
            "text/html",
            format!("<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx/{NGINX_VERSION}</center>\r\n</body>\r\n</html>\r\n"),
        )
    };
    http::with_header(response, "server", &format!("nginx/{NGINX_VERSION}"))
}

/// `nginx`: the default page on port 80. Arguments other than `nginx ...` are executed, as
/// the image's `/docker-entrypoint.sh` does.
pub(crate) async fn nginx(args: &[String], ctx: &RunContext) -> Outcome {
    if let Some(first) = args.first() {
        if first != "nginx" && first != "nginx-debug" {
            return exec(args);
        }
    }
    let listener = ctx.bind_tcp(80).await?;
    let log = ctx.clone();
    http::serve_forever(
        listener,
        handler(move |req| {
            let response = nginx_answer(&req);
            let size = response.body().size_hint_len();
            log.log(&nginx_access_line(&req, response.status().as_u16(), size));
            async move { response }
        }),
    )
    .await;
    Ok(0)
}

/// `httpd`: Apache's "It works!" on port 80. Arguments other than `httpd-foreground` are
/// executed.
pub(crate) async fn httpd(args: &[String], ctx: &RunContext) -> Outcome {
    if let Some(first) = args.first() {
        if first != "httpd-foreground" {
            return exec(args);
        }
    }
    let listener = ctx.bind_tcp(80).await?;
    let log = ctx.clone();
    http::serve_forever(
        listener,
        handler(move |req| {
            let response = if req.path == "/" || req.path == "/index.html" {
                http::respond(
                    200,
                    "text/html",
                    "<html><body><h1>It works!</h1></body></html>\n",
                )
            } else {
                http::respond(404, "text/html; charset=iso-8859-1", HTTPD_404)
            };
            let time = jiff::Timestamp::now().strftime("%d/%b/%Y:%H:%M:%S +0000");
            log.log(&format!(
                "{} - - [{time}] \"{} {} {:?}\" {} {}",
                req.remote.ip(),
                req.method,
                req.target(),
                req.version,
                response.status().as_u16(),
                response.body().size_hint_len()
            ));
            async move { response }
        }),
    )
    .await;
    Ok(0)
}

/// The exact length of a full body.
trait SizeHintLen {
    fn size_hint_len(&self) -> usize;
}

impl SizeHintLen for http_body_util::Full<bytes::Bytes> {
    fn size_hint_len(&self) -> usize {
        use hyper::body::Body;
        self.size_hint().exact().unwrap_or(0) as usize
    }
}
