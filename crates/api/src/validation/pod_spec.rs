//! `ValidatePodSpec` and `ValidatePodTemplateSpec`: the pod-level fields, volumes and the
//! container lists.

use serde_json::Value;

use super::access::{sub, Access};
use super::container::{self, Kind};
use super::field::{BadValue, Path};
use super::meta;
use super::names;
use super::Cause;

const VOLUME_TYPES: &[&str] = &[
    "emptyDir",
    "hostPath",
    "gitRepo",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "flocker",
    "persistentVolumeClaim",
    "rbd",
    "cinder",
    "cephfs",
    "quobyte",
    "downwardAPI",
    "fc",
    "flexVolume",
    "configMap",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "storageos",
    "projected",
    "scaleIO",
    "csi",
    "ephemeral",
    "image",
];

/// Whether the spec belongs to a Pod (some checks are only for pods, not templates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A Pod object.
    Pod,
    /// A pod template inside a workload.
    Template,
}

/// Checks user and group ids of a security context.
pub fn id_ranges(sc: &Value, p: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    for f in ["runAsUser", "runAsGroup", "fsGroup"] {
        if let Some(v) = sc.i(f).filter(|v| !(0..=i64::from(i32::MAX)).contains(v)) {
            errs.push(Cause::invalid(
                &p.child(f),
                BadValue::Int(v),
                &names::inclusive_range_error(0, i64::from(i32::MAX)),
            ));
        }
    }
    for (i, g) in sc.arr("supplementalGroups").iter().enumerate() {
        if let Some(v) = g
            .as_i64()
            .filter(|v| !(0..=i64::from(i32::MAX)).contains(v))
        {
            errs.push(Cause::invalid(
                &p.child("supplementalGroups").index(i),
                BadValue::Int(v),
                &names::inclusive_range_error(0, i64::from(i32::MAX)),
            ));
        }
    }
    errs
}

/// A relative path that does not step out with `..`.
pub fn local_descending_path(v: &str, p: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    if v.starts_with('/') {
        errs.push(Cause::invalid(
            p,
            BadValue::str(v),
            "must be a relative path",
        ));
    }
    if v.split('/').any(|part| part == "..") {
        errs.push(Cause::invalid(p, BadValue::str(v), "must not contain '..'"));
    }
    errs
}

fn volumes<'a>(spec: &'a Value, p: &Path, errs: &mut Vec<Cause>) -> Vec<&'a str> {
    let mut ok = Vec::new();
    for (i, vol) in spec.arr("volumes").iter().enumerate() {
        let ip = p.index(i);
        let mut el = Vec::new();
        let mut count = 0;
        for ty in VOLUME_TYPES {
            let Some(src) = vol.field(ty) else { continue };
            if count > 0 {
                el.push(Cause::forbidden(
                    &ip.child(ty),
                    "may not specify more than 1 volume type",
                ));
                continue;
            }
            count += 1;
            let sp = ip.child(ty);
            match *ty {
                "hostPath" if src.s("path").is_empty() => {
                    el.push(Cause::required(&sp.child("path"), ""))
                }
                "secret" if src.s("secretName").is_empty() => {
                    el.push(Cause::required(&sp.child("secretName"), ""))
                }
                "configMap" if src.s("name").is_empty() => {
                    el.push(Cause::required(&sp.child("name"), ""))
                }
                "persistentVolumeClaim" if src.s("claimName").is_empty() => {
                    el.push(Cause::required(&sp.child("claimName"), ""))
                }
                _ => {}
            }
            if let Some(mode) = src.i("defaultMode").filter(|m| !(0..=0o777).contains(m)) {
                el.push(Cause::invalid(
                    &sp.child("defaultMode"),
                    BadValue::Int(mode),
                    "must be a number between 0 and 0777 (octal), both inclusive",
                ));
            }
        }
        if count == 0 {
            el.push(Cause::required(&ip, "must specify a volume type"));
        }
        let name = vol.s("name");
        if name.is_empty() {
            el.push(Cause::required(&ip.child("name"), ""));
        } else {
            for m in names::dns1123_label(name) {
                el.push(Cause::invalid(&ip.child("name"), BadValue::str(name), &m));
            }
        }
        if ok.contains(&name) {
            el.push(Cause::duplicate(&ip.child("name"), BadValue::str(name)));
        }
        if el.is_empty() {
            ok.push(name);
        } else {
            errs.extend(el);
        }
    }
    ok
}

fn tolerations(list: &[Value], p: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let ip = p.index(i);
        let key = t.s("key");
        let op = t.s("operator");
        for m in names::qualified_name(key)
            .into_iter()
            .filter(|_| !key.is_empty())
        {
            errs.push(Cause::invalid(&ip.child("key"), BadValue::str(key), &m));
        }
        if key.is_empty() && op != "Exists" {
            errs.push(Cause::invalid(&ip.child("operator"), BadValue::str(op), "operator must be Exists when `key` is empty, which means \"match all values and all keys\""));
        }
        if t.field("tolerationSeconds").is_some() && t.s("effect") != "NoExecute" {
            errs.push(Cause::invalid(
                &ip.child("effect"),
                BadValue::str(t.s("effect")),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        let value = t.s("value");
        match op {
            "Equal" | "" => {
                let msgs = names::label_value(value);
                if !msgs.is_empty() {
                    errs.push(Cause::invalid(
                        &ip.child("operator"),
                        BadValue::str(value),
                        &msgs.join(";"),
                    ));
                }
            }
            "Exists" if !value.is_empty() => {
                errs.push(Cause::invalid(
                    &ip.child("operator"),
                    BadValue::str(value),
                    "value must be empty when `operator` is 'Exists'",
                ));
            }
            "Exists" => {}
            other => errs.push(Cause::not_supported(
                &ip.child("operator"),
                BadValue::str(other),
                &["Equal", "Exists"],
            )),
        }
        let effect = t.s("effect");
        if !effect.is_empty() && !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect)
        {
            errs.push(Cause::not_supported(
                &ip.child("effect"),
                BadValue::str(effect),
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            ));
        }
    }
    errs
}

fn choice(v: &str, allowed: &[&str], p: &Path) -> Option<Cause> {
    if v.is_empty() {
        Some(Cause::required(p, ""))
    } else if !allowed.contains(&v) {
        Some(Cause::not_supported(p, BadValue::str(v), allowed))
    } else {
        None
    }
}

fn name_field(spec: &Value, key: &str, p: &Path) -> Vec<Cause> {
    let v = spec.s(key);
    if v.is_empty() {
        return Vec::new();
    }
    names::dns1123_subdomain(v)
        .into_iter()
        .map(|m| Cause::invalid(&p.child(key), BadValue::str(v), &m))
        .collect()
}

/// `ValidatePodSpec`.
pub fn pod_spec(spec: &Value, p: &Path, owner: Owner) -> Vec<Cause> {
    let mut errs = Vec::new();
    if spec.i("terminationGracePeriodSeconds").is_none() {
        errs.push(Cause::required(
            &p.child("terminationGracePeriodSeconds"),
            "",
        ));
    }
    let vols = volumes(spec, &p.child("volumes"), &mut errs);
    errs.extend(container::containers(
        spec,
        Kind::Regular,
        &vols,
        &p.child("containers"),
    ));
    errs.extend(container::containers(
        spec,
        Kind::Init,
        &vols,
        &p.child("initContainers"),
    ));
    if spec.b("hostNetwork") {
        for (ci, c) in spec.arr("containers").iter().enumerate() {
            for (pi, port) in c.arr("ports").iter().enumerate() {
                let hp = port.i("hostPort").unwrap_or(0);
                if (owner == Owner::Pod || hp != 0) && hp != port.i("containerPort").unwrap_or(0) {
                    errs.push(Cause::invalid(
                        &p.child("containers")
                            .index(ci)
                            .child("ports")
                            .index(pi)
                            .child("hostPort"),
                        BadValue::Int(hp),
                        "must match `containerPort` when `hostNetwork` is true",
                    ));
                }
            }
        }
    }
    errs.extend(choice(
        spec.s("restartPolicy"),
        &["Always", "OnFailure", "Never"],
        &p.child("restartPolicy"),
    ));
    errs.extend(choice(
        spec.s("dnsPolicy"),
        &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        &p.child("dnsPolicy"),
    ));
    errs.extend(meta::labels(spec, "nodeSelector", &p.child("nodeSelector")));
    if let Some(sc) = spec.field("securityContext") {
        errs.extend(id_ranges(sc, &p.child("securityContext")));
    }
    errs.extend(dns_config(spec, &p.child("dnsConfig")));
    errs.extend(name_field(spec, "serviceAccountName", p));
    errs.extend(name_field(spec, "nodeName", p));
    if let Some(v) = spec
        .i("activeDeadlineSeconds")
        .filter(|v| *v < 1 || *v > i64::from(i32::MAX))
    {
        errs.push(Cause::invalid(
            &p.child("activeDeadlineSeconds"),
            BadValue::Int(v),
            &names::inclusive_range_error(1, i64::from(i32::MAX)),
        ));
    }
    for key in ["hostname", "subdomain"] {
        let v = spec.s(key);
        if !v.is_empty() {
            for m in names::dns1123_label(v) {
                errs.push(Cause::invalid(&p.child(key), BadValue::str(v), &m));
            }
        }
    }
    errs.extend(tolerations(
        spec.arr("tolerations"),
        &p.child("tolerations"),
    ));
    for (i, ha) in spec.arr("hostAliases").iter().enumerate() {
        let hp = p.child("hostAliases").index(i);
        if names::parse_ip(ha.s("ip")).is_none() {
            errs.push(Cause::invalid(
                &hp.child("ip"),
                BadValue::str(ha.s("ip")),
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            ));
        }
        for (j, h) in ha.arr("hostnames").iter().enumerate() {
            let h = h.as_str().unwrap_or_default();
            for m in names::dns1123_subdomain(h) {
                errs.push(Cause::invalid(
                    &hp.child("hostnames").index(j),
                    BadValue::str(h),
                    &m,
                ));
            }
        }
    }
    errs.extend(name_field(spec, "priorityClassName", p));
    if let Some(pp) = spec.opt_s("preemptionPolicy") {
        errs.extend(choice(
            pp,
            &["PreemptLowerPriority", "Never"],
            &p.child("preemptionPolicy"),
        ));
    }
    errs
}

fn dns_config(spec: &Value, p: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    let cfg = spec.field("dnsConfig");
    if spec.s("dnsPolicy") == "None" {
        match cfg {
            None => {
                return vec![Cause::required(
                    p,
                    "must provide `dnsConfig` when `dnsPolicy` is None",
                )]
            }
            Some(c) if c.arr("nameservers").is_empty() => {
                return vec![Cause::required(
                    &p.child("nameservers"),
                    "must provide at least one DNS nameserver when `dnsPolicy` is None",
                )];
            }
            Some(_) => {}
        }
    }
    let Some(cfg) = cfg else { return errs };
    let ns = cfg.arr("nameservers");
    if ns.len() > 3 {
        errs.push(Cause::invalid(
            &p.child("nameservers"),
            BadValue::Raw(super::field::go_string_slice(Some(&ns.to_vec()))),
            "must not have more than 3 nameservers",
        ));
    }
    for (i, n) in ns.iter().enumerate() {
        let n = n.as_str().unwrap_or_default();
        if names::parse_ip(n).is_none() {
            errs.push(Cause::invalid(
                &p.child("nameservers").index(i),
                BadValue::str(n),
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            ));
        }
    }
    for (i, s) in cfg.arr("searches").iter().enumerate() {
        let s = s.as_str().unwrap_or_default();
        let s = s.strip_suffix('.').unwrap_or(s);
        for m in names::dns1123_subdomain(s) {
            errs.push(Cause::invalid(
                &p.child("searches").index(i),
                BadValue::str(s),
                &m,
            ));
        }
    }
    for (i, o) in cfg.arr("options").iter().enumerate() {
        if o.s("name").is_empty() {
            errs.push(Cause::required(
                &p.child("options").index(i),
                "must not be empty",
            ));
        }
    }
    errs
}

/// `ValidatePodTemplateSpec` for the template at `p` (e.g. `spec.template`).
pub fn pod_template(template: &Value, p: &Path) -> Vec<Cause> {
    let tmeta = sub(template, "metadata");
    let mut errs = meta::labels(tmeta, "labels", &p.child("labels"));
    errs.extend(meta::annotations(
        tmeta,
        "annotations",
        &p.child("annotations"),
    ));
    let spec = sub(template, "spec");
    errs.extend(pod_spec(spec, &p.child("spec"), Owner::Template));
    if !spec.arr("ephemeralContainers").is_empty() {
        errs.push(Cause::forbidden(
            &p.child("spec").child("ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
    errs
}
