//! Go's formats, for programs that imitate Go originals (agnhost): the `log` package's
//! prefix, `time.Time` and `time.Duration` texts, duration parsing and `json.Marshal`'s
//! escaping.

use std::time::Duration;

/// `2006/01/02 15:04:05 ` in UTC: the standard logger's prefix.
pub(crate) fn log_prefix() -> String {
    let now = jiff::Timestamp::now();
    format!("{} ", now.strftime("%Y/%m/%d %H:%M:%S"))
}

/// `time.Now().String()` in UTC without the monotonic suffix:
/// `2006-01-02 15:04:05.999999999 +0000 UTC`.
pub(crate) fn now_string() -> String {
    let now = jiff::Timestamp::now();
    let nanos = now.subsec_nanosecond();
    let fraction = if nanos == 0 {
        String::new()
    } else {
        let digits = format!(".{:09}", nanos);
        digits.trim_end_matches('0').to_string()
    };
    format!(
        "{}{} +0000 UTC",
        now.strftime("%Y-%m-%d %H:%M:%S"),
        fraction
    )
}

/// Parses a Go duration (`300ms`, `1.5h`, `2m30s`, `0`).
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    if rest.is_empty() || negative {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += number * scale;
    }
    Some(Duration::from_secs_f64(total))
}

/// `time.Duration.String()`: `1.5s`, `2m3.25s`, `12.5ms`, `0s`.
pub(crate) fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    let fractional = |value: u128, unit: u128| {
        let whole = value / unit;
        let frac = value % unit;
        if frac == 0 {
            whole.to_string()
        } else {
            let width = unit.ilog10() as usize;
            let digits = format!("{frac:0width$}");
            format!("{whole}.{}", digits.trim_end_matches('0'))
        }
    };
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", fractional(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", fractional(nanos, 1_000_000));
    }
    let secs_nanos = nanos % 60_000_000_000;
    let minutes = nanos / 60_000_000_000;
    let mut out = String::new();
    if minutes >= 60 {
        out.push_str(&format!("{}h", minutes / 60));
    }
    if minutes > 0 {
        out.push_str(&format!("{}m", minutes % 60));
    }
    out.push_str(&format!("{}s", fractional(secs_nanos, 1_000_000_000)));
    out
}

/// Serialises like Go's `json.Marshal`: maps sorted by key (use `BTreeMap`) and `<`, `>`,
/// `&`, U+2028 and U+2029 escaped.
pub(crate) fn json_marshal<T: serde::Serialize>(value: &T) -> String {
    let text = serde_json::to_string(value).unwrap_or_else(|_| "null".to_string());
    text.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// Go's `http.DetectContentType` for the bodies built-in programs write without a type:
/// HTML by its leading tag, XML, PDF, plain text, else binary.
pub(crate) fn detect_content_type(body: &[u8]) -> &'static str {
    let data = &body[..body.len().min(512)];
    let start = data
        .iter()
        .position(|b| !matches!(b, b'\t' | b'\n' | 0x0c | b'\r' | b' '))
        .unwrap_or(data.len());
    let trimmed = &data[start..];
    const HTML: &[&str] = &[
        "<!DOCTYPE HTML",
        "<HTML",
        "<HEAD",
        "<SCRIPT",
        "<IFRAME",
        "<H1",
        "<DIV",
        "<FONT",
        "<TABLE",
        "<A",
        "<STYLE",
        "<TITLE",
        "<B",
        "<BODY",
        "<BR",
        "<P",
        "<!--",
    ];
    for sig in HTML {
        let n = sig.len();
        if trimmed.len() > n
            && trimmed[..n].eq_ignore_ascii_case(sig.as_bytes())
            && matches!(trimmed[n], b' ' | b'>')
        {
            return "text/html; charset=utf-8";
        }
    }
    if trimmed.starts_with(b"<?xml") {
        return "text/xml; charset=utf-8";
    }
    if data.starts_with(b"%PDF-") {
        return "application/pdf";
    }
    let binary = data
        .iter()
        .any(|b| matches!(b, 0x00..=0x08 | 0x0b | 0x0e..=0x1a | 0x1c..=0x1f));
    if binary {
        "application/octet-stream"
    } else {
        "text/plain; charset=utf-8"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("abc"), None);
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_secs(3723)), "1h2m3s");
        assert_eq!(format_duration(Duration::from_micros(12_500)), "12.5ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn json_like_go() {
        let mut m = BTreeMap::new();
        m.insert("output", "<a & b>\n");
        assert_eq!(json_marshal(&m), r#"{"output":"\u003ca \u0026 b\u003e\n"}"#);
    }

    #[test]
    fn content_types_like_go() {
        assert_eq!(
            detect_content_type(br#"<a href="/rewriteme">test</a>"#),
            "text/html; charset=utf-8"
        );
        assert_eq!(detect_content_type(b"foo"), "text/plain; charset=utf-8");
        assert_eq!(
            detect_content_type(br#"{"Method":"GET"}"#),
            "text/plain; charset=utf-8"
        );
        assert_eq!(detect_content_type(b"<abbr>"), "text/plain; charset=utf-8");
        assert_eq!(detect_content_type(b"\x00\x01"), "application/octet-stream");
    }

    #[test]
    fn time_texts() {
        let s = now_string();
        assert!(s.ends_with(" +0000 UTC"), "{s}");
        assert_eq!(&s[4..5], "-");
        let p = log_prefix();
        assert_eq!(p.len(), "2006/01/02 15:04:05 ".len(), "{p}");
    }
}
