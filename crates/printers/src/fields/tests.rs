use super::*;
use serde_json::json;

#[test]
fn labels_are_sorted_and_none_when_empty() {
    let labels = json!({"tier": "web", "app": "shop"});
    assert_eq!(format_labels(labels.as_object()), "app=shop,tier=web");
    assert_eq!(format_labels(json!({}).as_object()), "<none>");
    assert_eq!(format_labels(None), "<none>");
}

#[test]
fn selectors_print_like_kubernetes() {
    let sel = json!({
        "matchLabels": {"tier": "web", "app": "shop"},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "dev"]},
            {"key": "zone", "operator": "NotIn", "values": ["b"]},
            {"key": "canary", "operator": "DoesNotExist"},
            {"key": "beta", "operator": "Exists"}
        ]
    });
    assert_eq!(
        format_label_selector(Some(&sel)),
        "app=shop,beta,!canary,env in (dev,prod),tier=web,zone notin (b)"
    );
    assert_eq!(format_label_selector(Some(&json!({}))), "<none>");
    assert_eq!(format_label_selector(None), "<none>");
    assert_eq!(label_selector_string(None).as_deref(), Some(""));
    let bad = json!({"matchExpressions": [{"key": "a", "operator": "Near"}]});
    assert_eq!(format_label_selector(Some(&bad)), "<error>");
    let empty_in = json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]});
    assert_eq!(label_selector_string(Some(&empty_in)), None);
}

#[test]
fn timestamps_parse_and_zero_time_is_unknown() {
    let now: jiff::Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
    let obj = json!({"metadata": {"creationTimestamp": "2024-12-31T23:59:35Z"}});
    assert_eq!(age(&obj, now), "25s");
    for bad in [
        json!({}),
        json!({"metadata": {"creationTimestamp": "yesterday"}}),
        json!({"metadata": {"creationTimestamp": "0001-01-01T00:00:00Z"}}),
        json!({"metadata": {"creationTimestamp": null}}),
    ] {
        assert_eq!(age(&bad, now), "<unknown>");
    }
}

#[test]
fn load_balancer_points_are_sorted_deduplicated_and_clipped_only_when_narrow() {
    let ingress = [
        json!({"ip": "203.0.113.20"}),
        json!({"hostname": "lb.example.com"}),
        json!({"ip": "203.0.113.10", "hostname": "ignored.example"}),
        json!({"ip": "203.0.113.20"}),
        json!({}),
    ];
    assert_eq!(
        load_balancer_addresses(&ingress, true),
        "203.0.113.10,203.0.113.20,lb.example.com"
    );
    assert_eq!(load_balancer_addresses(&ingress, false), "203.0.113.10,...");
    assert_eq!(
        load_balancer_addresses(&ingress[..1], false),
        "203.0.113.20"
    );
    assert_eq!(load_balancer_addresses(&[], false), "");
}

#[test]
fn lists_show_three_then_a_count() {
    let shown: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    assert_eq!(list_with_more(&shown, 3, 3), "a,b,c");
    assert_eq!(list_with_more(&shown, 5, 3), "a,b,c + 2 more...");
    assert_eq!(list_with_more(&[], 0, 3), "<unset>");
}

#[test]
fn containers_and_images_are_comma_joined() {
    let spec = json!({"containers": [{"name": "web", "image": "nginx:1.27"}, {"name": "log", "image": "busybox"}]});
    assert_eq!(
        container_cells(Some(&spec)),
        ("web,log".to_owned(), "nginx:1.27,busybox".to_owned())
    );
    assert_eq!(container_cells(None), (String::new(), String::new()));
}
