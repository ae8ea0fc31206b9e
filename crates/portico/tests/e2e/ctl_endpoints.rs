//! The Endpoints and EndpointSlice controllers seen through real kubectl: Services over pods
//! whose status (IP, Ready condition) the tests write themselves, as a kubelet would.

mod bench;

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::Cluster;
use crate::support::{apply_file, seed, Table};

const SLICE_CONTROLLER: &str = "endpointslice-controller.k8s.io";
const MIRROR_CONTROLLER: &str = "endpointslicemirroring-controller.k8s.io";

/// A Node with a zone label.
fn node(c: &Cluster, name: &str, zone: &str) {
    c.apply(&format!(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels:\n    topology.kubernetes.io/zone: {zone}\n"
    ));
}

/// A pod labelled `app=<app>` on `node-a`, with named container ports.
fn pod(c: &Cluster, name: &str, app: &str, ports: &[(&str, u16)]) {
    let mut ports_yaml = String::new();
    for (n, p) in ports {
        ports_yaml.push_str(&format!("    - name: {n}\n      containerPort: {p}\n"));
    }
    let ports_block = if ports.is_empty() {
        String::new()
    } else {
        format!("    ports:\n{ports_yaml}")
    };
    c.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels:\n    app: {app}\nspec:\n  nodeName: node-a\n  containers:\n  - name: main\n    image: busybox\n{ports_block}"
    ));
}

/// Writes the pod's status as a kubelet would: Running, `ip`, Ready `ready`.
fn set_status(c: &Cluster, name: &str, ip: &str, ready: bool) {
    let status = if ready { "True" } else { "False" };
    let patch = format!(
        r#"{{"status":{{"phase":"Running","podIP":"{ip}","podIPs":[{{"ip":"{ip}"}}],"conditions":[{{"type":"Ready","status":"{status}"}}]}}}}"#
    );
    c.ok(&[
        "patch",
        "pod",
        name,
        "--subresource=status",
        "--type=merge",
        "-p",
        &patch,
    ]);
}

/// The ENDPOINTS cell of `kubectl get endpoints <name>`, once the object exists.
fn endpoints_cell(c: &Cluster, name: &str) -> Option<String> {
    let r = c.kubectl(&["get", "endpoints", name]);
    r.ok.then(|| Table::parse(&r.stdout).cell(name, "ENDPOINTS"))
}

/// Waits until `kubectl get endpoints <name>` shows `want`.
#[track_caller]
fn wait_endpoints(c: &Cluster, name: &str, want: &str, secs: u64) {
    let mut last = None;
    let ok = (0..secs * 20).any(|_| {
        last = endpoints_cell(c, name);
        let done = last.as_deref() == Some(want);
        if !done {
            std::thread::sleep(Duration::from_millis(50));
        }
        done
    });
    assert!(ok, "endpoints {name}: want {want:?}, last saw {last:?}");
}

/// Asserts that `seen` holds for a poll started within `limit` of now (the time a change
/// was written): the controller's reaction time, not kubectl's.
#[track_caller]
fn within(limit: Duration, mut seen: impl FnMut() -> bool) {
    let written = Instant::now();
    loop {
        let started = written.elapsed();
        if seen() {
            return;
        }
        assert!(started < limit, "not seen within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The slices of a Service, as JSON items.
fn slices(c: &Cluster, svc: &str) -> Vec<Value> {
    let sel = format!("kubernetes.io/service-name={svc}");
    c.get_json(&["endpointslices", "-l", &sel])["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The addresses of all endpoints of the Service's slices, with their `ready` condition.
fn slice_addresses(c: &Cluster, svc: &str) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = slices(c, svc)
        .iter()
        .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
        .map(|e| {
            (
                e["addresses"][0].as_str().unwrap_or("").to_string(),
                e["conditions"]["ready"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    out.sort();
    out
}

fn three_ready_pods(c: &Cluster, app: &str) {
    node(c, "node-a", "zone-a");
    for (name, ip) in [
        ("p1", "10.244.1.5"),
        ("p2", "10.244.2.10"),
        ("p3", "10.244.1.10"),
    ] {
        pod(c, name, app, &[]);
        set_status(c, name, ip, true);
    }
}

#[test]
fn service_over_three_ready_pods_gets_endpoints_and_a_slice() {
    let c = Cluster::start();
    assert!(apply_file(&c, &seed("002-myapp-svc.yaml")).ok);
    three_ready_pods(&c, "myapp-rs");
    // Sorted as Kubernetes sorts addresses: by the bytes of the IP string.
    wait_endpoints(
        &c,
        "myapp-svc",
        "10.244.1.10:8080,10.244.1.5:8080,10.244.2.10:8080",
        10,
    );

    let ep = c.get_json(&["endpoints", "myapp-svc"]);
    let addr = &ep["subsets"][0]["addresses"][1];
    assert_eq!(addr["ip"], "10.244.1.5");
    assert_eq!(addr["nodeName"], "node-a");
    assert_eq!(addr["targetRef"]["kind"], "Pod");
    assert_eq!(addr["targetRef"]["name"], "p1");
    assert_eq!(addr["targetRef"]["namespace"], "default");
    let uid = c.get_json(&["pod", "p1"])["metadata"]["uid"].clone();
    assert_eq!(addr["targetRef"]["uid"], uid);
    assert_eq!(ep["subsets"][0]["ports"][0]["port"], 8080);
    assert_eq!(ep["subsets"][0]["ports"][0]["protocol"], "TCP");

    let table = c.ok(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=myapp-svc",
    ]);
    let t = Table::parse(&table);
    assert_eq!(
        t.columns,
        ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    );
    assert_eq!(t.rows.len(), 1, "{table}");
    let name = t.rows[0][0].clone();
    let suffix = name.strip_prefix("myapp-svc-").expect("generated name");
    assert_eq!(suffix.len(), 5, "{name}");
    assert_eq!(t.cell(&name, "ADDRESSTYPE"), "IPv4");
    assert_eq!(t.cell(&name, "PORTS"), "8080");
    let mut ips: Vec<String> = t
        .cell(&name, "ENDPOINTS")
        .split(',')
        .map(String::from)
        .collect();
    ips.sort();
    assert_eq!(ips, ["10.244.1.10", "10.244.1.5", "10.244.2.10"]);

    let slice = &slices(&c, "myapp-svc")[0];
    assert_eq!(
        slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
        SLICE_CONTROLLER
    );
    let owner = &slice["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "Service");
    assert_eq!(owner["name"], "myapp-svc");
    assert_eq!(owner["controller"], true);
    assert_eq!(owner["blockOwnerDeletion"], true);
    let svc_uid = c.get_json(&["svc", "myapp-svc"])["metadata"]["uid"].clone();
    assert_eq!(owner["uid"], svc_uid);
    let e = &slice["endpoints"][0];
    assert_eq!(
        e["conditions"],
        serde_json::json!({"ready": true, "serving": true, "terminating": false})
    );
    assert_eq!(e["nodeName"], "node-a");
    assert_eq!(e["zone"], "zone-a");
    assert_eq!(e["targetRef"]["kind"], "Pod");

    // The API server's own `kubernetes` slice is left alone.
    assert!(c.kubectl(&["get", "endpointslice", "kubernetes"]).ok);
}

#[test]
fn a_pod_turning_unready_moves_to_not_ready_addresses_and_a_deleted_one_leaves() {
    // How fast is measured by bench/controllers.sh, not asserted here: the bound below only
    // keeps a broken controller from hanging the test.
    let c = Cluster::start();
    assert!(apply_file(&c, &seed("002-myapp-svc.yaml")).ok);
    three_ready_pods(&c, "myapp-rs");
    wait_endpoints(
        &c,
        "myapp-svc",
        "10.244.1.10:8080,10.244.1.5:8080,10.244.2.10:8080",
        10,
    );

    set_status(&c, "p2", "10.244.2.10", false);
    within(Duration::from_secs(15), || {
        endpoints_cell(&c, "myapp-svc").as_deref() == Some("10.244.1.10:8080,10.244.1.5:8080")
    });
    let ep = c.get_json(&["endpoints", "myapp-svc"]);
    assert_eq!(
        ep["subsets"][0]["notReadyAddresses"][0]["ip"],
        "10.244.2.10"
    );
    set_status(&c, "p3", "10.244.1.10", false);
    within(Duration::from_secs(15), || {
        slice_addresses(&c, "myapp-svc")
            == [
                ("10.244.1.10".to_string(), false),
                ("10.244.1.5".to_string(), true),
                ("10.244.2.10".to_string(), false),
            ]
    });
    set_status(&c, "p3", "10.244.1.10", true);
    wait_endpoints(&c, "myapp-svc", "10.244.1.10:8080,10.244.1.5:8080", 5);

    // Deleting a pod: without a kubelet to confirm, it stays terminating; Endpoints drop it
    // at once, the slice keeps it as terminating (not ready, still serving).
    c.ok(&["delete", "pod", "p1", "--wait=false"]);
    wait_endpoints(&c, "myapp-svc", "10.244.1.10:8080", 5);
    c.eventually(15, || {
        let eps: Vec<Value> = slices(&c, "myapp-svc")
            .iter()
            .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
            .collect();
        let p1 = eps.iter().find(|e| e["targetRef"]["name"] == "p1")?;
        (p1["conditions"]
            == serde_json::json!({"ready": false, "serving": true, "terminating": true}))
        .then_some(())
    });
    // Once it is gone, it leaves the slice too.
    c.ok(&["delete", "pod", "p1", "--grace-period=0", "--force"]);
    c.eventually(5, || {
        (slice_addresses(&c, "myapp-svc").len() == 2).then_some(())
    });
}

#[test]
fn publish_not_ready_addresses_lists_unready_pods_as_ready() {
    let c = Cluster::start();
    c.apply(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: pub\nspec:\n  publishNotReadyAddresses: true\n  selector:\n    app: pub\n  ports:\n  - port: 80\n    targetPort: 8080\n",
    );
    node(&c, "node-a", "zone-a");
    pod(&c, "a", "pub", &[]);
    set_status(&c, "a", "10.244.3.1", true);
    pod(&c, "b", "pub", &[]);
    set_status(&c, "b", "10.244.3.2", false);
    wait_endpoints(&c, "pub", "10.244.3.1:8080,10.244.3.2:8080", 10);
    let ep = c.get_json(&["endpoints", "pub"]);
    assert!(ep["subsets"][0].get("notReadyAddresses").is_none(), "{ep}");
    c.eventually(5, || {
        let eps: Vec<Value> = slices(&c, "pub")
            .iter()
            .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
            .collect();
        let b = eps.iter().find(|e| e["addresses"][0] == "10.244.3.2")?;
        (b["conditions"]["ready"] == true && b["conditions"]["serving"] == false).then_some(())
    });
}

#[test]
fn named_target_ports_resolve_per_pod() {
    let c = Cluster::start();
    c.apply(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: named\nspec:\n  selector:\n    app: named\n  ports:\n  - name: web\n    port: 80\n    targetPort: http\n",
    );
    node(&c, "node-a", "zone-a");
    pod(&c, "a", "named", &[("http", 8080)]);
    set_status(&c, "a", "10.244.4.1", true);
    pod(&c, "b", "named", &[("http", 9090)]);
    set_status(&c, "b", "10.244.4.2", true);
    pod(&c, "c", "named", &[("other", 8080)]);
    set_status(&c, "c", "10.244.4.3", true);
    c.eventually(10, || {
        let cell = endpoints_cell(&c, "named")?;
        let mut parts: Vec<&str> = cell.split(',').collect();
        parts.sort();
        (parts == ["10.244.4.1:8080", "10.244.4.2:9090"]).then_some(())
    });
    let ep = c.get_json(&["endpoints", "named"]);
    assert_eq!(ep["subsets"].as_array().map(Vec::len), Some(2), "{ep}");
    assert_eq!(ep["subsets"][0]["ports"][0]["name"], "web");
    // Slices group pods by the ports they resolve to; the pod without the port gets none.
    c.eventually(10, || {
        let mut got: Vec<(String, Vec<String>)> = slices(&c, "named")
            .iter()
            .map(|s| {
                let port = s["ports"][0]["port"]
                    .as_i64()
                    .map(|p| p.to_string())
                    .unwrap_or_default();
                let ips = s["endpoints"]
                    .as_array()
                    .map(|e| {
                        e.iter()
                            .map(|e| e["addresses"][0].as_str().unwrap_or("").to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                (port, ips)
            })
            .collect();
        got.sort();
        let want = vec![
            (String::new(), vec!["10.244.4.3".to_string()]),
            ("8080".to_string(), vec!["10.244.4.1".to_string()]),
            ("9090".to_string(), vec!["10.244.4.2".to_string()]),
        ];
        (got == want).then_some(())
    });
}

#[test]
fn multi_port_service_shares_one_subset_and_slice() {
    let c = Cluster::start();
    assert!(apply_file(&c, &seed("003-kubia-multiport.yaml")).ok);
    node(&c, "node-a", "zone-a");
    for (name, ip) in [("kubia-1", "10.244.5.1"), ("kubia-2", "10.244.5.2")] {
        pod(&c, name, "kubia", &[]);
        set_status(&c, name, ip, true);
    }
    let ep = c.eventually(10, || {
        let ep = c.kubectl(&["get", "endpoints", "kubia", "-o", "json"]);
        let ep: Value = serde_json::from_str(&ep.stdout).ok()?;
        (ep["subsets"][0]["addresses"].as_array().map(Vec::len) == Some(2)).then_some(ep)
    });
    assert_eq!(ep["subsets"].as_array().map(Vec::len), Some(1));
    let mut ports: Vec<(String, i64)> = ep["subsets"][0]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["port"].as_i64().unwrap(),
            )
        })
        .collect();
    ports.sort();
    assert_eq!(
        ports,
        [("http".to_string(), 8080), ("https".to_string(), 8443)]
    );
    // kubectl shows one ip:port per address and port.
    let cell = endpoints_cell(&c, "kubia").unwrap();
    assert!(
        cell.contains("10.244.5.1:8080") || cell.contains("10.244.5.1:8443"),
        "{cell}"
    );
    assert!(cell.ends_with("+ 1 more..."), "{cell}");

    let t = Table::parse(&c.ok(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=kubia",
    ]));
    assert_eq!(t.rows.len(), 1);
    let mut slice_ports: Vec<String> = t.rows[0][2].split(',').map(String::from).collect();
    slice_ports.sort();
    assert_eq!(slice_ports, ["8080", "8443"]);
}

#[test]
fn headless_service_gets_labelled_endpoints() {
    let c = Cluster::start();
    assert!(apply_file(&c, &seed("002-myapp-svc-headless.yaml")).ok);
    node(&c, "node-a", "zone-a");
    pod(&c, "h1", "myapp-rs-headless", &[]);
    set_status(&c, "h1", "10.244.6.1", true);
    wait_endpoints(&c, "myapp-svc-headless", "10.244.6.1:8080", 10);
    let ep = c.get_json(&["endpoints", "myapp-svc-headless"]);
    assert_eq!(
        ep["metadata"]["labels"]["service.kubernetes.io/headless"],
        ""
    );
    let s = &slices(&c, "myapp-svc-headless")[0];
    assert_eq!(
        s["metadata"]["labels"]["service.kubernetes.io/headless"],
        ""
    );
}

#[test]
fn selectorless_endpoints_are_mirrored_and_never_overwritten() {
    let c = Cluster::start();
    assert!(apply_file(&c, &seed("003-external-service.yaml")).ok);
    assert!(apply_file(&c, &seed("003-external-service-endpoints.yaml")).ok);
    node(&c, "node-a", "zone-a");
    pod(&c, "x", "external-service", &[]);
    set_status(&c, "x", "10.244.7.1", true);
    c.eventually(10, || {
        (slice_addresses(&c, "external-service")
            == [
                ("11.11.11.11".to_string(), true),
                ("22.22.22.22".to_string(), true),
            ])
        .then_some(())
    });
    let s = &slices(&c, "external-service")[0];
    assert_eq!(
        s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
        MIRROR_CONTROLLER
    );
    assert_eq!(s["metadata"]["ownerReferences"][0]["kind"], "Endpoints");
    assert_eq!(s["ports"][0]["port"], 80);
    let before = c.get_json(&["endpoints", "external-service"]);
    std::thread::sleep(Duration::from_millis(500));
    let after = c.get_json(&["endpoints", "external-service"]);
    assert_eq!(
        before["metadata"]["resourceVersion"],
        after["metadata"]["resourceVersion"]
    );
    assert_eq!(
        endpoints_cell(&c, "external-service").as_deref(),
        Some("11.11.11.11:80,22.22.22.22:80")
    );

    // Editing the hand-made Endpoints updates the mirror.
    c.ok(&[
        "patch",
        "endpoints",
        "external-service",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/subsets/0/addresses/-","value":{"ip":"33.33.33.33"}}]"#,
    ]);
    c.eventually(5, || {
        (slice_addresses(&c, "external-service").len() == 3).then_some(())
    });
    assert_eq!(
        endpoints_cell(&c, "external-service").as_deref(),
        Some("11.11.11.11:80,22.22.22.22:80,33.33.33.33:80")
    );
    // The API server's `kubernetes` Endpoints are not mirrored.
    assert_eq!(slices(&c, "kubernetes").len(), 1);
}

#[test]
fn external_name_services_get_no_endpoints() {
    let c = Cluster::start();
    assert!(apply_file(&c, &seed("003-external-service-externalname.yaml")).ok);
    node(&c, "node-a", "zone-a");
    // A Service that is found (its placeholder slice exists) proves the controllers ran.
    assert!(apply_file(&c, &seed("002-myapp-svc.yaml")).ok);
    c.eventually(10, || (slices(&c, "myapp-svc").len() == 1).then_some(()));
    assert!(!c.kubectl(&["get", "endpoints", "external-service"]).ok);
    assert!(slices(&c, "external-service").is_empty());
}

#[test]
fn a_service_without_pods_has_empty_endpoints_and_a_placeholder_slice() {
    let c = Cluster::start();
    assert!(apply_file(&c, &seed("002-myapp-svc.yaml")).ok);
    wait_endpoints(&c, "myapp-svc", "<none>", 10);
    let t = c.eventually(10, || {
        let out = c.ok(&[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=myapp-svc",
        ]);
        (!Table::parse(&out).rows.is_empty()).then(|| Table::parse(&out))
    });
    assert_eq!(t.rows.len(), 1);
    assert_eq!(t.rows[0][2], "<unset>");
    assert_eq!(t.rows[0][3], "<unset>");
    // Deleting the Service removes both.
    c.ok(&["delete", "svc", "myapp-svc"]);
    c.eventually(10, || {
        (!c.kubectl(&["get", "endpoints", "myapp-svc"]).ok).then_some(())
    });
    c.eventually(10, || slices(&c, "myapp-svc").is_empty().then_some(()));
}
