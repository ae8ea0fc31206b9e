//! Cookie session affinity (`affinity: cookie`): the cookie names an endpoint by a hash of its
//! address, so it survives controller restarts and endpoint reordering; a cookie naming an
//! endpoint that is gone is replaced.

use std::net::{IpAddr, SocketAddr};

use http::header::{HeaderMap, HeaderValue, COOKIE};

use crate::annotations::CookieAffinity;

/// The cookie value that names `endpoint`: 16 hex digits of an FNV-1a hash of its address.
pub fn value_of(endpoint: SocketAddr) -> [u8; 16] {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    match endpoint.ip() {
        IpAddr::V4(ip) => eat(&ip.octets()),
        IpAddr::V6(ip) => eat(&ip.octets()),
    }
    eat(&endpoint.port().to_be_bytes());
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = [0u8; 16];
    for (i, byte) in text.iter_mut().enumerate() {
        *byte = HEX[((hash >> (4 * (15 - i))) & 0xf) as usize];
    }
    text
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn requested<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let mut values = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok());
    requested_in(&mut values, name)
}

/// The value of cookie `name` in `Cookie` header values.
pub fn requested_in<'a>(values: &mut impl Iterator<Item = &'a str>, name: &str) -> Option<&'a str> {
    values
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// The index of the endpoint `value` names, if it is still among `endpoints`.
pub fn pinned(endpoints: &[SocketAddr], value: &str) -> Option<usize> {
    endpoints
        .iter()
        .position(|e| value.as_bytes() == value_of(*e))
}

/// The `Set-Cookie` header that pins a client to `endpoint`.
pub fn set_cookie(
    affinity: &CookieAffinity,
    rule_path: &str,
    endpoint: SocketAddr,
) -> Option<HeaderValue> {
    let value = value_of(endpoint);
    let path = match affinity.path.as_deref() {
        Some(path) if !path.is_empty() => path,
        _ if rule_path.starts_with('/') && !rule_path.contains(['(', '[', '*', '$', '^']) => {
            rule_path
        }
        _ => "/",
    };
    let mut cookie = String::with_capacity(96);
    cookie.push_str(&affinity.name);
    cookie.push('=');
    cookie.push_str(std::str::from_utf8(&value).ok()?);
    cookie.push_str("; Path=");
    cookie.push_str(path);
    if let Some(max_age) = affinity.max_age {
        cookie.push_str("; Max-Age=");
        cookie.push_str(&max_age.to_string());
    }
    if let Some(samesite) = affinity.samesite.as_deref() {
        cookie.push_str("; SameSite=");
        cookie.push_str(samesite);
        if samesite.eq_ignore_ascii_case("none") {
            cookie.push_str("; Secure");
        }
    }
    cookie.push_str("; HttpOnly");
    HeaderValue::try_from(cookie).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn affinity() -> CookieAffinity {
        CookieAffinity {
            name: "INGRESSCOOKIE".into(),
            path: None,
            max_age: None,
            samesite: None,
            persistent: false,
        }
    }

    #[test]
    fn cookie_names_one_endpoint() {
        let a: SocketAddr = "10.0.0.1:8080".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:8080".parse().unwrap();
        let va = value_of(a);
        assert_ne!(va, value_of(b));
        let va = std::str::from_utf8(&va).unwrap();
        assert_eq!(pinned(&[b, a], va), Some(1));
        assert_eq!(pinned(&[b], va), None);
    }

    #[test]
    fn cookie_is_read_among_others() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("a=1; INGRESSCOOKIE=abc"));
        h.append(COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(requested(&h, "INGRESSCOOKIE"), Some("abc"));
        assert_eq!(requested(&h, "b"), Some("2"));
        assert_eq!(requested(&h, "c"), None);
    }

    #[test]
    fn set_cookie_has_path_and_attributes() {
        let e: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let v = set_cookie(&affinity(), "/kubia", e).unwrap();
        let value = String::from_utf8(value_of(e).to_vec()).unwrap();
        assert_eq!(
            v,
            format!("INGRESSCOOKIE={value}; Path=/kubia; HttpOnly").as_str()
        );
        let mut a = affinity();
        a.path = Some("/x".into());
        a.max_age = Some(172800);
        a.samesite = Some("None".into());
        let v = set_cookie(&a, "/kubia(/|$)(.*)", e).unwrap();
        assert_eq!(
            v,
            format!(
                "INGRESSCOOKIE={value}; Path=/x; Max-Age=172800; SameSite=None; Secure; HttpOnly"
            )
            .as_str()
        );
        let v = set_cookie(&affinity(), "/a(.*)", e).unwrap();
        assert!(v.to_str().unwrap().contains("Path=/;"));
    }
}
