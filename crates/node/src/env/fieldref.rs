//! The downward API for environment variables: `valueFrom.fieldRef` (pod metadata, spec and
//! status fields) and `valueFrom.resourceFieldRef` (a container's requests and limits).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ObjectFieldSelector, Pod, ResourceFieldSelector, ResourceRequirements,
};

use super::quantity::{ceil_ratio, Quantity};
use super::EnvError;

/// What the kubelet knows about a running pod beyond its object.
pub(crate) struct PodRuntime<'a> {
    /// The pod's primary IP (empty while it has none).
    pub pod_ip: &'a str,
    /// All of the pod's IPs.
    pub pod_ips: &'a [String],
    /// The node's IP.
    pub host_ip: &'a str,
    /// The node's name, used when the pod object has no `spec.nodeName` yet.
    pub node_name: &'a str,
}

/// The value of a `fieldRef`, as the kubelet resolves it.
pub(crate) fn field_value(
    selector: &ObjectFieldSelector,
    pod: &Pod,
    runtime: &PodRuntime<'_>,
) -> Result<String, EnvError> {
    let path = convert_field_label(selector)?;
    let spec = pod.spec.as_ref();
    let value = match path {
        "spec.nodeName" => spec
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| runtime.node_name.to_string()),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.hostIP" | "status.hostIPs" => runtime.host_ip.to_string(),
        "status.podIP" => runtime.pod_ip.to_string(),
        "status.podIPs" => runtime.pod_ips.join(","),
        _ => return metadata_value(pod, path),
    };
    Ok(value)
}

/// Checks the field path against the labels a pod supports in the downward API (what
/// `ConvertDownwardAPIFieldLabel` accepts) and returns the internal path.
fn convert_field_label(selector: &ObjectFieldSelector) -> Result<&str, EnvError> {
    let version = selector.api_version.as_deref().unwrap_or("v1");
    if !version.is_empty() && version != "v1" {
        return Err(EnvError::UnsupportedPodVersion(version.to_string()));
    }
    let label = selector.field_path.as_str();
    if let Some((path, _)) = split_subscript(label) {
        return match path {
            "metadata.annotations" | "metadata.labels" => Ok(label),
            _ => Err(EnvError::FieldLabelSubscript(label.to_string())),
        };
    }
    match label {
        "metadata.annotations"
        | "metadata.labels"
        | "metadata.name"
        | "metadata.namespace"
        | "metadata.uid"
        | "spec.nodeName"
        | "spec.restartPolicy"
        | "spec.serviceAccountName"
        | "spec.schedulerName"
        | "status.phase"
        | "status.hostIP"
        | "status.hostIPs"
        | "status.podIP"
        | "status.podIPs" => Ok(label),
        "spec.host" => Ok("spec.nodeName"),
        _ => Err(EnvError::FieldLabelNotSupported(label.to_string())),
    }
}

/// Splits `metadata.labels['key']` into `("metadata.labels", "key")`.
fn split_subscript(path: &str) -> Option<(&str, &str)> {
    let inner = path.strip_suffix("']")?;
    let (base, key) = inner.split_once("['")?;
    (!base.is_empty()).then_some((base, key))
}

/// The metadata fields (`ExtractFieldPathAsString`).
fn metadata_value(pod: &Pod, path: &str) -> Result<String, EnvError> {
    let meta = &pod.metadata;
    if let Some((base, key)) = split_subscript(path) {
        let map = match base {
            "metadata.annotations" => meta.annotations.as_ref(),
            _ => meta.labels.as_ref(),
        };
        return Ok(map.and_then(|m| m.get(key)).cloned().unwrap_or_default());
    }
    Ok(match path {
        "metadata.annotations" => format_map(meta.annotations.as_ref()),
        "metadata.labels" => format_map(meta.labels.as_ref()),
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        other => return Err(EnvError::UnsupportedFieldPath(other.to_string())),
    })
}

/// `key="value"` lines in key order, the format of a whole labels or annotations map.
fn format_map(map: Option<&BTreeMap<String, String>>) -> String {
    map.into_iter()
        .flatten()
        .map(|(key, value)| format!("{key}={}", go_quote(value)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A double-quoted string with Go's `%q` escapes for the common cases.
fn go_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What the node can give a container, used for limits a container does not set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Allocatable {
    /// CPUs.
    pub cpu: Quantity,
    /// Bytes of memory.
    pub memory: Quantity,
}

impl Allocatable {
    /// This machine's CPUs and memory (approximates the node's allocatable resources: no
    /// system or kube reservations are subtracted).
    pub(crate) fn of_this_machine() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let memory_kib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find_map(|line| line.strip_prefix("MemTotal:"))
                    .and_then(|rest| {
                        rest.trim()
                            .trim_end_matches("kB")
                            .trim()
                            .parse::<i128>()
                            .ok()
                    })
            })
            .unwrap_or(0);
        Allocatable {
            cpu: Quantity::from_units(cpus as i128),
            memory: Quantity::from_units(memory_kib * 1024),
        }
    }
}

/// The value of a `resourceFieldRef` for `container` (or the container it names).
pub(crate) fn resource_value(
    selector: &ResourceFieldSelector,
    pod: &Pod,
    container: &Container,
    allocatable: impl FnOnce() -> Allocatable,
) -> Result<String, EnvError> {
    let target = match selector.container_name.as_deref().filter(|n| !n.is_empty()) {
        None => container,
        Some(name) => find_container(pod, name)?,
    };
    let divisor = match &selector.divisor {
        Some(q) => Quantity::parse(&q.0)?,
        None => Quantity::from_units(1),
    };
    let divisor = if divisor.is_zero() {
        Quantity::from_units(1)
    } else {
        divisor
    };
    let (kind, resource) = selector
        .resource
        .split_once('.')
        .ok_or_else(|| EnvError::UnsupportedResource(selector.resource.clone()))?;
    let supported = matches!(resource, "cpu" | "memory" | "ephemeral-storage")
        || resource.starts_with("hugepages-");
    if !matches!(kind, "limits" | "requests") || !supported {
        return Err(EnvError::UnsupportedResource(selector.resource.clone()));
    }
    let resources = target.resources.as_ref();
    let limit = quantity_of(resources, "limits", resource)?;
    let amount = if kind == "limits" {
        match limit {
            Some(q) => q,
            None => default_limit(resource, allocatable),
        }
    } else {
        // The API server defaults an unset request to the limit.
        match quantity_of(resources, "requests", resource)?.or(limit) {
            Some(q) => q,
            None => Quantity::from_units(0),
        }
    };
    let value = if resource == "cpu" {
        ceil_ratio(amount.milli_value(), divisor.milli_value())
    } else {
        ceil_ratio(amount.value(), divisor.value())
    };
    Ok(value.to_string())
}

/// The node's allocatable amount of a resource a container has no limit for.
fn default_limit(resource: &str, allocatable: impl FnOnce() -> Allocatable) -> Quantity {
    match resource {
        "cpu" => allocatable().cpu,
        "memory" => allocatable().memory,
        _ => Quantity::from_units(0),
    }
}

/// One quantity of a container's requests or limits.
fn quantity_of(
    resources: Option<&ResourceRequirements>,
    kind: &str,
    resource: &str,
) -> Result<Option<Quantity>, EnvError> {
    let list = resources.and_then(|r| match kind {
        "limits" => r.limits.as_ref(),
        _ => r.requests.as_ref(),
    });
    list.and_then(|l| l.get(resource))
        .map(|q| Quantity::parse(&q.0))
        .transpose()
}

/// A container of the pod by name (regular containers, then init containers).
fn find_container<'a>(pod: &'a Pod, name: &str) -> Result<&'a Container, EnvError> {
    let spec = pod.spec.as_ref();
    spec.into_iter()
        .flat_map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
        })
        .find(|c| c.name == name)
        .ok_or_else(|| EnvError::ContainerNotFound(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodSpec;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity as Q;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pod() -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("kubia-7d5b".into()),
                namespace: Some("shop".into()),
                uid: Some("1234-abcd".into()),
                labels: Some(BTreeMap::from([
                    ("app".to_string(), "kubia".to_string()),
                    ("tier".to_string(), "web".to_string()),
                ])),
                annotations: Some(BTreeMap::from([(
                    "note".to_string(),
                    "say \"hi\"\n".to_string(),
                )])),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some("node-1".into()),
                service_account_name: Some("builder".into()),
                containers: vec![Container {
                    name: "main".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn field(path: &str) -> Result<String, EnvError> {
        let ips = vec!["10.244.1.5".to_string(), "fd00::5".to_string()];
        let runtime = PodRuntime {
            pod_ip: "10.244.1.5",
            pod_ips: &ips,
            host_ip: "172.18.0.2",
            node_name: "node-fallback",
        };
        let selector = ObjectFieldSelector {
            api_version: Some("v1".into()),
            field_path: path.into(),
        };
        field_value(&selector, &pod(), &runtime)
    }

    #[test]
    fn pod_fields() {
        assert_eq!(field("metadata.name").unwrap(), "kubia-7d5b");
        assert_eq!(field("metadata.namespace").unwrap(), "shop");
        assert_eq!(field("metadata.uid").unwrap(), "1234-abcd");
        assert_eq!(field("metadata.labels['app']").unwrap(), "kubia");
        assert_eq!(field("metadata.labels['missing']").unwrap(), "");
        assert_eq!(
            field("metadata.annotations['note']").unwrap(),
            "say \"hi\"\n"
        );
        assert_eq!(
            field("metadata.labels").unwrap(),
            "app=\"kubia\"\ntier=\"web\""
        );
        assert_eq!(
            field("metadata.annotations").unwrap(),
            "note=\"say \\\"hi\\\"\\n\""
        );
        assert_eq!(field("spec.nodeName").unwrap(), "node-1");
        assert_eq!(field("spec.serviceAccountName").unwrap(), "builder");
        assert_eq!(field("status.hostIP").unwrap(), "172.18.0.2");
        assert_eq!(field("status.hostIPs").unwrap(), "172.18.0.2");
        assert_eq!(field("status.podIP").unwrap(), "10.244.1.5");
        assert_eq!(field("status.podIPs").unwrap(), "10.244.1.5,fd00::5");
    }

    #[test]
    fn unsupported_fields_fail_with_kubelet_messages() {
        assert_eq!(
            field("spec.containers").unwrap_err().to_string(),
            "field label not supported: spec.containers"
        );
        assert_eq!(
            field("spec.restartPolicy").unwrap_err().to_string(),
            "unsupported fieldPath: spec.restartPolicy"
        );
        assert_eq!(
            field("metadata.name['x']").unwrap_err().to_string(),
            "field label does not support subscript: metadata.name['x']"
        );
    }

    fn container(limits: &[(&str, &str)], requests: &[(&str, &str)]) -> Container {
        let list = |pairs: &[(&str, &str)]| {
            (!pairs.is_empty()).then(|| {
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), Q(v.to_string())))
                    .collect()
            })
        };
        Container {
            name: "main".into(),
            resources: Some(ResourceRequirements {
                limits: list(limits),
                requests: list(requests),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn resource(c: &Container, what: &str, divisor: Option<&str>) -> String {
        let selector = ResourceFieldSelector {
            container_name: None,
            divisor: divisor.map(|d| Q(d.into())),
            resource: what.into(),
        };
        let node = || Allocatable {
            cpu: Quantity::from_units(4),
            memory: Quantity::parse("8Gi").unwrap(),
        };
        resource_value(&selector, &pod(), c, node).unwrap()
    }

    #[test]
    fn resource_values_with_divisors() {
        let c = container(&[("cpu", "500m"), ("memory", "128Mi")], &[("cpu", "250m")]);
        assert_eq!(resource(&c, "limits.cpu", None), "1", "0.5 CPU rounds up");
        assert_eq!(resource(&c, "limits.cpu", Some("1m")), "500");
        assert_eq!(resource(&c, "requests.cpu", Some("1m")), "250");
        assert_eq!(resource(&c, "limits.memory", None), "134217728");
        assert_eq!(resource(&c, "limits.memory", Some("1Mi")), "128");
        assert_eq!(
            resource(&c, "requests.memory", Some("1Mi")),
            "128",
            "request defaults to limit"
        );
        assert_eq!(
            resource(&c, "limits.cpu", Some("0")),
            "1",
            "a zero divisor means 1"
        );
    }

    #[test]
    fn unset_limits_default_to_node_allocatable() {
        let c = container(&[], &[]);
        assert_eq!(resource(&c, "limits.cpu", None), "4");
        assert_eq!(resource(&c, "limits.memory", Some("1Gi")), "8");
        assert_eq!(resource(&c, "requests.cpu", None), "0");
        assert_eq!(resource(&c, "requests.memory", None), "0");
    }

    #[test]
    fn resource_errors() {
        let c = container(&[], &[]);
        let selector = |resource: &str, container_name: Option<&str>| ResourceFieldSelector {
            container_name: container_name.map(String::from),
            divisor: None,
            resource: resource.into(),
        };
        let node = || Allocatable {
            cpu: Quantity::from_units(1),
            memory: Quantity::from_units(1),
        };
        let err = resource_value(&selector("limits.gpu", None), &pod(), &c, node).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported container resource : limits.gpu"
        );
        let err =
            resource_value(&selector("limits.cpu", Some("sidecar")), &pod(), &c, node).unwrap_err();
        assert_eq!(err.to_string(), "container sidecar not found");
        let other = resource_value(&selector("limits.cpu", Some("main")), &pod(), &c, node);
        assert_eq!(other.unwrap(), "1");
    }

    #[test]
    fn this_machine_has_cpus_and_memory() {
        let node = Allocatable::of_this_machine();
        assert!(node.cpu.value() >= 1);
        assert!(node.memory.value() > 1 << 20);
    }
}
