//! The Kubernetes API model Portico serves, with no I/O.
//!
//! * [`registry`]: every resource the API server knows (group, version, kind, plural,
//!   scope, short names, categories, subresources). Discovery, routing and storage keys all
//!   come from this one table.
//! * [`selector`]: label and field selectors (parse and match).
//! * [`defaults`] and [`validation`]: what the API server fills in and what it rejects, with
//!   Kubernetes' field paths and messages ([`Cause`]).
//! * [`strict`]: unknown and duplicate field detection for `fieldValidation=Strict|Warn`.
//! * [`convert`]: older served versions (Ingress `extensions/v1beta1`,
//!   `networking.k8s.io/v1beta1`) to and from the stored version.

pub mod convert;
pub mod defaults;
pub mod registry;
pub mod selector;
pub mod strict;
pub mod validation;

pub use registry::{GroupVersionKind, ResourceInfo, RESOURCES};
pub use validation::Cause;
