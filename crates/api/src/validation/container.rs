//! Container validation: names, images, ports, env, mounts, probes, lifecycle, resources.

use serde_json::Value;

use super::access::{sub, Access};
use super::field::{BadValue, Path};
use super::names;
use super::Cause;

mod probe;

use probe::{lifecycle, probe, ProbeKind};

const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

/// Which list a container belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `spec.containers`.
    Regular,
    /// `spec.initContainers`.
    Init,
}

/// `validateContainers` / `validateInitContainers` over one list.
pub fn containers(spec: &Value, kind: Kind, volumes: &[&str], path: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    let list = match kind {
        Kind::Regular => spec.arr("containers"),
        Kind::Init => spec.arr("initContainers"),
    };
    if kind == Kind::Regular && list.is_empty() {
        errs.push(Cause::required(path, ""));
        return errs;
    }
    let mut names_seen: Vec<&str> = match kind {
        Kind::Regular => Vec::new(),
        Kind::Init => spec.arr("containers").iter().map(|c| c.s("name")).collect(),
    };
    let grace = spec.i("terminationGracePeriodSeconds");
    for (i, c) in list.iter().enumerate() {
        let p = path.index(i);
        errs.extend(common(c, volumes, &p));
        let name = c.s("name");
        let restartable = kind == Kind::Init && c.opt_s("restartPolicy").is_some();
        if kind == Kind::Init {
            if let Some(rp) = c.opt_s("restartPolicy") {
                if rp != "Always" {
                    errs.push(Cause::not_supported(
                        &p.child("restartPolicy"),
                        BadValue::str(rp),
                        &["Always"],
                    ));
                }
            }
        }
        if names_seen.contains(&name) {
            errs.push(Cause::duplicate(&p.child("name"), BadValue::str(name)));
        } else if kind == Kind::Regular || !name.is_empty() {
            names_seen.push(name);
        }
        if kind == Kind::Init {
            errs.extend(host_port_conflicts(std::slice::from_ref(c), path));
        }
        if kind == Kind::Regular || restartable {
            if let Some(lc) = c.field("lifecycle") {
                errs.extend(lifecycle(lc, grace, &p.child("lifecycle")));
            }
            errs.extend(probe(
                c.field("livenessProbe"),
                ProbeKind::Liveness,
                &p.child("livenessProbe"),
            ));
            errs.extend(probe(
                c.field("readinessProbe"),
                ProbeKind::Readiness,
                &p.child("readinessProbe"),
            ));
            errs.extend(probe(
                c.field("startupProbe"),
                ProbeKind::Startup,
                &p.child("startupProbe"),
            ));
        } else {
            for f in [
                "lifecycle",
                "livenessProbe",
                "readinessProbe",
                "startupProbe",
            ] {
                if c.field(f).is_some() {
                    errs.push(Cause::forbidden(
                        &p.child(f),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
        if kind == Kind::Regular && c.field("restartPolicy").is_some() {
            errs.push(Cause::forbidden(
                &p.child("restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
    }
    if kind == Kind::Regular {
        errs.extend(host_port_conflicts(list, path));
    }
    errs
}

fn host_port_conflicts(list: &[Value], path: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (ci, c) in list.iter().enumerate() {
        for (pi, port) in c.arr("ports").iter().enumerate() {
            let hp = port.i("hostPort").unwrap_or(0);
            if hp == 0 {
                continue;
            }
            let key = format!("{}/{}/{}", port.s("protocol"), port.s("hostIP"), hp);
            if seen.contains(&key) {
                errs.push(Cause::duplicate(
                    &path.index(ci).child("ports").index(pi).child("hostPort"),
                    BadValue::str(key),
                ));
            } else {
                seen.push(key);
            }
        }
    }
    errs
}

fn common(c: &Value, volumes: &[&str], p: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    let name = c.s("name");
    if name.is_empty() {
        errs.push(Cause::required(&p.child("name"), ""));
    } else {
        for m in names::dns1123_label(name) {
            errs.push(Cause::invalid(&p.child("name"), BadValue::str(name), &m));
        }
    }
    if c.s("image").is_empty() {
        errs.push(Cause::required(&p.child("image"), ""));
    }
    match c.s("terminationMessagePolicy") {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.push(Cause::required(&p.child("terminationMessagePolicy"), "")),
        other => errs.push(Cause::not_supported(
            &p.child("terminationMessagePolicy"),
            BadValue::str(other),
            &["File", "FallbackToLogsOnError"],
        )),
    }
    errs.extend(ports(c.arr("ports"), &p.child("ports")));
    errs.extend(env(c.arr("env"), &p.child("env")));
    errs.extend(env_from(c.arr("envFrom"), &p.child("envFrom")));
    errs.extend(volume_mounts(
        c.arr("volumeMounts"),
        volumes,
        &p.child("volumeMounts"),
    ));
    match c.s("imagePullPolicy") {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => errs.push(Cause::required(&p.child("imagePullPolicy"), "")),
        other => errs.push(Cause::not_supported(
            &p.child("imagePullPolicy"),
            BadValue::str(other),
            &["Always", "IfNotPresent", "Never"],
        )),
    }
    errs.extend(super::resources::requirements(
        sub(c, "resources"),
        &p.child("resources"),
    ));
    if let Some(sc) = c.field("securityContext") {
        errs.extend(super::pod_spec::id_ranges(sc, &p.child("securityContext")));
    }
    errs
}

fn ports(list: &[Value], path: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (i, port) in list.iter().enumerate() {
        let p = path.index(i);
        let name = port.s("name");
        if !name.is_empty() {
            let msgs = names::port_name(name);
            if !msgs.is_empty() {
                for m in msgs {
                    errs.push(Cause::invalid(&p.child("name"), BadValue::str(name), &m));
                }
            } else if seen.contains(&name) {
                errs.push(Cause::duplicate(&p.child("name"), BadValue::str(name)));
            } else {
                seen.push(name);
            }
        }
        let cp = port.i("containerPort").unwrap_or(0);
        if cp == 0 {
            errs.push(Cause::required(&p.child("containerPort"), ""));
        } else {
            for m in names::port_num(cp) {
                errs.push(Cause::invalid(
                    &p.child("containerPort"),
                    BadValue::Int(cp),
                    &m,
                ));
            }
        }
        let hp = port.i("hostPort").unwrap_or(0);
        if hp != 0 {
            for m in names::port_num(hp) {
                errs.push(Cause::invalid(&p.child("hostPort"), BadValue::Int(hp), &m));
            }
        }
        let proto = port.s("protocol");
        if proto.is_empty() {
            errs.push(Cause::required(&p.child("protocol"), ""));
        } else if !PROTOCOLS.contains(&proto) {
            errs.push(Cause::not_supported(
                &p.child("protocol"),
                BadValue::str(proto),
                PROTOCOLS,
            ));
        }
    }
    errs
}

fn env(list: &[Value], path: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let p = path.index(i);
        let name = e.s("name");
        if name.is_empty() {
            errs.push(Cause::required(&p.child("name"), ""));
        } else {
            for m in names::env_var_name(name) {
                errs.push(Cause::invalid(&p.child("name"), BadValue::str(name), &m));
            }
        }
        let Some(from) = e.field("valueFrom") else {
            continue;
        };
        let vp = p.child("valueFrom");
        let mut sources = 0;
        for key in [
            "fieldRef",
            "resourceFieldRef",
            "configMapKeyRef",
            "secretKeyRef",
        ] {
            if let Some(src) = from.field(key) {
                sources += 1;
                errs.extend(env_source(key, src, &vp.child(key)));
            }
        }
        if sources == 0 {
            errs.push(Cause::invalid(&vp, BadValue::str(""), "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"));
        } else if !e.s("value").is_empty() {
            errs.push(Cause::invalid(
                &vp,
                BadValue::str(""),
                "may not be specified when `value` is not empty",
            ));
        } else if sources > 1 {
            errs.push(Cause::invalid(
                &vp,
                BadValue::str(""),
                "may not have more than one field specified at a time",
            ));
        }
    }
    errs
}

fn env_source(key: &str, src: &Value, p: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    match key {
        "fieldRef" => {
            if src.s("apiVersion").is_empty() {
                errs.push(Cause::required(&p.child("apiVersion"), ""));
            } else if src.s("fieldPath").is_empty() {
                errs.push(Cause::required(&p.child("fieldPath"), ""));
            }
        }
        "resourceFieldRef" => {
            if src.s("resource").is_empty() {
                errs.push(Cause::required(&p.child("resource"), ""));
            }
        }
        _ => {
            let name = src.s("name");
            for m in names::dns1123_subdomain(name) {
                errs.push(Cause::invalid(&p.child("name"), BadValue::str(name), &m));
            }
            let k = src.s("key");
            if k.is_empty() {
                errs.push(Cause::required(&p.child("key"), ""));
            } else {
                for m in names::config_map_key(k) {
                    errs.push(Cause::invalid(&p.child("key"), BadValue::str(k), &m));
                }
            }
        }
    }
    errs
}

fn env_from(list: &[Value], path: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let p = path.index(i);
        let prefix = e.s("prefix");
        if !prefix.is_empty() {
            for m in names::env_var_name(prefix) {
                errs.push(Cause::invalid(
                    &p.child("prefix"),
                    BadValue::str(prefix),
                    &m,
                ));
            }
        }
        let mut sources = 0;
        for key in ["configMapRef", "secretRef"] {
            if let Some(src) = e.field(key) {
                sources += 1;
                let name = src.s("name");
                if name.is_empty() {
                    errs.push(Cause::required(&p.child(key).child("name"), ""));
                } else {
                    for m in names::dns1123_subdomain(&names::mask_trailing_dash(name, true)) {
                        errs.push(Cause::invalid(
                            &p.child(key).child("name"),
                            BadValue::str(name),
                            &m,
                        ));
                    }
                }
            }
        }
        if sources == 0 {
            errs.push(Cause::invalid(
                path,
                BadValue::str(""),
                "must specify one of: `configMapRef` or `secretRef`",
            ));
        } else if sources > 1 {
            errs.push(Cause::invalid(
                path,
                BadValue::str(""),
                "may not have more than one field specified at a time",
            ));
        }
    }
    errs
}

fn volume_mounts(list: &[Value], volumes: &[&str], path: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    let mut mount_points: Vec<&str> = Vec::new();
    for (i, m) in list.iter().enumerate() {
        let p = path.index(i);
        let name = m.s("name");
        if name.is_empty() {
            errs.push(Cause::required(&p.child("name"), ""));
        }
        if !volumes.contains(&name) {
            errs.push(Cause::not_found(&p.child("name"), BadValue::str(name)));
        }
        let mp = m.s("mountPath");
        if mp.is_empty() {
            errs.push(Cause::required(&p.child("mountPath"), ""));
        }
        if mount_points.contains(&mp) {
            errs.push(Cause::invalid(
                &p.child("mountPath"),
                BadValue::str(mp),
                "must be unique",
            ));
        }
        mount_points.push(mp);
        let sub_path = m.s("subPath");
        if !sub_path.is_empty() {
            errs.extend(super::pod_spec::local_descending_path(
                sub_path,
                &path.child("subPath"),
            ));
        }
    }
    errs
}
