//! Pod and pod template defaults: `SetDefaults_PodSpec`, `SetDefaults_Container`, probes,
//! volumes, plus what admission and the pod strategy add to Pods themselves (service account,
//! priority, default tolerations, status).

use serde_json::{json, Map, Value};

use super::{obj_mut, set_default};

/// Whether the spec is a Pod's own or a template's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A Pod object: admission defaults apply too.
    Pod,
    /// A pod template in a workload.
    Template,
}

/// `Always` for images without a tag or tagged `:latest`, otherwise `IfNotPresent`.
pub fn image_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        None => "Always",
        Some((_, "latest")) => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn probe(p: &mut Value) {
    let Some(m) = p.as_object_mut() else { return };
    set_default(m, "timeoutSeconds", json!(1));
    set_default(m, "periodSeconds", json!(10));
    set_default(m, "successThreshold", json!(1));
    set_default(m, "failureThreshold", json!(3));
    handler(m);
}

fn handler(m: &mut Map<String, Value>) {
    if let Some(http) = m.get_mut("httpGet").and_then(Value::as_object_mut) {
        set_default(http, "path", json!("/"));
        set_default(http, "scheme", json!("HTTP"));
    }
}

fn container(c: &mut Value, host_network: bool, owner: Owner) {
    let Some(m) = c.as_object_mut() else { return };
    let image = m
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    set_default(m, "imagePullPolicy", json!(image_pull_policy(&image)));
    set_default(m, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(m, "terminationMessagePolicy", json!("File"));
    set_default(m, "resources", json!({}));
    if let Some(ports) = m.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            set_default(port, "protocol", json!("TCP"));
            if host_network {
                let cp = port.get("containerPort").cloned().unwrap_or(json!(0));
                if port.get("hostPort").and_then(Value::as_i64).unwrap_or(0) == 0 {
                    port.insert("hostPort".into(), cp);
                }
            }
        }
    }
    for key in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = m.get_mut(key).filter(|p| p.is_object()) {
            probe(p);
        }
    }
    if let Some(lc) = m.get_mut("lifecycle").and_then(Value::as_object_mut) {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = lc.get_mut(hook).and_then(Value::as_object_mut) {
                handler(h);
            }
        }
    }
    if let Some(env) = m.get_mut("env").and_then(Value::as_array_mut) {
        for e in env.iter_mut() {
            if let Some(fr) = e
                .pointer_mut("/valueFrom/fieldRef")
                .and_then(Value::as_object_mut)
            {
                set_default(fr, "apiVersion", json!("v1"));
            }
        }
    }
    if owner == Owner::Pod {
        requests_from_limits(m);
    }
}

fn requests_from_limits(m: &mut Map<String, Value>) {
    let Some(res) = m.get_mut("resources").and_then(Value::as_object_mut) else {
        return;
    };
    let Some(limits) = res.get("limits").and_then(Value::as_object).cloned() else {
        return;
    };
    let requests = res.entry("requests").or_insert_with(|| json!({}));
    if let Some(req) = requests.as_object_mut() {
        for (k, v) in limits {
            req.entry(k).or_insert(v);
        }
    }
}

fn volume(v: &mut Value) {
    let Some(m) = v.as_object_mut() else { return };
    let has_source = m.keys().any(|k| k != "name");
    if !has_source {
        m.insert("emptyDir".into(), json!({}));
    }
    for key in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(src) = m.get_mut(key).and_then(Value::as_object_mut) {
            set_default(src, "defaultMode", json!(420));
        }
    }
    if let Some(hp) = m.get_mut("hostPath").and_then(Value::as_object_mut) {
        set_default(hp, "type", json!(""));
    }
}

/// `SetDefaults_PodSpec` and everything below it.
pub fn pod_spec(spec: &mut Value, owner: Owner) {
    let Some(m) = spec.as_object_mut() else {
        return;
    };
    set_default(m, "dnsPolicy", json!("ClusterFirst"));
    set_default(m, "restartPolicy", json!("Always"));
    set_default(m, "securityContext", json!({}));
    set_default(m, "terminationGracePeriodSeconds", json!(30));
    set_default(m, "schedulerName", json!("default-scheduler"));
    let host_network = m
        .get("hostNetwork")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        if let Some(cs) = m.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs.iter_mut() {
                container(c, host_network && list != "ephemeralContainers", owner);
            }
        }
    }
    if let Some(vols) = m.get_mut("volumes").and_then(Value::as_array_mut) {
        vols.iter_mut().for_each(volume);
    }
    if owner == Owner::Pod {
        set_default(m, "enableServiceLinks", json!(true));
        admission(m);
    }
}

/// What the ServiceAccount, Priority and DefaultTolerationSeconds admission plugins add.
fn admission(m: &mut Map<String, Value>) {
    set_default(m, "serviceAccountName", json!("default"));
    let sa = m
        .get("serviceAccountName")
        .cloned()
        .unwrap_or(json!("default"));
    set_default(m, "serviceAccount", sa);
    if m.get("priorityClassName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .is_empty()
    {
        set_default(m, "priority", json!(0));
    }
    set_default(m, "preemptionPolicy", json!("PreemptLowerPriority"));
    let tolerations = m.entry("tolerations").or_insert_with(|| json!([]));
    if tolerations.is_null() {
        *tolerations = json!([]);
    }
    if let Some(list) = tolerations.as_array_mut() {
        for key in [
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable",
        ] {
            let tolerated = list.iter().any(|t| {
                let effect = t.get("effect").and_then(Value::as_str).unwrap_or_default();
                let op = t
                    .get("operator")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let k = t.get("key").and_then(Value::as_str).unwrap_or_default();
                (effect.is_empty() || effect == "NoExecute")
                    && (k == key || (k.is_empty() && op == "Exists"))
            });
            if !tolerated {
                list.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
            }
        }
    }
}

/// The QoS class of a (defaulted) pod spec.
pub fn qos_class(spec: &Value) -> &'static str {
    let mut any = false;
    let mut guaranteed = true;
    let lists = ["containers", "initContainers"];
    for c in lists
        .iter()
        .flat_map(|l| spec.get(*l).and_then(Value::as_array).into_iter().flatten())
    {
        let res = c.get("resources");
        let get = |kind: &str, r: &str| {
            res.and_then(|v| v.get(kind))
                .and_then(|v| v.get(r))
                .cloned()
        };
        for r in ["cpu", "memory"] {
            let (req, lim) = (get("requests", r), get("limits", r));
            any |= req.is_some() || lim.is_some();
            if lim.is_none() || req != lim {
                guaranteed = false;
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

/// Defaults of a Pod object.
pub fn pod(obj: &mut Value) {
    if let Some(spec) = obj.get_mut("spec") {
        pod_spec(spec, Owner::Pod);
    }
    let qos = obj.get("spec").map(qos_class).unwrap_or("BestEffort");
    if let Some(m) = obj.as_object_mut() {
        let status = obj_mut(m, "status");
        set_default(status, "phase", json!("Pending"));
        set_default(status, "qosClass", json!(qos));
    }
}

/// Defaults of a pod template (`spec.template` of a workload).
pub fn template(template: &mut Value) {
    let Some(m) = template.as_object_mut() else {
        return;
    };
    let meta = obj_mut(m, "metadata");
    meta.entry("creationTimestamp").or_insert(Value::Null);
    if let Some(spec) = m.get_mut("spec") {
        pod_spec(spec, Owner::Template);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_follows_tag() {
        assert_eq!(image_pull_policy("nginx"), "Always");
        assert_eq!(image_pull_policy("nginx:latest"), "Always");
        assert_eq!(image_pull_policy("nginx:1.27"), "IfNotPresent");
        assert_eq!(image_pull_policy("localhost:5000/app"), "Always");
        assert_eq!(image_pull_policy("app@sha256:abc"), "IfNotPresent");
    }

    #[test]
    fn qos_classes() {
        assert_eq!(
            qos_class(&json!({"containers": [{"name": "a"}]})),
            "BestEffort"
        );
        let g = json!({"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}}]});
        assert_eq!(qos_class(&g), "Guaranteed");
        let b = json!({"containers": [{"resources": {"requests": {"cpu": "1"}}}]});
        assert_eq!(qos_class(&b), "Burstable");
    }
}
