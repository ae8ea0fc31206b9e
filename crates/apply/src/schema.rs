//! What structured-merge-diff needs to know about a kind: which objects are maps rather than
//! structs, which lists are associative (and by which keys) or sets, and which are atomic.
//!
//! Kubernetes reads this from the OpenAPI `x-kubernetes-list-type`, `x-kubernetes-list-map-keys`
//! and `x-kubernetes-map-type` extensions. Portico keeps the subset its kinds need in a table
//! ([`tables`]), keyed by `(apiVersion, kind)` and then by a *schema path*: the field names from
//! the root, joined by `.`, with list items left out and map keys written `*`
//! (`spec.template.spec.containers.ports`, `metadata.labels.*`). Anything the table does not
//! name falls back to what the JSON value is: objects are structs, lists are atomic.

mod tables;

use std::collections::HashMap;

/// One key field of an associative list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListKey {
    /// The key field's name.
    pub name: &'static str,
    /// The value used when an item leaves the key out (a string), as Kubernetes defaults it.
    pub default: Option<&'static str>,
}

/// How a node merges and how its fields are owned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// An object whose keys are declared fields: owned field by field.
    Struct,
    /// An object whose keys are data (labels, annotations, ConfigMap data): each key is owned.
    Map,
    /// A list, map or struct owned and replaced as a whole.
    Atomic,
    /// A list of unique scalars, each owned separately (`v:` elements).
    Set,
    /// A list of objects identified by key fields (`k:` elements).
    Assoc(&'static [ListKey]),
}

/// A table row's description of one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Node {
    /// How it merges.
    pub shape: Shape,
    /// Whether the Go type always serializes the field (a struct held by value, or a list without
    /// `omitempty`). Such a node is never reported as added or removed by an update, which is why
    /// `f:spec` or `f:containers` never carry a `"."` in an `Update` entry.
    pub always: bool,
}

/// The schema of one kind.
#[derive(Clone, Debug, Default)]
pub struct Schema {
    nodes: HashMap<String, Node>,
}

impl Schema {
    /// The schema for `(apiVersion, kind)`. Unknown kinds get object metadata only.
    pub fn for_kind(api_version: &str, kind: &str) -> Schema {
        let mut schema = Schema::default();
        tables::build(&mut schema, api_version, kind);
        schema
    }

    /// The node at a schema path, if the table names it.
    pub fn node(&self, schema_path: &str) -> Option<Node> {
        self.nodes.get(schema_path).copied()
    }

    /// Records the rows of `table` below `prefix`.
    fn mount(&mut self, prefix: &str, table: &[(&str, Node)]) {
        for (path, node) in table {
            self.nodes.insert(join(prefix, path), *node);
        }
    }
}

/// The schema path of a struct field.
pub fn field_path(parent: &str, name: &str) -> String {
    join(parent, name)
}

/// The schema path of a map value.
pub fn map_value_path(parent: &str) -> String {
    join(parent, "*")
}

fn join(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty()) {
        (true, _) => path.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}.{path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_spec_is_shared_between_pods_and_templates() {
        let pod = Schema::for_kind("v1", "Pod");
        let deployment = Schema::for_kind("apps/v1", "Deployment");
        let cronjob = Schema::for_kind("batch/v1", "CronJob");
        let ports = pod.node("spec.containers.ports").unwrap();
        assert_eq!(
            deployment.node("spec.template.spec.containers.ports"),
            Some(ports)
        );
        assert_eq!(
            cronjob.node("spec.jobTemplate.spec.template.spec.containers.ports"),
            Some(ports)
        );
        let Shape::Assoc(keys) = ports.shape else {
            panic!("container ports are an associative list");
        };
        let names: Vec<&str> = keys.iter().map(|k| k.name).collect();
        assert_eq!(names, ["containerPort", "protocol"]);
        assert_eq!(
            deployment
                .node("spec.template.metadata.labels")
                .map(|n| n.shape),
            Some(Shape::Map)
        );
    }

    #[test]
    fn service_ports_key_on_port_and_protocol() {
        let service = Schema::for_kind("v1", "Service");
        let Some(Node {
            shape: Shape::Assoc(keys),
            ..
        }) = service.node("spec.ports")
        else {
            panic!("service ports are an associative list");
        };
        assert_eq!(
            keys[0],
            ListKey {
                name: "port",
                default: None
            }
        );
        assert_eq!(
            keys[1],
            ListKey {
                name: "protocol",
                default: Some("TCP")
            }
        );
        assert_eq!(
            service.node("spec.selector").map(|n| n.shape),
            Some(Shape::Atomic)
        );
    }

    #[test]
    fn unknown_kinds_know_only_metadata() {
        let schema = Schema::for_kind("example.com/v1", "Widget");
        assert_eq!(
            schema.node("metadata.labels").map(|n| n.shape),
            Some(Shape::Map)
        );
        assert_eq!(schema.node("spec"), None);
        let ingress = Schema::for_kind("networking.k8s.io/v1", "Ingress");
        assert_eq!(
            ingress.node("spec.rules"),
            None,
            "ingress lists fall back to atomic"
        );
    }
}
