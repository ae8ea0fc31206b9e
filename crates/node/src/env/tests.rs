//! Tests of the whole container environment.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapEnvSource, ConfigMapKeySelector, Container, EnvFromSource, EnvVar,
    EnvVarSource, ObjectFieldSelector, Pod, PodSpec, Secret, SecretEnvSource, SecretKeySelector,
    Service,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;

use super::services::tests::service;
use super::*;

fn pod(ns: &str, links: Option<bool>) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some("kubia-abc".into()),
            namespace: Some(ns.into()),
            uid: Some("u-1".into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            enable_service_links: links,
            node_name: Some("node-1".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn value(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    }
}

fn from(name: &str, source: EnvVarSource) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: None,
        value_from: Some(source),
    }
}

fn config_maps(ns: &str, name: &str) -> Option<ConfigMap> {
    (ns == "shop" && name == "settings").then(|| ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([
            ("LOG_LEVEL".to_string(), "debug".to_string()),
            ("color".to_string(), "blue".to_string()),
        ])),
        ..Default::default()
    })
}

fn secrets(ns: &str, name: &str) -> Option<Secret> {
    (ns == "shop" && name == "creds").then(|| Secret {
        data: Some(BTreeMap::from([
            ("password".to_string(), ByteString(b"s3cret".to_vec())),
            ("user".to_string(), ByteString(b"admin".to_vec())),
        ])),
        ..Default::default()
    })
}

fn services() -> Vec<Service> {
    vec![
        service(
            "default",
            "kubernetes",
            "10.96.0.1",
            &[("https", 443, "TCP")],
        ),
        service("shop", "kubia", "10.96.0.5", &[("http", 80, "TCP")]),
        service("other", "elsewhere", "10.96.9.9", &[("", 80, "TCP")]),
    ]
}

fn build(pod: &Pod, container: &Container) -> Result<Vec<(String, String)>, EnvError> {
    let services = services();
    let inputs = EnvInputs {
        pod,
        container,
        services: &services,
        config_maps: &config_maps,
        secrets: &secrets,
        pod_ip: Some("10.244.1.5".into()),
        pod_ips: vec!["10.244.1.5".into()],
        host_ip: "172.18.0.2".into(),
        node_name: "node-1".into(),
        master_service_namespace: "default",
    };
    container_env(&inputs)
}

fn get<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let found: Vec<&str> = env
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect();
    assert!(found.len() <= 1, "{name} defined {} times", found.len());
    found.first().copied()
}

fn container(env: Vec<EnvVar>, env_from: Vec<EnvFromSource>) -> Container {
    Container {
        name: "main".into(),
        env: Some(env),
        env_from: Some(env_from),
        ..Default::default()
    }
}

#[test]
fn service_variables_of_the_namespace_and_the_master() {
    let env = build(&pod("shop", None), &container(vec![], vec![])).unwrap();
    assert_eq!(get(&env, "KUBIA_SERVICE_HOST"), Some("10.96.0.5"));
    assert_eq!(get(&env, "KUBIA_SERVICE_PORT"), Some("80"));
    assert_eq!(get(&env, "KUBIA_SERVICE_PORT_HTTP"), Some("80"));
    assert_eq!(get(&env, "KUBIA_PORT"), Some("tcp://10.96.0.5:80"));
    assert_eq!(get(&env, "KUBIA_PORT_80_TCP"), Some("tcp://10.96.0.5:80"));
    assert_eq!(get(&env, "KUBIA_PORT_80_TCP_PROTO"), Some("tcp"));
    assert_eq!(get(&env, "KUBIA_PORT_80_TCP_PORT"), Some("80"));
    assert_eq!(get(&env, "KUBIA_PORT_80_TCP_ADDR"), Some("10.96.0.5"));
    assert_eq!(get(&env, "KUBERNETES_SERVICE_HOST"), Some("10.96.0.1"));
    assert_eq!(get(&env, "KUBERNETES_SERVICE_PORT"), Some("443"));
    assert_eq!(get(&env, "ELSEWHERE_SERVICE_HOST"), None);
    assert_eq!(env.len(), 16);
}

#[test]
fn enable_service_links_false_keeps_the_master_service() {
    let env = build(&pod("shop", Some(false)), &container(vec![], vec![])).unwrap();
    assert_eq!(get(&env, "KUBIA_SERVICE_HOST"), None);
    assert_eq!(get(&env, "KUBERNETES_SERVICE_HOST"), Some("10.96.0.1"));
    assert_eq!(get(&env, "KUBERNETES_PORT_443_TCP_ADDR"), Some("10.96.0.1"));
}

#[test]
fn explicit_env_overrides_services_and_comes_after_them() {
    let c = container(
        vec![value("KUBIA_SERVICE_HOST", "override"), value("FIRST", "1")],
        vec![],
    );
    let env = build(&pod("shop", None), &c).unwrap();
    assert_eq!(get(&env, "KUBIA_SERVICE_HOST"), Some("override"));
    let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names[names.len() - 2..], ["KUBIA_SERVICE_HOST", "FIRST"]);
}

#[test]
fn values_expand_earlier_variables_and_service_variables() {
    let c = container(
        vec![
            value("HOST", "$(KUBIA_SERVICE_HOST)"),
            value("URL", "http://$(HOST):$(KUBIA_SERVICE_PORT)/$(LATER)"),
            value("LATER", "x"),
            value("ESCAPED", "$$(HOST)"),
            value("FROM_CM", "level=$(LOG_LEVEL)"),
            value("EMPTY", ""),
        ],
        vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: "settings".into(),
                optional: None,
            }),
            prefix: None,
            secret_ref: None,
        }],
    );
    let env = build(&pod("shop", None), &c).unwrap();
    assert_eq!(get(&env, "HOST"), Some("10.96.0.5"));
    assert_eq!(get(&env, "URL"), Some("http://10.96.0.5:80/$(LATER)"));
    assert_eq!(get(&env, "ESCAPED"), Some("$(HOST)"));
    assert_eq!(get(&env, "FROM_CM"), Some("level=debug"));
    assert_eq!(get(&env, "EMPTY"), Some(""));
}

#[test]
fn env_from_with_prefix_and_override() {
    let c = container(
        vec![value("CFG_color", "red")],
        vec![
            EnvFromSource {
                config_map_ref: Some(ConfigMapEnvSource {
                    name: "settings".into(),
                    optional: None,
                }),
                prefix: Some("CFG_".into()),
                secret_ref: None,
            },
            EnvFromSource {
                config_map_ref: None,
                prefix: None,
                secret_ref: Some(SecretEnvSource {
                    name: "creds".into(),
                    optional: None,
                }),
            },
            EnvFromSource {
                config_map_ref: Some(ConfigMapEnvSource {
                    name: "absent".into(),
                    optional: Some(true),
                }),
                prefix: None,
                secret_ref: None,
            },
        ],
    );
    let env = build(&pod("shop", None), &c).unwrap();
    assert_eq!(get(&env, "CFG_LOG_LEVEL"), Some("debug"));
    assert_eq!(get(&env, "CFG_color"), Some("red"));
    assert_eq!(get(&env, "password"), Some("s3cret"));
    assert_eq!(get(&env, "user"), Some("admin"));
    assert_eq!(get(&env, "LOG_LEVEL"), None);
}

#[test]
fn missing_env_from_sources_fail_unless_optional() {
    let c = container(
        vec![],
        vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: "absent".into(),
                optional: None,
            }),
            prefix: None,
            secret_ref: None,
        }],
    );
    let err = build(&pod("shop", None), &c).unwrap_err();
    assert_eq!(err.to_string(), "configmap \"absent\" not found");
    let c = container(
        vec![],
        vec![EnvFromSource {
            config_map_ref: None,
            prefix: None,
            secret_ref: Some(SecretEnvSource {
                name: "gone".into(),
                optional: Some(false),
            }),
        }],
    );
    let err = build(&pod("shop", None), &c).unwrap_err();
    assert_eq!(err.to_string(), "secret \"gone\" not found");
}

fn cm_key(name: &str, key: &str, optional: Option<bool>) -> EnvVarSource {
    EnvVarSource {
        config_map_key_ref: Some(ConfigMapKeySelector {
            key: key.into(),
            name: name.into(),
            optional,
        }),
        ..Default::default()
    }
}

fn secret_key(name: &str, key: &str, optional: Option<bool>) -> EnvVarSource {
    EnvVarSource {
        secret_key_ref: Some(SecretKeySelector {
            key: key.into(),
            name: name.into(),
            optional,
        }),
        ..Default::default()
    }
}

#[test]
fn key_references() {
    let c = container(
        vec![
            from("LEVEL", cm_key("settings", "LOG_LEVEL", None)),
            from("PASS", secret_key("creds", "password", None)),
            from("MAYBE", cm_key("settings", "nope", Some(true))),
            from("MAYBE_CM", cm_key("absent", "k", Some(true))),
            from("MAYBE_SECRET", secret_key("creds", "nope", Some(true))),
        ],
        vec![],
    );
    let env = build(&pod("shop", None), &c).unwrap();
    assert_eq!(get(&env, "LEVEL"), Some("debug"));
    assert_eq!(get(&env, "PASS"), Some("s3cret"));
    assert_eq!(
        get(&env, "MAYBE"),
        None,
        "a missing optional key sets nothing"
    );
    assert_eq!(get(&env, "MAYBE_CM"), None);
    assert_eq!(get(&env, "MAYBE_SECRET"), None);
}

#[test]
fn missing_keys_and_objects_fail_with_kubelet_messages() {
    let cases = [
        (
            cm_key("settings", "nope", None),
            "couldn't find key nope in ConfigMap shop/settings",
        ),
        (
            cm_key("absent", "k", None),
            "configmap \"absent\" not found",
        ),
        (
            secret_key("creds", "nope", Some(false)),
            "couldn't find key nope in Secret shop/creds",
        ),
        (secret_key("gone", "k", None), "secret \"gone\" not found"),
    ];
    for (source, message) in cases {
        let c = container(vec![from("X", source)], vec![]);
        let err = build(&pod("shop", None), &c).unwrap_err();
        assert_eq!(err.to_string(), message);
    }
}

#[test]
fn field_references_use_the_runtime_facts() {
    let field = |path: &str| EnvVarSource {
        field_ref: Some(ObjectFieldSelector {
            api_version: None,
            field_path: path.into(),
        }),
        ..Default::default()
    };
    let c = container(
        vec![
            from("POD_NAME", field("metadata.name")),
            from("POD_NAMESPACE", field("metadata.namespace")),
            from("POD_IP", field("status.podIP")),
            from("HOST_IP", field("status.hostIP")),
            from("NODE", field("spec.nodeName")),
            value("WHERE", "$(POD_NAME)@$(NODE)"),
        ],
        vec![],
    );
    let env = build(&pod("shop", None), &c).unwrap();
    assert_eq!(get(&env, "POD_NAME"), Some("kubia-abc"));
    assert_eq!(get(&env, "POD_NAMESPACE"), Some("shop"));
    assert_eq!(get(&env, "POD_IP"), Some("10.244.1.5"));
    assert_eq!(get(&env, "HOST_IP"), Some("172.18.0.2"));
    assert_eq!(get(&env, "NODE"), Some("node-1"));
    assert_eq!(get(&env, "WHERE"), Some("kubia-abc@node-1"));
}

#[test]
fn command_expansion_with_the_final_environment() {
    let c = container(vec![value("MSG", "hi there")], vec![]);
    let env = build(&pod("shop", None), &c).unwrap();
    assert_eq!(
        expand("echo $(MSG) to $(KUBIA_SERVICE_HOST)", &env),
        "echo hi there to 10.96.0.5"
    );
    assert_eq!(expand("$(NOPE)", &env), "$(NOPE)");
}
