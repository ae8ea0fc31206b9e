//! Feeding the zone from the cluster: kube-rs watchers on Services,
//! EndpointSlices and Namespaces (all namespaces). Each object is read into
//! the few fields the zone needs (the watched objects themselves are not
//! kept) and applied to a [`ZoneState`], which rebuilds only the Services it
//! touches and republishes the zone in microseconds: a new Service resolves
//! within milliseconds, whatever the size of the cluster.
//!
//! Pods are not watched, as CoreDNS (`pods insecure`) does not watch them:
//! per-pod names come from the endpoints' `hostname`, which the EndpointSlice
//! controller fills from `spec.hostname` and `spec.subdomain`. A Pod cache
//! would hold every pod of the cluster and its status updates (the most
//! frequent events in a cluster) would each touch the zone.

use std::collections::HashSet;
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::health::{self, Probe};
use crate::{Config, Error, Server, ZoneHandle, ZoneState};

/// How long to wait for the first full list before serving anyway
/// (CoreDNS waits up to 5 s too).
const SYNC_GRACE: Duration = Duration::from_secs(5);
/// How long the server keeps answering after it is told to stop (CoreDNS'
/// `health { lameduck 5s }` in kubeadm's Corefile): long enough for the
/// endpoint to leave the Service and the proxies to stop sending here, so a
/// deleted DNS pod loses no query.
const LAMEDUCK: Duration = Duration::from_secs(5);
/// Watch events queued between the watchers and the zone.
const QUEUE: usize = 1024;

/// One watched object.
#[derive(Debug)]
enum Object {
    Service(Box<Service>),
    Slice(Box<EndpointSlice>),
    Namespace(Box<Namespace>),
}

/// The kinds watched, as indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Services = 0,
    Slices = 1,
    Namespaces = 2,
}

/// The zone's state as the watch events build it, with the relists in progress.
struct Feed {
    state: ZoneState,
    /// Per kind: the objects seen since a relist began.
    relisting: [Option<HashSet<(String, String)>>; 3],
    /// Per kind: whether a full list has been seen.
    synced: [bool; 3],
}

impl Feed {
    fn new(state: ZoneState) -> Self {
        Self {
            state,
            relisting: [None, None, None],
            synced: [false; 3],
        }
    }

    fn synced(&self) -> bool {
        self.synced.iter().all(|s| *s)
    }

    fn on_event(&mut self, kind: Kind, event: Event<Object>) {
        match event {
            Event::Apply(object) | Event::InitApply(object) => {
                let id = id_of(&object);
                if let (Some(seen), Some(id)) = (&mut self.relisting[kind as usize], id) {
                    seen.insert(id);
                }
                self.apply(&object);
            }
            Event::Delete(object) => self.delete(&object),
            Event::Init => self.relisting[kind as usize] = Some(HashSet::new()),
            Event::InitDone => {
                // What the new list lacks was deleted while the watch was down.
                if let Some(seen) = self.relisting[kind as usize].take() {
                    self.forget_unseen(kind, &seen);
                }
                self.synced[kind as usize] = true;
            }
        }
    }

    fn apply(&mut self, object: &Object) {
        match object {
            Object::Service(service) => self.state.apply_service(service),
            Object::Slice(slice) => self.state.apply_slice(slice),
            Object::Namespace(namespace) => self.state.apply_namespace(namespace),
        }
    }

    fn delete(&mut self, object: &Object) {
        let Some((namespace, name)) = id_of(object) else {
            return;
        };
        match object {
            Object::Service(_) => self.state.remove_service(&namespace, &name),
            Object::Slice(_) => self.state.remove_slice(&namespace, &name),
            Object::Namespace(_) => self.state.remove_namespace(&name),
        }
    }

    fn forget_unseen(&mut self, kind: Kind, seen: &HashSet<(String, String)>) {
        match kind {
            Kind::Services => {
                for (namespace, name) in self.state.service_names() {
                    if !seen.contains(&(namespace.clone(), name.clone())) {
                        self.state.remove_service(&namespace, &name);
                    }
                }
            }
            Kind::Slices => {
                for (namespace, name) in self.state.slice_names() {
                    if !seen.contains(&(namespace.clone(), name.clone())) {
                        self.state.remove_slice(&namespace, &name);
                    }
                }
            }
            Kind::Namespaces => {
                for name in self.state.namespace_names() {
                    if !seen.contains(&(String::new(), name.clone())) {
                        self.state.remove_namespace(&name);
                    }
                }
            }
        }
    }

    /// Publishes the changes since the last call, if any.
    fn publish(&mut self, zone: &ZoneHandle) {
        if !self.state.has_changes() {
            return;
        }
        let started = Instant::now();
        let serial = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
            .unwrap_or(0);
        self.state.set_serial(serial);
        let next = self.state.zone();
        tracing::debug!(
            services = next.service_count(),
            serial,
            elapsed = ?started.elapsed(),
            "zone updated"
        );
        zone.store(next);
    }
}

/// `(namespace, name)` of an object as the [`ZoneState`] lists it: Services
/// lower-cased, slices with their name as written, Namespaces with no namespace.
fn id_of(object: &Object) -> Option<(String, String)> {
    let lower = |s: &Option<String>| s.as_deref().map(str::to_ascii_lowercase);
    match object {
        Object::Service(o) => Some((lower(&o.metadata.namespace)?, lower(&o.metadata.name)?)),
        Object::Slice(o) => Some((lower(&o.metadata.namespace)?, o.metadata.name.clone()?)),
        Object::Namespace(o) => Some((String::new(), lower(&o.metadata.name)?)),
    }
}

/// Runs the cluster DNS until `shutdown` is cancelled: the DNS server on
/// `config.listen`, the probes, and the watchers feeding the zone.
pub async fn run(client: Client, config: Config, shutdown: CancellationToken) -> Result<(), Error> {
    let mut feed = Feed::new(ZoneState::new(&config.domain, config.ttl)?.without_pod_names());
    let zone = ZoneHandle::new(feed.state.zone());
    let server = Server::bind(config.listen, zone.clone(), config.upstream.clone()).await?;
    tracing::info!(listen = %server.local_addr()?, domain = %config.domain, upstream = ?config.upstream, "cluster DNS bound");
    let ready = Arc::new(AtomicBool::new(false));
    if let Some(addr) = config.health {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        tokio::spawn(health::serve(listener, Probe::Health, shutdown.clone()));
    }
    if let Some(addr) = config.ready {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        tokio::spawn(health::serve(
            listener,
            Probe::Ready(ready.clone()),
            shutdown.clone(),
        ));
    }

    let (events, mut queue) = mpsc::channel(QUEUE);
    watch(
        Api::<Service>::all(client.clone()),
        Kind::Services,
        |o| Object::Service(Box::new(o)),
        &events,
        &shutdown,
    );
    watch(
        Api::<EndpointSlice>::all(client.clone()),
        Kind::Slices,
        |o| Object::Slice(Box::new(o)),
        &events,
        &shutdown,
    );
    watch(
        Api::<Namespace>::all(client),
        Kind::Namespaces,
        |o| Object::Namespace(Box::new(o)),
        &events,
        &shutdown,
    );
    drop(events);

    // The first full lists (or what came within the grace period), then serve.
    let grace = tokio::time::sleep(SYNC_GRACE);
    tokio::pin!(grace);
    while !feed.synced() {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = &mut grace => {
                tracing::warn!("caches not synced after {SYNC_GRACE:?}; serving what is known");
                break;
            }
            event = queue.recv() => match event {
                Some((kind, event)) => feed.on_event(kind, event),
                None => break,
            },
        }
    }
    feed.publish(&zone);
    let stop_serving = CancellationToken::new();
    let serving = tokio::spawn(server.serve(stop_serving.clone()));

    loop {
        if !ready.load(Ordering::Acquire) && feed.synced() {
            // Ready once every kind has had its first full list (CoreDNS' ready plugin).
            ready.store(true, Ordering::Release);
            tracing::info!("caches synced; ready");
        }
        let event = tokio::select! {
            () = shutdown.cancelled() => break,
            event = queue.recv() => event,
        };
        let Some((kind, event)) = event else {
            // Every watcher ended: only on shutdown.
            shutdown.cancelled().await;
            break;
        };
        feed.on_event(kind, event);
        // Whatever else is queued goes into the same update.
        while let Ok((kind, event)) = queue.try_recv() {
            feed.on_event(kind, event);
        }
        feed.publish(&zone);
    }
    // Lame duck: not ready any more, still answering from the last zone.
    ready.store(false, Ordering::Release);
    tracing::info!("stopping: answering for {LAMEDUCK:?} more (lame duck)");
    tokio::time::sleep(LAMEDUCK).await;
    stop_serving.cancel();
    match serving.await {
        Ok(result) => result,
        Err(error) => Err(Error::Io(std::io::Error::other(error))),
    }
}

/// A watcher on `api`, sending its events (objects wrapped by `wrap`) to
/// `events`, until `shutdown`.
fn watch<K>(
    api: Api<K>,
    kind: Kind,
    wrap: fn(K) -> Object,
    events: &mpsc::Sender<(Kind, Event<Object>)>,
    shutdown: &CancellationToken,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default,
{
    let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
    let (events, shutdown) = (events.clone(), shutdown.clone());
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        loop {
            let event = tokio::select! {
                () = shutdown.cancelled() => return,
                event = stream.next() => event,
            };
            let event = match event {
                Some(Ok(event)) => event,
                Some(Err(error)) => {
                    tracing::warn!(kind = %K::kind(&K::DynamicType::default()), %error, "watch failed; retrying");
                    continue;
                }
                None => return,
            };
            let event = match event {
                Event::Apply(o) => Event::Apply(wrap(o)),
                Event::InitApply(o) => Event::InitApply(wrap(o)),
                Event::Delete(o) => Event::Delete(wrap(o)),
                Event::Init => Event::Init,
                Event::InitDone => Event::InitDone,
            };
            if events.send((kind, event)).await.is_err() {
                return;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_objects::*;
    use crate::Lookup;
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::{Name, RecordType};

    fn service(o: Service) -> Event<Object> {
        Event::Apply(Object::Service(Box::new(o)))
    }

    fn slice_event(o: EndpointSlice) -> Event<Object> {
        Event::Apply(Object::Slice(Box::new(o)))
    }

    fn rcode(feed: &mut Feed, name: &str) -> (ResponseCode, usize) {
        let zone = feed.state.zone();
        match zone.lookup(&Name::from_ascii(name).unwrap(), RecordType::A) {
            Lookup::Authoritative(a) => (a.rcode, a.answers.len()),
            Lookup::NotInZone => panic!("{name} not in zone"),
        }
    }

    #[test]
    fn watch_events_become_a_zone() {
        let mut feed = Feed::new(ZoneState::new("cluster.local", 7).unwrap());
        for kind in [Kind::Services, Kind::Slices, Kind::Namespaces] {
            feed.on_event(kind, Event::Init);
        }
        feed.on_event(
            Kind::Services,
            Event::InitApply(Object::Service(Box::new(headless(
                "db",
                "mysql",
                &[("mysql", "TCP", 3306)],
                false,
            )))),
        );
        feed.on_event(
            Kind::Slices,
            slice_event(slice(
                "db",
                "mysql",
                "x",
                "IPv4",
                &[("mysql", "TCP", 3306)],
                &[Ep {
                    ip: "10.244.3.3",
                    ready: true,
                    // The EndpointSlice controller's copy of the pod's
                    // hostname (its subdomain names this Service).
                    hostname: Some("mysql-0"),
                    pod: Some("mysql-0"),
                }],
            )),
        );
        feed.on_event(
            Kind::Namespaces,
            Event::InitApply(Object::Namespace(Box::new(namespace("quiet")))),
        );
        assert!(!feed.synced());
        for kind in [Kind::Services, Kind::Slices, Kind::Namespaces] {
            feed.on_event(kind, Event::InitDone);
        }
        assert!(feed.synced());
        let handle = ZoneHandle::new(ZoneState::new("cluster.local", 7).unwrap().zone());
        feed.publish(&handle);
        let zone = handle.load();
        assert!(
            zone.serial() > 1_700_000_000,
            "serial is the time of the change"
        );
        let Lookup::Authoritative(a) = zone.lookup(
            &Name::from_ascii("mysql-0.mysql.db.svc.cluster.local.").unwrap(),
            RecordType::A,
        ) else {
            panic!("not in zone")
        };
        assert_eq!(a.answers.len(), 1);
        assert_eq!(a.answers[0].ttl(), 7);
        assert_eq!(
            rcode(&mut feed, "quiet.svc.cluster.local."),
            (ResponseCode::NoError, 0)
        );
    }

    #[test]
    fn deletes_and_relists_remove_names() {
        let mut feed = Feed::new(ZoneState::new("cluster.local", 30).unwrap());
        let web = || cluster_ip("default", "web", &["10.96.0.5"], &[("http", "TCP", 80)]);
        let api = || cluster_ip("default", "api", &["10.96.0.6"], &[("http", "TCP", 80)]);
        feed.on_event(Kind::Services, service(web()));
        feed.on_event(Kind::Services, service(api()));
        assert_eq!(
            rcode(&mut feed, "web.default.svc.cluster.local."),
            (ResponseCode::NoError, 1)
        );
        feed.on_event(
            Kind::Services,
            Event::Delete(Object::Service(Box::new(web()))),
        );
        assert_eq!(
            rcode(&mut feed, "web.default.svc.cluster.local.").0,
            ResponseCode::NXDomain
        );
        // A relist without `api` (deleted while the watch was down) removes it.
        feed.on_event(Kind::Services, Event::Init);
        feed.on_event(
            Kind::Services,
            Event::InitApply(Object::Service(Box::new(web()))),
        );
        assert_eq!(
            rcode(&mut feed, "api.default.svc.cluster.local.").0,
            ResponseCode::NoError
        );
        feed.on_event(Kind::Services, Event::InitDone);
        assert_eq!(
            rcode(&mut feed, "api.default.svc.cluster.local.").0,
            ResponseCode::NXDomain
        );
        assert_eq!(
            rcode(&mut feed, "web.default.svc.cluster.local."),
            (ResponseCode::NoError, 1)
        );
    }
}
