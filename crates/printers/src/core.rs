//! Rows of the simpler core resources: namespaces, secrets, config maps, service accounts,
//! events, and (from coordination.k8s.io) leases.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::fields::{age, count, int_at, map_at, name, opt_str, since, str_at};

/// NAME, STATUS (the phase, `Active` by API default), AGE.
pub(crate) fn namespace(obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let phase = opt_str(obj, "/status/phase")
        .filter(|p| !p.is_empty())
        .unwrap_or("Active");
    vec![name(obj).into(), phase.into(), age(obj, now).into()]
}

/// NAME, TYPE (`Opaque` by API default), DATA (number of keys), AGE.
///
/// `stringData` keys count too: decoding a v1 Secret merges them into `data`.
pub(crate) fn secret(obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let ty = opt_str(obj, "/type")
        .filter(|t| !t.is_empty())
        .unwrap_or("Opaque");
    let keys: BTreeSet<&str> = ["/data", "/stringData"]
        .into_iter()
        .filter_map(|ptr| map_at(obj, ptr))
        .flat_map(|m| m.keys().map(String::as_str))
        .collect();
    vec![
        name(obj).into(),
        ty.into(),
        count(keys.len()).into(),
        age(obj, now).into(),
    ]
}

/// NAME, DATA (keys of `data` plus `binaryData`), AGE.
pub(crate) fn config_map(obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let keys = ["/data", "/binaryData"]
        .into_iter()
        .filter_map(|ptr| map_at(obj, ptr))
        .map(|m| count(m.len()))
        .sum::<i64>();
    vec![name(obj).into(), keys.into(), age(obj, now).into()]
}

/// NAME, SECRETS (how many are listed), AGE.
pub(crate) fn service_account(obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let secrets = count(crate::fields::list_at(obj, "/secrets").len());
    vec![name(obj).into(), secrets.into(), age(obj, now).into()]
}

/// NAME, HOLDER (`spec.holderIdentity`), AGE.
pub(crate) fn lease(obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
    vec![
        name(obj).into(),
        str_at(obj, "/spec/holderIdentity").into(),
        age(obj, now).into(),
    ]
}

/// LAST SEEN, TYPE, REASON, OBJECT, SUBOBJECT, SOURCE, MESSAGE, FIRST SEEN, COUNT, NAME.
///
/// Events from the events.k8s.io API carry `eventTime` and `series` instead of the
/// first/last timestamps and count; both shapes print alike.
pub(crate) fn event(obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let first_seen = match crate::fields::timestamp(obj, "/firstTimestamp") {
        Some(_) => since(obj, "/firstTimestamp", now),
        None => since(obj, "/eventTime", now),
    };
    let mut last_seen = match crate::fields::timestamp(obj, "/lastTimestamp") {
        Some(_) => since(obj, "/lastTimestamp", now),
        None => first_seen.clone(),
    };
    let mut times = int_at(obj, "/count").unwrap_or(0);
    match obj.get("series").filter(|s| s.is_object()) {
        Some(series) => {
            last_seen = since(series, "/lastObservedTime", now);
            times = int_at(series, "/count").unwrap_or(0);
        }
        // Singleton events of the new API have no count.
        None if times == 0 => times = 1,
        None => {}
    }
    let kind = str_at(obj, "/involvedObject/kind").to_lowercase();
    let involved = str_at(obj, "/involvedObject/name");
    let target = if involved.is_empty() {
        kind
    } else {
        format!("{kind}/{involved}")
    };
    vec![
        last_seen.into(),
        str_at(obj, "/type").into(),
        str_at(obj, "/reason").into(),
        target.into(),
        str_at(obj, "/involvedObject/fieldPath").into(),
        event_source(obj).into(),
        str_at(obj, "/message").trim().into(),
        first_seen.into(),
        times.into(),
        name(obj).into(),
    ]
}

/// `component, host`, falling back to the reporting controller and instance.
fn event_source(obj: &Value) -> String {
    let first_non_empty =
        |a: &str, b: &str| -> String { if a.is_empty() { b } else { a }.to_owned() };
    let component = first_non_empty(
        str_at(obj, "/source/component"),
        str_at(obj, "/reportingComponent"),
    );
    let host = first_non_empty(
        str_at(obj, "/source/host"),
        str_at(obj, "/reportingInstance"),
    );
    if host.is_empty() {
        component
    } else {
        format!("{component}, {host}")
    }
}

#[cfg(test)]
mod tests;
