//! Pod validation (`ValidatePodCreate`, `ValidatePodUpdate`).

use serde_json::{Map, Value};

use super::access::{sub, Access};
use super::field::{BadValue, Path};
use super::meta::{self, NameRule};
use super::pod_spec::{self, Owner};
use super::Cause;

const UPDATABLE: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// Validates a Pod on create, or on update when `old` is given.
pub fn validate(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let sp = Path::new("spec");
    let spec = sub(obj, "spec");
    let mut errs = Vec::new();
    if let Some(old) = old {
        errs.extend(meta::object_meta_update(obj, old));
    }
    errs.extend(meta::object_meta(obj, true, NameRule::Subdomain));
    errs.extend(pod_spec::pod_spec(spec, &sp, Owner::Pod));
    for list in ["containers", "initContainers"] {
        for (i, c) in spec.arr(list).iter().enumerate() {
            let image = c.s("image");
            if image.trim() != image {
                errs.push(Cause::invalid(
                    &sp.child(list).index(i).child("image"),
                    BadValue::str(image),
                    "must not have leading or trailing whitespace",
                ));
            }
        }
    }
    match old {
        None => {
            if !spec.arr("ephemeralContainers").is_empty() {
                errs.push(Cause::forbidden(
                    &sp.child("ephemeralContainers"),
                    "cannot be set on create",
                ));
            }
            if !spec.s("nodeName").is_empty() && !spec.arr("schedulingGates").is_empty() {
                errs.push(Cause::forbidden(
                    &sp.child("nodeName"),
                    "cannot be set until all schedulingGates have been cleared",
                ));
            }
        }
        Some(old) => errs.extend(update(spec, sub(old, "spec"), &sp)),
    }
    errs
}

fn container_updates(new: &[Value], old: &[Value], p: &Path) -> Result<Vec<Cause>, Vec<Cause>> {
    if new.len() != old.len() {
        return Err(vec![Cause::forbidden(
            p,
            "pod updates may not add or remove containers",
        )]);
    }
    let mut errs = Vec::new();
    for (i, c) in new.iter().enumerate() {
        let image = c.s("image");
        if image.is_empty() {
            errs.push(Cause::required(&p.index(i).child("image"), ""));
        }
        if image.trim() != image {
            errs.push(Cause::invalid(
                &p.index(i).child("image"),
                BadValue::str(image),
                "must not have leading or trailing whitespace",
            ));
        }
    }
    Ok(errs)
}

fn update(spec: &Value, old: &Value, sp: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    for list in ["containers", "initContainers"] {
        match container_updates(spec.arr(list), old.arr(list), &sp.child(list)) {
            Ok(e) => errs.extend(e),
            Err(e) => {
                errs.extend(e);
                return errs;
            }
        }
    }
    let adp = sp.child("activeDeadlineSeconds");
    match (
        spec.i("activeDeadlineSeconds"),
        old.i("activeDeadlineSeconds"),
    ) {
        (Some(n), _) if n < 0 || n > i64::from(i32::MAX) => {
            errs.push(Cause::invalid(
                &adp,
                BadValue::Int(n),
                &super::names::inclusive_range_error(0, i64::from(i32::MAX)),
            ));
            return errs;
        }
        (Some(n), Some(o)) if o < n => {
            errs.push(Cause::invalid(
                &adp,
                BadValue::Int(n),
                "must be less than or equal to previous value",
            ));
            return errs;
        }
        (None, Some(_)) => {
            errs.push(Cause::invalid(
                &adp,
                BadValue::Null,
                "must not update from a positive integer to nil value",
            ));
        }
        _ => {}
    }
    let new_tol = spec.arr("tolerations");
    for o in old.arr("tolerations") {
        let found = new_tol
            .iter()
            .any(|n| without_seconds(n) == without_seconds(o));
        if !found {
            errs.push(Cause::forbidden(
                &sp.child("tolerations"),
                "existing toleration can not be modified except its tolerationSeconds",
            ));
            break;
        }
    }
    if spec == old {
        return errs;
    }
    let mut munged = spec.clone();
    if let Some(m) = munged.as_object_mut() {
        for list in ["containers", "initContainers"] {
            if let Some(Value::Array(cs)) = m.get_mut(list) {
                for (i, c) in cs.iter_mut().enumerate() {
                    if let (Some(c), Some(oc)) = (c.as_object_mut(), old.arr(list).get(i)) {
                        restore(c, oc, "image");
                    }
                }
            }
        }
        for key in ["activeDeadlineSeconds", "schedulingGates", "tolerations"] {
            restore(m, old, key);
        }
        if old
            .i("terminationGracePeriodSeconds")
            .is_some_and(|g| g < 0)
            && m.get("terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
                == Some(1)
        {
            restore(m, old, "terminationGracePeriodSeconds");
        }
    }
    if munged != *old {
        errs.push(Cause::forbidden(
            sp,
            &format!(
                "pod updates may not change fields other than {UPDATABLE}\n{}",
                diff(old, &munged)
            ),
        ));
    }
    errs
}

fn restore(target: &mut Map<String, Value>, old: &Value, key: &str) {
    match old.get(key) {
        Some(v) => {
            target.insert(key.to_string(), v.clone());
        }
        None => {
            target.remove(key);
        }
    }
}

fn without_seconds(t: &Value) -> Value {
    let mut t = t.clone();
    if let Some(m) = t.as_object_mut() {
        m.remove("tolerationSeconds");
    }
    t
}

/// A short description of the spec fields that differ, in the spirit of Kubernetes' diff.
fn diff(old: &Value, new: &Value) -> String {
    let empty = Map::new();
    let o = old.as_object().unwrap_or(&empty);
    let n = new.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = String::from("  core.PodSpec{\n");
    for k in keys {
        if o.get(k) != n.get(k) {
            let show = |v: Option<&Value>| v.map(Value::to_string).unwrap_or_else(|| "nil".into());
            out.push_str(&format!(
                "- \t{k}: {},\n+ \t{k}: {},\n",
                show(o.get(k)),
                show(n.get(k))
            ));
        }
    }
    out.push_str("  }\n");
    out
}
