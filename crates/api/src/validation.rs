//! Validation of objects, with Kubernetes' field paths and messages.

/// One reason an object is invalid, as in a `Status`'s `details.causes[]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// The cause type, e.g. `FieldValueRequired`, `FieldValueInvalid`, `FieldValueNotSupported`,
    /// `FieldValueDuplicate`, `FieldValueForbidden`, `FieldValueTooLong`.
    pub reason: String,
    /// The human message as Kubernetes prints it, e.g. `Required value`.
    pub message: String,
    /// The field path, e.g. `spec.ports[0].port`.
    pub field: String,
}
