//! Which nodes a pod may run on, and why the others are refused.
//!
//! The checks of kube-scheduler's default filter plugins that apply to Portico, in the order
//! kube-scheduler runs them (each refused node reports the first check that failed):
//!
//! 1. NodeUnschedulable: `spec.unschedulable` (a cordoned node), unless the pod tolerates the
//!    `node.kubernetes.io/unschedulable:NoSchedule` taint.
//! 2. TaintToleration: `NoSchedule` and `NoExecute` taints the pod does not tolerate. A node
//!    whose `Ready` condition is not `True` counts as tainted `node.kubernetes.io/not-ready`
//!    (or `node.kubernetes.io/unreachable` when the condition is `Unknown`), the taints
//!    Kubernetes' node lifecycle controller would have put there.
//! 3. NodeAffinity: `nodeSelector` and the required node affinity (`matchExpressions` with
//!    `In`/`NotIn`/`Exists`/`DoesNotExist`/`Gt`/`Lt`, `matchFields` on `metadata.name`).
//!
//! 4. NodePorts: a `hostPort` another pod on the node already holds ([`ports`]; checked by
//!    the caller, which knows where pods are placed).
//!
//! Resource fit (`Insufficient cpu`) and inter-pod affinity are not checked.

pub mod ports;

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use k8s_openapi::api::core::v1::{
    Node, NodeSelectorRequirement, NodeSelectorTerm, Pod, Taint, Toleration,
};

/// The taint key of a node whose Ready condition is False (or missing).
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The taint key of a node whose Ready condition is Unknown.
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// The taint key of a cordoned node.
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// Why a node cannot take a pod, worded as kube-scheduler words it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Unfit {
    /// The node is cordoned (`spec.unschedulable`).
    Unschedulable,
    /// The node has a taint the pod does not tolerate.
    Taint {
        /// The taint's key.
        key: String,
        /// The taint's value (may be empty).
        value: String,
    },
    /// The node's labels (or name) do not match the pod's nodeSelector or node affinity.
    Affinity,
    /// A pod on the node holds a host port this pod asks for.
    HostPorts,
}

impl fmt::Display for Unfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unfit::Unschedulable => f.write_str("node(s) were unschedulable"),
            Unfit::Taint { key, value } => {
                write!(f, "node(s) had untolerated taint {{{key}: {value}}}")
            }
            Unfit::Affinity => f.write_str("node(s) didn't match Pod's node affinity/selector"),
            Unfit::HostPorts => {
                f.write_str("node(s) didn't have free ports for the requested pod ports")
            }
        }
    }
}

/// Checks whether `pod` may run on `node`: `Ok` or the first reason it may not.
pub fn check(pod: &Pod, node: &Node) -> Result<(), Unfit> {
    let spec = pod.spec.as_ref();
    let tolerations: &[Toleration] = spec
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default();
    let node_spec = node.spec.as_ref();
    if node_spec.and_then(|s| s.unschedulable).unwrap_or(false) {
        let cordon = Taint {
            key: TAINT_UNSCHEDULABLE.into(),
            effect: "NoSchedule".into(),
            ..Default::default()
        };
        if !tolerates(tolerations, &cordon) {
            return Err(Unfit::Unschedulable);
        }
    }
    for taint in effective_taints(node) {
        if (taint.effect == "NoSchedule" || taint.effect == "NoExecute")
            && !tolerates(tolerations, &taint)
        {
            return Err(Unfit::Taint {
                key: taint.key.clone(),
                value: taint.value.clone().unwrap_or_default(),
            });
        }
    }
    if !matches_affinity(pod, node) {
        return Err(Unfit::Affinity);
    }
    Ok(())
}

/// The node's taints plus the one its Ready condition implies (unless already present).
pub fn effective_taints(node: &Node) -> Vec<Taint> {
    let mut taints: Vec<Taint> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.as_str());
    let implied = match ready {
        Some("True") => None,
        Some("Unknown") => Some(TAINT_UNREACHABLE),
        _ => Some(TAINT_NOT_READY),
    };
    if let Some(key) = implied {
        if !taints.iter().any(|t| t.key == key) {
            taints.push(Taint {
                key: key.into(),
                effect: "NoSchedule".into(),
                ..Default::default()
            });
        }
    }
    taints
}

/// Whether the node is Ready (condition `Ready` is `True`).
pub fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Whether any of `tolerations` tolerates `taint` (Kubernetes' ToleratesTaint).
pub fn tolerates(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| toleration_matches(t, taint))
}

fn toleration_matches(t: &Toleration, taint: &Taint) -> bool {
    let effect = t.effect.as_deref().unwrap_or("");
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = t.key.as_deref().unwrap_or("");
    let operator = t.operator.as_deref().unwrap_or("Equal");
    if key.is_empty() {
        // An empty key with Exists tolerates every taint.
        return operator == "Exists";
    }
    if key != taint.key {
        return false;
    }
    match operator {
        "Exists" => true,
        "Equal" | "" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

/// Whether the node satisfies the pod's `nodeSelector` and required node affinity.
pub fn matches_affinity(pod: &Pod, node: &Node) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return true;
    };
    let empty = BTreeMap::new();
    let labels = node.metadata.labels.as_ref().unwrap_or(&empty);
    if let Some(selector) = &spec.node_selector {
        if selector.iter().any(|(k, v)| labels.get(k) != Some(v)) {
            return false;
        }
    }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    match required {
        None => true,
        Some(selector) => {
            let name = node.metadata.name.as_deref().unwrap_or("");
            selector
                .node_selector_terms
                .iter()
                .any(|term| term_matches(term, labels, name))
        }
    }
}

/// A node selector term: every expression and field requirement holds. A term with neither
/// matches nothing, as in Kubernetes.
fn term_matches(term: &NodeSelectorTerm, labels: &BTreeMap<String, String>, name: &str) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let node_fields: BTreeMap<String, String> =
        BTreeMap::from([("metadata.name".to_string(), name.to_string())]);
    exprs.iter().all(|r| requirement_matches(r, labels))
        && fields.iter().all(|r| {
            // Only metadata.name is a node field, and only In/NotIn apply to it.
            r.key == "metadata.name"
                && matches!(r.operator.as_str(), "In" | "NotIn")
                && requirement_matches(r, &node_fields)
        })
}

/// One `matchExpressions` requirement against a label set.
pub fn requirement_matches(r: &NodeSelectorRequirement, labels: &BTreeMap<String, String>) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    let value = labels.get(&r.key);
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), [bound]) = (value, values) else {
                return false;
            };
            match (v.parse::<i64>(), bound.parse::<i64>()) {
                (Ok(v), Ok(b)) if r.operator == "Gt" => v > b,
                (Ok(v), Ok(b)) => v < b,
                _ => false,
            }
        }
        _ => false,
    }
}

/// The message of a scheduling failure, as kube-scheduler writes it into the
/// `FailedScheduling` event and the `PodScheduled` condition.
///
/// `reasons` holds one reason per refused node; `total` is the number of nodes.
pub fn fit_error_message(total: usize, reasons: &[Unfit], preemption_never: bool) -> String {
    if total == 0 {
        return "no nodes available to schedule pods".into();
    }
    let mut histogram: HashMap<String, usize> = HashMap::new();
    for r in reasons {
        *histogram.entry(r.to_string()).or_default() += 1;
    }
    let mut parts: Vec<String> = histogram
        .into_iter()
        .map(|(reason, n)| format!("{n} {reason}"))
        .collect();
    parts.sort();
    let mut msg = format!("0/{total} nodes are available:");
    if !parts.is_empty() {
        msg.push_str(&format!(" {}.", parts.join(", ")));
    }
    // Every reason above is one preemption cannot fix (UnschedulableAndUnresolvable).
    if preemption_never {
        msg.push_str(" preemption: not eligible due to preemptionPolicy=Never.");
    } else {
        msg.push_str(&format!(
            " preemption: 0/{total} nodes are available: {total} Preemption is not helpful for scheduling."
        ));
    }
    msg
}

#[cfg(test)]
mod tests;
