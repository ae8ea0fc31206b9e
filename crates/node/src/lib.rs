//! The node agent (`portico node`): what a kubelet and a bridge CNI plugin do for one node.
//!
//! It registers its Node, renews its Lease, watches the pods bound to it and runs each as a
//! set of processes inside the pod's own network, UTS and mount namespaces. Probes drive the
//! pod's Ready condition; kubectl's `logs`, `exec`, `attach` and `port-forward` reach it
//! through the API server.

pub mod env;
pub mod probe;
