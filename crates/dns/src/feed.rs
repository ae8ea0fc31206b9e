//! Feeding the zone from the cluster: kube-rs reflectors on Services,
//! EndpointSlices and Namespaces (all namespaces); every change rebuilds the
//! zone and swaps it in atomically, so a new Service resolves within
//! milliseconds.
//!
//! Pods are not watched, as CoreDNS (`pods insecure`) does not watch them:
//! per-pod names come from the endpoints' `hostname`, which the EndpointSlice
//! controller fills from `spec.hostname` and `spec.subdomain`. A Pod cache
//! would hold every pod of the cluster and its status updates (the most
//! frequent events in a cluster) would each rebuild the zone.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::health::{self, Probe};
use crate::{Config, Error, Server, Zone, ZoneBuilder, ZoneHandle};

/// How long to wait for the first full list before serving anyway
/// (CoreDNS waits up to 5 s too).
const SYNC_GRACE: Duration = Duration::from_secs(5);
/// How long the server keeps answering after it is told to stop (CoreDNS'
/// `health { lameduck 5s }` in kubeadm's Corefile): long enough for the
/// endpoint to leave the Service and the proxies to stop sending here, so a
/// deleted DNS pod loses no query.
const LAMEDUCK: Duration = Duration::from_secs(5);
/// Changes closer together than this are folded into one rebuild.
const DEBOUNCE: Duration = Duration::from_millis(5);

/// The caches the zone is built from.
struct Caches {
    services: Store<Service>,
    slices: Store<EndpointSlice>,
    namespaces: Store<Namespace>,
}

impl Caches {
    async fn synced(&self) -> bool {
        self.services.wait_until_ready().await.is_ok()
            && self.slices.wait_until_ready().await.is_ok()
            && self.namespaces.wait_until_ready().await.is_ok()
    }

    fn zone(&self, config: &Config) -> Result<Zone, Error> {
        let serial = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
            .unwrap_or(0);
        let mut builder = ZoneBuilder::new(&config.domain, config.ttl)?.serial(serial);
        for namespace in self.namespaces.state() {
            builder.add_namespace(&namespace);
        }
        for service in self.services.state() {
            builder.add_service(&service);
        }
        for slice in self.slices.state() {
            builder.add_endpoint_slice(&slice);
        }
        Ok(builder.build())
    }
}

/// Runs the cluster DNS until `shutdown` is cancelled: the DNS server on
/// `config.listen`, the probes, and the reflectors feeding the zone.
pub async fn run(client: Client, config: Config, shutdown: CancellationToken) -> Result<(), Error> {
    let zone = ZoneHandle::new(ZoneBuilder::new(&config.domain, config.ttl)?.build());
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

    let changed = Arc::new(Notify::new());
    let caches = Caches {
        services: watch(Api::all(client.clone()), &changed, &shutdown),
        slices: watch(Api::all(client.clone()), &changed, &shutdown),
        namespaces: watch(Api::all(client), &changed, &shutdown),
    };

    tokio::select! {
        () = shutdown.cancelled() => return Ok(()),
        synced = tokio::time::timeout(SYNC_GRACE, caches.synced()) => {
            if synced.is_err() {
                tracing::warn!("caches not synced after {SYNC_GRACE:?}; serving what is known");
            }
        }
    }
    zone.store(caches.zone(&config)?);
    let stop_serving = CancellationToken::new();
    let serving = tokio::spawn(server.serve(stop_serving.clone()));

    let caches = Arc::new(caches);
    {
        // Ready once every cache has its first full list (CoreDNS' ready plugin).
        let (caches, ready, changed, shutdown) = (
            caches.clone(),
            ready.clone(),
            changed.clone(),
            shutdown.clone(),
        );
        tokio::spawn(async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                synced = caches.synced() => if synced {
                    ready.store(true, Ordering::Release);
                    changed.notify_one();
                    tracing::info!("caches synced; ready");
                }
            }
        });
    }
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = changed.notified() => {}
        }
        tokio::time::sleep(DEBOUNCE).await;
        let next = caches.zone(&config)?;
        tracing::debug!(
            services = next.service_count(),
            serial = next.serial(),
            "zone rebuilt"
        );
        zone.store(next);
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

/// A reflector for `api`, notifying `changed` on every event, until `shutdown`.
fn watch<K>(api: Api<K>, changed: &Arc<Notify>, shutdown: &CancellationToken) -> Store<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(
        writer,
        watcher(api, watcher::Config::default()).default_backoff(),
    );
    let (changed, shutdown) = (changed.clone(), shutdown.clone());
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        loop {
            let event = tokio::select! {
                () = shutdown.cancelled() => return,
                event = stream.next() => event,
            };
            match event {
                Some(Ok(_)) => changed.notify_one(),
                Some(Err(error)) => {
                    tracing::warn!(kind = %K::kind(&K::DynamicType::default()), %error, "watch failed; retrying");
                }
                None => return,
            }
        }
    });
    reader
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_objects::*;
    use crate::Lookup;
    use hickory_proto::rr::{Name, RecordType};
    use kube::runtime::reflector::store::Writer;

    fn apply<K>(writer: &mut Writer<K>, object: K)
    where
        K: Resource + Clone + 'static,
        K::DynamicType: Default + Eq + Hash + Clone,
    {
        writer.apply_watcher_event(&watcher::Event::Apply(object));
    }

    #[test]
    fn caches_become_a_zone() {
        let (services, mut sw) = reflector::store();
        let (slices, mut ew) = reflector::store();
        let (namespaces, mut nw) = reflector::store();
        apply(
            &mut sw,
            headless("db", "mysql", &[("mysql", "TCP", 3306)], false),
        );
        apply(
            &mut ew,
            slice(
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
            ),
        );
        apply(&mut nw, namespace("quiet"));
        let caches = Caches {
            services,
            slices,
            namespaces,
        };
        let config = Config {
            ttl: 7,
            ..Config::default()
        };
        let zone = caches.zone(&config).unwrap();
        let ask = |name: &str| zone.lookup(&Name::from_ascii(name).unwrap(), RecordType::A);
        let Lookup::Authoritative(a) = ask("mysql-0.mysql.db.svc.cluster.local.") else {
            panic!("not in zone")
        };
        assert_eq!(a.answers.len(), 1);
        assert_eq!(a.answers[0].ttl(), 7);
        let Lookup::Authoritative(a) = ask("quiet.svc.cluster.local.") else {
            panic!()
        };
        assert_eq!(a.rcode, hickory_proto::op::ResponseCode::NoError);
        assert!(
            zone.serial() > 1_700_000_000,
            "serial is the time of the rebuild"
        );
    }
}
