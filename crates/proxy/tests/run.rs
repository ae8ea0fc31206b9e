//! The run loop against a small fake API server on 127.0.0.1 (list + watch of Services and
//! EndpointSlices), with a datapath that records the states it is given.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::mpsc;
use futures::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Bytes, Frame};
use hyper_util::rt::TokioIo;
use portico_proxy::model::{Protocol, ProxyState, ServiceKey};
use portico_proxy::run::{run, Config};
use portico_proxy::{Datapath, Error};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

type Watchers = Arc<Mutex<Vec<(String, mpsc::UnboundedSender<Bytes>)>>>;

/// A fake API server: fixed lists, and watch streams that get what [`Fake::event`] sends.
#[derive(Clone)]
struct Fake {
    services: Value,
    slices: Value,
    watchers: Watchers,
}

impl Fake {
    fn event(&self, path: &str, kind: &str, object: Value) {
        let line = format!("{}\n", json!({"type": kind, "object": object}));
        for (p, tx) in self.watchers.lock().unwrap().iter() {
            if p == path {
                let _ = tx.unbounded_send(Bytes::from(line.clone()));
            }
        }
    }

    fn watching(&self) -> usize {
        self.watchers.lock().unwrap().len()
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn serve(fake: Fake) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (s, _) = listener.accept().await.unwrap();
            let fake = fake.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let fake = fake.clone();
                        async move { Ok::<_, Infallible>(answer(&fake, &req)) }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

fn answer(fake: &Fake, req: &hyper::Request<hyper::body::Incoming>) -> hyper::Response<Body> {
    let path = req.uri().path().to_string();
    let watch = req.uri().query().unwrap_or_default().contains("watch=");
    let list = match path.as_str() {
        "/api/v1/services" => &fake.services,
        "/apis/discovery.k8s.io/v1/endpointslices" => &fake.slices,
        _ => {
            return hyper::Response::builder()
                .status(404)
                .body(http_body_util::Full::new(Bytes::new()).boxed())
                .unwrap()
        }
    };
    if watch {
        let (tx, rx) = mpsc::unbounded();
        fake.watchers.lock().unwrap().push((path, tx));
        let body = StreamBody::new(rx.map(|b| Ok::<_, Infallible>(Frame::data(b))));
        return hyper::Response::builder()
            .header("content-type", "application/json")
            .body(BodyExt::boxed(body))
            .unwrap();
    }
    hyper::Response::builder()
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(Bytes::from(list.to_string())).boxed())
        .unwrap()
}

/// Records every state applied.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<ProxyState>>>);

impl Datapath for Recorder {
    async fn apply(&mut self, state: &ProxyState) -> Result<(), Error> {
        self.0.lock().unwrap().push(state.clone());
        Ok(())
    }
}

fn kubia() -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "kubia", "namespace": "default", "resourceVersion": "1"},
           "spec": {"clusterIP": "10.96.0.20", "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}],
                    "selector": {"app": "kubia"}}})
}

fn slice(name: &str, ips: &[&str], rv: u32) -> Value {
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": name, "namespace": "default", "resourceVersion": rv.to_string(),
                        "labels": {"kubernetes.io/service-name": "kubia"}},
           "addressType": "IPv4",
           "ports": [{"name": "", "port": 8080, "protocol": "TCP"}],
           "endpoints": ips.iter().map(|ip| json!({"addresses": [ip], "conditions": {"ready": true}, "nodeName": "node-1"})).collect::<Vec<_>>()})
}

async fn wait_for(rec: &Recorder, what: &str, f: impl Fn(&[ProxyState]) -> bool) {
    for _ in 0..200 {
        if f(&rec.0.lock().unwrap()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}: {:?}", rec.0.lock().unwrap());
}

fn endpoint_count(state: &ProxyState) -> usize {
    let key = ServiceKey {
        namespace: "default".into(),
        name: "kubia".into(),
        port_name: String::new(),
        protocol: Protocol::Tcp,
    };
    state.services.get(&key).map_or(0, |sp| sp.endpoints.len())
}

#[tokio::test]
async fn applies_the_listed_state_then_coalesced_changes() {
    let fake = Fake {
        services: json!({"apiVersion": "v1", "kind": "ServiceList",
                         "metadata": {"resourceVersion": "1"}, "items": [kubia()]}),
        slices: json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSliceList",
                       "metadata": {"resourceVersion": "1"}, "items": [slice("kubia-a", &["10.244.1.5"], 1)]}),
        watchers: Watchers::default(),
    };
    let url = serve(fake.clone()).await;
    let client = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
    let rec = Recorder::default();
    let shutdown = CancellationToken::new();
    let config = Config {
        node_name: "node-1".into(),
        metrics_addr: Some("127.0.0.1:0".parse().unwrap()),
    };
    let task = tokio::spawn(run(client, config, rec.clone(), shutdown.clone()));

    wait_for(&rec, "the first state", |s| !s.is_empty()).await;
    {
        let states = rec.0.lock().unwrap();
        assert_eq!(states.len(), 1, "one apply after both lists");
        let sp = states[0].services.values().next().unwrap();
        assert_eq!(sp.endpoints[0].addr().to_string(), "10.244.1.5:8080");
        assert!(sp.endpoints[0].local);
    }
    for _ in 0..100 {
        if fake.watching() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fake.watching(), 2);

    // A burst of five slice updates is applied as one (or very few) states, ending with
    // the last.
    let path = "/apis/discovery.k8s.io/v1/endpointslices";
    let ips = [
        "10.244.1.5",
        "10.244.1.6",
        "10.244.1.7",
        "10.244.1.8",
        "10.244.1.9",
        "10.244.2.1",
    ];
    for n in 2..=6 {
        fake.event(path, "MODIFIED", slice("kubia-a", &ips[..n], n as u32));
    }
    wait_for(&rec, "six endpoints", |s| {
        s.last().is_some_and(|s| endpoint_count(s) == 6)
    })
    .await;
    let applies = rec.0.lock().unwrap().len();
    assert!(applies <= 3, "burst not coalesced: {applies} applies");

    // The service goes away.
    fake.event("/api/v1/services", "DELETED", kubia());
    wait_for(&rec, "no services", |s| {
        s.last().is_some_and(|s| s.services.is_empty())
    })
    .await;

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
