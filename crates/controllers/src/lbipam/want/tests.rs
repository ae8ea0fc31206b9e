//! Tests of reading a Service's request.

use super::*;
use serde_json::json;

fn svc(spec: serde_json::Value, annotations: serde_json::Value) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": "s", "namespace": "default", "annotations": annotations},
        "spec": spec
    }))
    .unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn only_unclassed_or_portico_load_balancers_are_ours() {
    assert_eq!(
        want(&svc(json!({"type": "ClusterIP"}), json!(null))),
        Want::NotLoadBalancer
    );
    assert_eq!(
        want(&svc(json!({"type": "NodePort"}), json!(null))),
        Want::NotLoadBalancer
    );
    assert_eq!(
        want(&svc(json!({"type": "LoadBalancer"}), json!(null))),
        Want::Any
    );
    assert_eq!(
        want(&svc(
            json!({"type": "LoadBalancer", "loadBalancerClass": "portico.dev/lb"}),
            json!(null)
        )),
        Want::Any
    );
    assert_eq!(
        want(&svc(
            json!({"type": "LoadBalancer", "loadBalancerClass": "example.com/other"}),
            json!(null)
        )),
        Want::OtherClass
    );
}

#[test]
fn requested_addresses() {
    let lb = json!({"type": "LoadBalancer", "loadBalancerIP": "127.240.0.9"});
    assert_eq!(
        want(&svc(lb.clone(), json!(null))),
        Want::Ip(ip("127.240.0.9"))
    );
    // The annotation wins over the field; its IPv4 entry is used.
    let a = json!({"metallb.universe.tf/loadBalancerIPs": "fd00::5, 127.240.0.7"});
    assert_eq!(want(&svc(lb.clone(), a)), Want::Ip(ip("127.240.0.7")));
    let a = json!({"metallb.io/loadBalancerIPs": "127.240.0.8"});
    assert_eq!(want(&svc(lb, a)), Want::Ip(ip("127.240.0.8")));
    let a = json!({"metallb.universe.tf/loadBalancerIPs": "banana"});
    assert!(
        matches!(want(&svc(json!({"type": "LoadBalancer"}), a)), Want::Invalid(m) if m.contains("banana"))
    );
    let a = json!({"metallb.universe.tf/loadBalancerIPs": "10.0.0.1,10.0.0.2"});
    assert!(matches!(
        want(&svc(json!({"type": "LoadBalancer"}), a)),
        Want::Invalid(_)
    ));
}

#[test]
fn status_helpers() {
    let mut s = svc(json!({"type": "LoadBalancer"}), json!(null));
    assert_eq!(status_ip(&s), None);
    assert!(!has_ingress(&s));
    s.status = Some(
        serde_json::from_value(
            json!({"loadBalancer": {"ingress": [{"ip": "127.240.0.1", "ipMode": "VIP"}]}}),
        )
        .unwrap(),
    );
    assert_eq!(status_ip(&s), Some("127.240.0.1".parse().unwrap()));
    assert!(status_is(&s, "127.240.0.1".parse().unwrap()));
    assert!(!status_is(&s, "127.240.0.2".parse().unwrap()));
    assert!(has_ingress(&s));
}
