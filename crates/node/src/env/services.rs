//! Service link variables: `FOO_SERVICE_HOST`, `FOO_SERVICE_PORT`, `FOO_PORT_80_TCP_ADDR` and
//! the rest, for the Services a pod is told about.

use k8s_openapi::api::core::v1::Service;

/// The Services that are always announced, from the master service namespace.
const MASTER_SERVICES: &[&str] = &["kubernetes"];

/// The service link variables for a pod in `namespace`, in a stable order (by service name).
///
/// Like the kubelet, this announces the `kubernetes` Service of `master_namespace` always,
/// and every Service of the pod's own namespace when `enable_service_links` is true (a Service
/// of the pod's namespace wins over the master one of the same name). Services without a
/// cluster IP (headless `None`, ExternalName, not yet allocated) are skipped, and so are
/// Services without ports.
pub fn service_env(
    services: &[Service],
    namespace: &str,
    master_namespace: &str,
    enable_service_links: bool,
) -> Vec<(String, String)> {
    let mut chosen: std::collections::BTreeMap<&str, &Service> = Default::default();
    for service in services {
        if cluster_ip(service).is_none() {
            continue;
        }
        let Some(name) = service.metadata.name.as_deref() else {
            continue;
        };
        let service_namespace = service.metadata.namespace.as_deref().unwrap_or("default");
        if service_namespace == namespace && enable_service_links {
            chosen.insert(name, service);
        } else if service_namespace == master_namespace && MASTER_SERVICES.contains(&name) {
            chosen.entry(name).or_insert(service);
        }
    }
    let mut env = Vec::new();
    for (name, service) in chosen {
        push_service(&mut env, name, service);
    }
    env
}

/// The cluster IP of a Service that has one (not empty, not `None`).
fn cluster_ip(service: &Service) -> Option<&str> {
    let ip = service.spec.as_ref()?.cluster_ip.as_deref()?;
    (!ip.is_empty() && ip != "None").then_some(ip)
}

/// Appends the variables of one Service.
fn push_service(env: &mut Vec<(String, String)>, name: &str, service: &Service) {
    let (Some(ip), Some(spec)) = (cluster_ip(service), service.spec.as_ref()) else {
        return;
    };
    let ports = spec.ports.as_deref().unwrap_or_default();
    let Some(first) = ports.first() else {
        return;
    };
    let prefix = variable_name(name);
    env.push((format!("{prefix}_SERVICE_HOST"), ip.to_string()));
    let port_var = format!("{prefix}_SERVICE_PORT");
    env.push((port_var.clone(), first.port.to_string()));
    for port in ports {
        if let Some(port_name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            env.push((
                format!("{port_var}_{}", variable_name(port_name)),
                port.port.to_string(),
            ));
        }
    }
    // Docker link compatible variables.
    for (index, port) in ports.iter().enumerate() {
        let protocol = port.protocol.as_deref().unwrap_or("TCP");
        let lower = protocol.to_ascii_lowercase();
        let address = join_host_port(ip, port.port);
        let url = format!("{lower}://{address}");
        if index == 0 {
            env.push((format!("{prefix}_PORT"), url.clone()));
        }
        let port_prefix = format!(
            "{prefix}_PORT_{}_{}",
            port.port,
            protocol.to_ascii_uppercase()
        );
        env.push((port_prefix.clone(), url));
        env.push((format!("{port_prefix}_PROTO"), lower));
        env.push((format!("{port_prefix}_PORT"), port.port.to_string()));
        env.push((format!("{port_prefix}_ADDR"), ip.to_string()));
    }
}

/// `host:port`, with an IPv6 host in brackets.
pub(crate) fn join_host_port(host: &str, port: impl std::fmt::Display) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A Service or port name as an environment variable name: upper case, `-` and `.` become
/// `_`, and a leading digit gets a `_` in front.
fn variable_name(name: &str) -> String {
    let upper: String = name
        .chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    if upper.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{upper}")
    } else {
        upper
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ServicePort, ServiceSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    pub(crate) fn service(ns: &str, name: &str, ip: &str, ports: &[(&str, i32, &str)]) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                cluster_ip: Some(ip.into()),
                ports: Some(
                    ports
                        .iter()
                        .map(|(n, p, proto)| ServicePort {
                            name: (!n.is_empty()).then(|| n.to_string()),
                            port: *p,
                            protocol: (!proto.is_empty()).then(|| proto.to_string()),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn pairs(env: &[(String, String)]) -> Vec<String> {
        env.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }

    #[test]
    fn one_named_port() {
        let services = [service(
            "default",
            "kubia",
            "10.96.0.5",
            &[("http", 80, "TCP")],
        )];
        let env = service_env(&services, "default", "default", true);
        assert_eq!(
            pairs(&env),
            [
                "KUBIA_SERVICE_HOST=10.96.0.5",
                "KUBIA_SERVICE_PORT=80",
                "KUBIA_SERVICE_PORT_HTTP=80",
                "KUBIA_PORT=tcp://10.96.0.5:80",
                "KUBIA_PORT_80_TCP=tcp://10.96.0.5:80",
                "KUBIA_PORT_80_TCP_PROTO=tcp",
                "KUBIA_PORT_80_TCP_PORT=80",
                "KUBIA_PORT_80_TCP_ADDR=10.96.0.5",
            ]
        );
    }

    #[test]
    fn multiple_ports_dashes_and_udp() {
        let services = [service(
            "web",
            "my-svc",
            "10.96.3.4",
            &[("", 53, "UDP"), ("metrics-port", 9090, "")],
        )];
        let env = service_env(&services, "web", "default", true);
        assert_eq!(
            pairs(&env),
            [
                "MY_SVC_SERVICE_HOST=10.96.3.4",
                "MY_SVC_SERVICE_PORT=53",
                "MY_SVC_SERVICE_PORT_METRICS_PORT=9090",
                "MY_SVC_PORT=udp://10.96.3.4:53",
                "MY_SVC_PORT_53_UDP=udp://10.96.3.4:53",
                "MY_SVC_PORT_53_UDP_PROTO=udp",
                "MY_SVC_PORT_53_UDP_PORT=53",
                "MY_SVC_PORT_53_UDP_ADDR=10.96.3.4",
                "MY_SVC_PORT_9090_TCP=tcp://10.96.3.4:9090",
                "MY_SVC_PORT_9090_TCP_PROTO=tcp",
                "MY_SVC_PORT_9090_TCP_PORT=9090",
                "MY_SVC_PORT_9090_TCP_ADDR=10.96.3.4",
            ]
        );
    }

    #[test]
    fn ipv6_addresses_are_bracketed_and_digit_names_prefixed() {
        let services = [service("default", "1st", "fd00::5", &[("", 80, "TCP")])];
        let env = service_env(&services, "default", "default", true);
        assert!(pairs(&env).contains(&"_1ST_PORT=tcp://[fd00::5]:80".to_string()));
        assert!(pairs(&env).contains(&"_1ST_SERVICE_HOST=fd00::5".to_string()));
    }

    #[test]
    fn selects_namespace_services_and_master_service() {
        let services = [
            service(
                "default",
                "kubernetes",
                "10.96.0.1",
                &[("https", 443, "TCP")],
            ),
            service("default", "other", "10.96.0.9", &[("", 80, "TCP")]),
            service("shop", "cart", "10.96.1.1", &[("", 8080, "TCP")]),
            service("shop", "headless", "None", &[("", 80, "TCP")]),
            service("shop", "external", "", &[("", 80, "TCP")]),
        ];
        let env = service_env(&services, "shop", "default", true);
        let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert!(names.contains(&"CART_SERVICE_HOST"));
        assert!(names.contains(&"KUBERNETES_SERVICE_HOST"));
        assert!(names.contains(&"KUBERNETES_SERVICE_PORT_HTTPS"));
        assert!(!names.iter().any(|n| n.starts_with("OTHER_")));
        assert!(!names.iter().any(|n| n.starts_with("HEADLESS_")));
        assert!(!names.iter().any(|n| n.starts_with("EXTERNAL_")));
    }

    #[test]
    fn service_links_disabled_keeps_only_the_master_service() {
        let services = [
            service(
                "default",
                "kubernetes",
                "10.96.0.1",
                &[("https", 443, "TCP")],
            ),
            service("shop", "cart", "10.96.1.1", &[("", 8080, "TCP")]),
        ];
        let env = service_env(&services, "shop", "default", false);
        assert_eq!(env.len(), 8);
        assert!(env.iter().all(|(k, _)| k.starts_with("KUBERNETES_")));
        assert!(env.contains(&("KUBERNETES_SERVICE_HOST".into(), "10.96.0.1".into())));
    }

    #[test]
    fn a_local_kubernetes_service_wins_over_the_master_one() {
        for order in [[0, 1], [1, 0]] {
            let all = [
                service(
                    "default",
                    "kubernetes",
                    "10.96.0.1",
                    &[("https", 443, "TCP")],
                ),
                service("shop", "kubernetes", "10.96.7.7", &[("", 80, "TCP")]),
            ];
            let services = [all[order[0]].clone(), all[order[1]].clone()];
            let env = service_env(&services, "shop", "default", true);
            assert!(env.contains(&("KUBERNETES_SERVICE_HOST".into(), "10.96.7.7".into())));
        }
    }
}
