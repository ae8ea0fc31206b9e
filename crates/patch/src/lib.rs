//! Patches for Kubernetes objects, as the API server applies them to `PATCH` requests.
//!
//! * [`json_patch`]: RFC 6902 (`application/json-patch+json`, `kubectl patch --type json`).
//! * [`merge_patch`]: RFC 7386 (`application/merge-patch+json`: label, annotate, scale).
//! * [`strategic_merge_patch`]: Kubernetes' strategic merge patch
//!   (`application/strategic-merge-patch+json`: apply, edit, patch), with the merge keys of
//!   the built-in types.
//!
//! All three take the stored object and the decoded patch body and return the new object.
//! Errors carry Kubernetes' messages and the HTTP status to answer with
//! ([`PatchError::status_code`]).

mod error;
mod json;
mod strategic;

pub use error::PatchError;
pub use json::{json_patch, merge_patch};
pub use strategic::strategic_merge_patch;
