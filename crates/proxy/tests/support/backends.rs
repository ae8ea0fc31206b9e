//! Test endpoints and clients: TCP servers that greet with their name and then echo, UDP
//! servers that answer `name:payload`, and the service states that point at them.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use portico_proxy::model::{Endpoint, Protocol, ProxyState, ServiceKey, ServicePort};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// Starts a TCP server on `addr` that writes `name\n`, then echoes until end of stream.
pub async fn tcp_backend(addr: &str, name: &'static str) {
    let listener = TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                s.write_all(format!("{name}\n").as_bytes()).await.unwrap();
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
}

/// Starts a UDP server on `addr` that answers each datagram with `name:datagram`.
pub async fn udp_backend(addr: &str, name: &'static str) {
    let socket = UdpSocket::bind(addr).await.unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        loop {
            let (n, from) = socket.recv_from(&mut buf).await.unwrap();
            let mut reply = format!("{name}:").into_bytes();
            reply.extend_from_slice(&buf[..n]);
            socket.send_to(&reply, from).await.unwrap();
        }
    });
}

/// Connects to `addr` and returns the greeting line (the endpoint's name).
pub async fn greeting(addr: &str) -> std::io::Result<String> {
    let s = TcpStream::connect(addr).await?;
    let mut line = String::new();
    let mut r = BufReader::new(s);
    tokio::time::timeout(Duration::from_secs(5), r.read_line(&mut line))
        .await
        .map_err(|_| std::io::Error::other("no greeting"))??;
    Ok(line.trim().to_string())
}

/// Sends `data` through `addr`, closes the write half, and returns everything read back
/// (greeting line included) until the endpoint closes.
pub async fn echo(addr: &str, data: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let (mut r, mut w) = s.split();
    let send = async {
        w.write_all(data).await.unwrap();
        w.shutdown().await.unwrap();
    };
    let mut got = Vec::new();
    let recv = r.read_to_end(&mut got);
    let (_, n) = tokio::join!(send, recv);
    n.unwrap();
    got
}

/// A ready endpoint.
pub fn ep(addr: &str, local: bool) -> Endpoint {
    let a: SocketAddr = addr.parse().unwrap();
    Endpoint {
        ip: a.ip(),
        port: a.port(),
        ready: true,
        serving: true,
        terminating: false,
        local,
    }
}

/// The key of port `port_name` of service `default/name`.
pub fn key(name: &str, protocol: Protocol) -> ServiceKey {
    ServiceKey {
        namespace: "default".into(),
        name: name.into(),
        port_name: String::new(),
        protocol,
    }
}

/// A ClusterIP service port on `cluster_ip:port`.
pub fn port(cluster_ip: &str, port: u16, endpoints: Vec<Endpoint>) -> ServicePort {
    ServicePort {
        cluster_ips: vec![cluster_ip.parse::<IpAddr>().unwrap()],
        port,
        node_port: None,
        external_ips: vec![],
        load_balancer_ips: vec![],
        affinity: None,
        external_local: false,
        internal_local: false,
        health_check_node_port: None,
        endpoints,
    }
}

/// A state of the given service ports.
pub fn state(ports: Vec<(ServiceKey, ServicePort)>) -> ProxyState {
    ProxyState {
        services: ports.into_iter().collect::<BTreeMap<_, _>>(),
    }
}
