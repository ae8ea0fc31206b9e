//! `meta/v1` messages shared by every object: ObjectMeta and its parts, label selectors and
//! conditions.

use super::Kind::*;
use super::Shape::*;
use super::{f, Message};

/// `ObjectMeta`; proto numbers 15 and 16 are retired.
pub(crate) static OBJECT_META: Message = Message {
    name: "ObjectMeta",
    fields: &[
        f(1, "name", Str, ValOmit),
        f(2, "generateName", Str, ValOmit),
        f(3, "namespace", Str, ValOmit),
        f(4, "selfLink", Str, ValOmit),
        f(5, "uid", Str, ValOmit),
        f(6, "resourceVersion", Str, ValOmit),
        f(7, "generation", I64, ValOmit),
        // kubectl 1.32 writes a zero creationTimestamp as null.
        f(8, "creationTimestamp", Time, ValOmit),
        f(9, "deletionTimestamp", Time, PtrOmit),
        f(10, "deletionGracePeriodSeconds", I64, PtrOmit),
        f(11, "labels", Str, MapOmit),
        f(12, "annotations", Str, MapOmit),
        f(13, "ownerReferences", Msg(&OWNER_REFERENCE), ListOmit),
        f(14, "finalizers", Str, ListOmit),
        f(17, "managedFields", Msg(&MANAGED_FIELDS_ENTRY), ListOmit),
    ],
};

/// `OwnerReference`: identifying fields are always written.
pub(crate) static OWNER_REFERENCE: Message = Message {
    name: "OwnerReference",
    fields: &[
        f(5, "apiVersion", Str, Val),
        f(1, "kind", Str, Val),
        f(3, "name", Str, Val),
        f(4, "uid", Str, Val),
        f(6, "controller", Bool, PtrOmit),
        f(7, "blockOwnerDeletion", Bool, PtrOmit),
    ],
};

/// `ManagedFieldsEntry`.
pub(crate) static MANAGED_FIELDS_ENTRY: Message = Message {
    name: "ManagedFieldsEntry",
    fields: &[
        f(1, "manager", Str, ValOmit),
        f(2, "operation", Str, ValOmit),
        f(3, "apiVersion", Str, ValOmit),
        f(4, "time", Time, PtrOmit),
        f(6, "fieldsType", Str, ValOmit),
        f(7, "fieldsV1", FieldsV1, PtrOmit),
        f(8, "subresource", Str, ValOmit),
    ],
};

/// `LabelSelector`.
pub(crate) static LABEL_SELECTOR: Message = Message {
    name: "LabelSelector",
    fields: &[
        f(1, "matchLabels", Str, MapOmit),
        f(
            2,
            "matchExpressions",
            Msg(&LABEL_SELECTOR_REQUIREMENT),
            ListOmit,
        ),
    ],
};

/// `LabelSelectorRequirement`.
pub(crate) static LABEL_SELECTOR_REQUIREMENT: Message = Message {
    name: "LabelSelectorRequirement",
    fields: &[
        f(1, "key", Str, Val),
        f(2, "operator", Str, Val),
        f(3, "values", Str, ListOmit),
    ],
};

/// `meta/v1` `Condition`, used in Service status.
pub(crate) static CONDITION: Message = Message {
    name: "Condition",
    fields: &[
        f(1, "type", Str, Val),
        f(2, "status", Str, Val),
        f(3, "observedGeneration", I64, ValOmit),
        f(4, "lastTransitionTime", Time, Val),
        f(5, "reason", Str, Val),
        f(6, "message", Str, Val),
    ],
};
