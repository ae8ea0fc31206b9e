//! Label and field selectors: parsing the `labelSelector` and `fieldSelector` query
//! parameters and matching objects, with Kubernetes' syntax and error messages.
//!
//! * [`LabelSelector`]: the set-based label syntax, `metav1.LabelSelector` objects and plain
//!   selector maps.
//! * [`FieldSelector`]: `field=value`, `field==value`, `field!=value` terms joined by `,`.
//! * [`field_value`] / [`supported_field`]: which fields each resource lets clients select on,
//!   and their values for an object.

mod field;
mod label;
mod parser;
mod validate;

pub use field::{field_value, supported_field, FieldOperator, FieldRequirement, FieldSelector};
pub use label::{LabelSelector, Operator, Requirement};

/// A selector that cannot be parsed or used. The message is Kubernetes' text, which the API
/// server returns in a 400 `BadRequest` status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A malformed label selector.
    #[error("{0}")]
    Label(String),
    /// A malformed field selector.
    #[error("{0}")]
    Field(String),
    /// A field the resource does not support selecting on.
    #[error("{0}")]
    UnsupportedField(String),
}
