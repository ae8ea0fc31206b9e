use serde_json::{json, Value};

use crate::cells;

fn now() -> jiff::Timestamp {
    "2025-06-01T12:00:00Z".parse().unwrap()
}

fn svc(spec: Value, status: Value) -> Vec<Value> {
    let obj = json!({
        "metadata": {"name": "web", "namespace": "default", "creationTimestamp": "2025-06-01T11:59:35Z"},
        "spec": spec, "status": status
    });
    cells("services", &obj, now())
}

#[test]
fn cluster_ip_service_row() {
    let row = svc(
        json!({"type": "ClusterIP", "clusterIP": "10.96.12.34", "clusterIPs": ["10.96.12.34"],
               "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}],
               "selector": {"app": "web", "tier": "front"}}),
        json!({}),
    );
    assert_eq!(
        row,
        vec![
            json!("web"),
            json!("ClusterIP"),
            json!("10.96.12.34"),
            json!("<none>"),
            json!("80/TCP"),
            json!("25s"),
            json!("app=web,tier=front"),
        ]
    );
}

#[test]
fn node_port_service_shows_node_ports_and_external_ips() {
    let row = svc(
        json!({"type": "NodePort", "clusterIPs": ["10.96.0.7"], "externalIPs": ["192.0.2.1", "192.0.2.2"],
               "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"},
                         {"port": 53, "nodePort": 30053, "protocol": "UDP"}]}),
        json!({}),
    );
    assert_eq!(row[3], json!("192.0.2.1,192.0.2.2"));
    assert_eq!(row[4], json!("80:30080/TCP,53:30053/UDP"));
    assert_eq!(row[6], json!("<none>"));
}

#[test]
fn load_balancer_pending_then_addresses_unclipped() {
    let spec = json!({"type": "LoadBalancer", "clusterIPs": ["10.96.0.9"], "ports": [{"port": 443, "nodePort": 31443}]});
    assert_eq!(svc(spec.clone(), json!({}))[3], json!("<pending>"));
    let status = json!({"loadBalancer": {"ingress": [
        {"hostname": "a1b2c3d4e5f6.elb.example.com"}, {"ip": "203.0.113.7"}]}});
    let row = svc(spec.clone(), status.clone());
    assert_eq!(row[3], json!("203.0.113.7,a1b2c3d4e5f6.elb.example.com"));
    assert_eq!(row[4], json!("443:31443/TCP"));
    let mut with_external = spec;
    with_external["externalIPs"] = json!(["192.0.2.9"]);
    assert_eq!(
        svc(with_external.clone(), status)[3],
        json!("203.0.113.7,a1b2c3d4e5f6.elb.example.com,192.0.2.9")
    );
    assert_eq!(svc(with_external, json!({}))[3], json!("192.0.2.9"));
}

#[test]
fn external_name_and_headless_services() {
    let row = svc(
        json!({"type": "ExternalName", "externalName": "db.example.com"}),
        json!({}),
    );
    assert_eq!(
        row[1..5],
        [
            json!("ExternalName"),
            json!("<none>"),
            json!("db.example.com"),
            json!("<none>")
        ]
    );
    let row = svc(
        json!({"clusterIP": "None", "ports": [{"port": 5432}], "selector": {"app": "pg"}}),
        json!({}),
    );
    assert_eq!(
        row[1..5],
        [
            json!("ClusterIP"),
            json!("None"),
            json!("<none>"),
            json!("5432/TCP")
        ]
    );
}

#[test]
fn unknown_service_type_has_unknown_external_ip() {
    assert_eq!(
        svc(json!({"type": "Weird"}), json!({}))[3],
        json!("<unknown>")
    );
}

fn ep(subsets: Value) -> Value {
    let obj = json!({"metadata": {"name": "web", "creationTimestamp": "2025-06-01T11:00:00Z"}, "subsets": subsets});
    cells("endpoints", &obj, now())[1].clone()
}

#[test]
fn endpoints_row() {
    let obj = json!({
        "metadata": {"name": "web", "creationTimestamp": "2025-06-01T11:00:00Z"},
        "subsets": [{"addresses": [{"ip": "10.244.0.5"}, {"ip": "10.244.0.6"}], "ports": [{"port": 8080, "protocol": "TCP"}]}]
    });
    assert_eq!(
        cells("endpoints", &obj, now()),
        vec![
            json!("web"),
            json!("10.244.0.5:8080,10.244.0.6:8080"),
            json!("60m")
        ]
    );
}

#[test]
fn endpoints_show_three_then_count_every_address_port_pair() {
    let cell = ep(
        json!([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                          "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}]},
                         {"addresses": [{"ip": "10.0.0.3"}], "ports": [{"port": 80}]}]),
    );
    assert_eq!(
        cell,
        json!("10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 2 more...")
    );
}

#[test]
fn endpoints_edge_cases() {
    assert_eq!(ep(json!([])), json!("<none>"));
    assert_eq!(ep(Value::Null), json!("<none>"));
    // Headless services without ports list bare addresses.
    assert_eq!(
        ep(json!([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]}])),
        json!("10.0.0.1,10.0.0.2")
    );
    assert_eq!(
        ep(json!([{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}])),
        json!("[fd00::1]:80")
    );
    // Only not-ready addresses: nothing to list.
    assert_eq!(
        ep(json!([{"notReadyAddresses": [{"ip": "10.0.0.9"}], "ports": [{"port": 80}]}])),
        json!("")
    );
}
