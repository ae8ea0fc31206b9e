//! The LoadBalancer address pool and who holds which address.
//!
//! Pool syntax (`portico server --lb-pool`): comma-separated parts, each
//!
//! * a CIDR, `127.240.0.0/24`: every address of the block except its network and broadcast
//!   addresses when the block has more than two (so `127.240.0.0/24` hands out `.1` to `.254`;
//!   MetalLB calls skipping `.0`/`.255` `avoidBuggyIPs`; Portico always skips them for CIDRs,
//!   since a subnet's first and last addresses surprise people);
//! * a range, `127.240.0.5-127.240.0.6`, both ends included, taken literally;
//! * a single address.
//!
//! IPv4 only. Addresses are handed out lowest first, so a freed address is the next one given.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use crate::Error;

/// A set of IPv4 addresses, as inclusive ranges in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    ranges: Vec<(u32, u32)>,
}

impl Pool {
    /// Parses the pool syntax described in the module documentation.
    pub fn parse(text: &str) -> Result<Pool, Error> {
        let bad = |why: &str| Error::Config(format!("invalid LoadBalancer pool {text:?}: {why}"));
        let mut ranges = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let parse_ip = |s: &str| -> Result<u32, Error> {
                match s.trim().parse::<IpAddr>() {
                    Ok(IpAddr::V4(ip)) => Ok(u32::from(ip)),
                    Ok(IpAddr::V6(_)) => Err(bad("only IPv4 addresses are supported")),
                    Err(_) => Err(bad(&format!("{s:?} is not an IP address"))),
                }
            };
            let range = if let Some((addr, len)) = part.split_once('/') {
                let base = parse_ip(addr)?;
                let len: u32 = len
                    .trim()
                    .parse()
                    .ok()
                    .filter(|l| *l <= 32)
                    .ok_or_else(|| bad(&format!("{len:?} is not a prefix length")))?;
                let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                if base & !mask != 0 {
                    return Err(bad(&format!("{part} has host bits set")));
                }
                let (first, last) = (base, base | !mask);
                if len <= 30 {
                    (first + 1, last - 1)
                } else {
                    (first, last)
                }
            } else if let Some((a, b)) = part.split_once('-') {
                let (a, b) = (parse_ip(a)?, parse_ip(b)?);
                if a > b {
                    return Err(bad(&format!("{part} ends before it starts")));
                }
                (a, b)
            } else {
                let ip = parse_ip(part)?;
                (ip, ip)
            };
            ranges.push(range);
        }
        if ranges.is_empty() {
            return Err(bad("no addresses"));
        }
        Ok(Pool { ranges })
    }

    /// Whether `ip` belongs to the pool.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(ip) => {
                let n = u32::from(ip);
                self.ranges.iter().any(|(a, b)| (*a..=*b).contains(&n))
            }
            IpAddr::V6(_) => false,
        }
    }

    /// How many addresses the pool has.
    pub fn size(&self) -> u64 {
        self.ranges.iter().map(|(a, b)| u64::from(b - a) + 1).sum()
    }
}

/// Why an address cannot be given to a Service (worded as MetalLB words it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The address is outside the pool.
    NotInPool(IpAddr),
    /// Another Service holds the address.
    InUse(IpAddr, String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotInPool(ip) => write!(f, "\"{ip}\" is not allowed in config"),
            Refusal::InUse(ip, other) => write!(f, "\"{ip}\" is already in use by {other}"),
        }
    }
}

/// Which Service (`namespace/name`) holds which address of the pool; one holder per address
/// and one address per holder.
#[derive(Debug)]
pub struct Allocator {
    pool: Pool,
    by_ip: BTreeMap<u32, String>,
    by_key: HashMap<String, u32>,
}

impl Allocator {
    /// An allocator over `pool` with nothing handed out.
    pub fn new(pool: Pool) -> Allocator {
        Allocator {
            pool,
            by_ip: BTreeMap::new(),
            by_key: HashMap::new(),
        }
    }

    /// The pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Forgets every assignment.
    pub fn clear(&mut self) {
        self.by_ip.clear();
        self.by_key.clear();
    }

    /// The address `key` holds.
    pub fn ip_of(&self, key: &str) -> Option<Ipv4Addr> {
        self.by_key.get(key).map(|n| Ipv4Addr::from(*n))
    }

    /// Who holds `ip`.
    pub fn holder(&self, ip: Ipv4Addr) -> Option<&str> {
        self.by_ip.get(&u32::from(ip)).map(String::as_str)
    }

    /// How many addresses are handed out.
    pub fn in_use(&self) -> usize {
        self.by_ip.len()
    }

    /// Gives `ip` to `key` (releasing what `key` held before), if the pool has it and nobody
    /// else holds it.
    pub fn assign(&mut self, key: &str, ip: IpAddr) -> Result<Ipv4Addr, Refusal> {
        let v4 = match ip {
            IpAddr::V4(v4) if self.pool.contains(ip) => v4,
            _ => return Err(Refusal::NotInPool(ip)),
        };
        let n = u32::from(v4);
        match self.by_ip.get(&n) {
            Some(holder) if holder == key => return Ok(v4),
            Some(holder) => return Err(Refusal::InUse(ip, holder.clone())),
            None => {}
        }
        self.release(key);
        self.by_ip.insert(n, key.to_string());
        self.by_key.insert(key.to_string(), n);
        Ok(v4)
    }

    /// The address `key` holds, or else the lowest free one, given to `key`; `None` when the
    /// pool is exhausted.
    pub fn allocate(&mut self, key: &str) -> Option<Ipv4Addr> {
        if let Some(ip) = self.ip_of(key) {
            return Some(ip);
        }
        let free = self.pool.ranges.iter().find_map(|(a, b)| {
            // The first gap in the used addresses of this range.
            let mut next = *a;
            for used in self.by_ip.range(*a..=*b).map(|(n, _)| *n) {
                if used != next {
                    break;
                }
                if next == *b {
                    return None;
                }
                next += 1;
            }
            Some(next)
        })?;
        self.by_ip.insert(free, key.to_string());
        self.by_key.insert(key.to_string(), free);
        Some(Ipv4Addr::from(free))
    }

    /// Frees what `key` holds; returns the address.
    pub fn release(&mut self, key: &str) -> Option<Ipv4Addr> {
        let n = self.by_key.remove(key)?;
        self.by_ip.remove(&n);
        Some(Ipv4Addr::from(n))
    }
}

#[cfg(test)]
mod tests;
