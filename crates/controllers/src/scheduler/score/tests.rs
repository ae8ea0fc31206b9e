//! Tests of placement counting and node choice.

use super::*;
use serde_json::json;

fn key(n: &str) -> PodKey {
    ("default".into(), n.into())
}

fn at(node: &str, owner: Option<&str>) -> Placement {
    Placement {
        node: node.into(),
        owner: owner.map(String::from),
        host_ports: Vec::new(),
    }
}

#[test]
fn counts_follow_place_move_and_remove() {
    let mut p = Placements::default();
    p.place(key("a"), at("n1", Some("rs")));
    p.place(key("b"), at("n1", None));
    assert_eq!(p.total_on("n1"), 2);
    assert_eq!(p.owned_on("rs", "n1"), 1);
    // Placing the same again changes nothing.
    p.place(key("a"), at("n1", Some("rs")));
    assert_eq!(p.total_on("n1"), 2);
    // Moving.
    p.place(key("a"), at("n2", Some("rs")));
    assert_eq!(p.total_on("n1"), 1);
    assert_eq!(p.owned_on("rs", "n1"), 0);
    assert_eq!(p.owned_on("rs", "n2"), 1);
    assert_eq!(p.remove(&key("a")), Some(at("n2", Some("rs"))));
    assert_eq!(p.total_on("n2"), 0);
    assert_eq!(p.remove(&key("a")), None);
}

#[test]
fn spreads_one_owner_across_nodes() {
    let mut p = Placements::default();
    let mut rng = rand::rng();
    let nodes = ["n1", "n2", "n3"];
    for i in 0..6 {
        let n = pick(&nodes, Some("rs"), &p, &mut rng).unwrap();
        p.place(key(&format!("p{i}")), at(n, Some("rs")));
    }
    for n in nodes {
        assert_eq!(p.owned_on("rs", n), 2, "node {n}");
    }
}

#[test]
fn owner_count_beats_total_count() {
    let mut p = Placements::default();
    // n1 is busy with other pods but has none of rs; n2 is empty but has one of rs.
    for i in 0..5 {
        p.place(key(&format!("other{i}")), at("n1", None));
    }
    p.place(key("mine"), at("n2", Some("rs")));
    let mut rng = rand::rng();
    assert_eq!(pick(&["n1", "n2"], Some("rs"), &p, &mut rng), Some("n1"));
    // Without an owner the emptier node wins.
    assert_eq!(pick(&["n1", "n2"], None, &p, &mut rng), Some("n2"));
    assert_eq!(pick(&[], None, &p, &mut rng), None);
}

#[test]
fn ties_are_random() {
    let p = Placements::default();
    let mut rng = rand::rng();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..200 {
        seen.insert(pick(&["n1", "n2", "n3"], None, &p, &mut rng).unwrap());
    }
    assert_eq!(seen.len(), 3);
}

#[test]
fn owner_is_the_controller_reference() {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p", "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "u1"},
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u2", "controller": true}
        ]}
    }))
    .unwrap();
    assert_eq!(owner_of(&pod).as_deref(), Some("u2"));
    assert_eq!(owner_of(&Pod::default()), None);
}
