//! Column definitions of every resource, in the order and with the types printers.go declares.

use serde_json::{json, Value};

use crate::descriptions as d;

/// One `TableColumnDefinition`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column {
    name: &'static str,
    ty: &'static str,
    format: &'static str,
    description: &'static str,
    priority: i32,
}

impl Column {
    /// The definition as the JSON object of a Table's `columnDefinitions`.
    pub(crate) fn to_json(self) -> Value {
        json!({
            "name": self.name,
            "type": self.ty,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// A string column shown by default.
const fn text(name: &'static str, description: &'static str) -> Column {
    Column {
        name,
        ty: "string",
        format: "",
        description,
        priority: 0,
    }
}

/// An integer column shown by default.
const fn int(name: &'static str, description: &'static str) -> Column {
    Column {
        ty: "integer",
        ..text(name, description)
    }
}

/// A string column shown only with `-o wide` (priority 1).
const fn wide(name: &'static str, description: &'static str) -> Column {
    Column {
        priority: 1,
        ..text(name, description)
    }
}

const NAME: Column = Column {
    format: "name",
    ..text("Name", d::META_NAME)
};
const AGE: Column = text("Age", d::META_CREATION_TIMESTAMP);
const CONTAINERS: Column = wide("Containers", "Names of each container in the template.");
const IMAGES: Column = wide(
    "Images",
    "Images referenced by each container in the template.",
);

const DEFAULT: &[Column] = &[
    NAME,
    Column {
        ty: "date",
        ..text("Created At", d::META_CREATION_TIMESTAMP)
    },
];

const NAMESPACES: &[Column] = &[NAME, text("Status", "The status of the namespace"), AGE];

const NODES: &[Column] = &[
    NAME,
    text("Status", "The status of the node"),
    text("Roles", "The roles of the node"),
    AGE,
    text("Version", d::NODE_INFO_KUBELET_VERSION),
    wide("Internal-IP", d::NODE_STATUS_ADDRESSES),
    wide("External-IP", d::NODE_STATUS_ADDRESSES),
    wide("OS-Image", d::NODE_INFO_OS_IMAGE),
    wide("Kernel-Version", d::NODE_INFO_KERNEL_VERSION),
    wide("Container-Runtime", d::NODE_INFO_CONTAINER_RUNTIME_VERSION),
];

const PODS: &[Column] = &[
    NAME,
    text("Ready", "The aggregate readiness state of this pod for accepting traffic."),
    text("Status", "The aggregate status of the containers in this pod."),
    text(
        "Restarts",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    AGE,
    wide("IP", d::POD_STATUS_POD_IP),
    wide("Node", d::POD_SPEC_NODE_NAME),
    wide("Nominated Node", d::POD_STATUS_NOMINATED_NODE_NAME),
    wide("Readiness Gates", d::POD_SPEC_READINESS_GATES),
];

const SERVICES: &[Column] = &[
    NAME,
    text("Type", d::SERVICE_SPEC_TYPE),
    text("Cluster-IP", d::SERVICE_SPEC_CLUSTER_IP),
    text("External-IP", d::SERVICE_SPEC_EXTERNAL_IPS),
    text("Port(s)", d::SERVICE_SPEC_PORTS),
    AGE,
    wide("Selector", d::SERVICE_SPEC_SELECTOR),
];

const ENDPOINTS: &[Column] = &[NAME, text("Endpoints", d::ENDPOINTS_SUBSETS), AGE];

const SECRETS: &[Column] = &[
    NAME,
    text("Type", d::SECRET_TYPE),
    text("Data", d::SECRET_DATA),
    AGE,
];

const CONFIG_MAPS: &[Column] = &[NAME, text("Data", d::CONFIG_MAP_DATA), AGE];

const EVENTS: &[Column] = &[
    text("Last Seen", d::EVENT_LAST_TIMESTAMP),
    text("Type", d::EVENT_TYPE),
    text("Reason", d::EVENT_REASON),
    text("Object", d::EVENT_INVOLVED_OBJECT),
    wide("Subobject", d::OBJECT_REFERENCE_FIELD_PATH),
    wide("Source", d::EVENT_SOURCE),
    text("Message", d::EVENT_MESSAGE),
    wide("First Seen", d::EVENT_FIRST_TIMESTAMP),
    wide("Count", d::EVENT_COUNT),
    Column {
        format: "name",
        ..wide("Name", d::META_NAME)
    },
];

const SERVICE_ACCOUNTS: &[Column] = &[NAME, text("Secrets", d::SERVICE_ACCOUNT_SECRETS), AGE];

const REPLICATION_CONTROLLERS: &[Column] = &[
    NAME,
    int("Desired", d::RC_SPEC_REPLICAS),
    int("Current", d::RC_STATUS_REPLICAS),
    int("Ready", d::RC_STATUS_READY_REPLICAS),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", d::RC_SPEC_SELECTOR),
];

const DEPLOYMENTS: &[Column] = &[
    NAME,
    text("Ready", "Number of the pod with ready state"),
    text("Up-to-date", d::DEPLOYMENT_STATUS_UPDATED_REPLICAS),
    text("Available", d::DEPLOYMENT_STATUS_AVAILABLE_REPLICAS),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", d::DEPLOYMENT_SPEC_SELECTOR),
];

const REPLICA_SETS: &[Column] = &[
    NAME,
    int("Desired", d::REPLICA_SET_SPEC_REPLICAS),
    int("Current", d::REPLICA_SET_STATUS_REPLICAS),
    int("Ready", d::REPLICA_SET_STATUS_READY_REPLICAS),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", d::REPLICA_SET_SPEC_SELECTOR),
];

const STATEFUL_SETS: &[Column] = &[
    NAME,
    text("Ready", "Number of the pod with ready state"),
    AGE,
    CONTAINERS,
    IMAGES,
];

const ENDPOINT_SLICES: &[Column] = &[
    NAME,
    text("AddressType", d::ENDPOINT_SLICE_ADDRESS_TYPE),
    text("Ports", d::ENDPOINT_SLICE_PORTS),
    text("Endpoints", d::ENDPOINT_SLICE_ENDPOINTS),
    AGE,
];

const INGRESSES: &[Column] = &[
    NAME,
    text(
        "Class",
        "The name of the IngressClass resource that should be used for additional configuration",
    ),
    text(
        "Hosts",
        "Hosts that incoming requests are matched against before the ingress rule",
    ),
    text(
        "Address",
        "Address is a list containing ingress points for the load-balancer",
    ),
    text("Ports", "Ports of TLS configurations that open"),
    AGE,
];

const INGRESS_CLASSES: &[Column] = &[
    NAME,
    text(
        "Controller",
        "Controller that is responsible for handling this class",
    ),
    text(
        "Parameters",
        "A reference to a resource with additional parameters",
    ),
    AGE,
];

const LEASES: &[Column] = &[NAME, text("Holder", d::LEASE_SPEC_HOLDER_IDENTITY), AGE];

/// The columns of a resource by plural name; the default convertor's for unknown ones.
pub(crate) fn for_resource(plural: &str) -> &'static [Column] {
    match plural {
        "namespaces" => NAMESPACES,
        "nodes" => NODES,
        "pods" => PODS,
        "services" => SERVICES,
        "endpoints" => ENDPOINTS,
        "secrets" => SECRETS,
        "configmaps" => CONFIG_MAPS,
        "events" => EVENTS,
        "serviceaccounts" => SERVICE_ACCOUNTS,
        "replicationcontrollers" => REPLICATION_CONTROLLERS,
        "deployments" => DEPLOYMENTS,
        "replicasets" => REPLICA_SETS,
        "statefulsets" => STATEFUL_SETS,
        "endpointslices" => ENDPOINT_SLICES,
        "ingresses" => INGRESSES,
        "ingressclasses" => INGRESS_CLASSES,
        "leases" => LEASES,
        _ => DEFAULT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(plural: &str) -> Vec<(&'static str, &'static str, i32)> {
        for_resource(plural)
            .iter()
            .map(|c| (c.name, c.ty, c.priority))
            .collect()
    }

    #[test]
    fn pods_columns() {
        assert_eq!(
            headers("pods"),
            vec![
                ("Name", "string", 0),
                ("Ready", "string", 0),
                ("Status", "string", 0),
                ("Restarts", "string", 0),
                ("Age", "string", 0),
                ("IP", "string", 1),
                ("Node", "string", 1),
                ("Nominated Node", "string", 1),
                ("Readiness Gates", "string", 1),
            ]
        );
    }

    #[test]
    fn events_put_name_last_and_wide() {
        let cols = for_resource("events");
        let names: Vec<_> = cols.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "Last Seen",
                "Type",
                "Reason",
                "Object",
                "Subobject",
                "Source",
                "Message",
                "First Seen",
                "Count",
                "Name"
            ]
        );
        let last = cols[9].to_json();
        assert_eq!(last["format"], "name");
        assert_eq!(last["priority"], 1);
    }

    #[test]
    fn integer_columns_where_printers_go_declares_them() {
        for plural in ["replicasets", "replicationcontrollers"] {
            let ints: Vec<_> = headers(plural)
                .into_iter()
                .filter(|c| c.1 == "integer")
                .map(|c| c.0)
                .collect();
            assert_eq!(ints, ["Desired", "Current", "Ready"], "{plural}");
        }
        // Deployments declare Up-to-date and Available as strings even though the cells are numbers.
        assert!(headers("deployments").iter().all(|c| c.1 == "string"));
    }
}
