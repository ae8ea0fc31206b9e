//! The routing cases of networking.k8s.io/v1 and ingress-nginx, from objects to answers.

mod objects;
mod selection;

use std::net::SocketAddr;

use serde_json::json;

use self::objects::*;
use super::*;

fn inputs(ingresses: Vec<Arc<Ingress>>) -> Inputs {
    Inputs {
        ingresses,
        classes: vec![class(CLASS, CONTROLLER, false)],
        services: vec![
            service("web", &[("http", 80, 8080)]),
            service("api", &[("", 80, 9000)]),
            service("admin", &[("http", 80, 8081), ("metrics", 9100, 9100)]),
        ],
        slices: vec![
            slice(
                "web-1",
                "web",
                &[("http", 8080)],
                &[("10.244.0.5", Some(true)), ("10.244.0.6", None)],
            ),
            slice("api-1", "api", &[("", 9000)], &[("10.244.1.5", Some(true))]),
            slice(
                "admin-1",
                "admin",
                &[("http", 8081), ("metrics", 9100)],
                &[("10.244.2.5", Some(true)), ("10.244.2.6", Some(false))],
            ),
        ],
        secrets: Vec::new(),
    }
}

fn build(inputs: &Inputs) -> Snapshot {
    Snapshot::build(inputs, CLASS, CONTROLLER)
}

/// `service` name of the route for `host` and `path`, or "404".
fn to(table: &RouteTable, host: Option<&str>, path: &str) -> String {
    table
        .route(host, path)
        .map_or_else(|| "404".to_string(), |m| m.backend.service.name.clone())
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn exact_before_prefix_longest_first() {
    let snapshot = build(&inputs(vec![ingress(
        "site",
        1,
        json!({"rules": [rule("foo.example.com", vec![
            path("Prefix", "/", "web", json!({"number": 80})),
            path("Prefix", "/api", "api", json!({"number": 80})),
            path("Exact", "/api", "admin", json!({"number": 80})),
            path("Prefix", "/api/admin/", "admin", json!({"name": "metrics"})),
        ])]}),
    )]));
    let table = &snapshot.routes;
    let host = Some("foo.example.com");
    assert_eq!(
        to(table, host, "/api"),
        "admin",
        "Exact wins at equal length"
    );
    assert_eq!(to(table, host, "/api/"), "api");
    assert_eq!(to(table, host, "/api/v1"), "api");
    assert_eq!(to(table, host, "/apiv1"), "web", "Prefix is element-wise");
    let deep = table.route(host, "/api/admin").unwrap();
    assert_eq!(deep.backend.service.port, PortRef::Name("metrics".into()));
    assert_eq!(deep.path, "/api/admin/");
    assert_eq!(to(table, host, "/"), "web");
    assert_eq!(to(table, host, "/anything"), "web");
    let matched = table.route(host, "/x").unwrap();
    assert_eq!(matched.ingress, "default/site");
    assert!(matched.captures.is_empty());
    assert!(!matched.tls_host);
}

#[test]
fn implementation_specific_is_a_string_prefix() {
    let snapshot = build(&inputs(vec![ingress(
        "site",
        1,
        json!({"rules": [rule("", vec![
            path("ImplementationSpecific", "/foo", "api", json!({"number": 80})),
        ])]}),
    )]));
    assert_eq!(to(&snapshot.routes, None, "/foobar"), "api");
    assert_eq!(to(&snapshot.routes, None, "/fo"), "404");
}

#[test]
fn hosts_exact_then_wildcard_of_one_label_then_no_host() {
    let snapshot = build(&inputs(vec![ingress(
        "hosts",
        1,
        json!({"rules": [
            rule("*.example.com", vec![path("Prefix", "/", "web", json!({"number": 80}))]),
            rule("foo.example.com", vec![path("Prefix", "/", "api", json!({"number": 80}))]),
            rule("", vec![path("Prefix", "/", "admin", json!({"number": 80}))]),
        ]}),
    )]));
    let table = &snapshot.routes;
    assert_eq!(to(table, Some("foo.example.com"), "/"), "api");
    assert_eq!(to(table, Some("bar.example.com"), "/"), "web");
    assert_eq!(to(table, Some("BAR.Example.com"), "/"), "web");
    assert_eq!(
        to(table, Some("a.bar.example.com"), "/"),
        "admin",
        "one label only"
    );
    assert_eq!(to(table, Some("example.com"), "/"), "admin");
    assert_eq!(to(table, None, "/"), "admin");
}

#[test]
fn a_host_does_not_fall_through_to_rules_without_host() {
    // ingress-nginx: the host has its own server; its unmatched paths get its default
    // backend (here none), not the rules of the catch-all server.
    let snapshot = build(&inputs(vec![ingress(
        "mixed",
        1,
        json!({"rules": [
            rule("foo.example.com", vec![path("Prefix", "/api", "api", json!({"number": 80}))]),
            rule("", vec![path("Prefix", "/", "web", json!({"number": 80}))]),
        ]}),
    )]));
    assert_eq!(
        to(&snapshot.routes, Some("foo.example.com"), "/other"),
        "404"
    );
    assert_eq!(
        to(&snapshot.routes, Some("bar.example.com"), "/other"),
        "web"
    );
}

#[test]
fn ingresses_merge_and_the_oldest_wins_conflicts() {
    let newer = ingress(
        "newer",
        30,
        json!({"rules": [rule("foo.example.com", vec![
            path("Prefix", "/shop", "admin", json!({"number": 80})),
            path("Prefix", "/", "admin", json!({"number": 80})),
        ])]}),
    );
    let older = ingress(
        "older",
        10,
        json!({"rules": [rule("foo.example.com", vec![
            path("Prefix", "/", "web", json!({"number": 80})),
        ])]}),
    );
    // Listed newest first: the order of the list must not matter.
    let snapshot = build(&inputs(vec![newer, older]));
    let table = &snapshot.routes;
    assert_eq!(to(table, Some("foo.example.com"), "/shop/cart"), "admin");
    let root = table.route(Some("foo.example.com"), "/").unwrap();
    assert_eq!(root.backend.service.name, "web");
    assert_eq!(root.ingress, "default/older");
    assert_eq!(
        snapshot.served,
        [
            ("default".to_string(), "newer".to_string()),
            ("default".to_string(), "older".to_string())
        ]
    );
}

#[test]
fn same_creation_time_orders_by_name() {
    let b = ingress(
        "b",
        5,
        json!({"rules": [rule("", vec![path("Prefix", "/", "api", json!({"number": 80}))])]}),
    );
    let a = ingress(
        "a",
        5,
        json!({"rules": [rule("", vec![path("Prefix", "/", "web", json!({"number": 80}))])]}),
    );
    let snapshot = build(&inputs(vec![b, a]));
    assert_eq!(to(&snapshot.routes, None, "/"), "web");
}

#[test]
fn default_backend_serves_what_no_rule_matches() {
    let with_rules = ingress(
        "with-rules",
        1,
        json!({
            "defaultBackend": {"service": {"name": "admin", "port": {"number": 80}}},
            "rules": [rule("foo.example.com", vec![path("Exact", "/api", "api", json!({"number": 80}))])],
        }),
    );
    let snapshot = build(&inputs(vec![with_rules.clone()]));
    let table = &snapshot.routes;
    assert_eq!(to(table, Some("foo.example.com"), "/api"), "api");
    let fallback = table.route(Some("foo.example.com"), "/other").unwrap();
    assert_eq!(fallback.backend.service.name, "admin");
    assert_eq!(fallback.path, "", "a default backend has no path");
    assert_eq!(to(table, Some("unknown.example.com"), "/"), "admin");

    // An Ingress with a default backend and no rules is ingress-nginx's catch-all, even
    // when younger; the host keeps its own Ingress's default backend.
    let catch_all = ingress(
        "catch-all",
        9,
        json!({"defaultBackend": {"service": {"name": "web", "port": {"name": "http"}}}}),
    );
    let snapshot = build(&inputs(vec![with_rules, catch_all]));
    let table = &snapshot.routes;
    assert_eq!(to(table, Some("unknown.example.com"), "/x"), "web");
    assert_eq!(to(table, None, "/x"), "web");
    assert_eq!(to(table, Some("foo.example.com"), "/x"), "admin");
}

#[test]
fn nothing_served_is_404() {
    let snapshot = build(&inputs(Vec::new()));
    assert!(snapshot.routes.is_empty());
    assert!(snapshot.routes.route(Some("foo"), "/").is_none());
}

#[test]
fn ports_by_number_and_name_resolve_ready_endpoints() {
    let snapshot = build(&inputs(vec![ingress(
        "ports",
        1,
        json!({"rules": [rule("", vec![
            path("Prefix", "/web", "web", json!({"number": 80})),
            path("Prefix", "/web-by-name", "web", json!({"name": "http"})),
            path("Prefix", "/unnamed", "api", json!({"number": 80})),
            path("Prefix", "/metrics", "admin", json!({"name": "metrics"})),
            path("Prefix", "/admin", "admin", json!({"number": 80})),
        ])]}),
    )]));
    let table = &snapshot.routes;
    let endpoints = |path: &str| table.route(None, path).unwrap().backend.endpoints.clone();
    // `ready` unset counts as ready.
    let web = vec![addr("10.244.0.5:8080"), addr("10.244.0.6:8080")];
    assert_eq!(endpoints("/web"), web);
    assert_eq!(endpoints("/web-by-name"), web);
    assert_eq!(endpoints("/unnamed"), [addr("10.244.1.5:9000")]);
    assert_eq!(
        endpoints("/metrics"),
        [addr("10.244.2.5:9100")],
        "not ready is left out"
    );
    assert_eq!(endpoints("/admin"), [addr("10.244.2.5:8081")]);
}

#[test]
fn no_endpoints_and_unknown_services() {
    let mut inputs = inputs(vec![ingress(
        "missing",
        1,
        json!({"rules": [rule("", vec![
            path("Prefix", "/empty", "empty", json!({"number": 80})),
            path("Prefix", "/ghost", "ghost", json!({"number": 80})),
            path("Prefix", "/wrong-port", "web", json!({"number": 81})),
            path("Prefix", "/wrong-name", "web", json!({"name": "grpc"})),
        ])]}),
    )]);
    inputs.services.push(service("empty", &[("", 80, 80)]));
    let snapshot = build(&inputs);
    let table = &snapshot.routes;
    let empty = table.route(None, "/empty").unwrap().backend;
    assert!(empty.service_found);
    assert!(empty.endpoints.is_empty());
    for path in ["/ghost", "/wrong-port", "/wrong-name"] {
        let backend = table.route(None, path).unwrap().backend;
        assert!(!backend.service_found, "{path}");
        assert!(backend.endpoints.is_empty(), "{path}");
    }
}

#[test]
fn regex_hosts_use_case_insensitive_anchored_patterns_with_captures() {
    let rewrite = ingress_with(
        "rewrite",
        1,
        json!({"nginx.ingress.kubernetes.io/rewrite-target": "/$2"}),
        json!({"rules": [rule("rewrite.example.com", vec![
            path("ImplementationSpecific", "/something(/|$)(.*)", "api", json!({"number": 80})),
        ])]}),
    );
    // A second Ingress on the same host without annotations: its Exact path becomes a
    // case-insensitive prefix regex too, as ingress-nginx enforces per host.
    let plain = ingress(
        "plain",
        2,
        json!({"rules": [
            rule("rewrite.example.com", vec![path("Exact", "/exact", "web", json!({"number": 80}))]),
            rule("other.example.com", vec![path("Exact", "/exact", "web", json!({"number": 80}))]),
        ]}),
    );
    let snapshot = build(&inputs(vec![rewrite, plain]));
    let table = &snapshot.routes;
    let host = Some("rewrite.example.com");
    let matched = table.route(host, "/SomeThing/new/path").unwrap();
    assert_eq!(matched.backend.service.name, "api");
    assert_eq!(matched.captures, ["/", "new/path"]);
    assert_eq!(matched.options.rewrite_target.as_deref(), Some("/$2"));
    assert_eq!(matched.path, "/something(/|$)(.*)");
    let empty = table.route(host, "/something").unwrap();
    assert_eq!(empty.captures, ["", ""]);
    assert_eq!(to(table, host, "/EXACT/more"), "web");
    assert_eq!(
        to(table, host, "/x/something"),
        "404",
        "anchored at the start"
    );
    assert_eq!(to(table, Some("other.example.com"), "/exact/more"), "404");
}

#[test]
fn invalid_regex_paths_are_skipped() {
    let snapshot = build(&inputs(vec![ingress_with(
        "bad",
        1,
        json!({"portico.dev/use-regex": "true"}),
        json!({"rules": [rule("", vec![
            path("ImplementationSpecific", "/(unclosed", "api", json!({"number": 80})),
            path("ImplementationSpecific", "/ok/.*", "web", json!({"number": 80})),
        ])]}),
    )]));
    assert_eq!(to(&snapshot.routes, None, "/OK/yes"), "web");
    assert_eq!(to(&snapshot.routes, None, "/(unclosed"), "404");
}
