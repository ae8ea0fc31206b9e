//! The `Date` field value, formatted once a second per thread.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

thread_local! {
    static CACHED: RefCell<(u64, [u8; 29])> = const { RefCell::new((u64::MAX, [0; 29])) };
}

/// Appends `date: <now in IMF-fixdate>\r\n`.
pub fn write(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    CACHED.with_borrow_mut(|(at, text)| {
        if *at != secs {
            let formatted = httpdate::fmt_http_date(now);
            if formatted.len() == text.len() {
                text.copy_from_slice(formatted.as_bytes());
                *at = secs;
            }
        }
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(text);
        out.extend_from_slice(b"\r\n");
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn is_an_http_date() {
        let mut out = Vec::new();
        super::write(&mut out);
        let text = std::str::from_utf8(&out).unwrap();
        let value = text.strip_prefix("date: ").unwrap().trim_end();
        assert!(value.ends_with(" GMT"), "{value}");
        assert!(httpdate::parse_http_date(value).is_ok(), "{value}");
    }
}
