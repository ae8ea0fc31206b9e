//! Container environment: explicit `env`, `envFrom`, `valueFrom` references and Service links,
//! built the way the kubelet builds it (`makeEnvironmentVariables`).
//!
//! The order of precedence, lowest first: service link variables, `envFrom` sources in the
//! order listed, then `env` entries in the order listed. An `env[].value` may refer to
//! variables defined before it (by `envFrom` or earlier `env` entries) and to the service
//! variables with `$(NAME)`; a reference to anything else is left as written.

mod expand;
mod fieldref;
mod quantity;
mod services;

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret, Service};

pub use expand::expand;

/// Expands `$(VAR)` references in `input` from a map (probes use it for literal `env` values).
pub(crate) fn expand_with_map(input: &str, vars: &HashMap<&str, &str>) -> String {
    expand::expand_with(input, |name| vars.get(name).map(|v| v.to_string()))
}
pub use services::service_env;

use fieldref::{field_value, resource_value, Allocatable, PodRuntime};

/// Why a container's environment could not be built. The kubelet reports these as the
/// container's `CreateContainerConfigError`, with the message as written here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// A ConfigMap referenced without `optional: true` does not exist.
    #[error("configmap \"{name}\" not found")]
    ConfigMapNotFound {
        /// The ConfigMap's name.
        name: String,
    },
    /// A Secret referenced without `optional: true` does not exist.
    #[error("secret \"{name}\" not found")]
    SecretNotFound {
        /// The Secret's name.
        name: String,
    },
    /// A `configMapKeyRef` names a key the ConfigMap does not have.
    #[error("couldn't find key {key} in ConfigMap {namespace}/{name}")]
    ConfigMapKeyNotFound {
        /// The missing key.
        key: String,
        /// The pod's namespace.
        namespace: String,
        /// The ConfigMap's name.
        name: String,
    },
    /// A `secretKeyRef` names a key the Secret does not have.
    #[error("couldn't find key {key} in Secret {namespace}/{name}")]
    SecretKeyNotFound {
        /// The missing key.
        key: String,
        /// The pod's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
    },
    /// A `fieldRef` with an `apiVersion` other than `v1`.
    #[error("unsupported pod version: {0}")]
    UnsupportedPodVersion(String),
    /// A `fieldRef` path pods do not offer in the downward API.
    #[error("field label not supported: {0}")]
    FieldLabelNotSupported(String),
    /// A subscript (`['key']`) on a field other than labels or annotations.
    #[error("field label does not support subscript: {0}")]
    FieldLabelSubscript(String),
    /// A field the downward API accepts but the environment cannot take.
    #[error("unsupported fieldPath: {0}")]
    UnsupportedFieldPath(String),
    /// A `resourceFieldRef` resource other than requests/limits of cpu, memory,
    /// ephemeral-storage or hugepages.
    #[error("unsupported container resource : {0}")]
    UnsupportedResource(String),
    /// A `resourceFieldRef.containerName` that is not a container of the pod.
    #[error("container {0} not found")]
    ContainerNotFound(String),
    /// A quantity (a divisor, a request or a limit) that does not parse.
    #[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
    InvalidQuantity(String),
}

/// Everything the environment of one container depends on.
pub struct EnvInputs<'a> {
    /// The pod.
    pub pod: &'a Pod,
    /// The container, one of the pod's (init) containers.
    pub container: &'a Container,
    /// Every Service the node knows, of all namespaces; the right ones are picked here.
    pub services: &'a [Service],
    /// Looks a ConfigMap up by namespace and name.
    pub config_maps: &'a dyn Fn(&str, &str) -> Option<ConfigMap>,
    /// Looks a Secret up by namespace and name.
    pub secrets: &'a dyn Fn(&str, &str) -> Option<Secret>,
    /// The pod's primary IP, when it has one.
    pub pod_ip: Option<String>,
    /// All the pod's IPs (the first one wins over `pod_ip` for `status.podIP`).
    pub pod_ips: Vec<String>,
    /// The node's IP.
    pub host_ip: String,
    /// The node's name.
    pub node_name: String,
    /// The namespace of the `kubernetes` Service that every pod is told about (`default`).
    pub master_service_namespace: &'a str,
}

/// Variables in the order they were first defined; a redefinition replaces the value.
#[derive(Default)]
struct Ordered {
    entries: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl Ordered {
    fn set(&mut self, name: String, value: String) {
        match self.index.get(&name) {
            Some(&at) => self.entries[at].1 = value,
            None => {
                self.index.insert(name.clone(), self.entries.len());
                self.entries.push((name, value));
            }
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.index.get(name).map(|&at| self.entries[at].1.as_str())
    }
}

/// Builds a container's environment: service link variables first (those not redefined),
/// then the `envFrom` and `env` variables in the order they are first defined. Names are
/// unique in the result.
pub fn container_env(inputs: &EnvInputs<'_>) -> Result<Vec<(String, String)>, EnvError> {
    let pod = inputs.pod;
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let enable_links = pod
        .spec
        .as_ref()
        .and_then(|s| s.enable_service_links)
        .unwrap_or(true);
    let service_vars = service_env(
        inputs.services,
        namespace,
        inputs.master_service_namespace,
        enable_links,
    );
    let service_map: HashMap<&str, &str> = service_vars
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();

    let mut sources = Sources::new(inputs, namespace);
    let mut defined = Ordered::default();

    for from in inputs.container.env_from.iter().flatten() {
        let prefix = from.prefix.as_deref().unwrap_or("");
        if let Some(reference) = &from.config_map_ref {
            let optional = reference.optional.unwrap_or(false);
            let Some(config_map) = sources.config_map(&reference.name, optional)? else {
                continue;
            };
            for (key, value) in config_map.data.iter().flatten() {
                defined.set(format!("{prefix}{key}"), value.clone());
            }
        } else if let Some(reference) = &from.secret_ref {
            let optional = reference.optional.unwrap_or(false);
            let Some(secret) = sources.secret(&reference.name, optional)? else {
                continue;
            };
            for (key, value) in secret_entries(&secret) {
                defined.set(format!("{prefix}{key}"), value);
            }
        }
    }

    let runtime_ip = inputs
        .pod_ips
        .first()
        .cloned()
        .or_else(|| inputs.pod_ip.clone())
        .unwrap_or_default();
    let runtime = PodRuntime {
        pod_ip: &runtime_ip,
        pod_ips: &inputs.pod_ips,
        host_ip: &inputs.host_ip,
        node_name: &inputs.node_name,
    };
    for var in inputs.container.env.iter().flatten() {
        let literal = var.value.as_deref().unwrap_or("");
        let value = if !literal.is_empty() {
            expand::expand_with(literal, |name| {
                defined
                    .get(name)
                    .or_else(|| service_map.get(name).copied())
                    .map(str::to_string)
            })
        } else if let Some(from) = &var.value_from {
            if let Some(selector) = &from.field_ref {
                field_value(selector, pod, &runtime)?
            } else if let Some(selector) = &from.resource_field_ref {
                resource_value(
                    selector,
                    pod,
                    inputs.container,
                    Allocatable::of_this_machine,
                )?
            } else if let Some(selector) = &from.config_map_key_ref {
                let optional = selector.optional.unwrap_or(false);
                let Some(config_map) = sources.config_map(&selector.name, optional)? else {
                    continue;
                };
                match config_map.data.as_ref().and_then(|d| d.get(&selector.key)) {
                    Some(value) => value.clone(),
                    None if optional => continue,
                    None => {
                        return Err(EnvError::ConfigMapKeyNotFound {
                            key: selector.key.clone(),
                            namespace: namespace.to_string(),
                            name: selector.name.clone(),
                        })
                    }
                }
            } else if let Some(selector) = &from.secret_key_ref {
                let optional = selector.optional.unwrap_or(false);
                let Some(secret) = sources.secret(&selector.name, optional)? else {
                    continue;
                };
                let found = secret_entries(&secret).find(|(key, _)| *key == selector.key);
                match found {
                    Some((_, value)) => value,
                    None if optional => continue,
                    None => {
                        return Err(EnvError::SecretKeyNotFound {
                            key: selector.key.clone(),
                            namespace: namespace.to_string(),
                            name: selector.name.clone(),
                        })
                    }
                }
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        defined.set(var.name.clone(), value);
    }

    let mut result: Vec<(String, String)> = service_vars
        .iter()
        .filter(|(name, _)| defined.get(name).is_none())
        .cloned()
        .collect();
    result.extend(defined.entries);
    Ok(result)
}

/// ConfigMaps and Secrets of the pod's namespace, each fetched at most once.
struct Sources<'i, 'a> {
    inputs: &'i EnvInputs<'a>,
    namespace: &'i str,
    config_maps: HashMap<String, ConfigMap>,
    secrets: HashMap<String, Secret>,
}

impl<'i, 'a> Sources<'i, 'a> {
    fn new(inputs: &'i EnvInputs<'a>, namespace: &'i str) -> Self {
        Sources {
            inputs,
            namespace,
            config_maps: HashMap::new(),
            secrets: HashMap::new(),
        }
    }

    /// The named ConfigMap; `None` when it is missing and optional.
    fn config_map(&mut self, name: &str, optional: bool) -> Result<Option<ConfigMap>, EnvError> {
        if let Some(found) = self.config_maps.get(name) {
            return Ok(Some(found.clone()));
        }
        match (self.inputs.config_maps)(self.namespace, name) {
            Some(found) => {
                self.config_maps.insert(name.to_string(), found.clone());
                Ok(Some(found))
            }
            None if optional => Ok(None),
            None => Err(EnvError::ConfigMapNotFound {
                name: name.to_string(),
            }),
        }
    }

    /// The named Secret; `None` when it is missing and optional.
    fn secret(&mut self, name: &str, optional: bool) -> Result<Option<Secret>, EnvError> {
        if let Some(found) = self.secrets.get(name) {
            return Ok(Some(found.clone()));
        }
        match (self.inputs.secrets)(self.namespace, name) {
            Some(found) => {
                self.secrets.insert(name.to_string(), found.clone());
                Ok(Some(found))
            }
            None if optional => Ok(None),
            None => Err(EnvError::SecretNotFound {
                name: name.to_string(),
            }),
        }
    }
}

/// A Secret's entries as text (`data`, decoded; `stringData` too in case a store kept it).
fn secret_entries(secret: &Secret) -> impl Iterator<Item = (String, String)> + '_ {
    let data = secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned()));
    let strings = secret
        .string_data
        .iter()
        .flatten()
        .filter(|(k, _)| !secret.data.as_ref().is_some_and(|d| d.contains_key(*k)))
        .map(|(k, v)| (k.clone(), v.clone()));
    data.chain(strings)
}

#[cfg(test)]
mod tests;
