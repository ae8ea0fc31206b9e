//! The scheduler, seen through kubectl: pods land on Ready nodes (NODE column, `Scheduled`
//! event), nodeSelector and cordons are honoured, one owner's pods spread across nodes, and a
//! pod that fits nowhere stays Pending with kube-scheduler's `FailedScheduling` message until a
//! node turns Ready. Nodes are API objects with a fake Ready condition (no node agents here).

use crate::harness::Cluster;
use crate::support::{assert_has, Table};

/// Creates a node whose Ready condition is `ready`, with `labels` (`k: v` YAML lines).
fn node(c: &Cluster, name: &str, ready: bool, labels: &[(&str, &str)]) {
    let labels: String = labels
        .iter()
        .map(|(k, v)| format!("\n    {k}: \"{v}\""))
        .collect();
    let status = if ready { "True" } else { "False" };
    c.apply(&format!(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels:\n    kubernetes.io/hostname: {name}{labels}\n\
         status:\n  conditions:\n  - type: Ready\n    status: \"{status}\"\n    reason: KubeletReady\n"
    ));
}

fn three_ready_nodes(c: &Cluster) {
    for n in ["n1", "n2", "n3"] {
        node(c, n, true, &[]);
    }
}

/// The node a pod was bound to, once it is.
fn scheduled_node(c: &Cluster, pod: &str) -> String {
    c.eventually(10, || {
        let n = c.ok(&["get", "pod", pod, "-o", "jsonpath={.spec.nodeName}"]);
        (!n.is_empty()).then_some(n)
    })
}

fn pod_yaml(name: &str, extra_spec: &str, extra_meta: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels:\n    app: {name}\n{extra_meta}\
         spec:\n{extra_spec}  containers:\n  - name: main\n    image: luksa/kubia\n"
    )
}

#[test]
fn pod_is_scheduled_onto_a_ready_node_with_an_event() {
    let c = Cluster::start();
    three_ready_nodes(&c);
    c.ok(&["run", "web", "--image=luksa/kubia", "--port=8080"]);
    let node = scheduled_node(&c, "web");
    let t = Table::parse(&c.ok(&["get", "pod", "web", "-o", "wide"]));
    assert_eq!(t.cell("web", "NODE"), node);
    assert!(["n1", "n2", "n3"].contains(&node.as_str()), "{node}");
    assert_eq!(t.cell("web", "STATUS"), "Pending");
    let cond = c.ok(&[
        "get",
        "pod",
        "web",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].status}",
    ]);
    assert_eq!(cond, "True");
    let described = c.eventually(10, || {
        let out = c.ok(&["describe", "pod", "web"]);
        out.contains("Successfully assigned").then_some(out)
    });
    let line = described
        .lines()
        .find(|l| l.contains("Successfully assigned"))
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(line.starts_with("Normal Scheduled"), "{line}");
    assert!(
        line.ends_with(&format!(
            "default-scheduler Successfully assigned default/web to {node}"
        )),
        "{line}"
    );
    assert_eq!(
        crate::support::describe_field(&described, "Node"),
        format!("{node}/")
    );
}

#[test]
fn node_selector_is_honoured() {
    let c = Cluster::start();
    node(&c, "n1", true, &[]);
    node(&c, "n2", true, &[("disk", "ssd")]);
    node(&c, "n3", true, &[]);
    for i in 0..4 {
        c.apply(&pod_yaml(
            &format!("ssd-{i}"),
            "  nodeSelector:\n    disk: ssd\n",
            "",
        ));
    }
    for i in 0..4 {
        assert_eq!(scheduled_node(&c, &format!("ssd-{i}")), "n2");
    }
    // The node affinity form, by hostname label and NotIn.
    c.apply(&pod_yaml(
        "not-n1-n2",
        "  affinity:\n    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n        \
         nodeSelectorTerms:\n        - matchExpressions:\n          - key: kubernetes.io/hostname\n            \
         operator: NotIn\n            values: [n1, n2]\n",
        "",
    ));
    assert_eq!(scheduled_node(&c, "not-n1-n2"), "n3");
}

#[test]
fn pods_of_one_owner_spread_across_nodes() {
    let c = Cluster::start();
    three_ready_nodes(&c);
    // An existing object as controller owner (the garbage collector keeps its dependents).
    c.ok(&["create", "configmap", "owner"]);
    let uid = c.ok(&[
        "get",
        "configmap",
        "owner",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    let meta = format!(
        "  ownerReferences:\n  - apiVersion: v1\n    kind: ConfigMap\n    name: owner\n    uid: {uid}\n    controller: true\n"
    );
    // Unrelated pods on n1 first: the owner's count decides before the total count.
    for i in 0..3 {
        c.apply(&pod_yaml(&format!("busy-{i}"), "  nodeName: n1\n", ""));
    }
    for i in 0..6 {
        let name = format!("spread-{i}");
        c.apply(&pod_yaml(&name, "", &meta));
    }
    let mut per_node = std::collections::BTreeMap::new();
    for i in 0..6 {
        *per_node
            .entry(scheduled_node(&c, &format!("spread-{i}")))
            .or_insert(0) += 1;
    }
    assert_eq!(
        per_node.into_iter().collect::<Vec<_>>(),
        [("n1".into(), 2), ("n2".into(), 2), ("n3".into(), 2)],
    );
}

#[test]
fn replicaset_pods_spread_across_nodes() {
    let c = Cluster::start();
    three_ready_nodes(&c);
    c.apply(
        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: kubia\nspec:\n  replicas: 3\n  selector:\n    \
         matchLabels:\n      app: kubia\n  template:\n    metadata:\n      labels:\n        app: kubia\n    spec:\n      \
         containers:\n      - name: kubia\n        image: luksa/kubia\n",
    );
    let nodes = c.eventually(20, || {
        let out = c.ok(&[
            "get",
            "pods",
            "-l",
            "app=kubia",
            "-o",
            "jsonpath={range .items[*]}{.spec.nodeName}{\"\\n\"}{end}",
        ]);
        let mut nodes: Vec<String> = out.lines().map(String::from).collect();
        nodes.sort();
        (nodes.len() == 3 && nodes.iter().all(|n| !n.is_empty())).then_some(nodes)
    });
    assert_eq!(nodes, ["n1", "n2", "n3"]);
}

#[test]
fn no_ready_node_leaves_the_pod_pending_until_one_is() {
    let c = Cluster::start();
    node(&c, "n1", false, &[]);
    c.ok(&["run", "waiting", "--image=luksa/kubia"]);
    let expected = "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }. \
                    preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.";
    let described = c.eventually(10, || {
        let out = c.ok(&["describe", "pod", "waiting"]);
        out.contains("FailedScheduling").then_some(out)
    });
    let line = described
        .lines()
        .find(|l| l.contains("FailedScheduling"))
        .unwrap();
    assert!(
        line.trim_start().starts_with("Warning  FailedScheduling"),
        "{line}"
    );
    assert_has(line, &format!("default-scheduler  {expected}"));
    let t = Table::parse(&c.ok(&["get", "pod", "waiting", "-o", "wide"]));
    assert_eq!(t.cell("waiting", "STATUS"), "Pending");
    assert_eq!(t.cell("waiting", "NODE"), "<none>");
    let cond = c.get_json(&["pod", "waiting"]);
    let cond = cond["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "PodScheduled")
        .unwrap()
        .clone();
    assert_eq!(cond["status"], "False");
    assert_eq!(cond["reason"], "Unschedulable");
    assert_eq!(cond["message"], expected);
    // The node turns Ready: the pod is scheduled there without being recreated.
    c.ok(&[
        "patch",
        "node",
        "n1",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady"}]}}"#,
    ]);
    assert_eq!(scheduled_node(&c, "waiting"), "n1");
    let events = c.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=waiting",
    ]);
    assert_has(&events, "FailedScheduling");
    assert_has(&events, "Successfully assigned default/waiting to n1");
}

#[test]
fn no_nodes_at_all() {
    let c = Cluster::start();
    c.ok(&["run", "alone", "--image=luksa/kubia"]);
    let events = c.eventually(10, || {
        let out = c.ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=alone",
        ]);
        out.contains("FailedScheduling").then_some(out)
    });
    assert_has(&events, "no nodes available to schedule pods");
    // A node appears: the pod goes there.
    node(&c, "late", true, &[]);
    assert_eq!(scheduled_node(&c, "alone"), "late");
}

#[test]
fn cordoned_node_is_skipped() {
    let c = Cluster::start();
    node(&c, "n1", true, &[]);
    node(&c, "n2", true, &[]);
    assert_eq!(c.ok(&["cordon", "n1"]).trim(), "node/n1 cordoned");
    let t = Table::parse(&c.ok(&["get", "nodes"]));
    assert_eq!(t.cell("n1", "STATUS"), "Ready,SchedulingDisabled");
    for i in 0..4 {
        c.apply(&pod_yaml(&format!("c-{i}"), "", ""));
    }
    for i in 0..4 {
        assert_eq!(scheduled_node(&c, &format!("c-{i}")), "n2");
    }
    // Both cordoned: nothing fits, and the message says why.
    c.ok(&["cordon", "n2"]);
    c.apply(&pod_yaml("stuck", "", ""));
    let events = c.eventually(10, || {
        let out = c.ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=stuck",
        ]);
        out.contains("FailedScheduling").then_some(out)
    });
    assert_has(
        &events,
        "0/2 nodes are available: 2 node(s) were unschedulable.",
    );
    c.ok(&["uncordon", "n1"]);
    assert_eq!(scheduled_node(&c, "stuck"), "n1");
}

#[test]
fn tainted_node_needs_a_toleration() {
    let c = Cluster::start();
    node(&c, "gpu", true, &[]);
    c.ok(&["taint", "nodes", "gpu", "dedicated=gpu:NoSchedule"]);
    c.apply(&pod_yaml("plain", "", ""));
    let events = c.eventually(10, || {
        let out = c.ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=plain",
        ]);
        out.contains("FailedScheduling").then_some(out)
    });
    assert_has(&events, "1 node(s) had untolerated taint {dedicated: gpu}");
    c.apply(&pod_yaml(
        "tolerant",
        "  tolerations:\n  - key: dedicated\n    operator: Equal\n    value: gpu\n    effect: NoSchedule\n",
        "",
    ));
    assert_eq!(scheduled_node(&c, "tolerant"), "gpu");
}

#[test]
fn pods_with_a_node_or_another_scheduler_are_left_alone() {
    let c = Cluster::start();
    three_ready_nodes(&c);
    c.apply(&pod_yaml("pinned", "  nodeName: elsewhere\n", ""));
    c.apply(&pod_yaml("foreign", "  schedulerName: my-scheduler\n", ""));
    // A pod the scheduler does handle, to know it has run meanwhile.
    c.apply(&pod_yaml("mine", "", ""));
    scheduled_node(&c, "mine");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        c.ok(&["get", "pod", "pinned", "-o", "jsonpath={.spec.nodeName}"]),
        "elsewhere"
    );
    assert_eq!(
        c.ok(&["get", "pod", "foreign", "-o", "jsonpath={.spec.nodeName}"]),
        ""
    );
    for pod in ["pinned", "foreign"] {
        let events = c.ok(&[
            "get",
            "events",
            "--field-selector",
            &format!("involvedObject.name={pod}"),
        ]);
        assert!(!events.contains("Scheduled"), "{pod}: {events}");
    }
}
