//! Service defaults: `SetDefaults_Service`, the strategy's ClusterIPs normalization and the
//! IP family fields the allocator fills in on a single-stack IPv4 cluster.

use serde_json::{json, Map, Value};

use super::{obj_mut, set_default};

fn is_none_ip(v: &Value) -> bool {
    v.as_str() == Some("None")
}

/// Defaults of a Service object.
pub fn service(obj: &mut Value) {
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    let spec = obj_mut(root, "spec");
    set_default(spec, "type", json!("ClusterIP"));
    set_default(spec, "sessionAffinity", json!("None"));
    // SetDefaults_Service: no affinity, no affinity configuration.
    if spec.get("sessionAffinity").and_then(Value::as_str) == Some("None") {
        spec.remove("sessionAffinityConfig");
    }
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if spec.get("sessionAffinity").and_then(Value::as_str) == Some("ClientIP") {
        let missing = spec
            .get("sessionAffinityConfig")
            .and_then(|c| c.get("clientIP"))
            .and_then(|c| c.get("timeoutSeconds"))
            .is_none_or(Value::is_null);
        if missing {
            spec.insert(
                "sessionAffinityConfig".into(),
                json!({"clientIP": {"timeoutSeconds": 10800}}),
            );
        }
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            set_default(p, "protocol", json!("TCP"));
            let unset = match p.get("targetPort") {
                None | Some(Value::Null) => true,
                Some(Value::String(s)) => s.is_empty(),
                Some(v) => v.as_i64() == Some(0),
            };
            if unset {
                let port = p.get("port").cloned().unwrap_or(json!(0));
                p.insert("targetPort".into(), port);
            }
        }
    }
    let external_ips = spec
        .get("externalIPs")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if ty == "NodePort" || ty == "LoadBalancer" || (ty == "ClusterIP" && external_ips) {
        set_default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if ty == "NodePort" || ty == "LoadBalancer" || ty == "ClusterIP" {
        set_default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        set_default(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    normalize_cluster_ips(spec);
    if ty != "ExternalName" {
        ip_families(spec);
    }
    let status = obj_mut(root, "status");
    set_default(status, "loadBalancer", json!({}));
}

/// `clusterIPs` follows `clusterIP` when only the latter is given (and the reverse).
fn normalize_cluster_ips(spec: &mut Map<String, Value>) {
    let ip = spec
        .get("clusterIP")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let ips_empty = spec
        .get("clusterIPs")
        .and_then(Value::as_array)
        .is_none_or(|a| a.is_empty());
    if !ip.is_empty() && ips_empty {
        spec.insert("clusterIPs".into(), json!([ip]));
    } else if ip.is_empty() && !ips_empty {
        if let Some(first) = spec.get("clusterIPs").and_then(|a| a.get(0)).cloned() {
            spec.insert("clusterIP".into(), first);
        }
    }
}

fn ip_families(spec: &mut Map<String, Value>) {
    let ips: Vec<Value> = spec
        .get("clusterIPs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let headless = ips.len() == 1 && is_none_ip(&ips[0]);
    let no_selector = spec
        .get("selector")
        .and_then(Value::as_object)
        .is_none_or(|m| m.is_empty());
    let policy = if headless && no_selector {
        "RequireDualStack"
    } else {
        "SingleStack"
    };
    set_default(spec, "ipFamilyPolicy", json!(policy));
    let families_empty = spec
        .get("ipFamilies")
        .and_then(Value::as_array)
        .is_none_or(|a| a.is_empty());
    if families_empty {
        let mut families: Vec<Value> = ips
            .iter()
            .filter(|ip| !is_none_ip(ip))
            .filter_map(Value::as_str)
            .map(|ip| {
                if crate::validation::names::is_ipv6(ip) {
                    json!("IPv6")
                } else {
                    json!("IPv4")
                }
            })
            .collect();
        if families.is_empty() {
            families.push(json!("IPv4"));
        }
        spec.insert("ipFamilies".into(), Value::Array(families));
    }
}

/// What the Service strategy keeps from the stored object on update: allocated ClusterIPs,
/// NodePorts and the health check port, when the update left them empty and the type still
/// needs them.
pub fn carry_over_allocated(new: &mut Value, old: &Value) {
    let Some(old_spec) = old.get("spec") else {
        return;
    };
    let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let old_ty = old_spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if ty != "ExternalName" && old_ty != "ExternalName" {
        let ip_empty = spec
            .get("clusterIP")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .is_empty();
        if ip_empty {
            for key in ["clusterIP", "clusterIPs"] {
                if let Some(v) = old_spec.get(key) {
                    spec.insert(key.into(), v.clone());
                }
            }
        }
    }
    let needs_node_ports = ty == "NodePort" || ty == "LoadBalancer";
    if needs_node_ports {
        let old_ports: Vec<Value> = old_spec
            .get("ports")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                if p.get("nodePort").and_then(Value::as_i64).unwrap_or(0) != 0 {
                    continue;
                }
                let same = old_ports.iter().find(|op| {
                    op.get("port") == p.get("port") && op.get("protocol") == p.get("protocol")
                });
                if let Some(np) = same
                    .and_then(|op| op.get("nodePort"))
                    .filter(|v| v.as_i64().unwrap_or(0) != 0)
                {
                    p.insert("nodePort".into(), np.clone());
                }
            }
        }
    }
    let local_lb = |s: &Value| {
        s.get("type").and_then(Value::as_str) == Some("LoadBalancer")
            && s.get("externalTrafficPolicy").and_then(Value::as_str) == Some("Local")
    };
    let new_local = spec.get("type").and_then(Value::as_str) == Some("LoadBalancer")
        && spec.get("externalTrafficPolicy").and_then(Value::as_str) == Some("Local");
    if new_local
        && local_lb(old_spec)
        && spec
            .get("healthCheckNodePort")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            == 0
    {
        if let Some(v) = old_spec.get("healthCheckNodePort") {
            spec.insert("healthCheckNodePort".into(), v.clone());
        }
    }
}
