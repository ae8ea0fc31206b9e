//! Building a small node network inside a sandbox and sending TCP across it.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use futures::TryStreamExt;
use rtnetlink::packet_route::link::LinkAttribute;

use super::*;
use crate::testing;

const TEST: &str = "netlink::tests::pods_on_a_bridge_and_a_routed_link_talk_over_tcp";

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// Pod A sits on bridge `cni0` (10.244.1.0/24); pod B on a routed veth (10.244.2.0/24); the
/// node forwards between them.
#[test]
fn pods_on_a_bridge_and_a_routed_link_talk_over_tcp() {
    if !testing::in_sandbox(TEST) {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let node_ns = NetNs::current().unwrap().named("node netns");
        let node = Netlink::in_netns(&node_ns).unwrap();
        node.link_up("lo").await.unwrap();
        node_ns.sysctl("net.ipv4.ip_forward", "1").unwrap();
        assert_eq!(node_ns.read_sysctl("net.ipv4.ip_forward").unwrap(), "1");

        node.add_bridge("cni0").await.unwrap();
        node.add_addr("cni0", IpAddr::V4(v4("10.244.1.1")), 24)
            .await
            .unwrap();
        node.link_up("cni0").await.unwrap();

        let a = NetNs::new().unwrap().named("pod netns a");
        node.add_veth("veth-a", "eth0", &a).await.unwrap();
        node.set_master("veth-a", "cni0").await.unwrap();
        node.set_mtu("veth-a", 1400).await.unwrap();
        node.set_mac("veth-a", [0x02, 0, 0, 0, 0, 0x0a])
            .await
            .unwrap();
        node.link_up("veth-a").await.unwrap();
        let pod_a = Netlink::in_netns(&a).unwrap();
        pod_a.link_up("lo").await.unwrap();
        pod_a.link_up("eth0").await.unwrap();
        pod_a
            .add_addr("eth0", IpAddr::V4(v4("10.244.1.2")), 24)
            .await
            .unwrap();
        pod_a.add_default_route(v4("10.244.1.1")).await.unwrap();

        let b = NetNs::new().unwrap().named("pod netns b");
        node.add_veth("veth-b", "eth0", &b).await.unwrap();
        node.add_addr("veth-b", IpAddr::V4(v4("10.244.2.1")), 24)
            .await
            .unwrap();
        node.link_up("veth-b").await.unwrap();
        let pod_b = Netlink::in_netns(&b).unwrap();
        pod_b.link_up("lo").await.unwrap();
        pod_b.link_up("eth0").await.unwrap();
        pod_b
            .add_addr("eth0", IpAddr::V4(v4("10.244.2.2")), 24)
            .await
            .unwrap();
        pod_b
            .add_route(v4("10.244.1.0"), 24, v4("10.244.2.1"))
            .await
            .unwrap();

        // The peer ends live only in the pods' namespaces.
        assert_eq!(node.find_link("eth0").await.unwrap(), None);
        let v4_addrs: Vec<_> = pod_a
            .addresses("eth0")
            .await
            .unwrap()
            .into_iter()
            .filter(|(ip, _)| ip.is_ipv4())
            .collect();
        assert_eq!(v4_addrs, vec![(IpAddr::V4(v4("10.244.1.2")), 24)]);
        let attrs = node
            .handle()
            .link()
            .get()
            .match_name("veth-a".to_string())
            .execute()
            .try_next()
            .await
            .unwrap()
            .unwrap()
            .attributes;
        assert!(attrs.contains(&LinkAttribute::Mtu(1400)), "{attrs:?}");
        assert!(
            attrs.contains(&LinkAttribute::Address(vec![2, 0, 0, 0, 0, 0x0a])),
            "{attrs:?}"
        );

        // Errors name the operation, the link and the namespace.
        let err = pod_a
            .add_addr("eth0", IpAddr::V4(v4("10.244.1.2")), 24)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "adding address 10.244.1.2/24 to eth0 in pod netns a: File exists"
        );
        assert_eq!(err.errno(), Some(nix::errno::Errno::EEXIST));
        let err = node.set_master("veth-x", "cni0").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "attaching veth-x to bridge cni0 in node netns: no link named veth-x"
        );
        let err = node.add_bridge("cni0").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "creating bridge cni0 in node netns: File exists"
        );

        // TCP from pod A (through the bridge and the node's forwarding) to pod B.
        let listener = b
            .run_in(|| TcpListener::bind("10.244.2.2:8080"))
            .unwrap()
            .unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, peer) = listener.accept().unwrap();
            let mut req = [0u8; 5];
            conn.read_exact(&mut req).unwrap();
            write!(conn, "{} from {peer}", String::from_utf8_lossy(&req)).unwrap();
        });
        let target: SocketAddr = "10.244.2.2:8080".parse().unwrap();
        let mut conn = a
            .run_in(|| TcpStream::connect_timeout(&target, Duration::from_secs(5)))
            .unwrap()
            .unwrap();
        conn.write_all(b"hello").unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        server.join().unwrap();
        let local = conn.local_addr().unwrap();
        assert_eq!(local.ip(), IpAddr::V4(v4("10.244.1.2")));
        assert_eq!(answer, format!("hello from {local}"));

        // Deleting one end of a veth removes the pod's end too.
        node.del_link("veth-b").await.unwrap();
        assert_eq!(pod_b.find_link("eth0").await.unwrap(), None);
    });
}
