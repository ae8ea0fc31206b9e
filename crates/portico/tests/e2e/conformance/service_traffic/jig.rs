//! `test/e2e/framework/service/jig.go` over kubectl: the Service test jig (create, update by
//! GET + PUT, the sanity check of allocations), its service pods, and the reachability
//! checks (`CheckServiceReachability`, `testEndpointReachability`).

use std::time::Duration;

use serde_json::{json, Value};

use super::e2e::{self, poll_immediate};
use crate::harness::Cluster;

/// `ServiceReachabilityShortPollTimeout`.
pub const REACHABILITY_TIMEOUT: Duration = Duration::from_secs(2 * 60);
/// `ServiceEndpointsTimeout`.
pub const ENDPOINTS_TIMEOUT: Duration = Duration::from_secs(2 * 60);
/// `NodePortRange`: 30000-32767.
pub const NODE_PORTS: std::ops::RangeInclusive<i64> = 30000..=32767;

/// `e2eservice.TestJig`: a namespace, a name, and the `testid` label its objects carry.
pub struct Jig<'a> {
    /// The cluster.
    pub c: &'a Cluster,
    /// Namespace.
    pub ns: String,
    /// The Service's (and the service pods' RC's) name.
    pub name: String,
    /// `{"testid": "<name>-<uid>"}`.
    pub labels: Value,
}

impl<'a> Jig<'a> {
    /// `NewTestJig`.
    pub fn new(c: &'a Cluster, ns: &str, name: &str) -> Jig<'a> {
        Jig {
            c,
            ns: ns.into(),
            name: name.into(),
            labels: json!({"testid": format!("{name}-{}", e2e::uid())}),
        }
    }

    /// `CreateTCPService`: port 80/TCP selecting the jig's label, tweaked, then checked.
    pub fn create_tcp_service(&self, tweak: impl FnOnce(&mut Value)) -> Result<Value, String> {
        let mut svc = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"namespace": self.ns, "name": self.name, "labels": self.labels},
            "spec": {"selector": self.labels, "ports": [{"protocol": "TCP", "port": 80}]},
        });
        tweak(&mut svc);
        let ty = svc["spec"]["type"].as_str().unwrap_or("").to_string();
        let created = self.create(&svc, "TCP")?;
        sanity_check_service(&created, &ty)?;
        Ok(created)
    }

    /// `CreateExternalNameService`: type ExternalName for `foo.example.com`.
    pub fn create_external_name_service(&self) -> Result<Value, String> {
        let svc = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"namespace": self.ns, "name": self.name, "labels": self.labels},
            "spec": {"selector": self.labels, "externalName": "foo.example.com", "type": "ExternalName"},
        });
        let created = self.create(&svc, "ExternalName")?;
        sanity_check_service(&created, "ExternalName")?;
        Ok(created)
    }

    fn create(&self, svc: &Value, what: &str) -> Result<Value, String> {
        let r = self.c.kubectl_stdin(
            &["create", "-n", &self.ns, "-o", "json", "-f", "-"],
            &svc.to_string(),
        );
        if !r.ok {
            return Err(format!(
                "failed to create {what} Service {:?}: {}",
                self.name, r.stderr
            ));
        }
        serde_json::from_str(&r.stdout).map_err(|e| e.to_string())
    }

    /// `UpdateService`: GET, `update`, PUT (`kubectl replace`), up to 3 tries on conflicts;
    /// the result is sanity-checked for its type.
    pub fn update_service(&self, update: impl Fn(&mut Value)) -> Result<Value, String> {
        for _ in 0..3 {
            let mut svc = e2e::get(self.c, &self.ns, "service", &self.name);
            update(&mut svc);
            let r = self.c.kubectl_stdin(
                &["replace", "-n", &self.ns, "-o", "json", "-f", "-"],
                &svc.to_string(),
            );
            if r.ok {
                let result: Value = serde_json::from_str(&r.stdout).map_err(|e| e.to_string())?;
                let ty = svc["spec"]["type"].as_str().unwrap_or("").to_string();
                sanity_check_service(&result, &ty)?;
                return Ok(result);
            }
            if !r.stderr.contains("Conflict") && !r.stderr.contains("the object has been modified")
            {
                return Err(format!(
                    "failed to update Service {:?}: {}",
                    self.name, r.stderr
                ));
            }
        }
        Err(format!("too many retries updating Service {:?}", self.name))
    }

    /// `CreateServicePods`: an RC of `replica` agnhost `serve-hostname --http=false --tcp
    /// --udp` pods (port 9376) carrying the jig's label.
    pub fn create_service_pods(&self, replica: usize) {
        e2e::run_rc(
            self.c,
            &self.ns,
            &self.name,
            replica,
            &[
                "/agnhost",
                "serve-hostname",
                "--http=false",
                "--tcp",
                "--udp",
            ],
            &self.labels,
        );
    }

    /// `waitForAvailableEndpoint`: an EndpointSlice of the Service with a ready address.
    fn wait_for_available_endpoint(&self, timeout: Duration) -> Result<(), String> {
        let selector = format!("kubernetes.io/service-name={}", self.name);
        let ok = poll_immediate(Duration::from_secs(1), timeout, || {
            let list = self
                .c
                .get_json(&["-n", &self.ns, "endpointslices", "-l", &selector]);
            list["items"].as_array().into_iter().flatten().any(|s| {
                s["endpoints"].as_array().into_iter().flatten().any(|e| {
                    e["conditions"]["ready"] != false && e["addresses"].as_array().is_some()
                })
            })
        });
        ok.then_some(()).ok_or_else(|| {
            format!(
                "no subset of available IP address found for the endpoint {} within timeout {timeout:?}",
                self.name
            )
        })
    }

    /// `CheckServiceReachability` from `pod`: by name and cluster IP (and every node's
    /// internal IP on the node port for NodePort Services), or by DNS for ExternalName.
    pub fn check_service_reachability(&self, svc: &Value, pod: &str) -> Result<(), String> {
        let ty = svc["spec"]["type"].as_str().unwrap_or("ClusterIP");
        sanity_check_service(svc, ty)?;
        let cluster_ip = svc["spec"]["clusterIP"].as_str().unwrap_or("");
        let ports = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
        match ty {
            "ClusterIP" | "NodePort" => {
                // checkNodePortServiceReachability considers only 2 nodes.
                let nodes: Vec<Value> = e2e::ready_schedulable_nodes(self.c)
                    .into_iter()
                    .take(2)
                    .collect();
                self.wait_for_available_endpoint(ENDPOINTS_TIMEOUT)?;
                for sp in &ports {
                    let port = sp["port"].as_i64().unwrap_or(0);
                    let proto = sp["protocol"].as_str().unwrap_or("TCP");
                    test_endpoint_reachability(self.c, &self.ns, pod, &self.name, port, proto)?;
                    if cluster_ip.parse::<std::net::Ipv4Addr>().is_err() {
                        return Err(format!("unable to parse ClusterIP: {cluster_ip}"));
                    }
                    test_endpoint_reachability(self.c, &self.ns, pod, cluster_ip, port, proto)?;
                    if ty == "NodePort" {
                        let node_port = sp["nodePort"].as_i64().unwrap_or(0);
                        for kind in ["InternalIP", "ExternalIP"] {
                            for addr in nodes.iter().flat_map(|n| e2e::addresses(n, kind)) {
                                let v4 = addr.parse::<std::net::Ipv4Addr>();
                                if v4.map(|a| a.is_loopback()).unwrap_or(true) {
                                    continue;
                                }
                                test_endpoint_reachability(
                                    self.c, &self.ns, pod, &addr, node_port, proto,
                                )?;
                            }
                        }
                    }
                }
                Ok(())
            }
            "ExternalName" => {
                let fqdn = format!("{}.{}.svc.cluster.local", self.name, self.ns);
                let cmd = format!("nslookup {fqdn}");
                let ok = poll_immediate(e2e::POLL, REACHABILITY_TIMEOUT, || {
                    e2e::run_host_cmd(self.c, &self.ns, pod, &cmd).is_ok()
                });
                ok.then_some(())
                    .ok_or_else(|| format!("ExternalName service {:?} must resolve to IP", fqdn))
            }
            other => Err(format!(
                "unsupported service type {other:?} to verify service reachability"
            )),
        }
    }
}

/// `sanityCheckService`: the type is `ty` (ClusterIP when empty); non-ExternalName Services
/// have a cluster IP and no externalName, ExternalName ones no cluster IP; node ports exist
/// (in range) exactly for NodePort and LoadBalancer.
pub fn sanity_check_service(svc: &Value, ty: &str) -> Result<(), String> {
    let ty = if ty.is_empty() { "ClusterIP" } else { ty };
    let spec = &svc["spec"];
    let got = spec["type"].as_str().unwrap_or("");
    if got != ty {
        return Err(format!(
            "unexpected Spec.Type ({got}) for service, expected {ty}"
        ));
    }
    let cluster_ip = spec["clusterIP"].as_str().unwrap_or("");
    if ty != "ExternalName" {
        let external = spec["externalName"].as_str().unwrap_or("");
        if !external.is_empty() {
            return Err(format!(
                "unexpected Spec.ExternalName ({external}) for service, expected empty"
            ));
        }
        if cluster_ip.is_empty() {
            return Err("didn't get ClusterIP for non-ExternalName service".into());
        }
    } else if !cluster_ip.is_empty() {
        return Err(format!(
            "unexpected Spec.ClusterIP ({cluster_ip}) for ExternalName service, expected empty"
        ));
    }
    let expect_node_ports = !matches!(ty, "ClusterIP" | "ExternalName");
    for (i, port) in spec["ports"].as_array().into_iter().flatten().enumerate() {
        let np = port["nodePort"].as_i64().unwrap_or(0);
        if (np != 0) != expect_node_ports {
            return Err(format!(
                "unexpected Spec.Ports[{i}].NodePort ({np}) for service"
            ));
        }
        if np != 0 && !NODE_PORTS.contains(&np) {
            return Err(format!("out-of-range nodePort ({np}) for service"));
        }
    }
    Ok(())
}

/// `testEndpointReachability` (jig.go): `echo hostName | nc -v -t|-u -w 2 HOST PORT` from
/// `pod` until it answers something, for up to [`REACHABILITY_TIMEOUT`].
pub fn test_endpoint_reachability(
    c: &Cluster,
    ns: &str,
    pod: &str,
    endpoint: &str,
    port: i64,
    protocol: &str,
) -> Result<(), String> {
    reachability(
        c,
        ns,
        pod,
        endpoint,
        port,
        protocol,
        Duration::from_secs(1),
        REACHABILITY_TIMEOUT,
    )
}

/// The common body of both `testEndpointReachability`s (jig.go's and service.go's, which
/// takes the timeout and polls every `framework.Poll`).
#[allow(clippy::too_many_arguments)]
pub fn reachability(
    c: &Cluster,
    ns: &str,
    pod: &str,
    endpoint: &str,
    port: i64,
    protocol: &str,
    interval: Duration,
    timeout: Duration,
) -> Result<(), String> {
    let flag = match protocol {
        "TCP" => "-t",
        "UDP" => "-u",
        other => {
            return Err(format!(
                "service reachability check is not supported for {other}"
            ))
        }
    };
    let cmd = format!("echo hostName | nc -v {flag} -w 2 {endpoint} {port}");
    let ok = poll_immediate(interval, timeout, || {
        match e2e::run_host_cmd(c, ns, pod, &cmd) {
            Ok(out) => !out.trim().is_empty(),
            Err(_) => false,
        }
    });
    ok.then_some(()).ok_or_else(|| {
        format!(
            "service is not reachable within {timeout:?} timeout on endpoint {endpoint}:{port} over {protocol} protocol"
        )
    })
}
