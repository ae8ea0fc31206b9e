//! Names of the per-service chains and sets, readable by a person and valid for nft.
//!
//! Every object of one service port carries the port's *base name*
//! `<namespace>/<name>/<protocol>/<port name>` behind a short hash of that name, e.g.
//! `service-GWN2D4VA-default/web/tcp/http`; endpoint chains add `__<ip>/<port>`. The hash
//! keeps names distinct (and unique if a name ever has to be shortened) and makes chains of
//! different services easy to tell apart at a glance, as in kube-proxy's nftables mode.
//! Endpoint maps (`endpoints-…`, `local-endpoints-…`) share the hash of their chains.

use std::net::IpAddr;

use crate::model::{Protocol, ServiceKey};

/// Longest object name nft accepts (`NFT_NAME_MAXLEN` is 256 including the final NUL).
const NAME_MAX: usize = 255;

/// The protocol as nft spells it (`tcp`, `udp`, `sctp`).
pub(crate) fn proto(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

/// 64-bit FNV-1a: stable across runs and platforms, which chain names must be.
fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Eight base32 characters (RFC 4648 alphabet) of the hash of `name`.
fn hash8(name: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let h = fnv1a(name.as_bytes());
    (0..8)
        .map(|i| char::from(ALPHABET[((h >> (59 - 5 * i)) & 31) as usize]))
        .collect()
}

/// Replaces characters nft does not allow in names (anything but `[A-Za-z0-9_./-]`) by `_`.
/// API names never contain them; this only guards against malformed input.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `<prefix><hash>-<name>`, shortened with `...` if nft would refuse its length.
fn hashed(prefix: &str, name: &str, hash_input: &str) -> String {
    let mut out = format!("{prefix}{}-{name}", hash8(hash_input));
    if out.len() > NAME_MAX {
        // Only ASCII remains after sanitize, so byte truncation is safe.
        out.truncate(NAME_MAX - 3);
        out.push_str("...");
    }
    out
}

/// The base name of a service port: `namespace/name/protocol/port name`.
pub(crate) fn service_base(key: &ServiceKey) -> String {
    sanitize(&format!(
        "{}/{}/{}/{}",
        key.namespace,
        key.name,
        proto(key.protocol),
        key.port_name
    ))
}

/// The base name of one endpoint of a service port: `<service base>__<ip>/<port>`.
fn endpoint_base(key: &ServiceKey, ip: IpAddr, port: u16) -> String {
    // IPv6 colons are not allowed in names.
    let ip = ip.to_string().replace(':', ".");
    format!("{}__{ip}/{port}", service_base(key))
}

/// Names of all per-service objects of one service port.
pub(crate) struct ServiceNames {
    /// Endpoint selection for `Cluster` traffic policy: `service-…`.
    pub service: String,
    /// Endpoint selection for `Local` traffic policy: `local-…`.
    pub local: String,
    /// Entry for node ports, external and LoadBalancer IPs: `external-…`.
    pub external: String,
    /// The endpoint map of `service-…` (services without session affinity):
    /// `endpoints-…`.
    pub endpoints: String,
    /// The endpoint map of `local-…`: `local-endpoints-…`.
    pub local_endpoints: String,
    key: ServiceKey,
}

impl ServiceNames {
    /// The names for `key`.
    pub fn new(key: &ServiceKey) -> ServiceNames {
        let base = service_base(key);
        ServiceNames {
            service: hashed("service-", &base, &base),
            local: hashed("local-", &base, &base),
            external: hashed("external-", &base, &base),
            endpoints: hashed("endpoints-", &base, &base),
            local_endpoints: hashed("local-endpoints-", &base, &base),
            key: key.clone(),
        }
    }

    /// The DNAT chain of one endpoint: `endpoint-…__ip/port`.
    pub fn endpoint(&self, ip: IpAddr, port: u16) -> String {
        let base = endpoint_base(&self.key, ip, port);
        hashed("endpoint-", &base, &base)
    }

    /// The session-affinity set of one endpoint: `affinity-…__ip/port`. The timeout is part
    /// of the hash, so a new timeout makes a new set (nft cannot change a set's timeout).
    pub fn affinity(&self, ip: IpAddr, port: u16, timeout_secs: u64) -> String {
        let base = endpoint_base(&self.key, ip, port);
        hashed("affinity-", &base, &format!("{base}#{timeout_secs}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(port_name: &str) -> ServiceKey {
        ServiceKey {
            namespace: "default".into(),
            name: "web".into(),
            port_name: port_name.into(),
            protocol: Protocol::Tcp,
        }
    }

    #[test]
    fn names_carry_the_service_and_share_one_hash() {
        let n = ServiceNames::new(&key("http"));
        let hash = &n.service["service-".len().."service-".len() + 8];
        assert!(
            n.service.ends_with("-default/web/tcp/http"),
            "{}",
            n.service
        );
        assert_eq!(n.external, format!("external-{hash}-default/web/tcp/http"));
        assert_eq!(n.local, format!("local-{hash}-default/web/tcp/http"));
        assert_eq!(
            n.endpoints,
            format!("endpoints-{hash}-default/web/tcp/http")
        );
        assert_eq!(
            n.local_endpoints,
            format!("local-endpoints-{hash}-default/web/tcp/http")
        );
        let ep = n.endpoint("10.244.0.3".parse().unwrap(), 8080);
        assert!(ep.starts_with("endpoint-"));
        assert!(
            ep.ends_with("-default/web/tcp/http__10.244.0.3/8080"),
            "{ep}"
        );
        assert_ne!(&ep["endpoint-".len().."endpoint-".len() + 8], hash);
    }

    #[test]
    fn hashes_differ_between_ports_and_timeouts() {
        let a = ServiceNames::new(&key("http"));
        let b = ServiceNames::new(&key("https"));
        assert_ne!(a.service[..16], b.service[..16]);
        let ip = "10.244.0.3".parse().unwrap();
        assert_ne!(a.affinity(ip, 80, 10800), a.affinity(ip, 80, 60));
        assert_eq!(a.affinity(ip, 80, 60), a.affinity(ip, 80, 60));
    }

    #[test]
    fn long_or_odd_names_stay_valid() {
        let mut k = key(&"p".repeat(300));
        k.name = "we b:x".into();
        let n = ServiceNames::new(&k);
        assert_eq!(n.service.len(), NAME_MAX);
        assert_eq!(n.local_endpoints.len(), NAME_MAX);
        assert!(n.service.ends_with("..."));
        assert!(n.service.contains("/we_b_x/"));
        let v6 = ServiceNames::new(&key("")).endpoint("fd00::1".parse().unwrap(), 53);
        assert!(v6.ends_with("default/web/tcp/__fd00..1/53"), "{v6}");
    }
}
