//! The Event recorder: what controllers tell `kubectl describe`.
//!
//! Writes `core/v1` Events (what `kubectl describe` and `kubectl get events` read). Repeats
//! of the same reason and message about the same object bump `count` and `lastTimestamp` of
//! one Event, as client-go's event correlator does. Recording is best effort: a failure is
//! logged and never fails the controller.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, PostParams};
use kube::Resource;

/// (namespace, uid, reason, message): what makes two events the same.
type EventKey = (String, String, String, String);

/// Records Events for one component (e.g. `endpoint-controller`, `default-scheduler`).
pub struct Recorder {
    client: kube::Client,
    component: String,
    /// The Events already written, by key: their name and count.
    seen: Mutex<HashMap<EventKey, (String, i32)>>,
}

/// An object reference for an Event, from any typed object.
pub fn reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    let meta = obj.meta();
    ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(K::kind(&()).into_owned()),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        field_path: None,
    }
}

impl Recorder {
    /// A recorder writing as `component`.
    pub fn new(client: kube::Client, component: &str) -> Recorder {
        Recorder {
            client,
            component: component.to_string(),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// A `Normal` event.
    pub async fn normal(&self, about: &ObjectReference, reason: &str, message: &str) {
        self.record(about, "Normal", reason, message).await
    }

    /// A `Warning` event.
    pub async fn warning(&self, about: &ObjectReference, reason: &str, message: &str) {
        self.record(about, "Warning", reason, message).await
    }

    /// Records an event of `type_` (`Normal` or `Warning`) about `about`, giving up after
    /// 10 s without an answer (events are best effort; the caller's work must go on).
    pub async fn record(&self, about: &ObjectReference, type_: &str, reason: &str, message: &str) {
        let work = self.record_now(about, type_, reason, message);
        if tokio::time::timeout(std::time::Duration::from_secs(10), work)
            .await
            .is_err()
        {
            tracing::warn!(reason, "recording an event got no answer in 10 s");
        }
    }

    async fn record_now(&self, about: &ObjectReference, type_: &str, reason: &str, message: &str) {
        let ns = about.namespace.clone().unwrap_or_else(|| "default".into());
        let key = (
            ns.clone(),
            about.uid.clone().unwrap_or_default(),
            reason.to_string(),
            message.to_string(),
        );
        let now = Time(jiff::Timestamp::now());
        let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
        let previous = self.seen.lock().ok().and_then(|m| m.get(&key).cloned());
        if let Some((name, count)) = previous {
            let patch = serde_json::json!({"count": count + 1, "lastTimestamp": now});
            let result = api
                .patch(
                    &name,
                    &kube::api::PatchParams::default(),
                    &kube::api::Patch::Merge(&patch),
                )
                .await;
            if result.is_ok() {
                if let Ok(mut m) = self.seen.lock() {
                    m.insert(key, (name, count + 1));
                }
                return;
            }
        }
        let suffix: u64 = rand::random();
        let name = format!(
            "{}.{:016x}",
            about.name.clone().unwrap_or_else(|| "object".into()),
            suffix
        );
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns),
                ..Default::default()
            },
            involved_object: about.clone(),
            reason: Some(reason.to_string()),
            message: Some(message.to_string()),
            type_: Some(type_.to_string()),
            count: Some(1),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            source: Some(EventSource {
                component: Some(self.component.clone()),
                host: None,
            }),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(self.component.clone()),
            ..Default::default()
        };
        match api.create(&PostParams::default(), &event).await {
            Ok(_) => {
                if let Ok(mut m) = self.seen.lock() {
                    if m.len() > 10_000 {
                        m.clear();
                    }
                    m.insert(key, (name, 1));
                }
            }
            Err(e) => tracing::debug!(error = %e, reason, "recording an event failed"),
        }
    }
}
