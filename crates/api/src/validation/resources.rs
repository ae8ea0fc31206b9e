//! Container resource requirements: resource names, quantities, requests against limits.

use serde_json::Value;

use super::access::Access;
use super::field::{BadValue, Path};
use super::names;
use super::Cause;

/// Parses a Kubernetes quantity (`500m`, `1Gi`, `1e3`) into its numeric value.
pub fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    if num.is_empty() || num == "+" || num == "-" {
        return None;
    }
    let n: f64 = num.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        s if s.starts_with('e') || s.starts_with('E') => 10f64.powi(s[1..].parse::<i32>().ok()?),
        _ => return None,
    };
    Some(n * mult)
}

fn quantity_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn is_native(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

fn is_hugepages(name: &str) -> bool {
    name.starts_with("hugepages-")
}

fn overcommit_allowed(name: &str) -> bool {
    is_native(name) && !is_hugepages(name)
}

fn resource_name(name: &str, p: &Path) -> Vec<Cause> {
    let mut errs: Vec<Cause> = names::qualified_name(name)
        .into_iter()
        .map(|m| Cause::invalid(p, BadValue::str(name), &m))
        .collect();
    if !name.contains('/') {
        let standard = ["cpu", "memory", "ephemeral-storage"].contains(&name) || is_hugepages(name);
        if !standard {
            errs.push(Cause::invalid(
                p,
                BadValue::str(name),
                "must be a standard resource for containers",
            ));
        }
    } else if !is_native(name) && !names::qualified_name(&format!("requests.{name}")).is_empty() {
        errs.push(Cause::invalid(
            p,
            BadValue::str(name),
            "doesn't follow extended resource name standard",
        ));
    }
    errs
}

fn quantity_value(name: &str, q: &Value, p: &Path) -> Vec<Cause> {
    let text = quantity_text(q);
    let Some(n) = parse_quantity(&text) else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    if n < 0.0 {
        errs.push(Cause::invalid(
            p,
            BadValue::str(text.clone()),
            "must be greater than or equal to 0",
        ));
    }
    if !is_native(name) && (n * 1000.0).round() % 1000.0 != 0.0 {
        errs.push(Cause::invalid(p, BadValue::Raw(text), "must be an integer"));
    }
    errs
}

/// `ValidateContainerResourceRequirements`.
pub fn requirements(res: &Value, path: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    let lim_path = path.child("limits");
    let req_path = path.child("requests");
    let limits = res.obj("limits");
    let mut lim_cpu_mem = false;
    let mut req_cpu_mem = false;
    let mut huge = false;
    if let Some(limits) = limits {
        for (name, q) in limits {
            let p = lim_path.key(name);
            errs.extend(resource_name(name, &p));
            errs.extend(quantity_value(name, q, &p));
            huge |= is_hugepages(name);
            lim_cpu_mem |= name == "cpu" || name == "memory";
        }
    }
    if let Some(requests) = res.obj("requests") {
        for (name, q) in requests {
            let p = req_path.key(name);
            errs.extend(resource_name(name, &p));
            errs.extend(quantity_value(name, q, &p));
            let text = quantity_text(q);
            match limits.and_then(|l| l.get(name)) {
                Some(limit) => {
                    let limit_text = quantity_text(limit);
                    if let (Some(r), Some(l)) = (parse_quantity(&text), parse_quantity(&limit_text))
                    {
                        if r != l && !overcommit_allowed(name) {
                            errs.push(Cause::invalid(
                                &req_path,
                                BadValue::str(text.clone()),
                                &format!("must be equal to {name} limit of {limit_text}"),
                            ));
                        } else if r > l {
                            errs.push(Cause::invalid(
                                &req_path,
                                BadValue::str(text.clone()),
                                &format!(
                                    "must be less than or equal to {name} limit of {limit_text}"
                                ),
                            ));
                        }
                    }
                }
                None if !overcommit_allowed(name) => {
                    errs.push(Cause::required(
                        &lim_path,
                        "Limit must be set for non overcommitable resources",
                    ));
                }
                None => {}
            }
            huge |= is_hugepages(name);
            req_cpu_mem |= name == "cpu" || name == "memory";
        }
    }
    if !lim_cpu_mem && !req_cpu_mem && huge {
        errs.push(Cause::forbidden(path, "HugePages require cpu or memory"));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities_parse() {
        assert_eq!(parse_quantity("500m"), Some(0.5));
        assert_eq!(parse_quantity("1Gi"), Some(1073741824.0));
        assert_eq!(parse_quantity("1e3"), Some(1000.0));
        assert_eq!(parse_quantity("abc"), None);
    }

    #[test]
    fn request_above_limit() {
        let res = json!({"limits": {"cpu": "500m"}, "requests": {"cpu": "1"}});
        let errs = requirements(&res, &Path::new("resources"));
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "resources.requests");
        assert_eq!(
            errs[0].message,
            "Invalid value: \"1\": must be less than or equal to cpu limit of 500m"
        );
    }

    #[test]
    fn unknown_resource_name() {
        let res = json!({"limits": {"gpu": "1"}});
        let errs = requirements(&res, &Path::new("r"));
        assert_eq!(
            errs[0].message,
            "Invalid value: \"gpu\": must be a standard resource for containers"
        );
    }
}
