//! Host port mappings from pod specs, and the relays on loopback.

use super::*;
use k8s_openapi::api::core::v1::{Container, ContainerPort};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn port(host_ip: Option<&str>, host: i32, container: i32, proto: Option<&str>) -> ContainerPort {
    ContainerPort {
        container_port: container,
        host_port: Some(host),
        host_ip: host_ip.map(String::from),
        protocol: proto.map(String::from),
        ..Default::default()
    }
}

fn spec(ports: Vec<ContainerPort>, host_network: bool) -> PodSpec {
    PodSpec {
        containers: vec![Container {
            name: "c".into(),
            ports: Some(ports),
            ..Default::default()
        }],
        host_network: Some(host_network),
        ..Default::default()
    }
}

#[test]
fn mappings_follow_host_ip_port_and_protocol() {
    let pod_ip: Ipv4Addr = "10.244.1.5".parse().unwrap();
    let s = spec(
        vec![
            port(Some("127.0.0.1"), 54323, 8080, Some("TCP")),
            port(None, 8081, 81, Some("UDP")),
            port(Some(""), 0, 82, None),
            port(None, 9000, 90, Some("SCTP")),
        ],
        false,
    );
    assert_eq!(
        mappings(&s, pod_ip),
        vec![
            Mapping {
                host: "127.0.0.1:54323".parse().unwrap(),
                protocol: Protocol::Tcp,
                pod: "10.244.1.5:8080".parse().unwrap(),
            },
            Mapping {
                host: "0.0.0.0:8081".parse().unwrap(),
                protocol: Protocol::Udp,
                pod: "10.244.1.5:81".parse().unwrap(),
            },
        ]
    );
    let host = spec(vec![port(None, 8080, 8080, None)], true);
    assert!(
        mappings(&host, pod_ip).is_empty(),
        "host network pods bind their ports themselves"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn tcp_and_udp_on_one_port_reach_their_servers_and_a_second_claim_fails() {
    // The "pod": a TCP server answering "tcp:<what it read>", a UDP one answering "udp:...".
    let tcp_server = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tcp_addr = tcp_server.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = tcp_server.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                let n = s.read(&mut buf).await.unwrap();
                let mut answer = b"tcp:".to_vec();
                answer.extend_from_slice(&buf[..n]);
                s.write_all(&answer).await.unwrap();
            });
        }
    });
    let udp_server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let udp_addr = udp_server.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 64];
        loop {
            let (n, from) = udp_server.recv_from(&mut buf).await.unwrap();
            let mut answer = b"udp:".to_vec();
            answer.extend_from_slice(&buf[..n]);
            udp_server.send_to(&answer, from).await.unwrap();
        }
    });
    let v4 = |a: SocketAddr| match a {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(_) => unreachable!(),
    };
    let host: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::LOCALHOST, free_port());
    let maps = vec![
        Mapping {
            host,
            protocol: Protocol::Tcp,
            pod: v4(tcp_addr),
        },
        Mapping {
            host,
            protocol: Protocol::Udp,
            pod: v4(udp_addr),
        },
    ];
    let ports = HostPorts::open(&maps).await.unwrap();

    let mut c = TcpStream::connect(host).await.unwrap();
    c.write_all(b"hello").await.unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"tcp:hello");

    let u = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    u.send_to(b"hostName", host).await.unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = tokio::time::timeout(Duration::from_secs(5), u.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"udp:hostName");
    assert_eq!(
        from,
        SocketAddr::V4(host),
        "answers come from the host port"
    );

    let again = HostPorts::open(&maps[..1]).await;
    let err = again.err().expect("the same hostIP:hostPort/TCP is taken");
    assert!(err.to_string().contains("cannot open hostport"), "{err}");

    drop(ports);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        TcpStream::connect(host).await.is_err(),
        "closing the pod's host ports stops forwarding"
    );
}
