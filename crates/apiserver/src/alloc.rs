//! ClusterIP and NodePort allocation for Services.
//!
//! The allocator's state is derived from the stored Services: it is rebuilt by listing them
//! at start-up, so an allocation lives exactly as long as the acknowledged Service that holds
//! it (nothing is given out twice across a crash, nothing leaks). All Service writes hold the
//! allocator's lock from allocation until the store has answered.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use portico_api::Cause;
use serde_json::{json, Value};

/// IPs and ports for Services.
#[derive(Debug)]
pub struct Allocator {
    base: u32,
    size: u32,
    cidr: String,
    used_ips: HashSet<u32>,
    ports: (u16, u16),
    used_ports: HashSet<u16>,
}

/// What one Service write allocated (to roll back on failure) and released (to free on success).
#[derive(Debug, Default)]
pub struct Changes {
    new_ips: Vec<u32>,
    new_ports: Vec<u16>,
    old_ips: Vec<u32>,
    old_ports: Vec<u16>,
}

fn invalid(field: &str, value: &str, msg: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid".into(),
        message: format!("Invalid value: {value}: {msg}"),
        field: field.into(),
    }
}

impl Allocator {
    /// An allocator for `cidr` (e.g. `10.96.0.0/12`) and the NodePort range `lo..=hi`.
    pub fn new(cidr: &str, ports: (u16, u16)) -> Result<Allocator, String> {
        let (addr, prefix) = cidr
            .split_once('/')
            .ok_or_else(|| format!("invalid service CIDR {cidr:?}: want a.b.c.d/n"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("invalid service CIDR {cidr:?}"))?;
        let prefix: u32 = prefix
            .parse()
            .ok()
            .filter(|p| (8..=30).contains(p))
            .ok_or_else(|| format!("invalid service CIDR {cidr:?}: prefix must be 8..30"))?;
        let size = 1u32 << (32 - prefix);
        let base = u32::from(addr) & !(size - 1);
        if ports.0 == 0 || ports.0 > ports.1 {
            return Err(format!("invalid node port range {}-{}", ports.0, ports.1));
        }
        Ok(Allocator {
            base,
            size,
            cidr: format!("{}/{prefix}", Ipv4Addr::from(base)),
            used_ips: HashSet::new(),
            ports,
            used_ports: HashSet::new(),
        })
    }

    /// The first usable address (the `kubernetes` Service's).
    pub fn first_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 1)
    }

    /// The tenth address (the cluster DNS Service's, by convention).
    pub fn dns_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 10)
    }

    /// Marks everything a stored Service holds as used.
    pub fn mark_service(&mut self, svc: &Value) {
        for ip in cluster_ips(svc) {
            if let Some(i) = self.index(&ip) {
                self.used_ips.insert(i);
            }
        }
        for p in node_ports(svc) {
            self.used_ports.insert(p);
        }
    }

    /// Frees everything a deleted Service held.
    pub fn release_service(&mut self, svc: &Value) {
        for ip in cluster_ips(svc) {
            if let Some(i) = self.index(&ip) {
                self.used_ips.remove(&i);
            }
        }
        for p in node_ports(svc) {
            self.used_ports.remove(&p);
        }
    }

    fn index(&self, ip: &str) -> Option<u32> {
        let ip: Ipv4Addr = ip.parse().ok()?;
        let n = u32::from(ip);
        (n > self.base && n < self.base + self.size - 1).then_some(n)
    }

    fn alloc_ip(
        &mut self,
        requested: Option<&str>,
        changes: &mut Changes,
    ) -> Result<String, Cause> {
        let n = match requested {
            Some(r) => {
                let shown = format!("[]string{{{r:?}}}");
                let ip: Ipv4Addr = r.parse().map_err(|_| {
                    invalid("spec.clusterIPs", &shown, "must be a valid IP address")
                })?;
                let n = u32::from(ip);
                if n <= self.base || n >= self.base + self.size - 1 {
                    return Err(invalid(
                        "spec.clusterIPs",
                        &shown,
                        &format!(
                            "failed to allocate IP {r}: the provided IP ({r}) is not in the valid range. The range of valid IPs is {}",
                            self.cidr
                        ),
                    ));
                }
                if self.used_ips.contains(&n) {
                    return Err(invalid(
                        "spec.clusterIPs",
                        &shown,
                        &format!("failed to allocate IP {r}: provided IP is already allocated"),
                    ));
                }
                n
            }
            None => {
                // Like Kubernetes, dynamic allocation prefers the range above the low "static"
                // band, which is left for Services that ask for a fixed address.
                let usable = self.size - 2;
                let band = (usable / 16).clamp(16.min(usable), 256.min(usable));
                let pick = |lo: u32, hi: u32, used: &HashSet<u32>| -> Option<u32> {
                    if hi <= lo {
                        return None;
                    }
                    let span = hi - lo;
                    let start = rand::random::<u32>() % span;
                    (0..span)
                        .map(|i| self.base + 1 + lo + (start + i) % span)
                        .find(|n| !used.contains(n))
                };
                pick(band, usable, &self.used_ips)
                    .or_else(|| pick(0, band, &self.used_ips))
                    .ok_or_else(|| {
                        invalid(
                            "spec.clusterIPs",
                            "[]string{}",
                            "failed to allocate IP: range is full",
                        )
                    })?
            }
        };
        self.used_ips.insert(n);
        changes.new_ips.push(n);
        Ok(Ipv4Addr::from(n).to_string())
    }

    fn alloc_port(
        &mut self,
        field: &str,
        requested: Option<u16>,
        changes: &mut Changes,
    ) -> Result<u16, Cause> {
        let (lo, hi) = self.ports;
        let p = match requested {
            Some(p) => {
                if p < lo || p > hi {
                    return Err(invalid(
                        field,
                        &p.to_string(),
                        &format!("provided port is not in the valid range. The range of valid ports is {lo}-{hi}"),
                    ));
                }
                if self.used_ports.contains(&p) {
                    return Err(invalid(
                        field,
                        &p.to_string(),
                        "provided port is already allocated",
                    ));
                }
                p
            }
            None => {
                let span = u32::from(hi - lo) + 1;
                let start = rand::random::<u32>() % span;
                (0..span)
                    .map(|i| lo + ((start + i) % span) as u16)
                    .find(|p| !self.used_ports.contains(p))
                    .ok_or_else(|| invalid(field, "0", "range is full"))?
            }
        };
        self.used_ports.insert(p);
        changes.new_ports.push(p);
        Ok(p)
    }

    /// The values this write allocated afresh.
    pub fn fresh(changes: &Changes) -> (Vec<Ipv4Addr>, Vec<u16>) {
        (
            changes.new_ips.iter().map(|n| Ipv4Addr::from(*n)).collect(),
            changes.new_ports.clone(),
        )
    }

    /// The values a successful write gives up.
    pub fn released(changes: &Changes) -> (Vec<Ipv4Addr>, Vec<u16>) {
        (
            changes
                .old_ips
                .iter()
                .filter(|n| !changes.new_ips.contains(n))
                .map(|n| Ipv4Addr::from(*n))
                .collect(),
            changes
                .old_ports
                .iter()
                .filter(|p| !changes.new_ports.contains(p))
                .copied()
                .collect(),
        )
    }

    /// Marks an address another API server holds.
    pub fn mark_ip(&mut self, ip: Ipv4Addr) {
        if let Some(i) = self.index(&ip.to_string()) {
            self.used_ips.insert(i);
        }
    }

    /// Marks a port another API server holds.
    pub fn mark_port(&mut self, port: u16) {
        self.used_ports.insert(port);
    }

    /// Undoes the allocations of a write that failed.
    pub fn rollback(&mut self, changes: Changes) {
        for n in changes.new_ips {
            self.used_ips.remove(&n);
        }
        for p in changes.new_ports {
            self.used_ports.remove(&p);
        }
    }

    /// Frees what a successful write no longer holds.
    pub fn commit(&mut self, changes: Changes) {
        for n in changes.old_ips {
            if !changes.new_ips.contains(&n) {
                self.used_ips.remove(&n);
            }
        }
        for p in changes.old_ports {
            if !changes.new_ports.contains(&p) {
                self.used_ports.remove(&p);
            }
        }
    }

    /// Fills in the ClusterIP(s), NodePorts and healthCheckNodePort of `svc` (already
    /// defaulted), keeping what `old` held where it still applies, as Kubernetes' Service
    /// REST storage does on create and update.
    pub fn allocate_service(
        &mut self,
        svc: &mut Value,
        old: Option<&Value>,
    ) -> Result<Changes, Vec<Cause>> {
        let mut changes = Changes::default();
        match self.allocate_inner(svc, old, &mut changes) {
            Ok(()) => {
                if let Some(old) = old {
                    let keep_ips = cluster_ips(svc);
                    let keep_ports = node_ports(svc);
                    for ip in cluster_ips(old) {
                        if !keep_ips.contains(&ip) {
                            if let Some(i) = self.index(&ip) {
                                changes.old_ips.push(i);
                            }
                        }
                    }
                    for p in node_ports(old) {
                        if !keep_ports.contains(&p) {
                            changes.old_ports.push(p);
                        }
                    }
                }
                Ok(changes)
            }
            Err(causes) => {
                self.rollback(changes);
                Err(causes)
            }
        }
    }

    fn allocate_inner(
        &mut self,
        svc: &mut Value,
        old: Option<&Value>,
        changes: &mut Changes,
    ) -> Result<(), Vec<Cause>> {
        let ty = svc["spec"]["type"]
            .as_str()
            .unwrap_or("ClusterIP")
            .to_string();
        let old_spec = old.map(|o| &o["spec"]);
        let old_ty = old_spec.and_then(|s| s["type"].as_str()).unwrap_or("");
        let spec = match svc.get_mut("spec").and_then(Value::as_object_mut) {
            Some(s) => s,
            None => return Ok(()),
        };
        let old_ip = old_spec
            .and_then(|s| s["clusterIP"].as_str())
            .unwrap_or("")
            .to_string();
        // Fields that only some types use are dropped on a type change when the client left
        // them as they were (Kubernetes' dropTypeDependentFields).
        if ty == "ExternalName" {
            let given = spec.get("clusterIP").and_then(Value::as_str).unwrap_or("");
            if old.is_some() && old_ty != "ExternalName" && (given == old_ip || given.is_empty()) {
                spec.remove("clusterIP");
                spec.remove("clusterIPs");
                spec.remove("ipFamilies");
                spec.remove("ipFamilyPolicy");
            }
        }
        let needs_node_ports = ty == "NodePort"
            || (ty == "LoadBalancer"
                && spec
                    .get("allocateLoadBalancerNodePorts")
                    .and_then(Value::as_bool)
                    .unwrap_or(true));
        let mut causes = Vec::new();
        if ty != "ExternalName" {
            let given = spec
                .get("clusterIP")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| {
                    spec.get("clusterIPs")
                        .and_then(|v| v.get(0))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or_default();
            let ip = if given == "None" {
                Some("None".to_string())
            } else if !given.is_empty() && given == old_ip {
                Some(given)
            } else if given.is_empty() && !old_ip.is_empty() && old_ty != "ExternalName" {
                Some(old_ip.clone())
            } else {
                let requested = (!given.is_empty()).then_some(given.as_str());
                match self.alloc_ip(requested, changes) {
                    Ok(ip) => Some(ip),
                    Err(c) => {
                        causes.push(c);
                        None
                    }
                }
            };
            if let Some(ip) = ip {
                spec.insert("clusterIP".into(), json!(ip));
                spec.insert("clusterIPs".into(), json!([ip]));
            }
        }
        let old_ports: Vec<Value> = old_spec
            .and_then(|s| s["ports"].as_array())
            .cloned()
            .unwrap_or_default();
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for (i, port) in ports.iter_mut().enumerate() {
                let Some(port) = port.as_object_mut() else {
                    continue;
                };
                let given = port.get("nodePort").and_then(Value::as_u64).unwrap_or(0);
                let number = port.get("port").cloned().unwrap_or(Value::Null);
                let proto = port.get("protocol").cloned().unwrap_or(json!("TCP"));
                let previous = old_ports
                    .iter()
                    .find(|p| {
                        p["port"] == number
                            && p.get("protocol").cloned().unwrap_or(json!("TCP")) == proto
                    })
                    .and_then(|p| p["nodePort"].as_u64())
                    .unwrap_or(0);
                if !needs_node_ports {
                    if given != 0 && given == previous {
                        port.remove("nodePort");
                    }
                    continue;
                }
                let field = format!("spec.ports[{i}].nodePort");
                let result = if given != 0 && given == previous {
                    Ok(given as u16)
                } else if given == 0 && previous != 0 {
                    Ok(previous as u16)
                } else if given > u64::from(u16::MAX) {
                    Err(invalid(
                        &field,
                        &given.to_string(),
                        "provided port is not in the valid range",
                    ))
                } else {
                    self.alloc_port(&field, (given != 0).then_some(given as u16), changes)
                };
                match result {
                    Ok(p) => {
                        port.insert("nodePort".into(), json!(p));
                    }
                    Err(c) => causes.push(c),
                }
            }
        }
        let local = spec.get("externalTrafficPolicy").and_then(Value::as_str) == Some("Local");
        let given_hc = spec
            .get("healthCheckNodePort")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let old_hc = old_spec
            .and_then(|s| s["healthCheckNodePort"].as_u64())
            .unwrap_or(0);
        if ty == "LoadBalancer" && local {
            let field = "spec.healthCheckNodePort";
            let result = if given_hc != 0 && given_hc == old_hc {
                Ok(given_hc as u16)
            } else if given_hc == 0 && old_hc != 0 {
                Ok(old_hc as u16)
            } else if given_hc > u64::from(u16::MAX) {
                Err(invalid(
                    field,
                    &given_hc.to_string(),
                    "provided port is not in the valid range",
                ))
            } else {
                self.alloc_port(field, (given_hc != 0).then_some(given_hc as u16), changes)
            };
            match result {
                Ok(p) => {
                    spec.insert("healthCheckNodePort".into(), json!(p));
                }
                Err(c) => causes.push(c),
            }
        } else if given_hc != 0 && given_hc == old_hc {
            spec.remove("healthCheckNodePort");
        }
        if causes.is_empty() {
            Ok(())
        } else {
            Err(causes)
        }
    }
}

pub(crate) fn cluster_ips(svc: &Value) -> Vec<String> {
    let mut out: Vec<String> = svc["spec"]["clusterIPs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if let Some(ip) = svc["spec"]["clusterIP"].as_str() {
        if !out.iter().any(|o| o == ip) {
            out.push(ip.to_string());
        }
    }
    out.retain(|ip| ip != "None" && !ip.is_empty());
    out
}

pub(crate) fn node_ports(svc: &Value) -> Vec<u16> {
    let mut out: Vec<u16> = svc["spec"]["ports"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p["nodePort"].as_u64())
                .filter_map(|p| u16::try_from(p).ok())
                .collect()
        })
        .unwrap_or_default();
    if let Some(p) = svc["spec"]["healthCheckNodePort"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
    {
        out.push(p);
    }
    out
}

pub mod claims;

#[cfg(test)]
mod tests;
