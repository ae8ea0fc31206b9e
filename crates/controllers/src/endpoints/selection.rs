//! Services ↔ pods: the caches both endpoint controllers keep, the label indexes that make
//! "which pods does this Service select" and "which Services select this pod" cheap, and
//! which Services a pod change concerns (kube's `GetServicesToUpdateOnPodChange`).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Service};

use super::informer::{key_of, Change, Store};
use super::model;

fn pair(ns: &str, k: &str, v: &str) -> String {
    format!("{ns}\u{0}{k}\u{0}{v}")
}

/// Index of a Service: its first selector pair (Services without selector: none).
pub fn service_index(svc: &Service) -> Vec<String> {
    let ns = svc.metadata.namespace.as_deref().unwrap_or("");
    model::selector(svc)
        .and_then(|s| s.iter().next())
        .map(|(k, v)| vec![pair(ns, k, v)])
        .unwrap_or_default()
}

/// Index of a pod: each of its labels.
pub fn pod_index(pod: &Pod) -> Vec<String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    pod.metadata
        .labels
        .iter()
        .flatten()
        .map(|(k, v)| pair(ns, k, v))
        .collect()
}

/// The caches of Services and pods, indexed by labels.
pub struct Selection {
    /// Services, indexed by their first selector pair.
    pub services: Arc<Store<Service>>,
    /// Pods, indexed by each label.
    pub pods: Arc<Store<Pod>>,
}

impl Selection {
    /// Empty caches.
    pub fn new() -> Selection {
        Selection {
            services: Store::new(Some(service_index)),
            pods: Store::new(Some(pod_index)),
        }
    }

    /// The pods of the Service's namespace its selector matches (none without selector).
    pub fn pods_for(&self, svc: &Service) -> Vec<Arc<Pod>> {
        let Some(selector) = model::selector(svc) else {
            return Vec::new();
        };
        let ns = svc.metadata.namespace.as_deref().unwrap_or("");
        // Start from the rarest selector pair.
        let Some(smallest) = selector
            .iter()
            .map(|(k, v)| pair(ns, k, v))
            .min_by_key(|p| self.pods.index_len(p))
        else {
            return Vec::new();
        };
        self.pods
            .by_index(&smallest)
            .into_iter()
            .filter(|p| model::selector_matches(selector, p.metadata.labels.as_ref()))
            .collect()
    }

    /// Keys of the Services in `ns` whose selector matches `labels`.
    pub fn services_for(
        &self,
        ns: &str,
        labels: Option<&BTreeMap<String, String>>,
    ) -> HashSet<String> {
        let mut out = HashSet::new();
        for (k, v) in labels.into_iter().flatten() {
            for svc in self.services.by_index(&pair(ns, k, v)) {
                if model::selector(&svc).is_some_and(|s| model::selector_matches(s, labels)) {
                    out.insert(key_of(svc.as_ref()));
                }
            }
        }
        out
    }

    /// The Services whose endpoints a pod change may alter.
    pub fn services_for_change(&self, change: &Change<Pod>) -> HashSet<String> {
        match change {
            Change::Added(p) | Change::Deleted(p) => {
                self.services_for(ns_of(p), p.metadata.labels.as_ref())
            }
            Change::Updated(old, new) => {
                let (pod_changed, labels_changed) = pod_endpoints_changed(old, new);
                if !pod_changed && !labels_changed {
                    return HashSet::new();
                }
                let now = self.services_for(ns_of(new), new.metadata.labels.as_ref());
                if !labels_changed {
                    return now;
                }
                let before = self.services_for(ns_of(old), old.metadata.labels.as_ref());
                if pod_changed {
                    now.union(&before).cloned().collect()
                } else {
                    now.symmetric_difference(&before).cloned().collect()
                }
            }
        }
    }
}

impl Default for Selection {
    fn default() -> Self {
        Selection::new()
    }
}

fn ns_of(p: &Pod) -> &str {
    p.metadata.namespace.as_deref().unwrap_or("")
}

/// (whether the pod's endpoint may have changed, whether the Services it matches may have).
pub fn pod_endpoints_changed(old: &Pod, new: &Pod) -> (bool, bool) {
    let host = |p: &Pod| {
        let s = p.spec.as_ref();
        (
            s.and_then(|s| s.hostname.clone()),
            s.and_then(|s| s.subdomain.clone()),
        )
    };
    let labels_changed = old.metadata.labels != new.metadata.labels || host(old) != host(new);
    let terminal = |p: &Pod| {
        matches!(
            p.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Succeeded") | Some("Failed")
        )
    };
    let node = |p: &Pod| p.spec.as_ref().and_then(|s| s.node_name.clone());
    let pod_changed = old.metadata.deletion_timestamp != new.metadata.deletion_timestamp
        || model::pod_ready(old) != model::pod_ready(new)
        || model::pod_ips(old) != model::pod_ips(new)
        || terminal(old) != terminal(new)
        || node(old) != node(new);
    (pod_changed, labels_changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus, ServiceSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn svc(name: &str, sel: &[(&str, &str)]) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                resource_version: Some("1".into()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                selector: Some(
                    sel.iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn pod(name: &str, labels: &[(&str, &str)], ready: bool, rv: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                resource_version: Some(rv.into()),
                ..Default::default()
            },
            status: Some(PodStatus {
                pod_ip: Some("10.0.0.1".into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn selection() -> Selection {
        let s = Selection::new();
        s.services.apply(svc("web", &[("app", "web")]));
        s.services
            .apply(svc("web-canary", &[("app", "web"), ("track", "canary")]));
        s.services.apply(svc("db", &[("app", "db")]));
        s
    }

    #[test]
    fn a_pod_concerns_only_the_services_selecting_it() {
        let s = selection();
        let p = Arc::new(pod("p", &[("app", "web")], true, "1"));
        let got = s.services_for_change(&Change::Added(p));
        assert_eq!(got, HashSet::from(["default/web".to_string()]));
        let p = Arc::new(pod("p", &[("app", "web"), ("track", "canary")], true, "1"));
        let got = s.services_for_change(&Change::Added(p));
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn a_readiness_change_concerns_current_services_and_a_label_move_both() {
        let s = selection();
        let old = Arc::new(pod("p", &[("app", "web")], true, "1"));
        let new = Arc::new(pod("p", &[("app", "web")], false, "2"));
        assert_eq!(
            s.services_for_change(&Change::Updated(old.clone(), new))
                .len(),
            1
        );
        let moved = Arc::new(pod("p", &[("app", "db")], true, "2"));
        let got = s.services_for_change(&Change::Updated(old.clone(), moved));
        assert_eq!(
            got,
            HashSet::from(["default/web".to_string(), "default/db".to_string()])
        );
        let same = Arc::new(pod("p", &[("app", "web")], true, "3"));
        assert!(s
            .services_for_change(&Change::Updated(old, same))
            .is_empty());
    }

    #[test]
    fn pods_for_matches_the_whole_selector() {
        let s = selection();
        s.pods.apply(pod("a", &[("app", "web")], true, "1"));
        s.pods
            .apply(pod("b", &[("app", "web"), ("track", "canary")], true, "1"));
        s.pods.apply(pod("c", &[("app", "db")], true, "1"));
        let canary = s.services.get("default/web-canary").unwrap();
        let names: Vec<_> = s
            .pods_for(&canary)
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["b"]);
        let web = s.services.get("default/web").unwrap();
        assert_eq!(s.pods_for(&web).len(), 2);
    }
}
