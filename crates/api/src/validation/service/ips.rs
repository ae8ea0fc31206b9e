//! The ClusterIPs, IP families and update rules of Services
//! (`ValidateServiceClusterIPsRelatedFields`, `validateUpgradeDowngrade*`).

use serde_json::Value;

use super::super::access::Access;
use super::super::field::{go_string_slice, BadValue, Path};
use super::super::names;
use super::super::Cause;
use super::{cluster_ips_repr, is_headless, spec_path};

pub(super) fn cluster_ips_related(spec: &Value, sp: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    if spec.s("type") == "ExternalName" {
        return errs;
    }
    let ips_path = sp.child("clusterIPs");
    let ips: Vec<&str> = spec
        .arr("clusterIPs")
        .iter()
        .map(|v| v.as_str().unwrap_or_default())
        .collect();
    let cluster_ip = spec.s("clusterIP");
    if !cluster_ip.is_empty() {
        if ips.is_empty() {
            errs.push(Cause::required(&ips_path, ""));
        } else if ips[0] != cluster_ip {
            errs.push(Cause::invalid(
                &ips_path,
                cluster_ips_repr(spec),
                "first value must match `clusterIP`",
            ));
        }
    } else if !ips.is_empty() {
        errs.push(Cause::invalid(
            &ips_path,
            cluster_ips_repr(spec),
            "must be empty when `clusterIP` is not specified",
        ));
    }
    let families: Vec<&str> = spec
        .arr("ipFamilies")
        .iter()
        .map(|v| v.as_str().unwrap_or_default())
        .collect();
    for (i, f) in families.iter().enumerate() {
        let p = sp.child("ipFamilies").index(i);
        if !["IPv4", "IPv6"].contains(f) {
            errs.push(Cause::not_supported(
                &p,
                BadValue::str(*f),
                &["IPv4", "IPv6"],
            ));
        }
        if families[..i].contains(f) {
            errs.push(Cause::duplicate(&p, BadValue::str(*f)));
        }
    }
    if let Some(policy) = spec.opt_s("ipFamilyPolicy") {
        let supported = ["PreferDualStack", "RequireDualStack", "SingleStack"];
        if !supported.contains(&policy) {
            errs.push(Cause::not_supported(
                &sp.child("ipFamilyPolicy"),
                BadValue::str(policy),
                &supported,
            ));
        }
    }
    let mut invalid_ips = false;
    for (i, ip) in ips.iter().enumerate() {
        if i == 0 && *ip == "None" {
            if ips.len() > 1 {
                invalid_ips = true;
                errs.push(Cause::invalid(
                    &ips_path,
                    cluster_ips_repr(spec),
                    "'None' must be the first and only value",
                ));
            }
            continue;
        }
        if names::parse_ip(ip).is_none() {
            invalid_ips = true;
            errs.push(Cause::invalid(
                &ips_path.index(i),
                BadValue::str(*ip),
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            ));
        }
    }
    if ips.len() > 2 {
        errs.push(Cause::invalid(
            &ips_path,
            cluster_ips_repr(spec),
            "may only hold up to 2 values",
        ));
    }
    if invalid_ips {
        return errs;
    }
    if ips.len() > 1 {
        let v6: Vec<bool> = ips.iter().map(|ip| names::is_ipv6(ip)).collect();
        let dual = ips.len() == 2 && v6[0] != v6[1];
        if !dual {
            errs.push(Cause::invalid(
                &ips_path,
                cluster_ips_repr(spec),
                "may specify no more than one IP for each IP family",
            ));
        }
    }
    if !is_headless(spec) && !ips.is_empty() && !families.is_empty() {
        for (i, ip) in ips.iter().enumerate().take(families.len()) {
            let v6 = names::is_ipv6(ip);
            if families[i] == "IPv4" && v6 {
                errs.push(Cause::invalid(
                    &ips_path.index(i),
                    BadValue::str(*ip),
                    &format!("expected an IPv4 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
            if families[i] == "IPv6" && !v6 {
                errs.push(Cause::invalid(
                    &ips_path.index(i),
                    BadValue::str(*ip),
                    &format!("expected an IPv6 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
        }
    }
    errs
}

pub(super) fn update_rules(spec: &Value, old: &Value) -> Vec<Cause> {
    let mut errs = Vec::new();
    let ext = spec.s("type") == "ExternalName" || old.s("type") == "ExternalName";
    let sp = spec_path();
    if !(ext || is_headless(spec) && is_headless(old)) {
        let new_ips = spec.arr("clusterIPs");
        let old_ips = old.arr("clusterIPs");
        let changed = || {
            Cause::invalid(
                &sp.child("clusterIPs").index(0),
                cluster_ips_repr(spec),
                "may not change once set",
            )
        };
        if new_ips.len() == old_ips.len() {
            for (i, ip) in old_ips.iter().enumerate() {
                if new_ips[i] != *ip {
                    errs.push(Cause::invalid(
                        &sp.child("clusterIPs").index(i),
                        cluster_ips_repr(spec),
                        "may not change once set",
                    ));
                }
            }
        } else if old_ips.len() > new_ips.len() {
            if new_ips.is_empty() {
                errs.push(Cause::invalid(
                    &sp.child("clusterIPs").index(0),
                    cluster_ips_repr(spec),
                    "primary clusterIP can not be unset",
                ));
            } else if new_ips[0] != old_ips[0] {
                errs.push(changed());
            }
            if new_ips.len() == 1 && spec.opt_s("ipFamilyPolicy") != Some("SingleStack") {
                let shown = spec
                    .opt_s("ipFamilyPolicy")
                    .map(BadValue::str)
                    .unwrap_or(BadValue::Null);
                errs.push(Cause::invalid(
                    &sp.child("ipFamilyPolicy"),
                    shown,
                    "must be set to 'SingleStack' when releasing the secondary clusterIP",
                ));
            }
        } else if !old_ips.is_empty() && new_ips[0] != old_ips[0] {
            errs.push(changed());
        }
    }
    if !ext && is_headless(spec) == is_headless(old) && !is_headless(spec) {
        let nf = spec.arr("ipFamilies");
        let of = old.arr("ipFamilies");
        let fp = sp.child("ipFamilies").index(0);
        let families = BadValue::Raw(
            go_string_slice(spec.get("ipFamilies").and_then(Value::as_array))
                .replace("[]string", "[]core.IPFamily"),
        );
        if nf.len() == of.len() {
            for (i, f) in of.iter().enumerate() {
                if nf[i] != *f {
                    errs.push(Cause::invalid(
                        &fp,
                        families.clone(),
                        "may not change once set",
                    ));
                }
            }
        } else if !nf.is_empty() && !of.is_empty() && nf[0] != of[0] {
            errs.push(Cause::invalid(
                &fp,
                cluster_ips_repr(spec),
                "may not change once set",
            ));
        }
    }
    if spec.s("type") == "LoadBalancer"
        && old.s("type") == "LoadBalancer"
        && spec.opt_s("loadBalancerClass") != old.opt_s("loadBalancerClass")
    {
        let shown = spec
            .opt_s("loadBalancerClass")
            .map(BadValue::str)
            .unwrap_or(BadValue::Null);
        errs.push(Cause::invalid(
            &sp.child("loadBalancerClass"),
            shown,
            "may not change once set",
        ));
    }
    let needs_hc =
        |s: &Value| s.s("type") == "LoadBalancer" && s.s("externalTrafficPolicy") == "Local";
    if needs_hc(spec)
        && needs_hc(old)
        && spec.i("healthCheckNodePort") != old.i("healthCheckNodePort")
    {
        errs.push(Cause::forbidden(
            &sp.child("healthCheckNodePort"),
            "field is immutable",
        ));
    }
    errs
}
