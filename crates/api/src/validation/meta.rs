//! ObjectMeta, labels, annotations, finalizers and label selectors
//! (apimachinery's `ValidateObjectMeta*` plus core's finalizer rule).

use serde_json::Value;

use super::access::{string_map, sub, Access};
use super::field::{BadValue, Path};
use super::names;
use super::Cause;

/// How an object's name is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 subdomain (most kinds).
    Subdomain,
    /// RFC 1123 label (Namespace).
    Label,
    /// RFC 1035 label (Service).
    Dns1035,
}

impl NameRule {
    /// The messages for a name (`prefix` for `generateName`).
    pub fn check(self, name: &str, prefix: bool) -> Vec<String> {
        let name = names::mask_trailing_dash(name, prefix);
        match self {
            NameRule::Subdomain => names::dns1123_subdomain(&name),
            NameRule::Label => names::dns1123_label(&name),
            NameRule::Dns1035 => names::dns1035_label(&name),
        }
    }
}

const ANNOTATIONS_LIMIT: usize = 256 * 1024;
const STANDARD_FINALIZERS: &[&str] = &["kubernetes", "orphan", "foregroundDeletion"];

/// Labels: keys are qualified names, values label values.
pub fn labels(v: &Value, key: &str, path: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    for (k, val) in string_map(v, key) {
        for m in names::qualified_name(k) {
            errs.push(Cause::invalid(path, BadValue::str(k), &m));
        }
        for m in names::label_value(val) {
            errs.push(Cause::invalid(path, BadValue::str(val), &m));
        }
    }
    errs
}

/// Annotations: keys are (lowercased) qualified names, total size at most 256 KiB.
pub fn annotations(v: &Value, key: &str, path: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    let mut total = 0usize;
    for (k, val) in string_map(v, key) {
        for m in names::qualified_name(&k.to_lowercase()) {
            errs.push(Cause::invalid(path, BadValue::str(k), &m));
        }
        total += k.len() + val.len();
    }
    if total > ANNOTATIONS_LIMIT {
        errs.push(Cause::too_long(path, ANNOTATIONS_LIMIT));
    }
    errs
}

/// A label selector (`matchLabels` and `matchExpressions`).
pub fn label_selector(sel: &Value, path: &Path) -> Vec<Cause> {
    let mut errs = labels(sel, "matchLabels", &path.child("matchLabels"));
    for (i, e) in sel.arr("matchExpressions").iter().enumerate() {
        let p = path.child("matchExpressions").index(i);
        let values = e.arr("values");
        match e.s("operator") {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(Cause::required(
                        &p.child("values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(Cause::forbidden(
                        &p.child("values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            other => errs.push(Cause::invalid(
                &p.child("operator"),
                BadValue::str(other),
                "not a valid selector operator",
            )),
        }
        for m in names::qualified_name(e.s("key")) {
            errs.push(Cause::invalid(
                &p.child("key"),
                BadValue::str(e.s("key")),
                &m,
            ));
        }
        for (j, val) in values.iter().enumerate() {
            let val = val.as_str().unwrap_or_default();
            for m in names::label_value(val) {
                errs.push(Cause::invalid(
                    &p.child("values").index(j),
                    BadValue::str(val),
                    &m,
                ));
            }
        }
    }
    errs
}

/// Whether a label selector matches a label set (an empty selector matches everything).
pub fn selector_matches(sel: &Value, labels: &serde_json::Map<String, Value>) -> bool {
    let get = |k: &str| labels.get(k).and_then(Value::as_str);
    for (k, v) in string_map(sel, "matchLabels") {
        if get(k) != Some(v) {
            return false;
        }
    }
    for e in sel.arr("matchExpressions") {
        let vals: Vec<&str> = e.arr("values").iter().filter_map(Value::as_str).collect();
        let have = get(e.s("key"));
        let ok = match e.s("operator") {
            "In" => have.is_some_and(|h| vals.contains(&h)),
            "NotIn" => !have.is_some_and(|h| vals.contains(&h)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

fn finalizers(meta: &Value, path: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    let list = meta.arr("finalizers");
    let fpath = path.child("finalizers");
    let mut orphan = false;
    let mut foreground = false;
    for f in list {
        let f = f.as_str().unwrap_or_default();
        for m in names::qualified_name(f) {
            errs.push(Cause::invalid(&fpath, BadValue::str(f), &m));
        }
        orphan |= f == "orphan";
        foreground |= f == "foregroundDeletion";
    }
    if orphan && foreground {
        errs.push(Cause::invalid(
            &fpath,
            BadValue::Raw(super::field::go_string_slice(
                meta.get("finalizers").and_then(Value::as_array),
            )),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    for (i, f) in list.iter().enumerate() {
        errs.extend(kube_finalizer_name(
            f.as_str().unwrap_or_default(),
            &fpath.index(i),
        ));
    }
    errs
}

/// Core's extra finalizer rule: a name without `/` must be a standard finalizer.
pub fn kube_finalizer_name(f: &str, path: &Path) -> Vec<Cause> {
    if !f.contains('/') && !STANDARD_FINALIZERS.contains(&f) {
        vec![Cause::invalid(
            path,
            BadValue::str(f),
            "name is neither a standard finalizer name nor is it fully qualified",
        )]
    } else {
        Vec::new()
    }
}

fn owner_references(meta: &Value, path: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    let p = path.child("ownerReferences");
    let mut first_controller: Option<String> = None;
    for r in meta.arr("ownerReferences") {
        let api_version = r.s("apiVersion");
        let version = api_version.rsplit('/').next().unwrap_or_default();
        if version.is_empty() {
            errs.push(Cause::invalid(
                &p.child("apiVersion"),
                BadValue::str(api_version),
                "version must not be empty",
            ));
        }
        if r.s("kind").is_empty() {
            errs.push(Cause::invalid(
                &p.child("kind"),
                BadValue::str(""),
                "kind must not be empty",
            ));
        }
        if r.s("name").is_empty() {
            errs.push(Cause::invalid(
                &p.child("name"),
                BadValue::str(""),
                "name must not be empty",
            ));
        }
        if r.s("uid").is_empty() {
            errs.push(Cause::invalid(
                &p.child("uid"),
                BadValue::str(""),
                "uid must not be empty",
            ));
        }
        if r.b("controller") {
            let this = format!("{}/{}", r.s("kind"), r.s("name"));
            match &first_controller {
                Some(first) => errs.push(Cause::invalid(
                    &p,
                    BadValue::Raw("[]v1.OwnerReference{...}".into()),
                    &format!("Only one reference can have Controller set to true. Found \"true\" in references for {first} and {this}"),
                )),
                None => first_controller = Some(this),
            }
        }
    }
    errs
}

/// `ValidateObjectMeta`: name (or generateName), namespace, labels, annotations, owners,
/// finalizers.
pub fn object_meta(obj: &Value, namespaced: bool, rule: NameRule) -> Vec<Cause> {
    let meta = sub(obj, "metadata");
    let path = Path::new("metadata");
    let mut errs = Vec::new();
    let generate = meta.s("generateName");
    if !generate.is_empty() {
        for m in rule.check(generate, true) {
            errs.push(Cause::invalid(
                &path.child("generateName"),
                BadValue::str(generate),
                &m,
            ));
        }
    }
    let name = meta.s("name");
    if name.is_empty() {
        errs.push(Cause::required(
            &path.child("name"),
            "name or generateName is required",
        ));
    } else {
        for m in rule.check(name, false) {
            errs.push(Cause::invalid(&path.child("name"), BadValue::str(name), &m));
        }
    }
    let ns = meta.s("namespace");
    if namespaced {
        if ns.is_empty() {
            errs.push(Cause::required(&path.child("namespace"), ""));
        } else {
            for m in NameRule::Label.check(ns, false) {
                errs.push(Cause::invalid(
                    &path.child("namespace"),
                    BadValue::str(ns),
                    &m,
                ));
            }
        }
    } else if !ns.is_empty() {
        errs.push(Cause::forbidden(
            &path.child("namespace"),
            "not allowed on this type",
        ));
    }
    if let Some(g) = meta.i("generation").filter(|g| *g < 0) {
        errs.push(Cause::invalid(
            &path.child("generation"),
            BadValue::Int(g),
            "must be greater than or equal to 0",
        ));
    }
    errs.extend(labels(meta, "labels", &path.child("labels")));
    errs.extend(annotations(meta, "annotations", &path.child("annotations")));
    errs.extend(owner_references(meta, &path));
    errs.extend(finalizers(meta, &path));
    errs
}

fn go_time(ts: &str) -> BadValue {
    match ts.parse::<jiff::Timestamp>() {
        Ok(t) => BadValue::Raw(t.strftime("%Y-%m-%d %H:%M:%S +0000 UTC").to_string()),
        Err(_) => BadValue::str(ts),
    }
}

/// `ValidateObjectMetaUpdate`: what may not change between two versions of an object.
pub fn object_meta_update(obj: &Value, old: &Value) -> Vec<Cause> {
    let meta = sub(obj, "metadata");
    let old_meta = sub(old, "metadata");
    let path = Path::new("metadata");
    let mut errs = Vec::new();
    if old_meta.field("deletionTimestamp").is_some() {
        let old_f: Vec<&Value> = old_meta.arr("finalizers").iter().collect();
        let mut extra: Vec<&str> = meta
            .arr("finalizers")
            .iter()
            .filter(|f| !old_f.contains(f))
            .filter_map(Value::as_str)
            .collect();
        extra.sort();
        extra.dedup();
        if !extra.is_empty() {
            let quoted: Vec<String> = extra.iter().map(|s| super::field::go_quote(s)).collect();
            errs.push(Cause::forbidden(
                &path.child("finalizers"),
                &format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                    quoted.join(", ")
                ),
            ));
        }
    }
    if meta.s("resourceVersion").is_empty() {
        errs.push(Cause::invalid(
            &path.child("resourceVersion"),
            BadValue::str(""),
            "must be specified for an update",
        ));
    }
    let generation = meta.i("generation").unwrap_or(0);
    if generation < old_meta.i("generation").unwrap_or(0) {
        errs.push(Cause::invalid(
            &path.child("generation"),
            BadValue::Int(generation),
            "must not be decremented",
        ));
    }
    let null = Value::Null;
    for key in ["name", "namespace", "uid"] {
        let n = meta.get(key).unwrap_or(&null);
        let o = old_meta.get(key).unwrap_or(&null);
        let (ns, os) = (
            n.as_str().unwrap_or_default(),
            o.as_str().unwrap_or_default(),
        );
        if ns != os {
            errs.push(Cause::invalid(
                &path.child(key),
                BadValue::str(ns),
                "field is immutable",
            ));
        }
    }
    for key in ["creationTimestamp", "deletionTimestamp"] {
        let n = meta.opt_s(key).unwrap_or_default();
        let o = old_meta.opt_s(key).unwrap_or_default();
        if n != o {
            let shown = if n.is_empty() {
                if key == "deletionTimestamp" {
                    BadValue::Null
                } else {
                    go_time("0001-01-01T00:00:00Z")
                }
            } else {
                go_time(n)
            };
            errs.push(Cause::invalid(
                &path.child(key),
                shown,
                "field is immutable",
            ));
        }
    }
    let dg = meta.i("deletionGracePeriodSeconds");
    if dg != old_meta.i("deletionGracePeriodSeconds") {
        let shown = dg.map(BadValue::Int).unwrap_or(BadValue::Null);
        errs.push(Cause::invalid(
            &path.child("deletionGracePeriodSeconds"),
            shown,
            "field is immutable",
        ));
    }
    errs.extend(labels(meta, "labels", &path.child("labels")));
    errs.extend(annotations(meta, "annotations", &path.child("annotations")));
    errs.extend(owner_references(meta, &path));
    for (i, f) in meta.arr("finalizers").iter().enumerate() {
        errs.extend(kube_finalizer_name(
            f.as_str().unwrap_or_default(),
            &path.child("finalizers").index(i),
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn name_is_required_and_checked() {
        let errs = object_meta(
            &json!({"metadata": {"namespace": "default"}}),
            true,
            NameRule::Subdomain,
        );
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "metadata.name");
        assert_eq!(
            errs[0].message,
            "Required value: name or generateName is required"
        );

        let errs = object_meta(
            &json!({"metadata": {"name": "Web", "namespace": "default"}}),
            true,
            NameRule::Dns1035,
        );
        assert_eq!(errs[0].reason, "FieldValueInvalid");
        assert!(errs[0]
            .message
            .starts_with("Invalid value: \"Web\": a DNS-1035 label must consist"));
    }

    #[test]
    fn generate_name_may_end_with_dash() {
        let obj =
            json!({"metadata": {"generateName": "web-", "name": "web-abcde", "namespace": "a"}});
        assert!(object_meta(&obj, true, NameRule::Subdomain).is_empty());
    }

    #[test]
    fn bad_label_and_finalizer() {
        let obj =
            json!({"metadata": {"name": "x", "labels": {"a b": "ok"}, "finalizers": ["custom"]}});
        let errs = object_meta(&obj, false, NameRule::Subdomain);
        let fields: Vec<&str> = errs.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, vec!["metadata.labels", "metadata.finalizers[0]"]);
        assert_eq!(errs[1].message, "Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified");
    }

    #[test]
    fn selectors_match() {
        let sel = json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]});
        let labels = json!({"app": "web", "tier": "fe"});
        assert!(selector_matches(
            &sel,
            labels.as_object().unwrap_or(&serde_json::Map::new())
        ));
        let labels = json!({"app": "web", "tier": "db"});
        assert!(!selector_matches(
            &sel,
            labels.as_object().unwrap_or(&serde_json::Map::new())
        ));
    }

    #[test]
    fn update_rules() {
        let old = json!({"metadata": {"name": "a", "resourceVersion": "5"}});
        let new = json!({"metadata": {"name": "b"}});
        let errs = object_meta_update(&new, &old);
        assert_eq!(errs[0].field, "metadata.resourceVersion");
        assert_eq!(errs[1].field, "metadata.name");
        assert_eq!(errs[1].message, "Invalid value: \"b\": field is immutable");
    }
}
