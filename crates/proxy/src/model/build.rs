//! [`build`]: Services and EndpointSlices to a [`ProxyState`], the way kube-proxy's service
//! and endpoint change trackers see them.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Service, ServiceSpec};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::{Endpoint, Protocol, ProxyState, ServiceKey, ServicePort};

/// The label that ties an EndpointSlice to its Service (`discovery.LabelServiceName`).
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// `sessionAffinityConfig.clientIP.timeoutSeconds` when the API object leaves it out
/// (the API server defaults it to three hours).
const DEFAULT_AFFINITY_SECONDS: i32 = 10800;

/// Builds what a node named `node_name` must serve.
///
/// As kube-proxy does: headless (`clusterIP: None`), ExternalName and not-yet-allocated
/// services are skipped; selector-less services are proxied like any other, from whatever
/// EndpointSlices carry their name in the `kubernetes.io/service-name` label. Each slice port
/// joins the service port with the same name and protocol, and gives the (possibly named)
/// target port its number; slice ports without a name or a port are ignored, FQDN slices too.
/// An endpoint in several slices appears once (a non-terminating copy wins), only its
/// first address counts. Conditions: `ready` absent is true, `serving` absent follows
/// `ready`, `terminating` absent is false.
///
/// Takes the objects by reference or as the `Arc`s a reflector store holds, so that a caller
/// never has to copy the cache.
pub fn build<S, E>(services: &[S], slices: &[E], node_name: &str) -> ProxyState
where
    S: Borrow<Service>,
    E: Borrow<EndpointSlice>,
{
    let by_service = slices_by_service(slices);
    let mut state = ProxyState::default();
    for svc in services {
        let svc: &Service = svc.borrow();
        let (Some(name), namespace) = (svc.metadata.name.as_deref(), namespace_of(svc)) else {
            continue;
        };
        let svc_slices = by_service
            .get(&(namespace, name))
            .map(Vec::as_slice)
            .unwrap_or_default();
        state
            .services
            .extend(build_service(svc, svc_slices, node_name));
    }
    state
}

/// The service ports of one Service, from the EndpointSlices labelled with its name (the
/// caller picks them; FQDN slices are ignored here too), as [`build`] makes them. Empty for
/// services that are not proxied.
pub fn build_service<E>(
    svc: &Service,
    slices: &[E],
    node_name: &str,
) -> Vec<(ServiceKey, ServicePort)>
where
    E: Borrow<EndpointSlice>,
{
    let mut out = Vec::new();
    let Some(spec) = svc.spec.as_ref() else {
        return out;
    };
    if !proxied(spec) {
        return out;
    }
    let namespace = namespace_of(svc);
    let Some(name) = svc.metadata.name.as_deref() else {
        return out;
    };
    let mut slices: Vec<&EndpointSlice> = slices
        .iter()
        .map(Borrow::borrow)
        .filter(|s| s.address_type != "FQDN")
        .collect();
    // A stable order whatever order the caches return slices in.
    slices.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let common = Common::new(svc, spec);
    for port in spec.ports.iter().flatten() {
        let protocol = protocol(port.protocol.as_deref());
        let Ok(number) = u16::try_from(port.port) else {
            continue;
        };
        let port_name = port.name.clone().unwrap_or_default();
        let endpoints = endpoints(&slices, &port_name, protocol, node_name);
        let key = ServiceKey {
            namespace: namespace.to_string(),
            name: name.to_string(),
            port_name,
            protocol,
        };
        let sp = ServicePort {
            cluster_ips: common.cluster_ips.clone(),
            port: number,
            node_port: common
                .has_node_ports
                .then(|| port.node_port.and_then(nonzero_port))
                .flatten(),
            external_ips: common.external_ips.clone(),
            load_balancer_ips: common.load_balancer_ips.clone(),
            affinity: common.affinity,
            external_local: common.external_local,
            internal_local: common.internal_local,
            health_check_node_port: common.health_check_node_port,
            endpoints,
        };
        out.push((key, sp));
    }
    out
}

/// A Service's namespace (`default` when the object has none).
fn namespace_of(svc: &Service) -> &str {
    svc.metadata.namespace.as_deref().unwrap_or("default")
}

/// Whether kube-proxy serves the service at all (`ShouldSkipService`).
fn proxied(spec: &ServiceSpec) -> bool {
    if spec.type_.as_deref() == Some("ExternalName") {
        return false;
    }
    match spec.cluster_ip.as_deref() {
        None | Some("") | Some("None") => false,
        Some(_) => true,
    }
}

/// What every port of one service shares.
struct Common {
    cluster_ips: Vec<IpAddr>,
    has_node_ports: bool,
    external_ips: Vec<IpAddr>,
    load_balancer_ips: Vec<IpAddr>,
    affinity: Option<Duration>,
    external_local: bool,
    internal_local: bool,
    health_check_node_port: Option<u16>,
}

impl Common {
    fn new(svc: &Service, spec: &ServiceSpec) -> Common {
        let type_ = spec.type_.as_deref().unwrap_or("ClusterIP");
        let mut cluster_ips = parse_ips(spec.cluster_ips.iter().flatten());
        if cluster_ips.is_empty() {
            cluster_ips = parse_ips(spec.cluster_ip.iter());
        }
        let external_ips = parse_ips(spec.external_ips.iter().flatten());
        // Only VIP-style load balancers ("ipMode: Proxy" ones deliver to the node itself).
        let load_balancer_ips = svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .into_iter()
            .flatten()
            .filter(|ing| ing.ip_mode.as_deref() != Some("Proxy"))
            .filter_map(|ing| ing.ip.as_deref())
            .filter_map(|ip| ip.parse().ok())
            .collect();
        let has_node_ports = matches!(type_, "NodePort" | "LoadBalancer");
        let externally_accessible = has_node_ports || !external_ips.is_empty();
        let external_local =
            externally_accessible && spec.external_traffic_policy.as_deref() == Some("Local");
        let internal_local = spec.internal_traffic_policy.as_deref() == Some("Local");
        let affinity = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
            let secs = spec
                .session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
                .unwrap_or(DEFAULT_AFFINITY_SECONDS);
            Duration::from_secs(u64::try_from(secs).unwrap_or(0))
        });
        let health_check_node_port = (type_ == "LoadBalancer" && external_local)
            .then(|| spec.health_check_node_port.and_then(nonzero_port))
            .flatten();
        Common {
            cluster_ips,
            has_node_ports,
            external_ips,
            load_balancer_ips,
            affinity,
            external_local,
            internal_local,
            health_check_node_port,
        }
    }
}

fn nonzero_port(p: i32) -> Option<u16> {
    u16::try_from(p).ok().filter(|p| *p != 0)
}

fn parse_ips<'a>(ips: impl Iterator<Item = &'a String>) -> Vec<IpAddr> {
    ips.filter_map(|ip| ip.trim().parse().ok()).collect()
}

fn protocol(p: Option<&str>) -> Protocol {
    match p {
        Some("UDP") => Protocol::Udp,
        Some("SCTP") => Protocol::Sctp,
        _ => Protocol::Tcp,
    }
}

/// The name of the Service an EndpointSlice serves (its `kubernetes.io/service-name`
/// label), unless it has none or is an FQDN slice, which the proxy ignores.
pub fn slice_service(slice: &EndpointSlice) -> Option<&str> {
    if slice.address_type == "FQDN" {
        return None;
    }
    slice
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SERVICE_NAME_LABEL))
        .map(String::as_str)
        .filter(|s| !s.is_empty())
}

/// Slices grouped by (namespace, service name), from their label.
fn slices_by_service<E: Borrow<EndpointSlice>>(
    slices: &[E],
) -> HashMap<(&str, &str), Vec<&EndpointSlice>> {
    let mut map: HashMap<(&str, &str), Vec<&EndpointSlice>> = HashMap::new();
    for slice in slices {
        let slice: &EndpointSlice = slice.borrow();
        let Some(service) = slice_service(slice) else {
            continue;
        };
        let namespace = slice.metadata.namespace.as_deref().unwrap_or("default");
        map.entry((namespace, service)).or_default().push(slice);
    }
    map
}

/// The endpoints of one service port, from the slice ports that share its name and protocol.
fn endpoints(
    slices: &[&EndpointSlice],
    port_name: &str,
    protocol: Protocol,
    node_name: &str,
) -> Vec<Endpoint> {
    let mut set: BTreeMap<(IpAddr, u16), Endpoint> = BTreeMap::new();
    for slice in slices {
        for sp in slice.ports.iter().flatten() {
            // kube-proxy ignores slice ports without a name (the controllers always set one,
            // "" for an unnamed service port) and without a number.
            let Some(name) = sp.name.as_deref() else {
                continue;
            };
            if name != port_name || self::protocol(sp.protocol.as_deref()) != protocol {
                continue;
            }
            let Some(number) = sp.port.and_then(nonzero_port) else {
                continue;
            };
            for ep in &slice.endpoints {
                let Some(ip) = ep.addresses.first().and_then(|a| a.trim().parse().ok()) else {
                    continue;
                };
                let cond = ep.conditions.as_ref();
                let ready = cond.and_then(|c| c.ready).unwrap_or(true);
                let serving = cond.and_then(|c| c.serving).unwrap_or(ready);
                let terminating = cond.and_then(|c| c.terminating).unwrap_or(false);
                let local = !node_name.is_empty() && ep.node_name.as_deref() == Some(node_name);
                let endpoint = Endpoint {
                    ip,
                    port: number,
                    ready,
                    serving,
                    terminating,
                    local,
                };
                // The same address twice (moving between slices, or an IP reused while the
                // old pod terminates): prefer the copy that is not terminating.
                let key = (ip, number);
                if !set.contains_key(&key) || !terminating {
                    set.insert(key, endpoint);
                }
            }
        }
    }
    set.into_values().collect()
}
