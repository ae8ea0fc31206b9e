//! Label selectors as text (`metav1.LabelSelectorAsSelector(...).String()`).

use serde_json::Value;

use super::{list_at, map_at, str_at};

/// One requirement of a selector, ready to print.
struct Requirement<'a> {
    key: &'a str,
    text: String,
}

/// A `LabelSelector` object (`matchLabels`, `matchExpressions`) as selector text, e.g.
/// `app=web,tier in (a,b),!legacy`. Requirements are sorted by key; `In`/`NotIn` values are
/// sorted. A missing or empty selector gives `""`. `None` when the selector is invalid
/// (an unknown operator, or values that do not fit the operator).
pub(crate) fn label_selector_string(selector: Option<&Value>) -> Option<String> {
    let Some(selector) = selector.filter(|s| !s.is_null()) else {
        return Some(String::new());
    };
    let mut reqs: Vec<Requirement<'_>> = Vec::new();
    for (key, value) in map_at(selector, "/matchLabels").into_iter().flatten() {
        let value = value.as_str().unwrap_or("");
        reqs.push(Requirement {
            key,
            text: format!("{key}={value}"),
        });
    }
    for expr in list_at(selector, "/matchExpressions") {
        let key = str_at(expr, "/key");
        let mut values: Vec<&str> = list_at(expr, "/values")
            .iter()
            .map(|v| v.as_str().unwrap_or(""))
            .collect();
        values.sort_unstable();
        let text = match str_at(expr, "/operator") {
            "In" if !values.is_empty() => format!("{key} in ({})", values.join(",")),
            "NotIn" if !values.is_empty() => format!("{key} notin ({})", values.join(",")),
            "Exists" if values.is_empty() => key.to_owned(),
            "DoesNotExist" if values.is_empty() => format!("!{key}"),
            _ => return None,
        };
        reqs.push(Requirement { key, text });
    }
    // Stable, like Go's insertion sort over the few requirements a selector has.
    reqs.sort_by(|a, b| a.key.cmp(b.key));
    Some(
        reqs.into_iter()
            .map(|r| r.text)
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// A selector as text, `<none>` when it selects by nothing, `<error>` when invalid
/// (`metav1.FormatLabelSelector`).
pub(crate) fn format_label_selector(selector: Option<&Value>) -> String {
    match label_selector_string(selector) {
        None => "<error>".to_owned(),
        Some(s) if s.is_empty() => "<none>".to_owned(),
        Some(s) => s,
    }
}
