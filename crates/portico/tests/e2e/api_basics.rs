//! Discovery, authentication and the basic verbs with kubectl.

use crate::harness::{header, Cluster};

#[test]
fn kubectl_sees_a_1_32_server_with_kubernetes_resources() {
    let c = Cluster::start();
    let v = c.ok(&["version", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&v).unwrap();
    assert_eq!(v["serverVersion"]["major"], "1");
    assert_eq!(v["serverVersion"]["minor"], "32");
    let res = c.ok(&["api-resources"]);
    for line in [
        "services   svc",
        "endpoints   ep",
        "deployments   deploy",
        "ingresses   ing",
    ] {
        let mut parts = line.split_whitespace();
        let (name, short) = (parts.next().unwrap(), parts.next().unwrap());
        assert!(
            res.lines().any(|l| {
                let cells: Vec<&str> = l.split_whitespace().collect();
                cells.first() == Some(&name) && cells.get(1) == Some(&short)
            }),
            "{name} ({short}) missing from api-resources:\n{res}"
        );
    }
    let ns = c.ok(&["get", "ns"]);
    assert_eq!(header(&ns), ["NAME", "STATUS", "AGE"]);
    for n in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(
            ns.lines().any(|l| l.starts_with(n) && l.contains("Active")),
            "{ns}"
        );
    }
    let svc = c.ok(&["get", "svc", "kubernetes"]);
    assert!(
        svc.contains("10.96.0.1") && svc.contains("443/TCP"),
        "{svc}"
    );
}

#[test]
fn requests_without_the_token_get_401() {
    let c = Cluster::start();
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(c.ca_file())
        .arg(format!("https://{}/api/v1/namespaces", c.address))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "401");
}
