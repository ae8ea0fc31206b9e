//! A final check, once everything converged, that what the controllers wrote is right and not
//! merely complete: one list of EndpointSlices and one of Endpoints, compared field by field
//! with what each Service should have (addresses, port 8080/TCP, node, zone, pod reference).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Endpoints;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams};

use crate::objects::{self, NAMESPACE, TARGET_PORT};
use crate::Error;

/// The outcome of the check.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    /// EndpointSlices listed for benchmark Services.
    pub slices: usize,
    /// Endpoints listed for benchmark Services.
    pub endpoints: usize,
    /// What is wrong, one line each (empty when all is well).
    pub problems: Vec<String>,
}

/// The expected pod of Service `svc` at `ip`: its index, if `ip` is one of its pods'.
fn pod_of(svc: usize, ip: &str, p: usize) -> Option<usize> {
    let ip: Ipv4Addr = ip.parse().ok()?;
    let j = u32::from(ip).checked_sub(u32::from(objects::pod_ip(svc, 0, p)))? as usize;
    (j < p).then_some(j)
}

/// Checks one slice; returns the pod indexes it lists.
fn check_slice(s: &EndpointSlice, svc: usize, p: usize, problems: &mut Vec<String>) -> Vec<usize> {
    let name = s.metadata.name.clone().unwrap_or_default();
    let labels = s.metadata.labels.clone().unwrap_or_default();
    if labels
        .get("endpointslice.kubernetes.io/managed-by")
        .map(String::as_str)
        != Some("endpointslice-controller.k8s.io")
    {
        problems.push(format!(
            "EndpointSlice {name}: managed-by label {:?}",
            labels.get("endpointslice.kubernetes.io/managed-by")
        ));
    }
    let ports: Vec<_> = s
        .ports
        .iter()
        .flatten()
        .map(|p| (p.port, p.protocol.clone()))
        .collect();
    if s.address_type != "IPv4" || ports != [(Some(TARGET_PORT), Some("TCP".into()))] {
        problems.push(format!(
            "EndpointSlice {name}: addressType {} ports {ports:?}",
            s.address_type
        ));
    }
    let mut listed = Vec::new();
    for ep in &s.endpoints {
        let addr = ep.addresses.first().cloned().unwrap_or_default();
        let Some(j) = pod_of(svc, &addr, p) else {
            problems.push(format!(
                "EndpointSlice {name}: address {addr} is no pod of the Service"
            ));
            continue;
        };
        let pod = objects::pod_name(svc, j);
        let target = ep.target_ref.as_ref().and_then(|t| t.name.clone());
        let ready = ep.conditions.as_ref().and_then(|c| c.ready);
        if target.as_deref() != Some(pod.as_str())
            || ep.node_name.is_none()
            || ep.zone.is_none()
            || ready != Some(true)
        {
            problems.push(format!(
                "EndpointSlice {name}: {addr} has targetRef {target:?} nodeName {:?} zone {:?} ready {ready:?} (want {pod}, a node, a zone, true)",
                ep.node_name, ep.zone
            ));
        }
        listed.push(j);
    }
    listed
}

/// Checks one Endpoints object.
fn check_endpoints(e: &Endpoints, svc: usize, p: usize, problems: &mut Vec<String>) {
    let name = e.metadata.name.clone().unwrap_or_default();
    let subsets = e.subsets.clone().unwrap_or_default();
    let [subset] = subsets.as_slice() else {
        problems.push(format!(
            "Endpoints {name}: {} subsets, want 1",
            subsets.len()
        ));
        return;
    };
    let ports: Vec<_> = subset
        .ports
        .iter()
        .flatten()
        .map(|p| (p.port, p.protocol.clone()))
        .collect();
    if ports != [(TARGET_PORT, Some("TCP".into()))] {
        problems.push(format!("Endpoints {name}: ports {ports:?}"));
    }
    if let Some(not) = subset
        .not_ready_addresses
        .as_ref()
        .filter(|v| !v.is_empty())
    {
        problems.push(format!("Endpoints {name}: {} notReadyAddresses", not.len()));
    }
    let mut listed: Vec<usize> = Vec::new();
    for a in subset.addresses.iter().flatten() {
        match pod_of(svc, &a.ip, p) {
            Some(j)
                if a.target_ref.as_ref().and_then(|t| t.name.as_deref())
                    == Some(objects::pod_name(svc, j).as_str()) =>
            {
                listed.push(j)
            }
            _ => problems.push(format!(
                "Endpoints {name}: address {} targetRef {:?}",
                a.ip,
                a.target_ref.as_ref().and_then(|t| t.name.clone())
            )),
        }
    }
    listed.sort_unstable();
    if listed != (0..p).collect::<Vec<_>>() {
        problems.push(format!(
            "Endpoints {name}: lists pods {listed:?}, want 0..{p}"
        ));
    }
}

/// Lists everything once and checks it against `n` Services of `p` ready pods.
pub async fn verify(client: &kube::Client, n: usize, p: usize) -> Result<Verdict, Error> {
    let mut verdict = Verdict::default();
    let mut per_service: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), NAMESPACE);
    for s in slices.list(&ListParams::default()).await? {
        let Some(svc) = s
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("kubernetes.io/service-name"))
            .and_then(|n| objects::service_index(n))
        else {
            continue;
        };
        verdict.slices += 1;
        let listed = check_slice(&s, svc, p, &mut verdict.problems);
        per_service.entry(svc).or_default().extend(listed);
    }
    for svc in 0..n {
        let mut listed = per_service.remove(&svc).unwrap_or_default();
        listed.sort_unstable();
        if listed != (0..p).collect::<Vec<_>>() {
            verdict.problems.push(format!(
                "EndpointSlices of {}: list pods {listed:?}, want 0..{p}",
                objects::service_name(svc)
            ));
        }
    }
    let endpoints: Api<Endpoints> = Api::namespaced(client.clone(), NAMESPACE);
    let mut seen = vec![false; n];
    for e in endpoints.list(&ListParams::default()).await? {
        let Some(svc) = e.metadata.name.as_deref().and_then(objects::service_index) else {
            continue;
        };
        verdict.endpoints += 1;
        if let Some(s) = seen.get_mut(svc) {
            *s = true;
        }
        check_endpoints(&e, svc, p, &mut verdict.problems);
    }
    let missing = seen.iter().filter(|s| !**s).count();
    if missing > 0 {
        verdict
            .problems
            .push(format!("{missing} Services have no Endpoints"));
    }
    Ok(verdict)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_correct_slice_passes_and_a_wrong_one_is_described() {
        let good: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"name": "svc-00001-abcde", "labels": {
                "kubernetes.io/service-name": "svc-00001",
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
            "addressType": "IPv4",
            "ports": [{"name": "", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": ["10.128.0.2"], "conditions": {"ready": true},
                "nodeName": "bench-node-1", "zone": "zone-1",
                "targetRef": {"kind": "Pod", "name": "svc-00001-0", "namespace": "bench"}}],
        }))
        .unwrap();
        let mut problems = Vec::new();
        assert_eq!(check_slice(&good, 1, 2, &mut problems), vec![0]);
        assert!(problems.is_empty(), "{problems:?}");
        let mut bad = good.clone();
        bad.endpoints[0].addresses = vec!["10.128.0.9".into()];
        check_slice(&bad, 1, 2, &mut problems);
        assert_eq!(
            problems,
            vec!["EndpointSlice svc-00001-abcde: address 10.128.0.9 is no pod of the Service"]
        );
    }

    #[test]
    fn endpoints_missing_a_pod_are_reported() {
        let e: Endpoints = serde_json::from_value(json!({
            "metadata": {"name": "svc-00000"},
            "subsets": [{"addresses": [{"ip": "10.128.0.1", "targetRef": {"kind": "Pod", "name": "svc-00000-1"}}],
                         "ports": [{"port": 8080, "protocol": "TCP"}]}],
        }))
        .unwrap();
        let mut problems = Vec::new();
        check_endpoints(&e, 0, 2, &mut problems);
        assert_eq!(
            problems,
            vec!["Endpoints svc-00000: lists pods [1], want 0..2"]
        );
    }
}
