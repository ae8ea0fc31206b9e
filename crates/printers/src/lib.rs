//! Server-side Table rendering: the columns `kubectl get` prints for every resource Portico serves.
//!
//! `kubectl get` asks the API server for `as=Table` and prints whatever columns and cells
//! come back. This crate reproduces the Kubernetes apiserver's printers
//! (`pkg/printers/internalversion/printers.go`): for each resource, the column definitions
//! (name, type, format, description, priority) and the cells of one row. Like the real
//! apiserver, rows are always rendered in "wide" form: priority-1 columns are always present
//! and kubectl hides them unless `-o wide` is given.
//!
//! Objects arrive as JSON in their served (v1) form. Where the apiserver would have applied
//! API defaulting before printing (service type `ClusterIP`, port protocol `TCP`, one replica,
//! secret type `Opaque`, namespace phase `Active`), the printers apply the same defaults so a
//! not-yet-defaulted object still prints as Kubernetes would print it.

mod apps;
mod columns;
mod core;
mod descriptions;
mod duration;
mod fields;
mod networking;
mod nodes;
mod pods;
mod services;

use serde_json::Value;

pub use duration::human_duration;

/// Column definitions for a resource (plural name, e.g. "services"), as JSON objects
/// {"name","type","format","description","priority"} in kubectl's order; Name has format "name".
/// Unknown resources get the generic Name + Age (Created At) columns as the apiserver's default table convertor.
pub fn column_definitions(plural: &str) -> Vec<Value> {
    columns::for_resource(plural)
        .iter()
        .map(|c| c.to_json())
        .collect()
}

/// The cells of one row for `obj` (a full JSON object of that resource), rendered at `now`.
///
/// The cells line up with [`column_definitions`] for the same resource: strings, or JSON
/// numbers where Kubernetes prints an int64. Unknown resources get the default table
/// convertor's cells: the name and the creation time in RFC 3339 (UTC).
pub fn cells(plural: &str, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
    match plural {
        "namespaces" => core::namespace(obj, now),
        "secrets" => core::secret(obj, now),
        "configmaps" => core::config_map(obj, now),
        "serviceaccounts" => core::service_account(obj, now),
        "events" => core::event(obj, now),
        "leases" => core::lease(obj, now),
        "nodes" => nodes::node(obj, now),
        "pods" => pods::pod(obj, now),
        "services" => services::service(obj, now),
        "endpoints" => services::endpoints(obj, now),
        "replicationcontrollers" => apps::replication_controller(obj, now),
        "deployments" => apps::deployment(obj, now),
        "replicasets" => apps::replica_set(obj, now),
        "statefulsets" => apps::stateful_set(obj, now),
        "endpointslices" => networking::endpoint_slice(obj, now),
        "ingresses" => networking::ingress(obj, now),
        "ingressclasses" => networking::ingress_class(obj, now),
        _ => default_cells(obj),
    }
}

/// The default table convertor's row: name and creation time (`time.RFC3339`, UTC).
///
/// A missing or unparseable timestamp is Go's zero time, as the apiserver would print it.
fn default_cells(obj: &Value) -> Vec<Value> {
    let created = fields::timestamp(obj, "/metadata/creationTimestamp")
        .map(|ts| ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_owned());
    vec![fields::name(obj).into(), created.into()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ALL: [&str; 17] = [
        "namespaces",
        "nodes",
        "pods",
        "services",
        "endpoints",
        "secrets",
        "configmaps",
        "events",
        "serviceaccounts",
        "replicationcontrollers",
        "deployments",
        "replicasets",
        "statefulsets",
        "endpointslices",
        "ingresses",
        "ingressclasses",
        "leases",
    ];

    fn now() -> jiff::Timestamp {
        "2025-01-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn every_row_matches_its_columns() {
        let obj = json!({"metadata": {"name": "x", "creationTimestamp": "2025-01-01T11:59:00Z"}});
        for plural in ALL.iter().copied().chain(["widgets"]) {
            let cols = column_definitions(plural);
            assert_eq!(cols.len(), cells(plural, &obj, now()).len(), "{plural}");
            let names: Vec<_> = cols.iter().filter(|c| c["format"] == "name").collect();
            assert_eq!(names.len(), 1, "{plural} has exactly one name column");
            assert_eq!(names[0]["name"], "Name");
            for c in &cols {
                assert!(
                    c["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{plural}"
                );
            }
        }
    }

    #[test]
    fn column_definitions_have_the_table_shape() {
        let cols = column_definitions("services");
        assert_eq!(cols[0]["name"], "Name");
        assert_eq!(cols[0]["type"], "string");
        assert_eq!(cols[0]["format"], "name");
        assert_eq!(cols[0]["priority"], 0);
        assert_eq!(cols[1]["format"], "");
        assert_eq!(cols[6]["name"], "Selector");
        assert_eq!(cols[6]["priority"], 1);
        let keys: Vec<_> = cols[0].as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys.len(), 5);
    }

    #[test]
    fn unknown_resources_use_the_default_convertor() {
        let cols = column_definitions("widgets");
        let names: Vec<_> = cols.iter().map(|c| c["name"].clone()).collect();
        assert_eq!(names, vec![json!("Name"), json!("Created At")]);
        assert_eq!(cols[1]["type"], "date");
        let obj = json!({"metadata": {"name": "w", "creationTimestamp": "2024-03-05T06:07:08Z"}});
        assert_eq!(
            cells("widgets", &obj, now()),
            vec![json!("w"), json!("2024-03-05T06:07:08Z")]
        );
        let offset =
            json!({"metadata": {"name": "w", "creationTimestamp": "2024-03-05T08:07:08+02:00"}});
        assert_eq!(
            cells("widgets", &offset, now())[1],
            json!("2024-03-05T06:07:08Z")
        );
        let bare = json!({"metadata": {"name": "w"}});
        assert_eq!(
            cells("widgets", &bare, now())[1],
            json!("0001-01-01T00:00:00Z")
        );
    }

    #[test]
    fn non_object_input_does_not_panic() {
        for plural in ALL {
            let row = cells(plural, &json!(null), now());
            assert_eq!(row.len(), column_definitions(plural).len());
        }
    }
}
