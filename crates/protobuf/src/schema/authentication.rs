//! `authentication.k8s.io/v1` TokenRequest, sent by `kubectl create token`.

use super::meta::OBJECT_META;
use super::Kind::*;
use super::Shape::*;
use super::{f, Message};

/// `TokenRequest`.
pub(crate) static TOKEN_REQUEST: Message = Message {
    name: "TokenRequest",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META), ValOmit),
        f(2, "spec", Msg(&TOKEN_REQUEST_SPEC), Val),
        f(3, "status", Msg(&TOKEN_REQUEST_STATUS), ValOmit),
    ],
};

/// `TokenRequestSpec`: `audiences`, `expirationSeconds` and `boundObjectRef` carry no
/// `omitempty`, so Go writes null for them when unset.
static TOKEN_REQUEST_SPEC: Message = Message {
    name: "TokenRequestSpec",
    fields: &[
        f(1, "audiences", Str, List),
        f(4, "expirationSeconds", I64, Ptr),
        f(3, "boundObjectRef", Msg(&BOUND_OBJECT_REFERENCE), Ptr),
    ],
};

static BOUND_OBJECT_REFERENCE: Message = Message {
    name: "BoundObjectReference",
    fields: &[
        f(1, "kind", Str, ValOmit),
        f(2, "apiVersion", Str, ValOmit),
        f(3, "name", Str, ValOmit),
        f(4, "uid", Str, ValOmit),
    ],
};

static TOKEN_REQUEST_STATUS: Message = Message {
    name: "TokenRequestStatus",
    fields: &[
        f(1, "token", Str, Val),
        f(2, "expirationTimestamp", Time, Val),
    ],
};
