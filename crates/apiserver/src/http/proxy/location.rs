//! Where a proxy request goes: the `[scheme:]name[:port]` of the path resolved as
//! Kubernetes' `ResourceLocation` functions resolve it for pods, services and nodes.

use std::net::{IpAddr, SocketAddr};

use serde_json::Value;

use crate::error::Error;
use crate::request::ResourceRequest;
use crate::{objects, State};

/// The backend of one proxy request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Location {
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The address to dial.
    pub addr: SocketAddr,
    /// The request goes to a node agent, which wants the API server's token.
    pub node_agent: bool,
}

/// Kubernetes' `SplitSchemeNamePort`: `name`, `name:port` or `scheme:name:port`, with the
/// scheme `http`, `https` or empty.
pub(crate) fn split_scheme_name_port(id: &str) -> Option<(&str, &str, &str)> {
    let parts: Vec<&str> = id.split(':').collect();
    let (scheme, name, port) = match parts.as_slice() {
        [name] => ("", *name, ""),
        [name, port] => ("", *name, *port),
        [scheme, name, port] => (*scheme, *name, *port),
        _ => return None,
    };
    (!name.is_empty() && matches!(scheme, "" | "http" | "https")).then_some((scheme, name, port))
}

fn scheme_of(s: &str) -> &'static str {
    if s == "https" {
        "https"
    } else {
        "http"
    }
}

/// The port to dial: the one given, or the scheme's default.
fn port_or_default(port: &str, scheme: &'static str) -> Result<u16, Error> {
    if port.is_empty() {
        return Ok(if scheme == "https" { 443 } else { 80 });
    }
    port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
        Error::Unavailable(format!(
            "error trying to reach service: dial tcp: address {port}: invalid port"
        ))
    })
}

fn lookup(r: &ResourceRequest, plural: &str, name: &str) -> Result<ResourceRequest, Error> {
    let info = portico_api::registry::by_plural("", "v1", plural)
        .ok_or_else(|| Error::Internal(format!("no {plural} resource")))?;
    Ok(ResourceRequest {
        info,
        namespace: r.namespace.clone(),
        name: Some(name.to_string()),
        subresource: None,
        legacy_watch: false,
    })
}

/// The first pod IP, as the pod's `status.podIPs` (or `status.podIP`) gives it.
fn pod_ip(pod: &Value) -> Option<IpAddr> {
    pod["status"]["podIPs"][0]["ip"]
        .as_str()
        .or_else(|| pod["status"]["podIP"].as_str())
        .and_then(|s| s.parse().ok())
}

/// `pods/[scheme:]name[:port]/proxy`: the pod IP and the given port, else the first
/// declared container port, else the scheme's default.
pub(crate) async fn pod(state: &State, r: &ResourceRequest, id: &str) -> Result<Location, Error> {
    let (scheme, name, port) = split_scheme_name_port(id)
        .ok_or_else(|| Error::BadRequest(format!("invalid pod request {id:?}")))?;
    let pod = objects::get(state, &lookup(r, "pods", name)?).await?;
    let mut port = port.to_string();
    if port.is_empty() {
        if let Some(p) = pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|c| c["ports"][0]["containerPort"].as_u64())
        {
            port = p.to_string();
        }
    }
    let ip = pod_ip(&pod)
        .filter(|ip| !ip.is_unspecified() && !ip.is_loopback() && !ip.is_multicast())
        .ok_or_else(|| Error::BadRequest("address not allowed".into()))?;
    let scheme = scheme_of(scheme);
    Ok(Location {
        scheme,
        addr: SocketAddr::new(ip, port_or_default(&port, scheme)?),
        node_agent: false,
    })
}

/// `services/[scheme:]name[:port]/proxy`: a random ready endpoint address (one that is still
/// its pod's IP) of the service port named (or numbered) in the path.
pub(crate) async fn service(
    state: &State,
    r: &ResourceRequest,
    id: &str,
) -> Result<Location, Error> {
    let (scheme, name, port) = split_scheme_name_port(id)
        .ok_or_else(|| Error::BadRequest(format!("invalid service request {id:?}")))?;
    let mut port_name = port.to_string();
    if let Ok(number) = port.parse::<i64>() {
        let svc = objects::get(state, &lookup(r, "services", name)?).await?;
        port_name = svc["spec"]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["port"].as_i64() == Some(number))
            .map(|p| p["name"].as_str().unwrap_or("").to_string())
            .ok_or_else(|| {
                Error::Unavailable(format!(
                    "no service port {number} found for service {name:?}"
                ))
            })?;
    }
    let eps = objects::get(state, &lookup(r, "endpoints", name)?).await?;
    let subsets: Vec<&Value> = eps["subsets"].as_array().into_iter().flatten().collect();
    if subsets.is_empty() {
        return Err(Error::Unavailable(format!(
            "no endpoints available for service {name:?}"
        )));
    }
    let seed = rand::random_range(0..subsets.len());
    for k in 0..subsets.len() {
        let subset = subsets[(seed + k) % subsets.len()];
        let addresses: Vec<&Value> = subset["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .collect();
        if addresses.is_empty() {
            continue;
        }
        let Some(target_port) = subset["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"].as_str().unwrap_or("") == port_name)
            .and_then(|p| p["port"].as_u64())
            .and_then(|p| u16::try_from(p).ok())
        else {
            continue;
        };
        let start = rand::random_range(0..addresses.len());
        for t in 0..addresses.len() {
            let addr = addresses[(start + t) % addresses.len()];
            let Some(ip) = addr["ip"].as_str().and_then(|s| s.parse::<IpAddr>().ok()) else {
                continue;
            };
            if let Err(why) = still_its_pod(state, r, addr, ip).await {
                tracing::debug!(service = name, %ip, why, "endpoint address skipped");
                continue;
            }
            return Ok(Location {
                scheme: scheme_of(scheme),
                addr: SocketAddr::new(ip, target_port),
                node_agent: false,
            });
        }
    }
    Err(Error::Unavailable(format!(
        "no endpoints available for service {id:?}"
    )))
}

/// Kubernetes' `isValidAddress`: the address names a pod of this namespace that has it.
async fn still_its_pod(
    state: &State,
    r: &ResourceRequest,
    addr: &Value,
    ip: IpAddr,
) -> Result<(), String> {
    let target = &addr["targetRef"];
    if target.is_null() {
        return Err("address has no target ref".into());
    }
    if target["namespace"].as_str() != r.namespace.as_deref() {
        return Err("address namespace doesn't match context namespace".into());
    }
    let name = target["name"].as_str().unwrap_or("");
    let pod_req = lookup(r, "pods", name).map_err(|e| e.to_string())?;
    let pod = objects::get(state, &pod_req)
        .await
        .map_err(|e| e.to_string())?;
    let ips: Vec<IpAddr> = pod["status"]["podIPs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["ip"].as_str()?.parse().ok())
        .collect();
    if ips.contains(&ip) {
        Ok(())
    } else {
        Err("pod ip(s) doesn't match endpoint ip".into())
    }
}

/// `nodes/[scheme:]name[:port]/proxy`: the node agent (no port, or its own port), else the
/// node's address at the port and scheme given.
pub(crate) async fn node(state: &State, id: &str) -> Result<Location, Error> {
    let (scheme, name, port) = split_scheme_name_port(id)
        .ok_or_else(|| Error::BadRequest(format!("invalid node request {id:?}")))?;
    let agent = super::super::node_proxy::kubelet_address(state, name).await?;
    if port.is_empty() || port == agent.port().to_string() {
        return Ok(Location {
            scheme: "http",
            addr: agent,
            node_agent: true,
        });
    }
    let scheme = scheme_of(scheme);
    Ok(Location {
        scheme,
        addr: SocketAddr::new(agent.ip(), port_or_default(port, scheme)?),
        node_agent: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_kubernetes() {
        assert_eq!(split_scheme_name_port("web"), Some(("", "web", "")));
        assert_eq!(split_scheme_name_port("web:80"), Some(("", "web", "80")));
        assert_eq!(
            split_scheme_name_port("https:web:tls"),
            Some(("https", "web", "tls"))
        );
        assert_eq!(
            split_scheme_name_port("http:web:"),
            Some(("http", "web", ""))
        );
        assert_eq!(split_scheme_name_port("ftp:web:21"), None);
        assert_eq!(split_scheme_name_port(":80"), None);
        assert_eq!(split_scheme_name_port("a:b:c:d"), None);
    }

    #[test]
    fn default_ports_follow_the_scheme() {
        assert_eq!(port_or_default("", "http").unwrap(), 80);
        assert_eq!(port_or_default("", "https").unwrap(), 443);
        assert_eq!(port_or_default("8080", "http").unwrap(), 8080);
        assert!(port_or_default("http", "http").is_err());
    }
}
