//! Query strings: `application/x-www-form-urlencoded` decoding.

/// Decodes `%XX` escapes; with `plus_is_space`, `+` becomes a space (form encoding).
pub(crate) fn percent_decode(input: &str, plus_is_space: bool) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The first value of `key` in a urlencoded string, decoded.
pub(crate) fn form_value(query: &str, key: &str) -> Option<String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (percent_decode(k, true), v),
            None => (percent_decode(pair, true), ""),
        })
        .find(|(k, _)| k == key)
        .map(|(_, v)| percent_decode(v, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_values() {
        let q = "msg=hello+world%21&code=&cmd=echo%20a%3Db&broken=%zz%4";
        assert_eq!(form_value(q, "msg").as_deref(), Some("hello world!"));
        assert_eq!(form_value(q, "code").as_deref(), Some(""));
        assert_eq!(form_value(q, "cmd").as_deref(), Some("echo a=b"));
        assert_eq!(form_value(q, "broken").as_deref(), Some("%zz%4"));
        assert_eq!(form_value(q, "absent"), None);
        assert_eq!(percent_decode("/a+b%2Fc", false), "/a+b/c");
    }
}
