//! Reading JSON objects leniently, and the cell formatters several printers share.
//!
//! Every accessor tolerates missing fields and wrong types: a missing string is `""`, a
//! missing list is empty, as Go's zero values would be after decoding.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

mod selector;

pub(crate) use selector::{format_label_selector, label_selector_string};

/// The string at JSON pointer `ptr`, or `""`.
pub(crate) fn str_at<'a>(obj: &'a Value, ptr: &str) -> &'a str {
    obj.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// The string at `ptr`, or `None` when it is absent or not a string.
pub(crate) fn opt_str<'a>(obj: &'a Value, ptr: &str) -> Option<&'a str> {
    obj.pointer(ptr).and_then(Value::as_str)
}

/// The integer at `ptr`, or `None`.
pub(crate) fn int_at(obj: &Value, ptr: &str) -> Option<i64> {
    obj.pointer(ptr).and_then(Value::as_i64)
}

/// The list at `ptr`, or an empty slice.
pub(crate) fn list_at<'a>(obj: &'a Value, ptr: &str) -> &'a [Value] {
    obj.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The map at `ptr`, if any.
pub(crate) fn map_at<'a>(obj: &'a Value, ptr: &str) -> Option<&'a Map<String, Value>> {
    obj.pointer(ptr).and_then(Value::as_object)
}

/// A length as the int64 cell Kubernetes prints.
pub(crate) fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `metadata.name`.
pub(crate) fn name(obj: &Value) -> &str {
    str_at(obj, "/metadata/name")
}

/// The timestamp at `ptr`, if present and valid RFC 3339. Go's zero time counts as absent.
pub(crate) fn timestamp(obj: &Value, ptr: &str) -> Option<jiff::Timestamp> {
    let ts: jiff::Timestamp = opt_str(obj, ptr)?.parse().ok()?;
    (ts != zero_time()).then_some(ts)
}

/// Go's zero `time.Time` (0001-01-01T00:00:00Z), which `metav1.Time.IsZero` treats as unset.
fn zero_time() -> jiff::Timestamp {
    // -62135596800 is 0001-01-01T00:00:00Z, well inside jiff's range.
    jiff::Timestamp::from_second(-62_135_596_800).unwrap_or(jiff::Timestamp::MIN)
}

/// How long ago the timestamp at `ptr` was, or `<unknown>` (printers.go `translateTimestampSince`).
pub(crate) fn since(obj: &Value, ptr: &str, now: jiff::Timestamp) -> String {
    match timestamp(obj, ptr) {
        Some(ts) => crate::duration::since(ts, now),
        None => "<unknown>".to_owned(),
    }
}

/// The AGE cell: how long ago the object was created.
pub(crate) fn age(obj: &Value, now: jiff::Timestamp) -> String {
    since(obj, "/metadata/creationTimestamp", now)
}

/// A label map as `k1=v1,k2=v2` (keys sorted), or `<none>` (`labels.FormatLabels`).
pub(crate) fn format_labels(labels: Option<&Map<String, Value>>) -> String {
    let joined = label_set_string(labels);
    if joined.is_empty() {
        "<none>".to_owned()
    } else {
        joined
    }
}

/// A label map as `k1=v1,k2=v2` with keys sorted; empty when there are none (`labels.Set.String`).
pub(crate) fn label_set_string(labels: Option<&Map<String, Value>>) -> String {
    let mut pairs: Vec<(&str, &str)> = labels
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("")))
        .collect();
    pairs.sort_unstable();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The CONTAINERS and IMAGES cells of a pod template: names and images, comma-joined.
pub(crate) fn container_cells(pod_spec: Option<&Value>) -> (String, String) {
    let containers = pod_spec.map_or(&[][..], |s| list_at(s, "/containers"));
    let names: Vec<&str> = containers.iter().map(|c| str_at(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| str_at(c, "/image")).collect();
    (names.join(","), images.join(","))
}

/// Width to which load-balancer addresses are clipped in non-wide output.
const LOAD_BALANCER_WIDTH: usize = 16;

/// Load-balancer ingress points (IP, else hostname), deduplicated, sorted and comma-joined.
///
/// Without `wide`, the text is clipped to 16 bytes (13 and `...`). The apiserver renders
/// tables wide, so server-side cells are never clipped.
pub(crate) fn load_balancer_addresses(ingress: &[Value], wide: bool) -> String {
    let points: BTreeSet<&str> = ingress
        .iter()
        .filter_map(|point| {
            let ip = str_at(point, "/ip");
            let host = str_at(point, "/hostname");
            if !ip.is_empty() {
                Some(ip)
            } else if !host.is_empty() {
                Some(host)
            } else {
                None
            }
        })
        .collect();
    let joined = points.into_iter().collect::<Vec<_>>().join(",");
    if wide || joined.len() <= LOAD_BALANCER_WIDTH {
        return joined;
    }
    let mut cut = LOAD_BALANCER_WIDTH - 3;
    while !joined.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...", &joined[..cut])
}

/// Up to `max` items joined by `,`, then ` + N more...`; `<unset>` when there are none
/// (printers.go `listWithMoreString`). `total` counts every item, shown or not.
pub(crate) fn list_with_more(shown: &[String], total: usize, max: usize) -> String {
    let joined = shown.join(",");
    if total > max {
        return format!("{joined} + {} more...", total - max);
    }
    if joined.is_empty() {
        "<unset>".to_owned()
    } else {
        joined
    }
}

/// `ready/total` style pair.
pub(crate) fn ratio(a: i64, b: i64) -> String {
    format!("{a}/{b}")
}

#[cfg(test)]
mod tests;
