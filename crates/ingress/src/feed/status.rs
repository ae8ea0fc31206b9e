//! `status.loadBalancer.ingress` of the served Ingresses: the addresses (ip or hostname, no
//! ports) of the publish Service's `status.loadBalancer.ingress`, as ingress-nginx's
//! `--publish-service` does. Written with a JSON merge patch on the status subresource, only
//! when it differs; nothing is written while the Service has no address; Ingresses no longer
//! served are left as they are.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Client};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::Caches;
use crate::Snapshot;

/// How long to wait before trying failed writes again.
const RETRY: Duration = Duration::from_secs(2);

/// One load-balancer address: `(ip, hostname)`.
type Address = (Option<String>, Option<String>);

/// The publish Service's addresses, sorted; empty when it has none (yet).
pub(crate) fn published(service: &Service) -> Vec<Address> {
    let mut addresses: Vec<Address> = service
        .status
        .as_ref()
        .and_then(|status| status.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .map(|entry| (entry.ip.clone(), entry.hostname.clone()))
        .filter(|(ip, hostname)| ip.is_some() || hostname.is_some())
        .collect();
    addresses.sort();
    addresses.dedup();
    addresses
}

/// The addresses an Ingress's status holds now, sorted.
pub(crate) fn current(ingress: &Ingress) -> Vec<Address> {
    let mut addresses: Vec<Address> = ingress
        .status
        .as_ref()
        .and_then(|status| status.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .map(|entry| (entry.ip.clone(), entry.hostname.clone()))
        .collect();
    addresses.sort();
    addresses
}

/// The merge patch setting `addresses`.
pub(crate) fn patch(addresses: &[Address]) -> Value {
    let entries: Vec<Value> = addresses
        .iter()
        .map(|(ip, hostname)| {
            let mut entry = serde_json::Map::new();
            if let Some(ip) = ip {
                entry.insert("ip".into(), json!(ip));
            }
            if let Some(hostname) = hostname {
                entry.insert("hostname".into(), json!(hostname));
            }
            Value::Object(entry)
        })
        .collect();
    json!({"status": {"loadBalancer": {"ingress": entries}}})
}

/// Keeps the statuses right until `shutdown`: on every new snapshot (every change of any
/// watched object), and again after [`RETRY`] when a write failed.
pub(super) async fn write(
    client: Client,
    namespace: String,
    name: String,
    caches: Arc<Caches>,
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    shutdown: CancellationToken,
) {
    let publish = ObjectRef::<Service>::new(&name).within(&namespace);
    // What was last written per Ingress, with the resourceVersion the cache had then: the
    // same write is not repeated before the cache has seen the result.
    let mut written: HashMap<(String, String), (Vec<Address>, Option<String>)> = HashMap::new();
    let mut retry = false;
    loop {
        let wait = async {
            if retry {
                tokio::time::sleep(RETRY).await;
                true
            } else {
                snapshots.changed().await.is_ok()
            }
        };
        let go_on = tokio::select! {
            () = shutdown.cancelled() => return,
            go_on = wait => go_on,
        };
        if !go_on {
            return;
        }
        let served = snapshots.borrow_and_update().served.clone();
        let Some(service) = caches.services.get(&publish) else {
            retry = false;
            continue;
        };
        let desired = published(&service);
        if desired.is_empty() {
            retry = false;
            continue;
        }
        retry = false;
        for (ingress_namespace, ingress_name) in served {
            let key = (ingress_namespace.clone(), ingress_name.clone());
            let reference = ObjectRef::<Ingress>::new(&ingress_name).within(&ingress_namespace);
            let Some(ingress) = caches.ingresses.get(&reference) else {
                continue;
            };
            if current(&ingress) == desired {
                written.remove(&key);
                continue;
            }
            let version = ingress.metadata.resource_version.clone();
            if written.get(&key) == Some(&(desired.clone(), version.clone())) {
                continue;
            }
            let api: Api<Ingress> = Api::namespaced(client.clone(), &ingress_namespace);
            match api
                .patch_status(
                    &ingress_name,
                    &PatchParams::default(),
                    &Patch::Merge(patch(&desired)),
                )
                .await
            {
                Ok(_) => {
                    tracing::info!(ingress = %format!("{ingress_namespace}/{ingress_name}"), addresses = ?desired, "status.loadBalancer updated");
                    written.insert(key, (desired.clone(), version));
                }
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(error) => {
                    tracing::warn!(ingress = %format!("{ingress_namespace}/{ingress_name}"), %error, "cannot write status; retrying");
                    retry = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(status: Value) -> Service {
        serde_json::from_value(json!({"metadata": {"name": "ingress"}, "status": status})).unwrap()
    }

    #[test]
    fn published_addresses_drop_ports_and_sort() {
        let service = service(json!({"loadBalancer": {"ingress": [
            {"ip": "172.18.255.2", "ipMode": "VIP", "ports": [{"port": 80, "protocol": "TCP"}]},
            {"hostname": "lb.example.com"},
            {"ip": "172.18.255.1"},
        ]}}));
        let addresses = published(&service);
        assert_eq!(
            addresses,
            [
                (None, Some("lb.example.com".to_string())),
                (Some("172.18.255.1".to_string()), None),
                (Some("172.18.255.2".to_string()), None),
            ]
        );
        assert_eq!(
            patch(&addresses),
            json!({"status": {"loadBalancer": {"ingress": [
                {"hostname": "lb.example.com"},
                {"ip": "172.18.255.1"},
                {"ip": "172.18.255.2"},
            ]}}})
        );
    }

    #[test]
    fn pending_service_publishes_nothing() {
        assert!(published(&service(json!({"loadBalancer": {}}))).is_empty());
        assert!(published(&service(json!({}))).is_empty());
    }

    #[test]
    fn current_ingress_status_compares_in_any_order() {
        let ingress: Ingress = serde_json::from_value(json!({
            "metadata": {"name": "web"},
            "status": {"loadBalancer": {"ingress": [{"ip": "172.18.255.2"}, {"ip": "172.18.255.1"}]}},
        }))
        .unwrap();
        let service = service(json!({"loadBalancer": {"ingress": [
            {"ip": "172.18.255.1"}, {"ip": "172.18.255.2"},
        ]}}));
        assert_eq!(current(&ingress), published(&service));
        let fresh: Ingress = serde_json::from_value(json!({"metadata": {"name": "web"}})).unwrap();
        assert!(current(&fresh).is_empty());
    }
}
