//! The endpoint maps of service ports without session affinity: a random number in
//! `0..65536` (`numgen random mod 65536`) picks an element of an interval map whose ranges
//! split those buckets evenly between the endpoints, and the element's value is the DNAT
//! target `address . port`. Changing the endpoints rewrites only the map's elements, which
//! the kernel commits without re-validating any chain.

use std::fmt;
use std::net::Ipv4Addr;

use super::names::proto;
use crate::model::Protocol;

/// How many buckets the random draw chooses from (`numgen random mod BUCKETS`).
pub(crate) const BUCKETS: u32 = 65536;

/// One element of an endpoint map: buckets `first..=last` go to `addr:port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Range {
    /// First bucket.
    pub first: u32,
    /// Last bucket (inclusive).
    pub last: u32,
    /// The endpoint's address.
    pub addr: Ipv4Addr,
    /// The endpoint's port.
    pub port: u16,
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{} : {} . {}",
            self.first, self.last, self.addr, self.port
        )
    }
}

/// An endpoint map: its protocol (the type of its port) and its elements in bucket order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct EndpointMap {
    /// The service port's protocol.
    pub protocol: Protocol,
    /// The elements, covering `0..BUCKETS` without gaps when there is any endpoint.
    pub ranges: Vec<Range>,
}

impl EndpointMap {
    /// The map for `endpoints` (address, port), in that order: the buckets split into
    /// contiguous ranges whose sizes differ by at most one. Endpoints beyond the number
    /// of buckets get none.
    pub fn new(protocol: Protocol, endpoints: &[(Ipv4Addr, u16)]) -> EndpointMap {
        let n = endpoints.len().min(BUCKETS as usize) as u64;
        let ranges = endpoints
            .iter()
            .take(n as usize)
            .enumerate()
            .map(|(i, (addr, port))| {
                let i = i as u64;
                let start = i * u64::from(BUCKETS) / n;
                let end = (i + 1) * u64::from(BUCKETS) / n;
                Range {
                    first: start as u32,
                    last: (end - 1) as u32,
                    addr: *addr,
                    port: *port,
                }
            })
            .collect();
        EndpointMap { protocol, ranges }
    }

    /// The elements as nft writes them: `0-32767 : 10.244.0.5 . 8080, …`.
    pub fn elements(&self) -> String {
        let parts: Vec<String> = self.ranges.iter().map(Range::to_string).collect();
        parts.join(", ")
    }
}

/// The declaration's body of an endpoint map for `protocol`, e.g. `typeof numgen random
/// mod 65536 : ip daddr . tcp dport ; flags interval ;`.
pub(crate) fn spec(protocol: Protocol) -> String {
    format!(
        "typeof numgen random mod {BUCKETS} : ip daddr . {} dport ; flags interval ;",
        proto(protocol)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eps(n: usize) -> Vec<(Ipv4Addr, u16)> {
        (0..n)
            .map(|i| (Ipv4Addr::new(10, 244, 0, i as u8), 8080))
            .collect()
    }

    #[test]
    fn buckets_split_evenly_and_cover_everything() {
        for n in [1usize, 2, 3, 7, 10, 100] {
            let m = EndpointMap::new(Protocol::Tcp, &eps(n));
            assert_eq!(m.ranges.len(), n);
            assert_eq!(m.ranges[0].first, 0);
            assert_eq!(m.ranges[n - 1].last, BUCKETS - 1);
            for w in m.ranges.windows(2) {
                assert_eq!(w[0].last + 1, w[1].first, "contiguous for {n}");
            }
            let sizes: Vec<u32> = m.ranges.iter().map(|r| r.last - r.first + 1).collect();
            let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(max - min <= 1, "{n} endpoints: sizes {min}..{max}");
        }
        assert!(EndpointMap::new(Protocol::Tcp, &[]).ranges.is_empty());
    }

    #[test]
    fn maps_print_as_nft_writes_them() {
        let m = EndpointMap::new(Protocol::Udp, &eps(2)[..]);
        assert_eq!(
            spec(m.protocol),
            "typeof numgen random mod 65536 : ip daddr . udp dport ; flags interval ;"
        );
        assert_eq!(
            m.elements(),
            "0-32767 : 10.244.0.0 . 8080, 32768-65535 : 10.244.0.1 . 8080"
        );
    }
}
