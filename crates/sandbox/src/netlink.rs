//! A small async API over rtnetlink (tokio) to build the node and pod networks: bridges, veth
//! pairs, addresses, routes.
//!
//! Every error names the operation, the link and the namespace, e.g. `adding address
//! 10.244.1.5/24 to eth0 in pod netns: File exists`; [`Error::errno`] gives the kernel's
//! error number when there is one.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, AsRawFd};

use futures::TryStreamExt;
use rtnetlink::packet_route::link::{InfoData, InfoVeth};
use rtnetlink::{LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};

use crate::error::io_text;
use crate::netns::NetNs;
use crate::Error;

/// A netlink route socket bound to one network namespace, with its connection task running
/// on the tokio runtime it was created in. Cheap to clone; the connection ends when the last
/// clone is dropped.
#[derive(Clone, Debug)]
pub struct Netlink {
    handle: rtnetlink::Handle,
    label: String,
}

impl Netlink {
    /// A socket in the calling thread's network namespace. Must be called within a tokio
    /// runtime (it spawns the connection task).
    pub fn current() -> Result<Netlink, Error> {
        let rt = runtime()?;
        let _guard = rt.enter();
        let (conn, handle, _) = rtnetlink::new_connection()
            .map_err(|e| Error::io("opening a netlink socket in the current netns", e))?;
        rt.spawn(conn);
        Ok(Netlink {
            handle,
            label: "current netns".into(),
        })
    }

    /// A socket created inside `ns` (see [`NetNs::run_in`]), so every request applies there.
    /// Must be called within a tokio runtime. Errors name the namespace by [`NetNs::label`].
    pub fn in_netns(ns: &NetNs) -> Result<Netlink, Error> {
        let rt = runtime()?;
        let enter = rt.clone();
        let (conn, handle, _) = ns
            .run_in(move || {
                let _guard = enter.enter();
                rtnetlink::new_connection()
            })?
            .map_err(|e| Error::io(format!("opening a netlink socket in {}", ns.label()), e))?;
        rt.spawn(conn);
        Ok(Netlink {
            handle,
            label: ns.label().to_string(),
        })
    }

    /// The underlying rtnetlink handle, for requests this API does not cover.
    pub fn handle(&self) -> &rtnetlink::Handle {
        &self.handle
    }

    /// The index of link `name`, or `None` if there is no such link.
    pub async fn find_link(&self, name: &str) -> Result<Option<u32>, Error> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match links.try_next().await {
            Ok(Some(msg)) => Ok(Some(msg.header.index)),
            Ok(None) => Ok(None),
            Err(e) if errno_of(&e) == Some(nix::errno::Errno::ENODEV) => Ok(None),
            Err(e) => Err(self.err(format!("looking up link {name}"), e)),
        }
    }

    /// The index of link `name`; an error names `doing` when the link does not exist.
    async fn index(&self, name: &str, doing: &str) -> Result<u32, Error> {
        self.find_link(name).await?.ok_or_else(|| Error::Netlink {
            what: format!("{doing} in {}", self.label),
            reason: format!("no link named {name}"),
            errno: Some(nix::errno::Errno::ENODEV),
        })
    }

    /// Sets link `name` up (`ip link set NAME up`), e.g. `lo` in a new namespace.
    pub async fn link_up(&self, name: &str) -> Result<(), Error> {
        let doing = format!("setting {name} up");
        let index = self.index(name, &doing).await?;
        let msg = LinkUnspec::new_with_index(index).up().build();
        let res = self.handle.link().set(msg).execute().await;
        res.map_err(|e| self.err(doing, e))
    }

    /// Creates bridge `name` (down; see [`Netlink::link_up`]).
    pub async fn add_bridge(&self, name: &str) -> Result<(), Error> {
        let msg = LinkBridge::new(name).build();
        let res = self.handle.link().add(msg).execute().await;
        res.map_err(|e| self.err(format!("creating bridge {name}"), e))
    }

    /// Adds `addr/prefix` to link `link` (`ip addr add`).
    pub async fn add_addr(&self, link: &str, addr: IpAddr, prefix: u8) -> Result<(), Error> {
        let doing = format!("adding address {addr}/{prefix} to {link}");
        let index = self.index(link, &doing).await?;
        let res = self
            .handle
            .address()
            .add(index, addr, prefix)
            .execute()
            .await;
        res.map_err(|e| self.err(doing, e))
    }

    /// The addresses on link `link`, as `(address, prefix length)`.
    pub async fn addresses(&self, link: &str) -> Result<Vec<(IpAddr, u8)>, Error> {
        use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
        let doing = format!("listing the addresses of {link}");
        let index = self.index(link, &doing).await?;
        let msgs: Vec<AddressMessage> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute()
            .try_collect()
            .await
            .map_err(|e| self.err(doing, e))?;
        Ok(msgs
            .iter()
            .flat_map(|m| {
                m.attributes.iter().filter_map(move |a| match a {
                    AddressAttribute::Address(ip) => Some((*ip, m.header.prefix_len)),
                    _ => None,
                })
            })
            .collect())
    }

    /// Creates a veth pair: `host_end` here, `peer_end` created directly inside `peer_ns`
    /// (so its name only has to be free there, e.g. `eth0`). Both ends start down.
    pub async fn add_veth(
        &self,
        host_end: &str,
        peer_end: &str,
        peer_ns: &NetNs,
    ) -> Result<(), Error> {
        let peer = LinkUnspec::new_with_name(peer_end)
            .setns_by_fd(peer_ns.as_fd().as_raw_fd())
            .build();
        let msg = LinkVeth::new(host_end, peer_end)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
            .build();
        let res = self.handle.link().add(msg).execute().await;
        res.map_err(|e| {
            self.err(
                format!(
                    "creating veth {host_end} with peer {peer_end} in {}",
                    peer_ns.label()
                ),
                e,
            )
        })
    }

    /// Attaches `link` to bridge `bridge` (`ip link set LINK master BRIDGE`).
    pub async fn set_master(&self, link: &str, bridge: &str) -> Result<(), Error> {
        let doing = format!("attaching {link} to bridge {bridge}");
        let index = self.index(link, &doing).await?;
        let bridge_index = self.index(bridge, &doing).await?;
        let msg = LinkUnspec::new_with_index(index)
            .controller(bridge_index)
            .build();
        let res = self.handle.link().set(msg).execute().await;
        res.map_err(|e| self.err(doing, e))
    }

    /// Sets the MTU of `link`.
    pub async fn set_mtu(&self, link: &str, mtu: u32) -> Result<(), Error> {
        let doing = format!("setting the MTU of {link} to {mtu}");
        let index = self.index(link, &doing).await?;
        let msg = LinkUnspec::new_with_index(index).mtu(mtu).build();
        let res = self.handle.link().set(msg).execute().await;
        res.map_err(|e| self.err(doing, e))
    }

    /// Sets the MAC address of `link`.
    pub async fn set_mac(&self, link: &str, mac: [u8; 6]) -> Result<(), Error> {
        let text = mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        let doing = format!("setting the MAC address of {link} to {text}");
        let index = self.index(link, &doing).await?;
        let msg = LinkUnspec::new_with_index(index)
            .address(mac.to_vec())
            .build();
        let res = self.handle.link().set(msg).execute().await;
        res.map_err(|e| self.err(doing, e))
    }

    /// Adds a route to `dst/prefix` through gateway `via` (`ip route add DST/PREFIX via VIA`).
    pub async fn add_route(&self, dst: Ipv4Addr, prefix: u8, via: Ipv4Addr) -> Result<(), Error> {
        let msg = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(dst, prefix)
            .gateway(via)
            .build();
        let res = self.handle.route().add(msg).execute().await;
        res.map_err(|e| self.err(format!("adding route {dst}/{prefix} via {via}"), e))
    }

    /// Adds a route to `dst/prefix` straight out of `link` (`ip route add DST/PREFIX dev LINK`).
    pub async fn add_route_dev(&self, dst: Ipv4Addr, prefix: u8, link: &str) -> Result<(), Error> {
        let doing = format!("adding route {dst}/{prefix} dev {link}");
        let index = self.index(link, &doing).await?;
        let msg = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(dst, prefix)
            .output_interface(index)
            .build();
        let res = self.handle.route().add(msg).execute().await;
        res.map_err(|e| self.err(doing, e))
    }

    /// Adds the default route through `via` (`ip route add default via VIA`).
    pub async fn add_default_route(&self, via: Ipv4Addr) -> Result<(), Error> {
        let msg = RouteMessageBuilder::<Ipv4Addr>::new().gateway(via).build();
        let res = self.handle.route().add(msg).execute().await;
        res.map_err(|e| self.err(format!("adding default route via {via}"), e))
    }

    /// Deletes link `name` (for a veth, both ends go).
    pub async fn del_link(&self, name: &str) -> Result<(), Error> {
        let doing = format!("deleting link {name}");
        let index = self.index(name, &doing).await?;
        let res = self.handle.link().del(index).execute().await;
        res.map_err(|e| self.err(doing, e))
    }

    /// An [`Error::Netlink`] for `doing` in this namespace.
    fn err(&self, doing: String, e: rtnetlink::Error) -> Error {
        let reason = match &e {
            rtnetlink::Error::NetlinkError(msg) => io_text(&msg.to_io()),
            other => other.to_string(),
        };
        Error::Netlink {
            what: format!("{doing} in {}", self.label),
            reason,
            errno: errno_of(&e),
        }
    }
}

/// The errno of a netlink error reply, if it is one.
fn errno_of(e: &rtnetlink::Error) -> Option<nix::errno::Errno> {
    match e {
        rtnetlink::Error::NetlinkError(msg) => {
            msg.to_io().raw_os_error().map(nix::errno::Errno::from_raw)
        }
        _ => None,
    }
}

/// The current tokio runtime, or an error saying one is needed.
fn runtime() -> Result<tokio::runtime::Handle, Error> {
    tokio::runtime::Handle::try_current()
        .map_err(|_| Error::Invalid("netlink needs a tokio runtime".into()))
}

#[cfg(test)]
mod tests;
