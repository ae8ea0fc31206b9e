//! Test harness for the proxy: echo backends on 127.0.0.1, Kubernetes objects pointing at
//! them, a running [`Server`], and small clients.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use portico_ingress::server::{LocalAddrs, Server};
use portico_ingress::snapshot::Inputs;
use portico_ingress::{CertResolver, Config, Snapshot};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// A running proxy.
pub struct Proxy {
    /// Where it listens.
    pub addrs: LocalAddrs,
    /// Feeds it new snapshots.
    pub snapshots: watch::Sender<Arc<Snapshot>>,
    /// Its certificates.
    pub certs: Arc<CertResolver>,
    /// Stops it.
    pub stop: CancellationToken,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Proxy {
    /// Starts a proxy serving `inputs`.
    pub async fn start(inputs: &Inputs) -> Proxy {
        let snapshot = Arc::new(build(inputs));
        let certs = Arc::new(CertResolver::new().unwrap());
        certs.update(&snapshot);
        let (tx, rx) = watch::channel(snapshot);
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let config = Config {
            http: any,
            https: any,
            health: Some(any),
            ..Config::default()
        };
        let server = Server::bind(&config, rx, certs.clone()).await.unwrap();
        let addrs = server.local_addrs();
        let stop = CancellationToken::new();
        tokio::spawn(server.serve(stop.clone()));
        Proxy {
            addrs,
            snapshots: tx,
            certs,
            stop,
        }
    }

    /// Serves `inputs` from now on.
    pub fn update(&self, inputs: &Inputs) {
        let snapshot = Arc::new(build(inputs));
        self.certs.update(&snapshot);
        self.snapshots.send_replace(snapshot);
    }
}

/// The snapshot for class `portico`.
pub fn build(inputs: &Inputs) -> Snapshot {
    Snapshot::build(inputs, "portico", "portico.dev/ingress-controller")
}

/// An echo backend: answers with its name, the request line and the request headers, one per
/// line; `/sleep` waits 3 s first; `Upgrade` requests are switched and echoed byte for byte.
pub async fn backend(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service = service_fn(move |req| echo(name, req));
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

async fn echo(
    name: &'static str,
    mut req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() == "/sleep" {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    if req.headers().contains_key("upgrade") {
        let upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let Ok(upgraded) = upgrade.await else { return };
            let mut io = TokioIo::new(upgraded);
            let mut buf = [0u8; 1024];
            while let Ok(n) = io.read(&mut buf).await {
                if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        });
        let response = Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("upgrade", "websocket")
            .header("connection", "Upgrade")
            .body(Full::new(Bytes::new()))
            .unwrap();
        return Ok(response);
    }
    let mut text = format!(
        "backend={name}\n{} {} {:?}\n",
        req.method(),
        req.uri(),
        req.version()
    );
    for (k, v) in req.headers() {
        text.push_str(&format!("{k}: {}\n", v.to_str().unwrap_or("?")));
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    text.push_str(&format!("body={}\n", String::from_utf8_lossy(&body)));
    let response = Response::builder()
        .header("x-backend", name)
        .header("connection", "keep-alive")
        .header("content-type", "text/plain")
        .body(Full::new(Bytes::from(text)))
        .unwrap();
    Ok(response)
}

/// An address nothing listens on.
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// What a client got.
#[derive(Debug)]
pub struct Got {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body as text.
    pub body: String,
}

impl Got {
    /// The value the echo backend saw for request header `name`.
    pub fn echoed(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}: ");
        self.body
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map(str::to_string)
    }

    /// The echo backend's request line (`GET /path HTTP/1.1`).
    pub fn request_line(&self) -> &str {
        self.body.lines().nth(1).unwrap_or("")
    }

    /// Which backend answered.
    pub fn backend(&self) -> Option<&str> {
        self.headers.get("x-backend").and_then(|v| v.to_str().ok())
    }
}

/// An HTTP/1.1 request to `addr` with `Host: host` and extra headers.
pub async fn get(addr: SocketAddr, host: &str, path: &str, headers: &[(&str, &str)]) -> Got {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = Request::get(path).header("host", host);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = sender
        .send_request(req.body(Empty::<Bytes>::new()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Got {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Sends `raw` bytes and reads until the server closes or `until` appears.
pub async fn raw(addr: SocketAddr, raw: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs curl with `args`; returns stdout.
pub async fn curl(args: &[&str]) -> String {
    let out = tokio::process::Command::new("curl")
        .args(["-s", "--max-time", "10"])
        .args(args)
        .output()
        .await
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A Service `name` in `default` with port 80 named `http` whose target is the port named
/// `http`, and one EndpointSlice per endpoint (each backend has its own port).
pub fn service(inputs: &mut Inputs, name: &str, endpoints: &[SocketAddr]) {
    let service: Service = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
    }))
    .unwrap();
    inputs.services.push(Arc::new(service));
    for (i, endpoint) in endpoints.iter().enumerate() {
        let slice: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"name": format!("{name}-{i}"), "namespace": "default",
                         "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": endpoint.port(), "protocol": "TCP"}],
            "endpoints": [{"addresses": [endpoint.ip().to_string()], "conditions": {"ready": true}}]
        }))
        .unwrap();
        inputs.slices.push(Arc::new(slice));
    }
}

/// An Ingress of class `portico` routing `host` + `path` (`pathType` Prefix, or
/// ImplementationSpecific for a path with `(`) to Service `service`
/// port 80, with `annotations` (short names get the `nginx.ingress.kubernetes.io/` prefix)
/// and `spec.tls` for `tls_hosts` from Secret `tls-<name>`.
pub fn ingress(
    inputs: &mut Inputs,
    name: &str,
    host: &str,
    path: &str,
    service: &str,
    annotations: &[(&str, &str)],
    tls_hosts: &[&str],
) {
    if inputs.classes.is_empty() {
        let class: IngressClass = serde_json::from_value(json!({
            "metadata": {"name": "portico"},
            "spec": {"controller": "portico.dev/ingress-controller"}
        }))
        .unwrap();
        inputs.classes.push(Arc::new(class));
    }
    let annotations: BTreeMap<String, String> = annotations
        .iter()
        .map(|(k, v)| (format!("nginx.ingress.kubernetes.io/{k}"), v.to_string()))
        .collect();
    let path_type = if path.contains('(') {
        "ImplementationSpecific"
    } else {
        "Prefix"
    };
    let mut spec = json!({
        "ingressClassName": "portico",
        "rules": [{"host": host, "http": {"paths": [{
            "path": path, "pathType": path_type,
            "backend": {"service": {"name": service, "port": {"number": 80}}}
        }]}}]
    });
    if !tls_hosts.is_empty() {
        spec["tls"] = json!([{"hosts": tls_hosts, "secretName": format!("tls-{name}")}]);
    }
    let ingress: Ingress = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "annotations": annotations},
        "spec": spec
    }))
    .unwrap();
    inputs.ingresses.push(Arc::new(ingress));
}

/// A `kubernetes.io/tls` Secret `tls-<ingress>` for `hosts`, self-signed; returns the
/// certificate (DER).
pub fn tls_secret(inputs: &mut Inputs, ingress: &str, hosts: &[&str]) -> Vec<u8> {
    let names: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(names)
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let data = BTreeMap::from([
        ("tls.crt".to_string(), ByteString(cert.pem().into_bytes())),
        (
            "tls.key".to_string(),
            ByteString(key.serialize_pem().into_bytes()),
        ),
    ]);
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(format!("tls-{ingress}")),
            namespace: Some("default".into()),
            ..Default::default()
        },
        type_: Some("kubernetes.io/tls".into()),
        data: Some(data),
        ..Default::default()
    };
    inputs
        .secrets
        .retain(|s| s.metadata.name.as_deref() != Some(&format!("tls-{ingress}")));
    inputs.secrets.push(Arc::new(secret));
    cert.der().to_vec()
}
