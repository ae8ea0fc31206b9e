//! `batch/v1` Job and CronJob.

use super::core::OBJECT_REFERENCE;
use super::meta::{LABEL_SELECTOR, OBJECT_META};
use super::pod::POD_TEMPLATE_SPEC;
use super::Kind::*;
use super::Shape::*;
use super::{f, Message};

/// `Job`.
pub(crate) static JOB: Message = Message {
    name: "Job",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META), ValOmit),
        f(2, "spec", Msg(&JOB_SPEC), ValOmit),
        f(3, "status", Msg(&JOB_STATUS), ValOmit),
    ],
};

/// `JobSpec`; pod failure and success policies are not in the table.
static JOB_SPEC: Message = Message {
    name: "JobSpec",
    fields: &[
        f(1, "parallelism", I32, PtrOmit),
        f(2, "completions", I32, PtrOmit),
        f(3, "activeDeadlineSeconds", I64, PtrOmit),
        f(7, "backoffLimit", I32, PtrOmit),
        f(12, "backoffLimitPerIndex", I32, PtrOmit),
        f(13, "maxFailedIndexes", I32, PtrOmit),
        f(4, "selector", Msg(&LABEL_SELECTOR), PtrOmit),
        f(5, "manualSelector", Bool, PtrOmit),
        f(6, "template", Msg(&POD_TEMPLATE_SPEC), Val),
        f(8, "ttlSecondsAfterFinished", I32, PtrOmit),
        f(9, "completionMode", Str, PtrOmit),
        f(10, "suspend", Bool, PtrOmit),
        f(14, "podReplacementPolicy", Str, PtrOmit),
        f(15, "managedBy", Str, PtrOmit),
    ],
};

static JOB_STATUS: Message = Message {
    name: "JobStatus",
    fields: &[
        f(1, "conditions", Msg(&JOB_CONDITION), ListOmit),
        f(2, "startTime", Time, PtrOmit),
        f(3, "completionTime", Time, PtrOmit),
        f(4, "active", I32, ValOmit),
        f(5, "succeeded", I32, ValOmit),
        f(6, "failed", I32, ValOmit),
        f(11, "terminating", I32, PtrOmit),
        f(7, "completedIndexes", Str, ValOmit),
        f(10, "failedIndexes", Str, PtrOmit),
        f(
            8,
            "uncountedTerminatedPods",
            Msg(&UNCOUNTED_TERMINATED_PODS),
            PtrOmit,
        ),
        f(9, "ready", I32, PtrOmit),
    ],
};

static JOB_CONDITION: Message = Message {
    name: "JobCondition",
    fields: &[
        f(1, "type", Str, Val),
        f(2, "status", Str, Val),
        f(3, "lastProbeTime", Time, ValOmit),
        f(4, "lastTransitionTime", Time, ValOmit),
        f(5, "reason", Str, ValOmit),
        f(6, "message", Str, ValOmit),
    ],
};

static UNCOUNTED_TERMINATED_PODS: Message = Message {
    name: "UncountedTerminatedPods",
    fields: &[
        f(1, "succeeded", Str, ListOmit),
        f(2, "failed", Str, ListOmit),
    ],
};

/// `CronJob`.
pub(crate) static CRON_JOB: Message = Message {
    name: "CronJob",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META), ValOmit),
        f(2, "spec", Msg(&CRON_JOB_SPEC), ValOmit),
        f(3, "status", Msg(&CRON_JOB_STATUS), ValOmit),
    ],
};

static CRON_JOB_SPEC: Message = Message {
    name: "CronJobSpec",
    fields: &[
        f(1, "schedule", Str, Val),
        f(8, "timeZone", Str, PtrOmit),
        f(2, "startingDeadlineSeconds", I64, PtrOmit),
        f(3, "concurrencyPolicy", Str, ValOmit),
        f(4, "suspend", Bool, PtrOmit),
        f(5, "jobTemplate", Msg(&JOB_TEMPLATE_SPEC), Val),
        f(6, "successfulJobsHistoryLimit", I32, PtrOmit),
        f(7, "failedJobsHistoryLimit", I32, PtrOmit),
    ],
};

static JOB_TEMPLATE_SPEC: Message = Message {
    name: "JobTemplateSpec",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META), ValOmit),
        f(2, "spec", Msg(&JOB_SPEC), ValOmit),
    ],
};

static CRON_JOB_STATUS: Message = Message {
    name: "CronJobStatus",
    fields: &[
        f(1, "active", Msg(&OBJECT_REFERENCE), ListOmit),
        f(4, "lastScheduleTime", Time, PtrOmit),
        f(5, "lastSuccessfulTime", Time, PtrOmit),
    ],
};
