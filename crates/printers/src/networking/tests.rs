use serde_json::{json, Value};

use crate::cells;

fn now() -> jiff::Timestamp {
    "2025-06-01T12:00:00Z".parse().unwrap()
}

fn ingress(spec: Value, status: Value) -> Vec<Value> {
    let obj = json!({"metadata": {"name": "shop", "creationTimestamp": "2025-06-01T11:58:30Z"},
                     "spec": spec, "status": status});
    cells("ingresses", &obj, now())
}

#[test]
fn ingress_row() {
    let row = ingress(
        json!({"ingressClassName": "portico",
               "rules": [{"host": "shop.example.com", "http": {"paths": []}}],
               "tls": [{"hosts": ["shop.example.com"], "secretName": "shop-tls"}]}),
        json!({"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}),
    );
    assert_eq!(
        row,
        vec![
            json!("shop"),
            json!("portico"),
            json!("shop.example.com"),
            json!("127.0.0.1"),
            json!("80, 443"),
            json!("90s")
        ]
    );
}

#[test]
fn ingress_defaults() {
    let row = ingress(
        json!({"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}}),
        json!({}),
    );
    assert_eq!(
        row[1..5],
        [json!("<none>"), json!("*"), json!(""), json!("80")]
    );
    let row = ingress(json!({"rules": [{"http": {}}]}), json!({}));
    assert_eq!(row[2], json!("*"));
}

#[test]
fn ingress_hosts_show_three_and_count_remaining_rules() {
    let rules = json!([{"host": "a.example"}, {"host": "b.example"}, {}, {"host": "c.example"},
                       {"host": "d.example"}, {}]);
    // As in Kubernetes, N is the number of rules past the third, hostless ones included.
    let row = ingress(json!({"rules": rules}), json!({}));
    assert_eq!(row[2], json!("a.example,b.example,c.example + 3 more..."));
    let three = json!([{"host": "a"}, {"host": "b"}, {"host": "c"}]);
    assert_eq!(
        ingress(json!({"rules": three}), json!({}))[2],
        json!("a,b,c")
    );
}

#[test]
fn ingress_address_is_not_clipped_server_side() {
    let row = ingress(
        json!({}),
        json!({"loadBalancer": {"ingress": [
        {"hostname": "very-long-load-balancer-name.example.com"}, {"ip": "192.0.2.10"}]}}),
    );
    assert_eq!(
        row[3],
        json!("192.0.2.10,very-long-load-balancer-name.example.com")
    );
}

#[test]
fn ingress_class_rows() {
    let obj = json!({"metadata": {"name": "portico", "creationTimestamp": "2025-06-01T10:00:00Z"},
                     "spec": {"controller": "portico.dev/ingress",
                              "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external"}}});
    assert_eq!(
        cells("ingressclasses", &obj, now()),
        vec![
            json!("portico"),
            json!("portico.dev/ingress"),
            json!("IngressParameters.k8s.example.com/external"),
            json!("120m")
        ]
    );
    let core_kind = json!({"metadata": {"name": "c"}, "spec": {"controller": "x", "parameters": {"kind": "ConfigMap", "name": "cfg"}}});
    assert_eq!(
        cells("ingressclasses", &core_kind, now())[2],
        json!("ConfigMap/cfg")
    );
    let bare = json!({"metadata": {"name": "c"}, "spec": {"controller": "x"}});
    assert_eq!(cells("ingressclasses", &bare, now())[2], json!("<none>"));
}

#[test]
fn endpoint_slice_row() {
    let obj = json!({
        "metadata": {"name": "web-abc12", "creationTimestamp": "2025-06-01T11:00:00Z"},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["10.244.0.5"], "conditions": {"ready": true}},
                      {"addresses": ["10.244.0.6"], "conditions": {"ready": true}}]
    });
    assert_eq!(
        cells("endpointslices", &obj, now()),
        vec![
            json!("web-abc12"),
            json!("IPv4"),
            json!("8080"),
            json!("10.244.0.5,10.244.0.6"),
            json!("60m")
        ]
    );
}

#[test]
fn endpoint_slice_edge_cases() {
    let obj = json!({
        "metadata": {"name": "s"}, "addressType": "IPv6",
        "ports": [{"name": "dns"}, {}, {"port": 53}, {"port": 54}],
        "endpoints": [{"addresses": ["fd00::1", "fd00::2"]}, {"addresses": ["fd00::3", "fd00::4", "fd00::5"]}]
    });
    let row = cells("endpointslices", &obj, now());
    assert_eq!(row[2], json!("dns,*,53 + 1 more..."));
    assert_eq!(row[3], json!("fd00::1,fd00::2,fd00::3 + 2 more..."));
    let empty =
        json!({"metadata": {"name": "s"}, "addressType": "IPv4", "ports": [], "endpoints": []});
    let row = cells("endpointslices", &empty, now());
    assert_eq!(row[2..4], [json!("<unset>"), json!("<unset>")]);
}
