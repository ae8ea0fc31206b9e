//! Connections to backends: plain HTTP/1.1 through [`Pool`], and hyper-util's pooled clients
//! for the rest (HTTPS without certificate verification as ingress-nginx, HTTP/2 prior
//! knowledge for `H2C`/`GRPC`), one per connect timeout; and the request body that can be
//! taken back when a connection fails.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::Request;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Client, ResponseFuture};
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::pool::Pool;
use crate::annotations::BackendProtocol;
use crate::certs::unverified_client_config;
use crate::Error;

/// The pooled clients, created on first use per (protocol, connect timeout).
pub struct Upstreams {
    /// Plain HTTP/1.1 backends.
    pool: Pool,
    clients: ArcSwap<HashMap<(u8, u64), Upstream>>,
    /// Serialises creation only; lookups read `clients` without locking.
    create: Mutex<()>,
    tls: rustls::ClientConfig,
}

#[derive(Clone)]
enum Upstream {
    Plain(Client<HttpConnector, UpBody>),
    Tls(Client<HttpsConnector<HttpConnector>, UpBody>),
}

impl Upstreams {
    /// No clients yet; HTTPS backends get a client configuration that verifies nothing.
    pub fn new() -> Result<Upstreams, Error> {
        let tls = unverified_client_config(rustls::crypto::aws_lc_rs::default_provider())?;
        Ok(Upstreams {
            pool: Pool::default(),
            clients: ArcSwap::from_pointee(HashMap::new()),
            create: Mutex::new(()),
            tls,
        })
    }

    /// The connections to plain HTTP/1.1 backends.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Sends `request` (absolute URI) with the client for `protocol` and `connect_timeout`.
    pub fn send(
        &self,
        protocol: BackendProtocol,
        connect_timeout: u64,
        request: Request<UpBody>,
    ) -> ResponseFuture {
        let key = (protocol as u8, connect_timeout);
        let clients = self.clients.load();
        match clients.get(&key) {
            Some(upstream) => upstream.request(request),
            None => {
                drop(clients);
                self.create(protocol, connect_timeout).request(request)
            }
        }
    }

    fn create(&self, protocol: BackendProtocol, timeout: u64) -> Upstream {
        let key = (protocol as u8, timeout);
        let _guard = self.create.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = self.clients.load().get(&key) {
            return existing.clone();
        }
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(timeout.max(1))));
        http.enforce_http(protocol != BackendProtocol::Https);
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .http2_only(protocol == BackendProtocol::H2c);
        let upstream = match protocol {
            BackendProtocol::Https => {
                let https = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(self.tls.clone())
                    .https_only()
                    .enable_http1()
                    .wrap_connector(http);
                Upstream::Tls(builder.build(https))
            }
            BackendProtocol::Http | BackendProtocol::H2c => Upstream::Plain(builder.build(http)),
        };
        let mut next = HashMap::clone(&self.clients.load());
        next.insert(key, upstream.clone());
        self.clients.store(Arc::new(next));
        upstream
    }
}

impl Upstream {
    fn request(&self, request: Request<UpBody>) -> ResponseFuture {
        match self {
            Upstream::Plain(client) => client.request(request),
            Upstream::Tls(client) => client.request(request),
        }
    }
}

/// A request body sent upstream.
pub enum UpBody {
    /// No body.
    Empty,
    /// The client's body; if the connection fails before the first byte is read, it can be
    /// taken back from the slot and sent to another endpoint.
    Client {
        /// Holds the body until the client reads it.
        slot: Arc<Mutex<Option<Incoming>>>,
        /// The body once reading began.
        taken: Option<Incoming>,
    },
}

impl UpBody {
    /// A body for `incoming` and the slot to take it back from; `Empty` when it has none.
    pub fn wrap(incoming: Incoming) -> (UpBody, Option<Arc<Mutex<Option<Incoming>>>>) {
        if incoming.is_end_stream() {
            return (UpBody::Empty, None);
        }
        let slot = Arc::new(Mutex::new(Some(incoming)));
        let body = UpBody::Client {
            slot: slot.clone(),
            taken: None,
        };
        (body, Some(slot))
    }

    /// A body from a slot whose content was not read yet.
    pub fn from_slot(slot: &Arc<Mutex<Option<Incoming>>>) -> Option<UpBody> {
        let unread = slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        unread.then(|| UpBody::Client {
            slot: slot.clone(),
            taken: None,
        })
    }
}

impl Body for UpBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            UpBody::Empty => Poll::Ready(None),
            UpBody::Client { slot, taken } => {
                if taken.is_none() {
                    *taken = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
                }
                match taken {
                    Some(body) => Pin::new(body).poll_frame(cx),
                    None => Poll::Ready(None),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            UpBody::Empty => true,
            UpBody::Client { slot, taken } => match taken {
                Some(body) => body.is_end_stream(),
                None => slot
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .as_ref()
                    .is_none_or(Incoming::is_end_stream),
            },
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            UpBody::Empty => SizeHint::with_exact(0),
            UpBody::Client { slot, taken } => match taken {
                Some(body) => body.size_hint(),
                None => slot
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .as_ref()
                    .map_or_else(|| SizeHint::with_exact(0), Incoming::size_hint),
            },
        }
    }
}
