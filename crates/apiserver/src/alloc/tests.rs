use super::*;

fn alloc() -> Allocator {
    Allocator::new("10.96.0.0/12", (30000, 32767)).unwrap()
}

#[test]
fn cluster_ips_are_unique_and_in_range() {
    let mut a = alloc();
    let mut seen = HashSet::new();
    for _ in 0..2000 {
        let mut svc = json!({"spec": {"type": "ClusterIP", "ports": [{"port": 80}]}});
        a.allocate_service(&mut svc, None).unwrap();
        let ip: Ipv4Addr = svc["spec"]["clusterIP"].as_str().unwrap().parse().unwrap();
        assert!(u32::from(ip) > u32::from(Ipv4Addr::new(10, 96, 0, 0)));
        assert!(u32::from(ip) < u32::from(Ipv4Addr::new(10, 112, 0, 0)));
        assert!(seen.insert(ip), "{ip} given twice");
        assert_eq!(svc["spec"]["clusterIPs"], json!([ip.to_string()]));
    }
}

#[test]
fn requested_ip_and_port_conflicts_are_reported_like_kubernetes() {
    let mut a = alloc();
    let mut one = json!({"spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "ports": [{"port": 80, "nodePort": 30080}]}});
    let changes = a.allocate_service(&mut one, None).unwrap();
    a.commit(changes);
    let mut two = json!({"spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "ports": [{"port": 80, "nodePort": 30080}]}});
    let causes = a.allocate_service(&mut two, None).unwrap_err();
    assert_eq!(causes.len(), 2);
    assert_eq!(causes[0].field, "spec.clusterIPs");
    assert_eq!(
        causes[0].message,
        "Invalid value: []string{\"10.96.0.10\"}: failed to allocate IP 10.96.0.10: provided IP is already allocated"
    );
    assert_eq!(causes[1].field, "spec.ports[0].nodePort");
    assert_eq!(
        causes[1].message,
        "Invalid value: 30080: provided port is already allocated"
    );
    let mut three = json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]}});
    let causes = a.allocate_service(&mut three, None).unwrap_err();
    assert_eq!(
        causes[0].message,
        "Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767"
    );
    // A failed write gave nothing out.
    let mut four =
        json!({"spec": {"type": "ClusterIP", "clusterIP": "10.96.0.11", "ports": [{"port": 80}]}});
    a.allocate_service(&mut four, None).unwrap();
}

#[test]
fn type_changes_allocate_and_release() {
    let mut a = alloc();
    let mut svc =
        json!({"spec": {"type": "ClusterIP", "ports": [{"port": 80, "protocol": "TCP"}]}});
    let c = a.allocate_service(&mut svc, None).unwrap();
    a.commit(c);
    let ip = svc["spec"]["clusterIP"].clone();
    // ClusterIP -> NodePort keeps the IP and adds a node port.
    let mut np = svc.clone();
    np["spec"]["type"] = json!("NodePort");
    let c = a.allocate_service(&mut np, Some(&svc)).unwrap();
    a.commit(c);
    assert_eq!(np["spec"]["clusterIP"], ip);
    let port = np["spec"]["ports"][0]["nodePort"].as_u64().unwrap();
    assert!((30000..=32767).contains(&port));
    // An update that omits the node port keeps it.
    let mut again = np.clone();
    again["spec"]["ports"][0]
        .as_object_mut()
        .unwrap()
        .remove("nodePort");
    let c = a.allocate_service(&mut again, Some(&np)).unwrap();
    a.commit(c);
    assert_eq!(again["spec"]["ports"][0]["nodePort"].as_u64(), Some(port));
    // NodePort -> ExternalName drops the IP and the port, and frees both.
    let mut ext = again.clone();
    ext["spec"]["type"] = json!("ExternalName");
    ext["spec"]["externalName"] = json!("example.com");
    let c = a.allocate_service(&mut ext, Some(&again)).unwrap();
    a.commit(c);
    assert!(ext["spec"].get("clusterIP").is_none());
    assert!(ext["spec"]["ports"][0].get("nodePort").is_none());
    let mut reuse = json!({"spec": {"type": "NodePort", "clusterIP": ip, "ports": [{"port": 1, "nodePort": port}]}});
    a.allocate_service(&mut reuse, None).unwrap();
}

#[test]
fn health_check_node_port_for_local_load_balancers() {
    let mut a = alloc();
    let mut svc = json!({"spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local", "ports": [{"port": 80}]}});
    a.allocate_service(&mut svc, None).unwrap();
    let hc = svc["spec"]["healthCheckNodePort"].as_u64().unwrap();
    assert!((30000..=32767).contains(&hc));
    assert_ne!(Some(hc), svc["spec"]["ports"][0]["nodePort"].as_u64());
}

#[test]
fn rebuilt_state_refuses_held_values() {
    let mut a = alloc();
    a.mark_service(&json!({"spec": {"clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"], "ports": [{"nodePort": 30001}]}}));
    let mut svc = json!({"spec": {"type": "NodePort", "clusterIP": "10.96.0.1", "ports": [{"port": 80, "nodePort": 30001}]}});
    assert_eq!(a.allocate_service(&mut svc, None).unwrap_err().len(), 2);
}
