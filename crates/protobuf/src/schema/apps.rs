//! `apps/v1` Deployment.

use super::meta::{LABEL_SELECTOR, OBJECT_META};
use super::pod::POD_TEMPLATE_SPEC;
use super::Kind::*;
use super::Shape::*;
use super::{f, Message};

/// `Deployment`.
pub(crate) static DEPLOYMENT: Message = Message {
    name: "Deployment",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META), ValOmit),
        f(2, "spec", Msg(&DEPLOYMENT_SPEC), ValOmit),
        f(3, "status", Msg(&DEPLOYMENT_STATUS), ValOmit),
    ],
};

static DEPLOYMENT_SPEC: Message = Message {
    name: "DeploymentSpec",
    fields: &[
        f(1, "replicas", I32, PtrOmit),
        f(2, "selector", Msg(&LABEL_SELECTOR), Ptr),
        f(3, "template", Msg(&POD_TEMPLATE_SPEC), Val),
        f(4, "strategy", Msg(&DEPLOYMENT_STRATEGY), ValOmit),
        f(5, "minReadySeconds", I32, ValOmit),
        f(6, "revisionHistoryLimit", I32, PtrOmit),
        f(7, "paused", Bool, ValOmit),
        f(9, "progressDeadlineSeconds", I32, PtrOmit),
    ],
};

static DEPLOYMENT_STRATEGY: Message = Message {
    name: "DeploymentStrategy",
    fields: &[
        f(1, "type", Str, ValOmit),
        f(2, "rollingUpdate", Msg(&ROLLING_UPDATE_DEPLOYMENT), PtrOmit),
    ],
};

static ROLLING_UPDATE_DEPLOYMENT: Message = Message {
    name: "RollingUpdateDeployment",
    fields: &[
        f(1, "maxUnavailable", IntOrString, PtrOmit),
        f(2, "maxSurge", IntOrString, PtrOmit),
    ],
};

static DEPLOYMENT_STATUS: Message = Message {
    name: "DeploymentStatus",
    fields: &[
        f(1, "observedGeneration", I64, ValOmit),
        f(2, "replicas", I32, ValOmit),
        f(3, "updatedReplicas", I32, ValOmit),
        f(7, "readyReplicas", I32, ValOmit),
        f(4, "availableReplicas", I32, ValOmit),
        f(5, "unavailableReplicas", I32, ValOmit),
        f(9, "terminatingReplicas", I32, PtrOmit),
        f(6, "conditions", Msg(&DEPLOYMENT_CONDITION), ListOmit),
        f(8, "collisionCount", I32, PtrOmit),
    ],
};

static DEPLOYMENT_CONDITION: Message = Message {
    name: "DeploymentCondition",
    fields: &[
        f(1, "type", Str, Val),
        f(2, "status", Str, Val),
        f(6, "lastUpdateTime", Time, ValOmit),
        f(7, "lastTransitionTime", Time, ValOmit),
        f(4, "reason", Str, ValOmit),
        f(5, "message", Str, ValOmit),
    ],
};
