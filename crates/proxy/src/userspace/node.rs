//! Preparing a node's network namespace for the userspace proxy: the service CIDR made local
//! (AnyIP), and pings to service addresses left unanswered.

use std::net::Ipv4Addr;
use std::process::Stdio;

use rtnetlink::packet_route::route::{RouteScope, RouteType};
use rtnetlink::RouteMessageBuilder;
use tokio::io::AsyncWriteExt;

use crate::Error;

/// The kernel's `local` routing table.
const LOCAL_TABLE: u32 = 255;

/// The nftables table that keeps service addresses from answering pings.
pub const ECHO_TABLE: &str = "portico-userspace";

/// How [`prepare_node`] kept service addresses from answering pings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EchoBlock {
    /// An nftables rule drops ICMP echo requests to the service CIDR only.
    Nftables,
    /// `nft` was not usable: `net.ipv4.icmp_echo_ignore_all=1` in this namespace, so the
    /// node's own addresses stop answering pings too.
    IgnoreAll,
}

/// Makes every address of `cidr/prefix` local in the calling thread's network namespace, as
/// `ip route replace local CIDR/PREFIX dev lo table local` does, so the proxy can bind
/// listeners on any cluster IP and the kernel delivers pods' packets to them (AnyIP).
pub async fn route_service_cidr(cidr: Ipv4Addr, prefix: u8) -> Result<(), Error> {
    let other = |e: portico_sandbox::Error| Error::Other(e.to_string());
    let netlink = portico_sandbox::netlink::Netlink::current().map_err(other)?;
    let lo = netlink
        .find_link("lo")
        .await
        .map_err(other)?
        .ok_or_else(|| Error::Other("no loopback device in this network namespace".into()))?;
    let msg = RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(cidr, prefix)
        .output_interface(lo)
        .kind(RouteType::Local)
        .scope(RouteScope::Host)
        .table_id(LOCAL_TABLE)
        .build();
    netlink
        .handle()
        .route()
        .add(msg)
        .replace()
        .execute()
        .await
        .map_err(|e| Error::Other(format!("adding local route {cidr}/{prefix} dev lo: {e}")))
}

/// With AnyIP every service address would answer pings, which a Kubernetes service IP never
/// does (it is virtual: kube-proxy in iptables or nftables mode only handles the service's
/// ports). This drops ICMP echo requests to `cidr/prefix` with an nftables rule in table
/// [`ECHO_TABLE`] (`ip` family, input hook); if `nft` cannot be run, it falls back to
/// `net.ipv4.icmp_echo_ignore_all=1` for the whole namespace.
pub async fn block_echo(cidr: Ipv4Addr, prefix: u8) -> Result<EchoBlock, Error> {
    let script = format!(
        "add table ip {ECHO_TABLE}\n\
         delete table ip {ECHO_TABLE}\n\
         table ip {ECHO_TABLE} {{\n\
         \tchain input {{\n\
         \t\ttype filter hook input priority filter; policy accept;\n\
         \t\tip daddr {cidr}/{prefix} icmp type echo-request drop\n\
         \t}}\n\
         }}\n"
    );
    match run_nft(&script).await {
        Ok(()) => Ok(EchoBlock::Nftables),
        Err(why) => {
            tracing::warn!(%why, "nft unusable; ignoring all pings in this namespace");
            std::fs::write("/proc/sys/net/ipv4/icmp_echo_ignore_all", "1").map_err(|source| {
                Error::Io {
                    what: "setting net.ipv4.icmp_echo_ignore_all".into(),
                    source,
                }
            })?;
            Ok(EchoBlock::IgnoreAll)
        }
    }
}

/// Both of the above: what a node calls once before applying states with [`super::Userspace`].
pub async fn prepare_node(cidr: Ipv4Addr, prefix: u8) -> Result<EchoBlock, Error> {
    route_service_cidr(cidr, prefix).await?;
    block_echo(cidr, prefix).await
}

async fn run_nft(script: &str) -> Result<(), String> {
    let mut child = tokio::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("running nft: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .await
            .map_err(|e| format!("writing to nft: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| format!("waiting for nft: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "nft: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
