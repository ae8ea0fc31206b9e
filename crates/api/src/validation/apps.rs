//! Workload validation: Deployment, ReplicaSet, StatefulSet (apps/v1) and
//! ReplicationController (core/v1).

use serde_json::Value;

use super::access::{sub, Access};
use super::field::{go_label_selector, go_string_map, BadValue, Path};
use super::meta::{self, NameRule};
use super::pod_spec;
use super::Cause;

fn nonneg(spec: &Value, key: &str, p: &Path) -> Option<Cause> {
    spec.i(key).filter(|v| *v < 0).map(|v| {
        Cause::invalid(
            &p.child(key),
            BadValue::Int(v),
            "must be greater than or equal to 0",
        )
    })
}

fn template_labels_repr(template: &Value) -> BadValue {
    BadValue::Raw(go_string_map(sub(template, "metadata").obj("labels")))
}

/// The selector checks shared by the apps/v1 workloads; `what` names the kind in the
/// "empty selector" message (Kubernetes says "deployment" for ReplicaSets too).
fn selector_and_template(
    spec: &Value,
    p: &Path,
    what: &str,
    rc_like_template: Option<&str>,
) -> Vec<Cause> {
    let mut errs = Vec::new();
    let sel = spec.field("selector");
    match sel {
        None => errs.push(Cause::required(&p.child("selector"), "")),
        Some(sel) => {
            errs.extend(meta::label_selector(sel, &p.child("selector")));
            if sel.obj("matchLabels").map_or(0, |m| m.len()) + sel.arr("matchExpressions").len()
                == 0
            {
                errs.push(Cause::invalid(
                    &p.child("selector"),
                    BadValue::Raw(go_label_selector(sel)),
                    &format!("empty selector is invalid for {what}"),
                ));
            }
        }
    }
    let template = sub(spec, "template");
    let tp = p.child("template");
    let empty_labels = serde_json::Map::new();
    let labels = sub(template, "metadata")
        .obj("labels")
        .unwrap_or(&empty_labels);
    // A missing selector matches nothing; an empty one matches everything and is not checked.
    let selector_empty = sel.is_some_and(|s| {
        s.obj("matchLabels").map_or(0, |m| m.len()) + s.arr("matchExpressions").len() == 0
    });
    if !selector_empty && !sel.is_some_and(|s| meta::selector_matches(s, labels)) {
        errs.push(Cause::invalid(
            &tp.child("metadata").child("labels"),
            template_labels_repr(template),
            "`selector` does not match template `labels`",
        ));
    }
    errs.extend(pod_spec::pod_template(template, &tp));
    let tspec = sub(template, "spec");
    let restart = tspec.s("restartPolicy");
    if restart != "Always" {
        errs.push(Cause::not_supported(
            &tp.child("spec").child("restartPolicy"),
            BadValue::str(restart),
            &["Always"],
        ));
    }
    if let Some(ads) = tspec.i("activeDeadlineSeconds") {
        let adp = tp.child("spec").child("activeDeadlineSeconds");
        errs.push(match rc_like_template {
            Some("StatefulSet") => Cause::forbidden(
                &adp,
                "activeDeadlineSeconds in StatefulSet is not Supported",
            ),
            Some(kind) => Cause::invalid(
                &adp,
                BadValue::Int(ads),
                &format!("activeDeadlineSeconds in {kind} is not Supported"),
            ),
            None => Cause::invalid(&adp, BadValue::Int(ads), "must not be specified"),
        });
    }
    errs
}

fn int_or_percent_value(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::String(s)) => s.trim_end_matches('%').parse().unwrap_or(0),
        Some(v) => v.as_i64().unwrap_or(0),
        None => 0,
    }
}

fn int_or_percent_repr(v: Option<&Value>) -> BadValue {
    match v {
        Some(Value::String(s)) => BadValue::Raw(format!(
            "intstr.IntOrString{{Type:1, IntVal:0, StrVal:{}}}",
            super::field::go_quote(s)
        )),
        other => BadValue::Raw(format!(
            "intstr.IntOrString{{Type:0, IntVal:{}, StrVal:\"\"}}",
            other.and_then(Value::as_i64).unwrap_or(0)
        )),
    }
}

fn positive_int_or_percent(v: Option<&Value>, p: &Path) -> Vec<Cause> {
    match v {
        Some(Value::String(s)) => super::names::percent(s)
            .into_iter()
            .map(|m| Cause::invalid(p, int_or_percent_repr(v), &m))
            .collect(),
        other => {
            let n = other.and_then(Value::as_i64).unwrap_or(0);
            if n < 0 {
                vec![Cause::invalid(
                    p,
                    BadValue::Int(n),
                    "must be greater than or equal to 0",
                )]
            } else {
                Vec::new()
            }
        }
    }
}

fn deployment_strategy(strategy: &Value, p: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    match strategy.s("type") {
        "Recreate" => {
            if strategy.field("rollingUpdate").is_some() {
                errs.push(Cause::forbidden(
                    &p.child("rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match strategy.field("rollingUpdate") {
            None => errs.push(Cause::required(
                &p.child("rollingUpdate"),
                "this should be defaulted and never be nil",
            )),
            Some(ru) => {
                let rp = p.child("rollingUpdate");
                let mu = ru.field("maxUnavailable");
                let ms = ru.field("maxSurge");
                errs.extend(positive_int_or_percent(mu, &rp.child("maxUnavailable")));
                errs.extend(positive_int_or_percent(ms, &rp.child("maxSurge")));
                if int_or_percent_value(mu) == 0 && int_or_percent_value(ms) == 0 {
                    errs.push(Cause::invalid(
                        &rp.child("maxUnavailable"),
                        int_or_percent_repr(mu),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
                if matches!(mu, Some(Value::String(_))) && int_or_percent_value(mu) > 100 {
                    errs.push(Cause::invalid(
                        &rp.child("maxUnavailable"),
                        int_or_percent_repr(mu),
                        "must not be greater than 100%",
                    ));
                }
            }
        },
        other => {
            let shown = format!(
                "apps.DeploymentStrategy{{Type:{}, RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}}",
                super::field::go_quote(other)
            );
            errs.push(Cause::not_supported(
                p,
                BadValue::Raw(shown),
                &["Recreate", "RollingUpdate"],
            ));
        }
    }
    errs
}

fn selector_immutable(spec: &Value, old_spec: &Value) -> Option<Cause> {
    let new_sel = spec.field("selector");
    (new_sel != old_spec.field("selector")).then(|| {
        let shown = new_sel
            .map(|s| BadValue::Raw(go_label_selector(s)))
            .unwrap_or(BadValue::Null);
        Cause::invalid(
            &Path::new("spec").child("selector"),
            shown,
            "field is immutable",
        )
    })
}

fn with_update(obj: &Value, old: Option<&Value>, rule: NameRule) -> Vec<Cause> {
    match old {
        Some(old) => meta::object_meta_update(obj, old),
        None => meta::object_meta(obj, true, rule),
    }
}

/// Deployment (apps/v1): selector immutable on update.
pub fn deployment(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut errs = with_update(obj, old, NameRule::Subdomain);
    let spec = sub(obj, "spec");
    let p = Path::new("spec");
    errs.extend(nonneg(spec, "replicas", &p));
    errs.extend(selector_and_template(
        spec,
        &p,
        "deployment",
        Some("ReplicaSet"),
    ));
    errs.extend(deployment_strategy(
        sub(spec, "strategy"),
        &p.child("strategy"),
    ));
    errs.extend(nonneg(spec, "minReadySeconds", &p));
    errs.extend(nonneg(spec, "revisionHistoryLimit", &p));
    if let Some(pds) = spec.i("progressDeadlineSeconds") {
        errs.extend(nonneg(spec, "progressDeadlineSeconds", &p));
        if pds <= spec.i("minReadySeconds").unwrap_or(0) {
            errs.push(Cause::invalid(
                &p.child("progressDeadlineSeconds"),
                BadValue::Int(pds),
                "must be greater than minReadySeconds",
            ));
        }
    }
    if let Some(old) = old {
        errs.extend(selector_immutable(spec, sub(old, "spec")));
    }
    errs
}

/// ReplicaSet (apps/v1): selector immutable on update.
pub fn replica_set(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut errs = with_update(obj, old, NameRule::Subdomain);
    let spec = sub(obj, "spec");
    let p = Path::new("spec");
    errs.extend(nonneg(spec, "replicas", &p));
    errs.extend(nonneg(spec, "minReadySeconds", &p));
    errs.extend(selector_and_template(
        spec,
        &p,
        "deployment",
        Some("ReplicaSet"),
    ));
    if let Some(old) = old {
        errs.extend(selector_immutable(spec, sub(old, "spec")));
    }
    errs
}

/// StatefulSet (apps/v1): only replicas, ordinals, template, updateStrategy,
/// persistentVolumeClaimRetentionPolicy and minReadySeconds may change.
pub fn stateful_set(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut errs = with_update(obj, old, NameRule::Subdomain);
    let spec = sub(obj, "spec");
    let p = Path::new("spec");
    if let Some(old) = old {
        let strip = |s: &Value| {
            let mut s = s.clone();
            if let Some(m) = s.as_object_mut() {
                for k in [
                    "replicas",
                    "ordinals",
                    "template",
                    "updateStrategy",
                    "persistentVolumeClaimRetentionPolicy",
                    "minReadySeconds",
                ] {
                    m.remove(k);
                }
            }
            s
        };
        if strip(spec) != strip(sub(old, "spec")) {
            errs.push(Cause::forbidden(&p, "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"));
        }
    }
    match spec.s("podManagementPolicy") {
        "" => errs.push(Cause::required(&p.child("podManagementPolicy"), "")),
        "OrderedReady" | "Parallel" => {}
        other => errs.push(Cause::invalid(
            &p.child("podManagementPolicy"),
            BadValue::str(other),
            "must be 'OrderedReady' or 'Parallel'",
        )),
    }
    let us = sub(spec, "updateStrategy");
    match us.s("type") {
        "" => errs.push(Cause::required(&p.child("updateStrategy"), "")),
        "OnDelete" => {
            if us.field("rollingUpdate").is_some() {
                errs.push(Cause::invalid(&p.child("updateStrategy").child("rollingUpdate"), BadValue::Raw("apps.RollingUpdateStatefulSetStrategy{...}".into()), "only allowed for updateStrategy 'RollingUpdate'"));
            }
        }
        "RollingUpdate" => {
            if let Some(ru) = us.field("rollingUpdate") {
                errs.extend(nonneg(ru, "partition", &p.child("updateStrategy").child("rollingUpdate")));
            }
        }
        other => errs.push(Cause::invalid(&p.child("updateStrategy"), BadValue::Raw(format!("apps.StatefulSetUpdateStrategy{{Type:{}, RollingUpdate:(*apps.RollingUpdateStatefulSetStrategy)(nil)}}", super::field::go_quote(other))), "must be 'RollingUpdate' or 'OnDelete'")),
    }
    if let Some(policy) = spec.field("persistentVolumeClaimRetentionPolicy") {
        let pp = p.child("persistentVolumeClaimRetentionPolicy");
        for key in ["whenDeleted", "whenScaled"] {
            let v = policy.s(key);
            if v != "Retain" && v != "Delete" {
                errs.push(Cause::not_supported(
                    &pp.child(key),
                    BadValue::str(v),
                    &["Retain", "Delete"],
                ));
            }
        }
    }
    errs.extend(nonneg(spec, "replicas", &p));
    errs.extend(nonneg(spec, "minReadySeconds", &p));
    errs.extend(selector_and_template(
        spec,
        &p,
        "statefulset",
        Some("StatefulSet"),
    ));
    errs
}

/// ReplicationController (core/v1): a map selector that must match the template labels.
pub fn replication_controller(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut errs = with_update(obj, old, NameRule::Subdomain);
    let spec = sub(obj, "spec");
    let p = Path::new("spec");
    errs.extend(nonneg(spec, "minReadySeconds", &p));
    let selector = spec.obj("selector");
    if selector.is_none_or(|s| s.is_empty()) {
        errs.push(Cause::required(&p.child("selector"), ""));
    }
    errs.extend(nonneg(spec, "replicas", &p));
    let tp = p.child("template");
    match spec.field("template") {
        None => errs.push(Cause::required(&tp, "")),
        Some(template) => {
            if let Some(sel) = selector.filter(|s| !s.is_empty()) {
                let labels = sub(template, "metadata").obj("labels");
                let matches = sel
                    .iter()
                    .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
                if !matches {
                    errs.push(Cause::invalid(
                        &tp.child("metadata").child("labels"),
                        template_labels_repr(template),
                        "`selector` does not match template `labels`",
                    ));
                }
            }
            errs.extend(pod_spec::pod_template(template, &tp));
            let tspec = sub(template, "spec");
            let restart = tspec.s("restartPolicy");
            if restart != "Always" {
                errs.push(Cause::not_supported(
                    &tp.child("spec").child("restartPolicy"),
                    BadValue::str(restart),
                    &["Always"],
                ));
            }
            if tspec.i("activeDeadlineSeconds").is_some() {
                errs.push(Cause::forbidden(
                    &tp.child("spec").child("activeDeadlineSeconds"),
                    "activeDeadlineSeconds in ReplicationController is not Supported",
                ));
            }
        }
    }
    errs
}
