use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::registry::by_kind;

fn info(api_version: &str) -> &'static ResourceInfo {
    by_kind(api_version, "Ingress").unwrap()
}

/// The notes' 5.4.3 Ingress (two paths), as kubectl sends it.
fn notes_ingress(api_version: &str) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": "Ingress",
        "metadata": {"name": "kubia", "namespace": "default"},
        "spec": {"rules": [{"host": "kubia.example.com", "http": {"paths": [
            {"path": "/kubia", "backend": {"serviceName": "kubia", "servicePort": 80}},
            {"path": "/bar", "backend": {"serviceName": "bar", "servicePort": "http"}},
        ]}}]},
    })
}

#[test]
fn old_ingress_becomes_v1() {
    for av in ["extensions/v1beta1", "networking.k8s.io/v1beta1"] {
        let v1 = to_storage(info(av), notes_ingress(av));
        assert_eq!(v1["apiVersion"], "networking.k8s.io/v1");
        let paths = &v1["spec"]["rules"][0]["http"]["paths"];
        assert_eq!(
            paths[0],
            json!({"path": "/kubia", "pathType": "ImplementationSpecific",
                   "backend": {"service": {"name": "kubia", "port": {"number": 80}}}})
        );
        assert_eq!(
            paths[1]["backend"],
            json!({"service": {"name": "bar", "port": {"name": "http"}}})
        );
    }
}

#[test]
fn default_backend_and_resource_backends() {
    let old = json!({"apiVersion": "extensions/v1beta1", "kind": "Ingress",
        "metadata": {"name": "a"},
        "spec": {"backend": {"serviceName": "web", "servicePort": 8080},
                 "rules": [{"http": {"paths": [{"path": "/s", "pathType": "Prefix",
                     "backend": {"resource": {"apiGroup": "k8s.example.com", "kind": "StorageBucket", "name": "b"}}}]}}]}});
    let v1 = to_storage(info("extensions/v1beta1"), old);
    assert_eq!(
        v1["spec"]["defaultBackend"],
        json!({"service": {"name": "web", "port": {"number": 8080}}})
    );
    assert!(v1["spec"].get("backend").is_none());
    let path = &v1["spec"]["rules"][0]["http"]["paths"][0];
    assert_eq!(path["pathType"], "Prefix");
    assert_eq!(path["backend"]["resource"]["kind"], "StorageBucket");
    assert!(path["backend"].get("service").is_none());
    // Back: the resource backend carries `servicePort: 0`, as Go's encoder wrote it.
    let back = from_storage(info("extensions/v1beta1"), v1);
    assert_eq!(back["apiVersion"], "extensions/v1beta1");
    assert_eq!(
        back["spec"]["backend"],
        json!({"serviceName": "web", "servicePort": 8080})
    );
    assert_eq!(
        back["spec"]["rules"][0]["http"]["paths"][0]["backend"]["servicePort"],
        0
    );
}

#[test]
fn string_ports_stay_names_even_when_numeric() {
    let mut old = notes_ingress("extensions/v1beta1");
    old["spec"]["rules"][0]["http"]["paths"][0]["backend"]["servicePort"] = json!("80");
    let v1 = to_storage(info("extensions/v1beta1"), old);
    assert_eq!(
        v1["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"],
        json!({"name": "80"})
    );
}

#[test]
fn a_service_name_without_port_keeps_the_service() {
    let mut old = notes_ingress("extensions/v1beta1");
    old["spec"]["rules"][0]["http"]["paths"][0]["backend"] = json!({"serviceName": "kubia"});
    let v1 = to_storage(info("extensions/v1beta1"), old);
    assert_eq!(
        v1["spec"]["rules"][0]["http"]["paths"][0]["backend"],
        json!({"service": {"name": "kubia", "port": {}}})
    );
    let back = from_storage(info("extensions/v1beta1"), v1);
    assert_eq!(
        back["spec"]["rules"][0]["http"]["paths"][0]["backend"],
        json!({"serviceName": "kubia", "servicePort": 0})
    );
}

#[test]
fn stored_versions_and_other_kinds_pass_through() {
    let v1 = info("networking.k8s.io/v1");
    let obj = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "spec": {"defaultBackend": {}}});
    assert_eq!(to_storage(v1, obj.clone()), obj);
    assert_eq!(from_storage(v1, obj.clone()), obj);
    let status = json!({"kind": "Status", "apiVersion": "v1", "code": 410});
    assert_eq!(
        from_storage(info("extensions/v1beta1"), status.clone()),
        status
    );
}

fn arb_backend() -> impl Strategy<Value = Value> {
    prop_oneof![
        ("[a-z][a-z0-9-]{0,8}", 1i64..65536)
            .prop_map(|(n, p)| json!({"service": {"name": n, "port": {"number": p}}})),
        ("[a-z][a-z0-9-]{0,8}", "[a-z][a-z0-9]{0,8}")
            .prop_map(|(n, p)| json!({"service": {"name": n, "port": {"name": p}}})),
        "[a-z][a-z0-9-]{0,8}".prop_map(|n| json!({"service": {"name": n, "port": {}}})),
        ("[a-z]{1,6}", "[A-Z][a-z]{1,6}", "[a-z]{1,6}", any::<bool>()).prop_map(
            |(g, k, n, with_group)| {
                let mut r = json!({"kind": k, "name": n});
                if with_group {
                    r["apiGroup"] = json!(format!("{g}.example.com"));
                }
                json!({"resource": r})
            }
        ),
    ]
}

fn arb_path() -> impl Strategy<Value = Value> {
    (
        proptest::option::of("/[a-z]{0,6}"),
        prop_oneof![
            Just("Exact"),
            Just("Prefix"),
            Just("ImplementationSpecific")
        ],
        arb_backend(),
    )
        .prop_map(|(path, pt, backend)| {
            let mut p = json!({"pathType": pt, "backend": backend});
            if let Some(path) = path {
                p["path"] = json!(path);
            }
            p
        })
}

fn arb_rule() -> impl Strategy<Value = Value> {
    (
        proptest::option::of("[a-z]{1,6}\\.example\\.com"),
        proptest::option::of(proptest::collection::vec(arb_path(), 1..4)),
    )
        .prop_map(|(host, paths)| {
            let mut r = json!({});
            if let Some(h) = host {
                r["host"] = json!(h);
            }
            if let Some(paths) = paths {
                r["http"] = json!({"paths": paths});
            }
            r
        })
}

fn arb_ingress() -> impl Strategy<Value = Value> {
    (
        proptest::option::of(arb_backend()),
        proptest::collection::vec(arb_rule(), 0..3),
        proptest::option::of("[a-z]{1,8}"),
        proptest::collection::vec(
            (
                proptest::collection::vec("[a-z]{1,5}\\.example\\.com", 0..3),
                proptest::option::of("[a-z]{1,8}"),
            ),
            0..2,
        ),
        proptest::option::of(proptest::collection::btree_map(
            "[a-z]{1,5}",
            "[a-z]{0,5}",
            0..3,
        )),
        proptest::option::of("10\\.0\\.0\\.[0-9]{1,2}"),
    )
        .prop_map(|(default, rules, class, tls, annotations, lb_ip)| {
            let mut spec = json!({});
            if let Some(b) = default {
                spec["defaultBackend"] = b;
            }
            if !rules.is_empty() {
                spec["rules"] = json!(rules);
            }
            if let Some(c) = class {
                spec["ingressClassName"] = json!(c);
            }
            if !tls.is_empty() {
                spec["tls"] = json!(tls
                    .into_iter()
                    .map(|(hosts, secret)| {
                        let mut t = json!({"hosts": hosts});
                        if let Some(s) = secret {
                            t["secretName"] = json!(s);
                        }
                        t
                    })
                    .collect::<Vec<_>>());
            }
            let mut meta = json!({"name": "kubia", "namespace": "default", "uid": "u-1",
                "resourceVersion": "7", "generation": 2, "creationTimestamp": "2024-01-01T00:00:00Z"});
            if let Some(a) = annotations {
                meta["annotations"] = json!(a);
            }
            let status = match lb_ip {
                Some(ip) => json!({"loadBalancer": {"ingress": [{"ip": ip}]}}),
                None => json!({"loadBalancer": {}}),
            };
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                   "metadata": meta, "spec": spec, "status": status})
        })
}

proptest! {
    #[test]
    fn v1_to_old_to_v1_is_lossless(obj in arb_ingress()) {
        for av in ["extensions/v1beta1", "networking.k8s.io/v1beta1"] {
            let old = from_storage(info(av), obj.clone());
            prop_assert_eq!(&old["apiVersion"], &json!(av));
            prop_assert!(old["spec"].get("defaultBackend").is_none());
            let back = to_storage(info(av), old);
            prop_assert_eq!(&back, &obj);
        }
    }

    #[test]
    fn old_to_v1_to_old_is_stable(obj in arb_ingress()) {
        // Once in the old shape (and so defaulted), a second round trip changes nothing.
        let ext = info("extensions/v1beta1");
        let old = from_storage(ext, obj);
        let again = from_storage(ext, to_storage(ext, old.clone()));
        prop_assert_eq!(again, old);
    }
}
