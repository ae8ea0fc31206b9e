//! kube-rs reflectors over Ingresses, IngressClasses, Services, EndpointSlices and Secrets:
//! every change rebuilds the [`Snapshot`], hands it to the server and the certificate resolver,
//! and the served Ingresses get `status.loadBalancer.ingress` from the publish Service.

mod status;

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

use crate::snapshot::Inputs;
use crate::{CertResolver, Config, Error, Snapshot};

/// How long to wait for the first full lists before serving what is known.
const SYNC_GRACE: Duration = Duration::from_secs(10);
/// Changes closer together than this are folded into one rebuild.
const DEBOUNCE: Duration = Duration::from_millis(50);

/// The caches a snapshot is built from.
pub(crate) struct Caches {
    ingresses: Store<Ingress>,
    classes: Store<IngressClass>,
    services: Store<Service>,
    slices: Store<EndpointSlice>,
    secrets: Store<Secret>,
}

impl Caches {
    async fn synced(&self) -> bool {
        self.ingresses.wait_until_ready().await.is_ok()
            && self.classes.wait_until_ready().await.is_ok()
            && self.services.wait_until_ready().await.is_ok()
            && self.slices.wait_until_ready().await.is_ok()
            && self.secrets.wait_until_ready().await.is_ok()
    }

    /// What the caches hold now; only the Secrets that can hold a certificate.
    fn inputs(&self) -> Inputs {
        Inputs {
            ingresses: self.ingresses.state(),
            classes: self.classes.state(),
            services: self.services.state(),
            slices: self.slices.state(),
            secrets: self
                .secrets
                .state()
                .into_iter()
                .filter(|secret| holds_certificate(secret))
                .collect(),
        }
    }
}

/// `kubernetes.io/tls` Secrets, and any other carrying `tls.crt` and `tls.key` (ingress-nginx
/// takes those too).
fn holds_certificate(secret: &Secret) -> bool {
    secret.type_.as_deref() == Some("kubernetes.io/tls")
        || secret
            .data
            .as_ref()
            .is_some_and(|data| data.contains_key("tls.crt") && data.contains_key("tls.key"))
}

/// Runs until `shutdown`.
pub async fn run(
    client: kube::Client,
    config: Config,
    snapshots: watch::Sender<Arc<Snapshot>>,
    certs: Arc<CertResolver>,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let changed = Arc::new(Notify::new());
    let caches = Arc::new(Caches {
        ingresses: reflect(Api::all(client.clone()), &changed, &shutdown),
        classes: reflect(Api::all(client.clone()), &changed, &shutdown),
        services: reflect(Api::all(client.clone()), &changed, &shutdown),
        slices: reflect(Api::all(client.clone()), &changed, &shutdown),
        secrets: reflect(Api::all(client.clone()), &changed, &shutdown),
    });
    tokio::select! {
        () = shutdown.cancelled() => return Ok(()),
        synced = tokio::time::timeout(SYNC_GRACE, caches.synced()) => {
            match synced {
                Ok(true) => tracing::info!("caches synced"),
                _ => tracing::warn!("caches not synced after {SYNC_GRACE:?}; serving what is known"),
            }
        }
    }
    if let Some((namespace, name)) = config.publish_service.clone() {
        tokio::spawn(status::write(
            client,
            namespace,
            name,
            caches.clone(),
            snapshots.subscribe(),
            shutdown.clone(),
        ));
    }
    loop {
        let snapshot = Snapshot::build(&caches.inputs(), &config.class, &config.controller);
        certs.update(&snapshot);
        tracing::debug!(
            served = snapshot.served.len(),
            certificates = snapshot.certs.len(),
            "routes rebuilt:\n{}",
            snapshot.routes
        );
        snapshots.send_replace(Arc::new(snapshot));
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = changed.notified() => {}
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(DEBOUNCE) => {}
        }
    }
}

/// A reflector for `api`, notifying `changed` on every event, until `shutdown`.
fn reflect<K>(api: Api<K>, changed: &Arc<Notify>, shutdown: &CancellationToken) -> Store<K>
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
    use kube::runtime::reflector::store::Writer;
    use serde_json::json;

    fn apply<K>(writer: &mut Writer<K>, value: serde_json::Value)
    where
        K: Resource + Clone + DeserializeOwned + 'static,
        K::DynamicType: Default + Eq + Hash + Clone,
    {
        let object: K = serde_json::from_value(value).unwrap();
        writer.apply_watcher_event(&watcher::Event::Apply(object));
    }

    #[test]
    fn caches_become_a_snapshot_with_only_certificate_secrets() {
        let (ingresses, mut iw) = reflector::store();
        let (classes, mut cw) = reflector::store();
        let (services, _) = reflector::store();
        let (slices, _) = reflector::store();
        let (secrets, mut sw) = reflector::store();
        apply::<IngressClass>(
            &mut cw,
            json!({"metadata": {"name": "portico"}, "spec": {"controller": "portico.dev/ingress-controller"}}),
        );
        apply::<Ingress>(
            &mut iw,
            json!({
                "metadata": {"name": "web", "namespace": "shop"},
                "spec": {
                    "ingressClassName": "portico",
                    "tls": [{"hosts": ["shop.example.com"], "secretName": "shop-tls"}],
                    "rules": [{"host": "shop.example.com"}],
                },
            }),
        );
        apply::<Secret>(
            &mut sw,
            json!({"metadata": {"name": "shop-tls", "namespace": "shop"}, "type": "kubernetes.io/tls",
                   "data": {"tls.crt": "Q0VSVA==", "tls.key": "S0VZ"}}),
        );
        apply::<Secret>(
            &mut sw,
            json!({"metadata": {"name": "token", "namespace": "shop"}, "type": "Opaque",
                   "data": {"password": "cw=="}}),
        );
        let caches = Caches {
            ingresses,
            classes,
            services,
            slices,
            secrets,
        };
        let inputs = caches.inputs();
        assert_eq!(
            inputs.secrets.len(),
            1,
            "only Secrets that can hold a certificate"
        );
        let snapshot = Snapshot::build(&inputs, "portico", "portico.dev/ingress-controller");
        assert_eq!(snapshot.served, [("shop".to_string(), "web".to_string())]);
        let pair = &snapshot.certs["shop.example.com"];
        assert_eq!(pair.secret, "shop/shop-tls");
        assert_eq!(pair.cert_pem, b"CERT", "base64 decoded");
        assert!(snapshot.routes.is_tls_host("shop.example.com"));
    }
}
