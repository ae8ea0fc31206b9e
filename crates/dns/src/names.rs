//! Name helpers shared by the zone and the server: dashed IP labels
//! (`10-244-1-5`, `fd00--1`) and reverse names (`5.1.244.10.in-addr.arpa.`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::Name;

/// The label Kubernetes DNS uses for an address without a hostname: the
/// textual address with `.` (IPv4) or `:` (IPv6) replaced by `-`.
pub fn dashed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
        IpAddr::V6(v6) => v6.to_string().replace(':', "-"),
    }
}

/// True when `label` is [`dashed`]`(ip)`, compared without allocating.
pub fn is_dashed(ip: IpAddr, label: &str) -> bool {
    use std::fmt::Write;
    /// Compares what is written against the rest of a label.
    struct Compare<'a> {
        rest: &'a [u8],
        separator: u8,
    }
    impl Write for Compare<'_> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            for b in s.bytes() {
                let b = if b == self.separator { b'-' } else { b };
                match self.rest.split_first() {
                    Some((&first, rest)) if first == b => self.rest = rest,
                    _ => return Err(std::fmt::Error),
                }
            }
            Ok(())
        }
    }
    let separator = if ip.is_ipv4() { b'.' } else { b':' };
    let mut compare = Compare {
        rest: label.as_bytes(),
        separator,
    };
    write!(compare, "{ip}").is_ok() && compare.rest.is_empty()
}

/// Parses a dashed label back into an address, as CoreDNS does for pod
/// names: exactly three dashes and no `--` is IPv4, anything else is read as
/// IPv6 with dashes for colons. `None` when it is not an address.
pub fn parse_dashed(label: &str) -> Option<IpAddr> {
    if label.matches('-').count() == 3 && !label.contains("--") {
        label
            .replace('-', ".")
            .parse::<Ipv4Addr>()
            .ok()
            .map(IpAddr::V4)
    } else {
        label
            .replace('-', ":")
            .parse::<Ipv6Addr>()
            .ok()
            .map(IpAddr::V6)
    }
}

/// Lower-cased labels of `name`, leaf first as written (`a.b.c.` → `["a","b","c"]`).
pub fn labels(name: &Name) -> Vec<String> {
    name.iter()
        .map(|label| String::from_utf8_lossy(label).to_ascii_lowercase())
        .collect()
}

/// The address a full reverse name stands for: four labels under
/// `in-addr.arpa.` or 32 nibbles under `ip6.arpa.`; `None` for partial or
/// malformed reverse names and for every other name.
pub fn parse_reverse(name: &Name) -> Option<IpAddr> {
    let labels = labels(name);
    let n = labels.len();
    if n == 6 && labels[4] == "in-addr" && labels[5] == "arpa" {
        let mut octets = [0u8; 4];
        for (i, label) in labels[..4].iter().enumerate() {
            if label.is_empty() || label.len() > 3 || !label.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // "01" is not how any address is written in a reverse name.
            if label.len() > 1 && label.starts_with('0') {
                return None;
            }
            octets[3 - i] = label.parse().ok()?;
        }
        return Some(IpAddr::V4(Ipv4Addr::from(octets)));
    }
    if n == 34 && labels[32] == "ip6" && labels[33] == "arpa" {
        let mut value: u128 = 0;
        for label in labels[..32].iter().rev() {
            if label.len() != 1 {
                return None;
            }
            let digit = u128::from(label.chars().next()?.to_digit(16)?);
            value = (value << 4) | digit;
        }
        return Some(IpAddr::V6(Ipv6Addr::from(value)));
    }
    None
}

/// True when `name` is at or under `in-addr.arpa.` or `ip6.arpa.`.
pub fn is_reverse(name: &Name) -> bool {
    let labels = labels(name);
    let n = labels.len();
    n >= 2 && labels[n - 1] == "arpa" && (labels[n - 2] == "in-addr" || labels[n - 2] == "ip6")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashed_round_trips() {
        let v4: IpAddr = "10.244.1.5".parse().unwrap();
        assert_eq!(dashed(v4), "10-244-1-5");
        assert_eq!(parse_dashed("10-244-1-5"), Some(v4));
        let v6: IpAddr = "fd00::1".parse().unwrap();
        assert_eq!(dashed(v6), "fd00--1");
        assert_eq!(parse_dashed("fd00--1"), Some(v6));
        assert_eq!(parse_dashed("blah"), None);
        assert_eq!(parse_dashed("10-244-1-999"), None);
        assert_eq!(parse_dashed("1-2-3"), None);
        assert!(is_dashed(v4, "10-244-1-5"));
        assert!(!is_dashed(v4, "10-244-1-50"));
        assert!(!is_dashed(v4, "10-244-1-"));
        assert!(is_dashed(v6, "fd00--1"));
        assert!(!is_dashed(v6, "fd00-0-0-0-0-0-0-1"));
        let mapped: IpAddr = "::ffff:1.2.3.4".parse().unwrap();
        assert!(is_dashed(mapped, &dashed(mapped)));
    }

    #[test]
    fn reverse_names() {
        let name = Name::from_ascii("5.1.244.10.in-addr.arpa.").unwrap();
        assert_eq!(parse_reverse(&name), Some("10.244.1.5".parse().unwrap()));
        assert!(is_reverse(&name));
        let partial = Name::from_ascii("1.244.10.in-addr.arpa.").unwrap();
        assert_eq!(parse_reverse(&partial), None);
        assert!(is_reverse(&partial));
        let v6 = Name::from_ascii(
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.",
        )
        .unwrap();
        assert_eq!(parse_reverse(&v6), Some("fd00::1".parse().unwrap()));
        let bad = Name::from_ascii("300.1.244.10.in-addr.arpa.").unwrap();
        assert_eq!(parse_reverse(&bad), None);
        assert!(!is_reverse(
            &Name::from_ascii("kubernetes.default.").unwrap()
        ));
    }
}
