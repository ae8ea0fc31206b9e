//! The pod network of one node, as a bridge CNI plugin with host-local IPAM builds it.
//!
//! The node owns a bridge `cni0` holding the first address of its pod CIDR (the pods'
//! gateway). Each pod gets the next free address (round robin, as host-local IPAM hands them
//! out, so a freed address is not reused at once while peers may still cache its old MAC), a
//! veth pair with `eth0` inside the pod's network namespace and the other end on `cni0`, and a
//! default route via the gateway. The bridge gets a fixed MAC derived from the gateway
//! address, as the bridge plugin does: otherwise Linux gives a bridge the lowest MAC of its
//! ports, so the gateway's MAC would change whenever a pod comes or goes, and pods would send
//! to a stale MAC until their ARP entry expires (seconds of lost packets).
//! Packets between nodes are routed by whoever set up the node network (`portico up` routes
//! each pod CIDR to its node, host-gw style).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;

use portico_sandbox::netlink::Netlink;
use portico_sandbox::netns::NetNs;

use crate::{Config, Error};

/// The bridge pods hang off.
pub const BRIDGE: &str = "cni0";

/// Addresses of one node's pod CIDR and the links to its pods.
pub struct PodNetwork {
    base: u32,
    prefix: u8,
    used: Mutex<Addresses>,
    netlink: Netlink,
}

/// Pod addresses in use (offsets into the CIDR) and where the next search starts.
#[derive(Default)]
struct Addresses {
    used: BTreeSet<u32>,
    next: u32,
}

impl Addresses {
    /// Takes the first free offset at or after `next`, wrapping around, among the `size`
    /// addresses of the CIDR (offsets 0 and 1, the network and the gateway, and the last one,
    /// the broadcast address, are never handed out).
    fn take(&mut self, size: u32) -> Option<u32> {
        let usable = size.checked_sub(3)?;
        for step in 0..usable {
            let index = (self.next + step) % usable;
            let offset = 2 + index;
            if self.used.insert(offset) {
                self.next = index + 1;
                return Some(offset);
            }
        }
        None
    }
}

impl PodNetwork {
    /// Creates `cni0` with the gateway address and turns on forwarding.
    pub async fn setup(config: &Config) -> Result<PodNetwork, Error> {
        let (net, prefix) = config.pod_cidr;
        if !(8..=30).contains(&prefix) {
            return Err(Error::Other(format!(
                "pod CIDR {} is unusable: the prefix must be between 8 and 30",
                config.pod_cidr_string()
            )));
        }
        let netlink = Netlink::current()?;
        let network = PodNetwork {
            base: u32::from(net) & (u32::MAX << (32 - prefix)),
            prefix,
            used: Mutex::new(Addresses::default()),
            netlink,
        };
        let gateway = network.gateway();
        let _ = network.netlink.link_up("lo").await;
        if let Err(e) = network.netlink.add_bridge(BRIDGE).await {
            tracing::debug!(error = %e, "bridge exists already?");
        }
        let g = gateway.octets();
        if let Err(e) = network
            .netlink
            .set_mac(BRIDGE, [0x02, 0x42, g[0], g[1], g[2], g[3]])
            .await
        {
            tracing::warn!(error = %e, "cannot fix the bridge's MAC address");
        }
        if let Err(e) = network
            .netlink
            .add_addr(BRIDGE, IpAddr::V4(gateway), prefix)
            .await
        {
            tracing::debug!(error = %e, "gateway address exists already?");
        }
        network.netlink.link_up(BRIDGE).await?;
        // No ICMP redirects: a packet DNAT'd to a pod (a cluster IP) leaves `cni0` the way
        // it came, and while redirects are on the kernel checks each such packet's source
        // with a second routing lookup (`fib_validate_source`). Nothing here wants them:
        // pods share one link, and a redirect would point around the DNAT.
        let bridge_redirects = format!("ipv4/conf/{BRIDGE}/send_redirects");
        for (key, value) in [
            ("ipv4/ip_forward", "1"),
            ("ipv4/conf/all/route_localnet", "1"),
            ("ipv4/conf/all/rp_filter", "0"),
            ("ipv4/conf/all/send_redirects", "0"),
            (bridge_redirects.as_str(), "0"),
        ] {
            let path = format!("/proc/sys/net/{key}");
            if let Err(e) = std::fs::write(&path, value) {
                tracing::warn!(%path, error = %e, "cannot set sysctl");
            }
        }
        Ok(network)
    }

    /// The gateway address: the first address of the pod CIDR.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 1)
    }

    /// Takes the next free pod address after the last one handed out.
    pub fn allocate(&self) -> Result<Ipv4Addr, Error> {
        let size = 1u32 << (32 - self.prefix);
        let mut table = self
            .used
            .lock()
            .map_err(|_| Error::Other("pod address table poisoned".into()))?;
        if let Some(offset) = table.take(size) {
            return Ok(Ipv4Addr::from(self.base + offset));
        }
        Err(Error::Other(format!(
            "no free pod address left in {}/{}",
            Ipv4Addr::from(self.base),
            self.prefix
        )))
    }

    /// Gives an address back, and drops the node's neighbour entry for it so that the next
    /// pod to get it is reachable at once.
    pub fn release(&self, ip: Ipv4Addr) {
        if let Ok(mut table) = self.used.lock() {
            table.used.remove(&(u32::from(ip).wrapping_sub(self.base)));
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = tokio::process::Command::new("ip")
                    .args(["neigh", "del", &ip.to_string(), "dev", BRIDGE])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status()
                    .await;
            });
        }
    }

    /// Plugs the pod whose sandbox process is `pid` into the bridge with address `ip`.
    pub async fn attach(&self, pid: u32, ip: Ipv4Addr, host_end: &str) -> Result<(), Error> {
        let ns = NetNs::from_pid(pid)?;
        self.netlink.add_veth(host_end, "eth0", &ns).await?;
        self.netlink.set_master(host_end, BRIDGE).await?;
        self.netlink.link_up(host_end).await?;
        // A pod reaching itself through a Service (hairpin) comes back out of its own port.
        let _ = tokio::process::Command::new("ip")
            .args([
                "link",
                "set",
                "dev",
                host_end,
                "type",
                "bridge_slave",
                "hairpin",
                "on",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await;
        let inside = Netlink::in_netns(&ns)?;
        inside.link_up("lo").await?;
        inside.add_addr("eth0", IpAddr::V4(ip), self.prefix).await?;
        inside.link_up("eth0").await?;
        inside.add_default_route(self.gateway()).await?;
        let _ = ns.sysctl("ipv4/conf/all/route_localnet", "1");
        Ok(())
    }

    /// Removes the host end of a pod's veth (the pair goes with it).
    pub async fn detach(&self, host_end: &str) {
        let _ = self.netlink.del_link(host_end).await;
    }
}

/// The host-side veth name of a pod: `veth` and eight hex digits of its uid.
pub fn host_end_name(uid: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in uid.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("veth{h:08x}")
}

#[cfg(test)]
mod tests {
    use super::Addresses;

    #[test]
    fn addresses_are_handed_out_round_robin_and_not_reused_at_once() {
        let mut a = Addresses::default();
        // A /29: offsets 2..=6 usable.
        assert_eq!(a.take(8), Some(2));
        assert_eq!(a.take(8), Some(3));
        a.used.remove(&2);
        assert_eq!(a.take(8), Some(4), "the freed .2 waits for its turn");
        assert_eq!(a.take(8), Some(5));
        assert_eq!(a.take(8), Some(6));
        assert_eq!(a.take(8), Some(2), "wraps around to what is free");
        assert_eq!(a.take(8), None, "full");
    }
}
