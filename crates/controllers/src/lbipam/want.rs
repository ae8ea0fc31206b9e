//! What a Service asks of the LoadBalancer allocator.
//!
//! A Service is ours when its type is `LoadBalancer` and it has no `loadBalancerClass` or the
//! class [`CLASS`]; Services of another class belong to another implementation and are never
//! touched. A specific address may be requested with the MetalLB annotation
//! `metallb.universe.tf/loadBalancerIPs` (or its newer spelling `metallb.io/loadBalancerIPs`;
//! comma-separated, the IPv4 entry is used), or else with the deprecated
//! `spec.loadBalancerIP`.

use std::net::{IpAddr, Ipv4Addr};

use k8s_openapi::api::core::v1::Service;

/// The `loadBalancerClass` Portico's allocator answers to (besides no class at all).
pub const CLASS: &str = "portico.dev/lb";
/// MetalLB's annotation requesting addresses.
pub const IPS_ANNOTATION: &str = "metallb.universe.tf/loadBalancerIPs";
/// The same annotation under MetalLB's newer domain.
pub const IPS_ANNOTATION_NEW: &str = "metallb.io/loadBalancerIPs";

/// What a Service wants from the allocator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// Not a LoadBalancer: it should hold no address.
    NotLoadBalancer,
    /// A LoadBalancer of another class: not ours.
    OtherClass,
    /// Any address of the pool.
    Any,
    /// This address.
    Ip(IpAddr),
    /// The request cannot be understood (the message says why).
    Invalid(String),
}

/// Reads what `svc` wants.
pub fn want(svc: &Service) -> Want {
    let Some(spec) = svc.spec.as_ref() else {
        return Want::NotLoadBalancer;
    };
    if spec.type_.as_deref() != Some("LoadBalancer") {
        return Want::NotLoadBalancer;
    }
    if spec
        .load_balancer_class
        .as_deref()
        .is_some_and(|c| c != CLASS)
    {
        return Want::OtherClass;
    }
    let annotations = svc.metadata.annotations.as_ref();
    let requested = annotations.and_then(|a| {
        a.get(IPS_ANNOTATION)
            .map(|v| (IPS_ANNOTATION, v))
            .or_else(|| a.get(IPS_ANNOTATION_NEW).map(|v| (IPS_ANNOTATION_NEW, v)))
    });
    if let Some((name, value)) = requested {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.parse::<IpAddr>() {
                Ok(ip @ IpAddr::V4(_)) => v4.push(ip),
                Ok(ip @ IpAddr::V6(_)) => v6.push(ip),
                Err(_) => {
                    return Want::Invalid(format!("invalid IP {part:?} in {name} annotation"))
                }
            }
        }
        return match (v4.as_slice(), v6.as_slice()) {
            ([ip], _) => Want::Ip(*ip),
            ([], [ip, ..]) => Want::Ip(*ip),
            ([], []) => Want::Invalid(format!("no IP in {name} annotation")),
            _ => Want::Invalid(format!("more than one IPv4 address in {name} annotation")),
        };
    }
    match spec.load_balancer_ip.as_deref().map(str::trim) {
        Some(ip) if !ip.is_empty() => match ip.parse::<IpAddr>() {
            Ok(ip) => Want::Ip(ip),
            Err(_) => Want::Invalid(format!("invalid loadBalancerIP {ip:?}")),
        },
        _ => {
            let families = spec.ip_families.as_deref().unwrap_or_default();
            if !families.is_empty() && !families.iter().any(|f| f == "IPv4") {
                Want::Invalid("no available IPs".into())
            } else {
                Want::Any
            }
        }
    }
}

/// The first IPv4 address in `status.loadBalancer.ingress`.
pub fn status_ip(svc: &Service) -> Option<Ipv4Addr> {
    svc.status
        .as_ref()?
        .load_balancer
        .as_ref()?
        .ingress
        .as_ref()?
        .iter()
        .find_map(|i| i.ip.as_deref()?.parse().ok())
}

/// Whether `status.loadBalancer.ingress` is exactly `[{ip, ipMode: VIP}]`.
pub fn status_is(svc: &Service, ip: Ipv4Addr) -> bool {
    let ingress = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|l| l.ingress.as_deref())
        .unwrap_or_default();
    let want = ip.to_string();
    matches!(ingress, [one] if one.ip.as_deref() == Some(want.as_str())
        && one.hostname.is_none()
        && one.ip_mode.as_deref() == Some("VIP"))
}

/// Whether `status.loadBalancer.ingress` has any entry.
pub fn has_ingress(svc: &Service) -> bool {
    svc.status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|l| l.ingress.as_ref())
        .is_some_and(|i| !i.is_empty())
}

#[cfg(test)]
mod tests;
