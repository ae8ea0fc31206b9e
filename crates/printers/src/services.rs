//! Service and Endpoints rows: CLUSTER-IP, EXTERNAL-IP by service type, PORT(S) such as
//! `80:30080/TCP`, and the first endpoints with a count of the rest.

use serde_json::Value;

use crate::fields::{
    age, format_labels, int_at, list_at, load_balancer_addresses, map_at, name, opt_str, str_at,
};

/// The apiserver renders every table wide, so addresses are never clipped server-side.
const WIDE: bool = true;

/// NAME, TYPE, CLUSTER-IP, EXTERNAL-IP, PORT(S), AGE, SELECTOR.
pub(crate) fn service(svc: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let ty = opt_str(svc, "/spec/type")
        .filter(|t| !t.is_empty())
        .unwrap_or("ClusterIP");
    let cluster_ip = list_at(svc, "/spec/clusterIPs")
        .first()
        .and_then(Value::as_str)
        .or_else(|| opt_str(svc, "/spec/clusterIP"))
        .filter(|ip| !ip.is_empty())
        .unwrap_or("<none>");
    let ports = port_string(list_at(svc, "/spec/ports"));
    vec![
        name(svc).into(),
        ty.into(),
        cluster_ip.into(),
        external_ip(svc, ty, WIDE).into(),
        if ports.is_empty() {
            "<none>".to_owned()
        } else {
            ports
        }
        .into(),
        age(svc, now).into(),
        format_labels(map_at(svc, "/spec/selector")).into(),
    ]
}

/// EXTERNAL-IP: external IPs for ClusterIP and NodePort services, load-balancer ingress
/// points (then external IPs) or `<pending>` for LoadBalancer, the DNS name for ExternalName.
fn external_ip(svc: &Value, ty: &str, wide: bool) -> String {
    let external: Vec<&str> = list_at(svc, "/spec/externalIPs")
        .iter()
        .map(|ip| ip.as_str().unwrap_or(""))
        .collect();
    match ty {
        "ClusterIP" | "NodePort" if external.is_empty() => "<none>".to_owned(),
        "ClusterIP" | "NodePort" => external.join(","),
        "LoadBalancer" => {
            let lb = load_balancer_addresses(list_at(svc, "/status/loadBalancer/ingress"), wide);
            match (lb.is_empty(), external.is_empty()) {
                (true, true) => "<pending>".to_owned(),
                (false, true) => lb,
                (true, false) => external.join(","),
                (false, false) => format!("{lb},{}", external.join(",")),
            }
        }
        "ExternalName" => str_at(svc, "/spec/externalName").to_owned(),
        _ => "<unknown>".to_owned(),
    }
}

/// `80/TCP` per port, `80:30080/TCP` with a node port, comma-joined.
fn port_string(ports: &[Value]) -> String {
    ports
        .iter()
        .map(|p| {
            let port = int_at(p, "/port").unwrap_or(0);
            let protocol = opt_str(p, "/protocol")
                .filter(|s| !s.is_empty())
                .unwrap_or("TCP");
            match int_at(p, "/nodePort").unwrap_or(0) {
                n if n > 0 => format!("{port}:{n}/{protocol}"),
                _ => format!("{port}/{protocol}"),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// NAME, ENDPOINTS, AGE.
pub(crate) fn endpoints(ep: &Value, now: jiff::Timestamp) -> Vec<Value> {
    vec![
        name(ep).into(),
        format_endpoints(list_at(ep, "/subsets")).into(),
        age(ep, now).into(),
    ]
}

/// How many endpoints the ENDPOINTS cell lists before summarising.
const MAX_SHOWN: usize = 3;

/// `ip:port` for every port of every subset (just `ip` for port-less subsets), the first
/// three, then ` + N more...`; `<none>` without subsets.
fn format_endpoints(subsets: &[Value]) -> String {
    if subsets.is_empty() {
        return "<none>".to_owned();
    }
    let mut shown: Vec<String> = Vec::new();
    let mut total = 0usize;
    for subset in subsets {
        let addresses: Vec<&str> = list_at(subset, "/addresses")
            .iter()
            .map(|a| str_at(a, "/ip"))
            .collect();
        let ports = list_at(subset, "/ports");
        if ports.is_empty() {
            total += addresses.len();
            shown.extend(
                addresses
                    .iter()
                    .take(MAX_SHOWN.saturating_sub(shown.len()))
                    .map(|ip| (*ip).to_owned()),
            );
            continue;
        }
        for port in ports {
            let number = int_at(port, "/port").unwrap_or(0);
            total += addresses.len();
            let room = MAX_SHOWN.saturating_sub(shown.len());
            shown.extend(
                addresses
                    .iter()
                    .take(room)
                    .map(|ip| join_host_port(ip, number)),
            );
        }
    }
    let joined = shown.join(",");
    if total > MAX_SHOWN {
        format!("{joined} + {} more...", total - MAX_SHOWN)
    } else {
        joined
    }
}

/// `host:port`, bracketing IPv6 hosts (`[fd00::1]:80`), as Go's `net.JoinHostPort`.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests;
