//! Probes, lifecycle hooks and their handlers.

use serde_json::Value;

use super::super::access::Access;
use super::super::field::{BadValue, Path};
use super::super::names;
use super::super::service::port_num_or_name;
use super::super::Cause;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

pub(super) fn probe(probe: Option<&Value>, kind: ProbeKind, p: &Path) -> Vec<Cause> {
    let Some(pr) = probe else {
        return Vec::new();
    };
    let mut errs = handler(pr, &["exec", "httpGet", "tcpSocket", "grpc"], p);
    for f in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        if let Some(v) = pr.i(f).filter(|v| *v < 0) {
            errs.push(Cause::invalid(
                &p.child(f),
                BadValue::Int(v),
                "must be greater than or equal to 0",
            ));
        }
    }
    if let Some(t) = pr.i("terminationGracePeriodSeconds").filter(|t| *t <= 0) {
        errs.push(Cause::invalid(
            &p.child("terminationGracePeriodSeconds"),
            BadValue::Int(t),
            "must be greater than 0",
        ));
    }
    let success = pr.i("successThreshold").unwrap_or(0);
    match kind {
        ProbeKind::Liveness | ProbeKind::Startup if success != 1 => {
            errs.push(Cause::invalid(
                &p.child("successThreshold"),
                BadValue::Int(success),
                "must be 1",
            ));
        }
        ProbeKind::Readiness => {
            if let Some(t) = pr.i("terminationGracePeriodSeconds") {
                errs.push(Cause::invalid(
                    &p.child("terminationGracePeriodSeconds"),
                    BadValue::Int(t),
                    "must not be set for readinessProbes",
                ));
            }
        }
        _ => {}
    }
    errs
}

pub(super) fn lifecycle(lc: &Value, grace: Option<i64>, p: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    for hook in ["postStart", "preStop"] {
        if let Some(h) = lc.field(hook) {
            let hp = p.child(hook);
            errs.extend(handler(h, &["exec", "httpGet", "tcpSocket", "sleep"], &hp));
            if let (Some(sleep), Some(g)) = (h.field("sleep"), grace) {
                let secs = sleep.i("seconds").unwrap_or(0);
                if secs <= 0 || secs > g {
                    errs.push(Cause::invalid(
                        &hp.child("sleep"),
                        BadValue::Int(secs),
                        &format!("must be greater than 0 and less than terminationGracePeriodSeconds ({g}). Enable AllowPodLifecycleSleepActionZeroValue feature gate for zero sleep."),
                    ));
                }
            }
        }
    }
    errs
}

fn handler(h: &Value, kinds: &[&str], p: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    let mut count = 0;
    for kind in kinds {
        let Some(action) = h.field(kind) else {
            continue;
        };
        let ap = p.child(kind);
        if count > 0 {
            errs.push(Cause::forbidden(
                &ap,
                "may not specify more than 1 handler type",
            ));
            continue;
        }
        count += 1;
        match *kind {
            "exec" if action.arr("command").is_empty() => {
                errs.push(Cause::required(&ap.child("command"), ""));
            }
            "httpGet" => {
                if action.s("path").is_empty() {
                    errs.push(Cause::required(&ap.child("path"), ""));
                }
                errs.extend(port_num_or_name(action.field("port"), &ap.child("port")));
                let scheme = action.s("scheme");
                if scheme != "HTTP" && scheme != "HTTPS" {
                    errs.push(Cause::not_supported(
                        &ap.child("scheme"),
                        BadValue::str(scheme),
                        &["HTTP", "HTTPS"],
                    ));
                }
                for header in action.arr("httpHeaders") {
                    for m in names::http_header_name(header.s("name")) {
                        errs.push(Cause::invalid(
                            &ap.child("httpHeaders"),
                            BadValue::str(header.s("name")),
                            &m,
                        ));
                    }
                }
            }
            "tcpSocket" => errs.extend(port_num_or_name(action.field("port"), &ap.child("port"))),
            "grpc" => {
                let port = action.i("port").unwrap_or(0);
                for m in names::port_num(port) {
                    errs.push(Cause::invalid(&ap.child("port"), BadValue::Int(port), &m));
                }
            }
            _ => {}
        }
    }
    if count == 0 {
        errs.push(Cause::required(p, "must specify a handler type"));
    }
    errs
}
