//! The proxy's metrics, in the Prometheus text format on `/metrics` (and the datapath's
//! rules on `/rules`, see [`crate::rules`]).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `portico_proxy_connections_total` | counter: TCP connections accepted, UDP flows opened | `namespace`, `service`, `port`, `protocol` |
//! | `portico_proxy_bytes_total` | counter: bytes relayed | the same, and `direction` (`to_endpoint`, `to_client`) |
//! | `portico_proxy_errors_total` | counter: refused (no endpoint), failed dials, broken relays | the same as connections |
//! | `portico_proxy_sync_duration_seconds` | histogram: time to apply a new state | |
//! | `portico_proxy_sync_errors_total` | counter: applies that failed | |
//! | `portico_proxy_last_sync_timestamp_seconds` | gauge | |
//! | `portico_proxy_service_ports` / `portico_proxy_endpoints` | gauges: what the last state held | |
//!
//! The hot path only touches atomics: a listener holds its service's [`ServiceCounters`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;

use crate::model::{ProxyState, ServiceKey};
use crate::rules::RulesView;
use crate::Error;

/// Upper bounds of the sync-duration buckets, in seconds (1 ms doubling to about 16 s,
/// as kube-proxy's `sync_proxy_rules_duration_seconds`).
const BUCKETS: [f64; 15] = [
    0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096,
    8.192, 16.384,
];

/// Reads one family's samples from a service's counters: (`direction` label, value).
type Values = fn(&ServiceCounters) -> Vec<(Option<&'static str>, u64)>;

/// Counters of one service port.
#[derive(Debug, Default)]
pub struct ServiceCounters {
    /// TCP connections accepted and UDP flows opened.
    pub connections: AtomicU64,
    /// Bytes from clients to endpoints.
    pub bytes_to_endpoint: AtomicU64,
    /// Bytes from endpoints to clients.
    pub bytes_to_client: AtomicU64,
    /// Connections refused for lack of an endpoint, failed dials, relays that broke.
    pub errors: AtomicU64,
}

impl ServiceCounters {
    /// Adds one to `counter`.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// All of the proxy's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    services: Mutex<BTreeMap<ServiceKey, Arc<ServiceCounters>>>,
    buckets: [AtomicU64; BUCKETS.len()],
    sync_count: AtomicU64,
    sync_sum_micros: AtomicU64,
    sync_errors: AtomicU64,
    last_sync_millis: AtomicU64,
    service_ports: AtomicU64,
    endpoints: AtomicU64,
    rules: RulesView,
}

impl Metrics {
    /// The process-wide metrics, which [`crate::run::run`] serves and datapaths record into
    /// unless given their own.
    pub fn global() -> Arc<Metrics> {
        static GLOBAL: OnceLock<Arc<Metrics>> = OnceLock::new();
        GLOBAL.get_or_init(Arc::default).clone()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<ServiceKey, Arc<ServiceCounters>>> {
        self.services.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The counters of `key`, created on first use.
    pub fn service(&self, key: &ServiceKey) -> Arc<ServiceCounters> {
        self.lock().entry(key.clone()).or_default().clone()
    }

    /// Drops the counters of the service port `key` (it is gone).
    pub fn remove(&self, key: &ServiceKey) {
        self.lock().remove(key);
    }

    /// Drops the counters of service ports that `state` no longer has.
    pub fn retain(&self, state: &ProxyState) {
        self.lock().retain(|k, _| state.services.contains_key(k));
    }

    /// Records one apply that took `took`, and whether it failed.
    pub fn observe_sync(&self, took: Duration, failed: bool) {
        let secs = took.as_secs_f64();
        for (bucket, bound) in self.buckets.iter().zip(BUCKETS) {
            if secs <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sync_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.sync_sum_micros.fetch_add(micros, Ordering::Relaxed);
        if failed {
            self.sync_errors.fetch_add(1, Ordering::Relaxed);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let millis = u64::try_from(now.as_millis()).unwrap_or(u64::MAX);
        self.last_sync_millis.store(millis, Ordering::Relaxed);
    }

    /// Records the size of the state just applied.
    pub fn observe_state(&self, state: &ProxyState) {
        let endpoints: usize = state.services.values().map(|s| s.endpoints.len()).sum();
        self.service_ports
            .store(state.services.len() as u64, Ordering::Relaxed);
        self.endpoints.store(endpoints as u64, Ordering::Relaxed);
    }

    /// The datapath's rules as last applied, which `GET /rules` shows.
    pub fn rules(&self) -> &RulesView {
        &self.rules
    }

    /// The metrics in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let services = self.lock().clone();
        let families: [(&str, &str, Values); 3] = [
            (
                "portico_proxy_connections_total",
                "TCP connections accepted and UDP flows opened, per service port.",
                |c| vec![(None, c.connections.load(Ordering::Relaxed))],
            ),
            (
                "portico_proxy_bytes_total",
                "Bytes relayed, per service port and direction.",
                |c| {
                    vec![
                        (
                            Some("to_endpoint"),
                            c.bytes_to_endpoint.load(Ordering::Relaxed),
                        ),
                        (Some("to_client"), c.bytes_to_client.load(Ordering::Relaxed)),
                    ]
                },
            ),
            (
                "portico_proxy_errors_total",
                "Connections refused for lack of an endpoint, failed dials and broken relays.",
                |c| vec![(None, c.errors.load(Ordering::Relaxed))],
            ),
        ];
        for (name, help, values) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (key, counters) in &services {
                for (direction, v) in values(counters) {
                    let dir = direction
                        .map(|d| format!(",direction=\"{d}\""))
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "{name}{{namespace=\"{}\",service=\"{}\",port=\"{}\",protocol=\"{}\"{dir}}} {v}",
                        escape(&key.namespace),
                        escape(&key.name),
                        escape(&key.port_name),
                        key.protocol.as_str(),
                    );
                }
            }
        }
        let name = "portico_proxy_sync_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time to apply a new state to the datapath.\n# TYPE {name} histogram"
        );
        for (bucket, bound) in self.buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.sync_count.load(Ordering::Relaxed);
        let sum = self.sync_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
        let simple = [
            (
                "portico_proxy_sync_errors_total",
                "counter",
                "Applies that failed.",
                self.sync_errors.load(Ordering::Relaxed) as f64,
            ),
            (
                "portico_proxy_last_sync_timestamp_seconds",
                "gauge",
                "When the last apply finished, in seconds since the epoch.",
                self.last_sync_millis.load(Ordering::Relaxed) as f64 / 1e3,
            ),
            (
                "portico_proxy_service_ports",
                "gauge",
                "Service ports in the last state.",
                self.service_ports.load(Ordering::Relaxed) as f64,
            ),
            (
                "portico_proxy_endpoints",
                "gauge",
                "Endpoints (over all service ports) in the last state.",
                self.endpoints.load(Ordering::Relaxed) as f64,
            ),
        ];
        for (name, kind, help, v) in simple {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        }
        out
    }
}

/// Escapes a label value (backslash, double quote, newline).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Serves `metrics` on `http://addr/metrics` until `shutdown`. Other paths get 404.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let listener = bind(addr).await?;
    serve_listener(listener, metrics, shutdown).await;
    Ok(())
}

/// Binds the metrics listener.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, Error> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Io {
            what: format!("binding the metrics listener on {addr}"),
            source,
        })?;
    tracing::info!(%addr, "serving metrics on /metrics");
    Ok(listener)
}

/// Serves `metrics` on `listener` until `shutdown`: `/metrics`, and `/rules` (the
/// datapath's rules, once a state has been applied); other paths get 404.
pub async fn serve_listener(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    loop {
        let (stream, _) = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a metrics connection");
                    continue;
                }
            },
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let svc =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let metrics = metrics.clone();
                    async move {
                        let rules = (req.uri().path() == "/rules")
                            .then(|| metrics.rules().render())
                            .flatten();
                        let resp = if req.uri().path() == "/metrics" {
                            hyper::Response::builder()
                                .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
                                .body(Full::new(Bytes::from(metrics.render())))
                        } else if let Some(text) = rules {
                            hyper::Response::builder()
                                .header("content-type", "text/plain; charset=utf-8")
                                .body(Full::new(Bytes::from(text)))
                        } else {
                            hyper::Response::builder()
                                .status(404)
                                .body(Full::new(Bytes::from_static(b"404 page not found\n")))
                        };
                        resp
                    }
                });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "metrics connection");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Protocol;

    #[test]
    fn renders_counters_and_histogram() {
        let m = Metrics::default();
        let key = ServiceKey {
            namespace: "default".into(),
            name: "kubia".into(),
            port_name: "http".into(),
            protocol: Protocol::Tcp,
        };
        let c = m.service(&key);
        ServiceCounters::inc(&c.connections);
        ServiceCounters::add(&c.bytes_to_client, 1234);
        m.observe_sync(Duration::from_millis(3), false);
        m.observe_sync(Duration::from_millis(300), true);
        let text = m.render();
        assert!(text.contains(
            "portico_proxy_connections_total{namespace=\"default\",service=\"kubia\",port=\"http\",protocol=\"TCP\"} 1"
        ), "{text}");
        assert!(text.contains("direction=\"to_client\"} 1234"), "{text}");
        assert!(text.contains("portico_proxy_sync_duration_seconds_bucket{le=\"0.004\"} 1"));
        assert!(text.contains("portico_proxy_sync_duration_seconds_bucket{le=\"0.512\"} 2"));
        assert!(text.contains("portico_proxy_sync_duration_seconds_count 2"));
        assert!(text.contains("portico_proxy_sync_errors_total 1"));
        m.retain(&ProxyState::default());
        assert!(!m.render().contains("kubia"));
    }
}
