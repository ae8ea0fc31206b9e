//! Service-specific update rules that run before validation.

use serde_json::Value;

fn needs_node_ports(spec: &Value) -> bool {
    match spec["type"].as_str().unwrap_or("ClusterIP") {
        "NodePort" => true,
        "LoadBalancer" => spec["allocateLoadBalancerNodePorts"]
            .as_bool()
            .unwrap_or(true),
        _ => false,
    }
}

fn external(spec: &Value) -> bool {
    matches!(spec["type"].as_str(), Some("NodePort" | "LoadBalancer"))
}

/// On a type change, drops the fields the new type does not use when the client left them
/// as they were, so `kubectl patch svc x -p '{"spec":{"type":"ClusterIP"}}'` works on a
/// LoadBalancer (Kubernetes' dropTypeDependentFields). (`sessionAffinity: None` clearing
/// its configuration is a default, `portico_api::defaults`, applied to every write after this.)
pub fn drop_type_dependent_fields(old: &Value, new: &mut Value) {
    let old_spec = &old["spec"];
    if old_spec["type"] == new["spec"]["type"] {
        return;
    }
    let new_ty = new["spec"]["type"]
        .as_str()
        .unwrap_or("ClusterIP")
        .to_string();
    let keep_ports = needs_node_ports(&new["spec"]);
    let keep_lb = new_ty == "LoadBalancer";
    let keep_external = external(&new["spec"]);
    let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let same = |spec: &serde_json::Map<String, Value>, k: &str| spec.get(k) == old_spec.get(k);
    if new_ty == "ExternalName" {
        for k in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            if same(spec, k) {
                spec.remove(k);
            }
        }
    }
    if !keep_ports {
        if let (Some(ports), Some(old_ports)) = (
            spec.get_mut("ports").and_then(Value::as_array_mut),
            old_spec["ports"].as_array(),
        ) {
            for p in ports.iter_mut() {
                let Some(p) = p.as_object_mut() else { continue };
                let np = p.get("nodePort").cloned();
                if np.is_some() && old_ports.iter().any(|o| o.get("nodePort") == np.as_ref()) {
                    p.remove("nodePort");
                }
            }
        }
    }
    if !keep_lb {
        for k in [
            "allocateLoadBalancerNodePorts",
            "loadBalancerClass",
            "loadBalancerIP",
            "loadBalancerSourceRanges",
            "healthCheckNodePort",
        ] {
            if spec.contains_key(k) && same(spec, k) {
                spec.remove(k);
            }
        }
    }
    if !keep_external
        && spec.contains_key("externalTrafficPolicy")
        && same(spec, "externalTrafficPolicy")
    {
        spec.remove("externalTrafficPolicy");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn load_balancer_to_cluster_ip_drops_what_the_client_left() {
        let old = json!({"spec": {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": true, "externalTrafficPolicy": "Cluster",
            "clusterIP": "10.96.0.5", "ports": [{"port": 80, "nodePort": 30080}]}});
        let mut new = old.clone();
        new["spec"]["type"] = json!("ClusterIP");
        drop_type_dependent_fields(&old, &mut new);
        assert_eq!(
            new["spec"],
            json!({"type": "ClusterIP", "clusterIP": "10.96.0.5", "ports": [{"port": 80}]})
        );
    }

    #[test]
    fn fields_the_client_changed_are_kept_for_validation() {
        let old = json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}});
        let mut new =
            json!({"spec": {"type": "ClusterIP", "ports": [{"port": 80, "nodePort": 30081}]}});
        drop_type_dependent_fields(&old, &mut new);
        assert_eq!(new["spec"]["ports"][0]["nodePort"], 30081);
    }
}
