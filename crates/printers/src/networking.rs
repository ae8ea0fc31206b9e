//! networking.k8s.io and discovery.k8s.io rows: ingresses, ingress classes and endpoint slices.

use serde_json::Value;

use crate::fields::{
    age, int_at, list_at, list_with_more, load_balancer_addresses, name, opt_str, str_at,
};

/// How many hosts, ports or endpoints a cell lists before summarising.
const MAX_SHOWN: usize = 3;

/// The apiserver renders every table wide, so addresses are never clipped server-side.
const WIDE: bool = true;

/// NAME, CLASS, HOSTS, ADDRESS, PORTS, AGE.
pub(crate) fn ingress(obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let class = opt_str(obj, "/spec/ingressClassName").unwrap_or("<none>");
    let address = load_balancer_addresses(list_at(obj, "/status/loadBalancer/ingress"), WIDE);
    let ports = if list_at(obj, "/spec/tls").is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        name(obj).into(),
        class.into(),
        hosts(list_at(obj, "/spec/rules")).into(),
        address.into(),
        ports.into(),
        age(obj, now).into(),
    ]
}

/// The first three rule hosts, then ` + N more...` where N counts every further rule
/// (hostless ones too); `*` when no rule names a host.
fn hosts(rules: &[Value]) -> String {
    let mut shown: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if shown.len() == MAX_SHOWN {
            more = true;
        }
        let host = str_at(rule, "/host");
        if !more && !host.is_empty() {
            shown.push(host);
        }
    }
    if shown.is_empty() {
        return "*".to_owned();
    }
    let joined = shown.join(",");
    if more {
        format!(
            "{joined} + {} more...",
            rules.len().saturating_sub(MAX_SHOWN)
        )
    } else {
        joined
    }
}

/// NAME, CONTROLLER, PARAMETERS (`Kind.group/name`), AGE.
pub(crate) fn ingress_class(obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let parameters = match obj.pointer("/spec/parameters").filter(|p| p.is_object()) {
        None => "<none>".to_owned(),
        Some(p) => {
            let mut text = str_at(p, "/kind").to_owned();
            if let Some(group) = opt_str(p, "/apiGroup") {
                text.push('.');
                text.push_str(group);
            }
            format!("{text}/{}", str_at(p, "/name"))
        }
    };
    vec![
        name(obj).into(),
        str_at(obj, "/spec/controller").into(),
        parameters.into(),
        age(obj, now).into(),
    ]
}

/// NAME, ADDRESSTYPE, PORTS, ENDPOINTS, AGE.
pub(crate) fn endpoint_slice(obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let ports = list_at(obj, "/ports");
    let port_texts: Vec<String> = ports
        .iter()
        .take(MAX_SHOWN)
        .map(|p| match (int_at(p, "/port"), opt_str(p, "/name")) {
            (Some(port), _) => port.to_string(),
            (None, Some(name)) => name.to_owned(),
            (None, None) => "*".to_owned(),
        })
        .collect();
    let addresses: Vec<&str> = list_at(obj, "/endpoints")
        .iter()
        .flat_map(|e| list_at(e, "/addresses"))
        .map(|a| a.as_str().unwrap_or(""))
        .collect();
    let shown: Vec<String> = addresses
        .iter()
        .take(MAX_SHOWN)
        .map(|a| (*a).to_owned())
        .collect();
    vec![
        name(obj).into(),
        str_at(obj, "/addressType").into(),
        list_with_more(&port_texts, ports.len(), MAX_SHOWN).into(),
        list_with_more(&shown, addresses.len(), MAX_SHOWN).into(),
        age(obj, now).into(),
    ]
}

#[cfg(test)]
mod tests;
