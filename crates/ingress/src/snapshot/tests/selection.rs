//! Which Ingresses are served, their TLS hosts and certificates, and the rendered table.

use serde_json::json;

use super::objects::*;
use super::{build, inputs};
use crate::snapshot::{Arc, IngressClass};

#[test]
fn class_selection() {
    let rules =
        || json!({"rules": [rule("", vec![path("Prefix", "/", "web", json!({"number": 80}))])]});
    let named_ours = ingress("named-ours", 1, rules());
    let mut other = rules();
    other["ingressClassName"] = json!("nginx");
    let named_other = ingress("named-other", 2, other);
    let annotated = ingress_with(
        "annotated",
        3,
        json!({"kubernetes.io/ingress.class": "portico"}),
        json!({"ingressClassName": null, "rules": []}),
    );
    let annotated_other = ingress_with(
        "annotated-other",
        4,
        json!({"kubernetes.io/ingress.class": "nginx"}),
        rules(),
    );
    let classless = ingress("classless", 5, json!({"ingressClassName": null}));
    let all = vec![
        named_ours,
        named_other,
        annotated,
        annotated_other,
        classless,
    ];
    let served = |classes: Vec<Arc<IngressClass>>| {
        let mut inputs = inputs(all.clone());
        inputs.classes = classes;
        build(&inputs)
            .served
            .into_iter()
            .map(|(_, name)| name)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        served(vec![class(CLASS, CONTROLLER, false)]),
        ["annotated", "named-ours"]
    );
    assert_eq!(
        served(vec![
            class(CLASS, CONTROLLER, true),
            class("nginx", "k8s.io/ingress-nginx", false)
        ]),
        ["annotated", "classless", "named-ours"],
        "the default class takes Ingresses without class"
    );
    assert_eq!(
        served(vec![class(CLASS, "example.com/other", true)]),
        ["annotated"],
        "an IngressClass of another controller is not ours, default or not"
    );
    assert_eq!(
        served(vec![
            class(CLASS, CONTROLLER, false),
            class("nginx", CONTROLLER, false)
        ]),
        ["annotated", "named-other", "named-ours"],
        "an IngressClass of our controller under another name is ours too"
    );
    assert_eq!(
        served(Vec::new()),
        ["annotated"],
        "ingressClassName needs its IngressClass"
    );
}

#[test]
fn tls_hosts_and_certificates() {
    let mut inputs = inputs(vec![
        ingress(
            "secure",
            1,
            json!({
                "tls": [
                    {"hosts": ["foo.example.com"], "secretName": "foo-tls"},
                    {"hosts": ["*.wild.example.com"], "secretName": "wild-tls"},
                    {"hosts": ["missing.example.com"], "secretName": "nope"},
                ],
                "rules": [rule("foo.example.com", vec![path("Prefix", "/", "web", json!({"number": 80}))])],
            }),
        ),
        ingress(
            "later",
            2,
            json!({
                "tls": [{"secretName": "later-tls"}],
                "rules": [
                    rule("foo.example.com", vec![path("Prefix", "/later", "api", json!({"number": 80}))]),
                    rule("bar.example.com", vec![path("Prefix", "/", "api", json!({"number": 80}))]),
                ],
            }),
        ),
    ]);
    inputs.secrets = vec![
        tls_secret("foo-tls", "FOO CERT", "FOO KEY"),
        tls_secret("wild-tls", "WILD CERT", "WILD KEY"),
        tls_secret("later-tls", "LATER CERT", "LATER KEY"),
    ];
    let snapshot = build(&inputs);
    let table = &snapshot.routes;
    for host in [
        "foo.example.com",
        "a.wild.example.com",
        "missing.example.com",
        "bar.example.com",
    ] {
        assert!(table.is_tls_host(host), "{host}");
    }
    assert!(!table.is_tls_host("a.b.wild.example.com"));
    assert!(!table.is_tls_host("plain.example.com"));
    assert!(table.route(Some("foo.example.com"), "/").unwrap().tls_host);
    assert!(!table
        .route(Some("plain.example.com"), "/")
        .is_some_and(|m| m.tls_host));

    let certs: Vec<(&str, &str, &[u8])> = snapshot
        .certs
        .iter()
        .map(|(host, pair)| {
            (
                host.as_str(),
                pair.secret.as_str(),
                pair.cert_pem.as_slice(),
            )
        })
        .collect();
    assert_eq!(
        certs,
        [
            ("*.wild.example.com", "default/wild-tls", &b"WILD CERT"[..]),
            ("bar.example.com", "default/later-tls", b"LATER CERT"),
            ("foo.example.com", "default/foo-tls", b"FOO CERT"),
        ],
        "the oldest Ingress keeps foo; an entry without hosts covers the rules' hosts"
    );
    assert_eq!(snapshot.certs["foo.example.com"].key_pem, b"FOO KEY");
}

#[test]
fn rendered_table() {
    let mut inputs = inputs(vec![
        ingress(
            "site",
            1,
            json!({
                "defaultBackend": {"service": {"name": "ghost", "port": {"number": 80}}},
                "tls": [{"hosts": ["foo.example.com"], "secretName": "foo-tls"}],
                "rules": [
                    rule("foo.example.com", vec![
                        path("Prefix", "/", "web", json!({"name": "http"})),
                        path("Exact", "/api", "api", json!({"number": 80})),
                    ]),
                    rule("*.example.com", vec![path("Prefix", "/admin/", "admin", json!({"number": 80}))]),
                ],
            }),
        ),
        ingress_with(
            "regex",
            2,
            json!({"nginx.ingress.kubernetes.io/use-regex": "true"}),
            json!({"rules": [rule("", vec![path("ImplementationSpecific", "/v[0-9]+/.*", "api", json!({"number": 80}))])]}),
        ),
    ]);
    inputs.secrets = vec![tls_secret("foo-tls", "C", "K")];
    let snapshot = build(&inputs);
    insta::assert_snapshot!(snapshot.routes.to_string());
}
