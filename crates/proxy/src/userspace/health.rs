//! `healthCheckNodePort`: the HTTP endpoint an external load balancer polls to learn whether
//! this node has local endpoints for a `externalTrafficPolicy: Local` service.
//!
//! As kube-proxy answers it: 200 when the node has at least one local ready endpoint, else
//! 503; either way a JSON body naming the service, indented with tabs, e.g.
//!
//! ```text
//! {
//!     "service": {
//!         "namespace": "default",
//!         "name": "kubia-lb"
//!     },
//!     "localEndpoints": 1,
//!     "serviceProxyHealthy": true
//! }
//! ```

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::Error;

/// One health check port, serving until dropped.
#[derive(Debug)]
pub(crate) struct HealthServer {
    /// The service it reports on.
    pub(crate) namespace: String,
    /// The service's name.
    pub(crate) name: String,
    local: Arc<AtomicUsize>,
    listener: Arc<TcpListener>,
    stop: CancellationToken,
}

impl Drop for HealthServer {
    fn drop(&mut self) {
        self.stop.cancel();
        // Stop listening at once (new connections are refused), not when the task next runs.
        let _ = rustix::net::shutdown(&*self.listener, rustix::net::Shutdown::Read);
    }
}

impl HealthServer {
    /// Listens on `0.0.0.0:port` for service `namespace/name`.
    pub(crate) fn start(port: u16, namespace: &str, name: &str) -> Result<HealthServer, Error> {
        let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
        let listener = Arc::new(super::bind_tcp(addr)?);
        let local = Arc::new(AtomicUsize::new(0));
        let stop = CancellationToken::new();
        let body = Arc::new((namespace.to_string(), name.to_string()));
        tokio::spawn(serve(listener.clone(), body, local.clone(), stop.clone()));
        Ok(HealthServer {
            namespace: namespace.into(),
            name: name.into(),
            local,
            listener,
            stop,
        })
    }

    /// Sets the number of local ready endpoints reported.
    pub(crate) fn set_local_endpoints(&self, n: usize) {
        self.local.store(n, Ordering::Relaxed);
    }
}

/// The body kube-proxy sends (its exact layout, tabs included).
pub(crate) fn body(namespace: &str, name: &str, local: usize, healthy: bool) -> String {
    let ns = serde_json::Value::from(namespace);
    let name = serde_json::Value::from(name);
    format!(
        "{{\n\t\"service\": {{\n\t\t\"namespace\": {ns},\n\t\t\"name\": {name}\n\t}},\n\t\"localEndpoints\": {local},\n\t\"serviceProxyHealthy\": {healthy}\n}}"
    )
}

async fn serve(
    listener: Arc<TcpListener>,
    service: Arc<(String, String)>,
    local: Arc<AtomicUsize>,
    stop: CancellationToken,
) {
    loop {
        let stream = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    if stop.is_cancelled() {
                        return;
                    }
                    tracing::warn!(error = %e, "accepting a health check connection");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let service = service.clone();
        let local = local.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let svc =
                hyper::service::service_fn(move |_req: hyper::Request<hyper::body::Incoming>| {
                    let n = local.load(Ordering::Relaxed);
                    let status = if n > 0 { 200 } else { 503 };
                    let text = body(&service.0, &service.1, n, true);
                    async move {
                        hyper::Response::builder()
                            .status(status)
                            .header("content-type", "application/json")
                            .header("x-content-type-options", "nosniff")
                            .body(Full::new(Bytes::from(text)))
                    }
                });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = stop.cancelled() => {}
                r = conn => if let Err(e) = r {
                    tracing::debug!(error = %e, "health check connection");
                },
            }
        });
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn body_is_kube_proxys_json() {
        let b = super::body("default", "kubia-lb", 2, true);
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"service": {"namespace": "default", "name": "kubia-lb"},
                               "localEndpoints": 2, "serviceProxyHealthy": true})
        );
        assert!(b.starts_with("{\n\t\"service\": {\n\t\t\"namespace\": \"default\",\n"));
        assert!(b.ends_with("\"serviceProxyHealthy\": true\n}"));
    }
}
