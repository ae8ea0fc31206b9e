//! The two watches the benchmark observes the controllers through: EndpointSlices and
//! Endpoints of the benchmark namespace, each feeding a [`Book`]. A watch that the server
//! closes is reopened from the last resourceVersion seen, so no event is missed.

use std::fmt::Debug;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Endpoints;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use kube::Resource;
use serde::de::DeserializeOwned;

use crate::book::{Address, Book};
use crate::objects::service_index;
use crate::Error;

/// A book shared between its watch and the benchmark.
pub type Shared = Arc<Mutex<Book>>;

/// Locks `book`, recovering it if a holder panicked (the data stay usable for a report).
pub fn lock(book: &Shared) -> std::sync::MutexGuard<'_, Book> {
    book.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The Service an EndpointSlice belongs to and the addresses it lists.
pub fn slice_addresses(slice: &EndpointSlice) -> Option<(usize, Vec<Address>)> {
    let svc = slice
        .metadata
        .labels
        .as_ref()?
        .get("kubernetes.io/service-name")
        .and_then(|name| service_index(name))?;
    let mut out = Vec::new();
    for ep in &slice.endpoints {
        let ready = ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
        for a in &ep.addresses {
            if let Ok(ip) = a.parse::<Ipv4Addr>() {
                out.push((ip, ready));
            }
        }
    }
    Some((svc, out))
}

/// The Service an Endpoints object belongs to and the addresses it lists.
pub fn endpoints_addresses(ep: &Endpoints) -> Option<(usize, Vec<Address>)> {
    let svc = service_index(ep.metadata.name.as_deref()?)?;
    let mut out = Vec::new();
    for subset in ep.subsets.iter().flatten() {
        for (list, ready) in [
            (&subset.addresses, true),
            (&subset.not_ready_addresses, false),
        ] {
            for a in list.iter().flatten() {
                if let Ok(ip) = a.ip.parse::<Ipv4Addr>() {
                    out.push((ip, ready));
                }
            }
        }
    }
    Some((svc, out))
}

/// Reads the Service an object belongs to and the addresses it lists.
pub type Extract<K> = fn(&K) -> Option<(usize, Vec<Address>)>;

/// The current resourceVersion of a namespace's objects of kind `K`, to watch from.
pub async fn current_version<K>(api: &Api<K>) -> Result<String, Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    api.list(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version
        .ok_or_else(|| Error::Other("list without a resourceVersion".into()))
}

/// Follows `api` from resourceVersion `from` forever, recording what `extract` reads from
/// each object into `book`. Returns only on an error.
pub async fn follow<K>(
    api: Api<K>,
    resource: &'static str,
    from: String,
    book: Shared,
    extract: Extract<K>,
) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let mut version = from;
    loop {
        let params = WatchParams::default().timeout(290);
        let mut stream = api.watch(&params, &version).await?.boxed();
        while let Some(event) = stream.next().await {
            let now = Instant::now();
            match event? {
                WatchEvent::Added(obj) | WatchEvent::Modified(obj) => {
                    remember(&mut version, &obj);
                    if let (Some((svc, addrs)), Some(name)) =
                        (extract(&obj), obj.meta().name.as_deref())
                    {
                        lock(&book).apply(svc, name, addrs, now);
                    }
                }
                WatchEvent::Deleted(obj) => {
                    remember(&mut version, &obj);
                    if let (Some((svc, _)), Some(name)) =
                        (extract(&obj), obj.meta().name.as_deref())
                    {
                        lock(&book).remove(svc, name, now);
                    }
                }
                WatchEvent::Bookmark(b) => version = b.metadata.resource_version,
                WatchEvent::Error(status) => {
                    return Err(Error::Watch {
                        resource,
                        status: format!("{} {}: {}", status.code, status.reason, status.message),
                    })
                }
            }
        }
    }
}

fn remember<K: Resource>(version: &mut String, obj: &K) {
    if let Some(v) = &obj.meta().resource_version {
        version.clone_from(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slices_report_their_service_and_endpoint_readiness() {
        let slice: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"name": "svc-00003-x7k2p", "labels": {"kubernetes.io/service-name": "svc-00003"}},
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.128.0.30"], "conditions": {"ready": true}},
                {"addresses": ["10.128.0.31"], "conditions": {"ready": false}},
                {"addresses": ["10.128.0.32"]},
            ],
        }))
        .unwrap();
        let (svc, addrs) = slice_addresses(&slice).unwrap();
        assert_eq!(svc, 3);
        assert_eq!(
            addrs,
            vec![
                (Ipv4Addr::new(10, 128, 0, 30), true),
                (Ipv4Addr::new(10, 128, 0, 31), false),
                (Ipv4Addr::new(10, 128, 0, 32), true),
            ]
        );
        let foreign: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"name": "kubernetes", "labels": {"kubernetes.io/service-name": "kubernetes"}},
            "addressType": "IPv4", "endpoints": [],
        }))
        .unwrap();
        assert!(slice_addresses(&foreign).is_none());
    }

    #[test]
    fn endpoints_list_ready_and_not_ready_addresses() {
        let ep: Endpoints = serde_json::from_value(json!({
            "metadata": {"name": "svc-00001"},
            "subsets": [{
                "addresses": [{"ip": "10.128.0.10"}],
                "notReadyAddresses": [{"ip": "10.128.0.11"}],
                "ports": [{"port": 8080, "protocol": "TCP"}],
            }],
        }))
        .unwrap();
        let (svc, addrs) = endpoints_addresses(&ep).unwrap();
        assert_eq!(svc, 1);
        assert_eq!(
            addrs,
            vec![
                (Ipv4Addr::new(10, 128, 0, 10), true),
                (Ipv4Addr::new(10, 128, 0, 11), false)
            ]
        );
        let empty: Endpoints =
            serde_json::from_value(json!({"metadata": {"name": "svc-00002"}})).unwrap();
        assert_eq!(endpoints_addresses(&empty).unwrap(), (2, vec![]));
    }
}
