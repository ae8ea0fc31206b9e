//! Port passing: in one process over a socket pair, and into a sandbox's own network
//! namespace.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::OwnedFd;
use std::process::Stdio;

use super::*;
use crate::testing;
use crate::userns::{inherit_fd, sandbox_command_with, PidNamespace};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A broker on one end of a socket pair (loopback-only policy) and a client on the other.
fn pair() -> (PortClient, tokio::task::JoinHandle<Result<(), Error>>) {
    let (host, sandbox) = std::os::unix::net::UnixStream::pair().unwrap();
    host.set_nonblocking(true).unwrap();
    let host = UnixStream::from_std(host).unwrap();
    let broker = tokio::spawn(PortBroker::serve(host, allow_loopback_and(vec![])));
    (PortClient::from_fd(OwnedFd::from(sandbox)).unwrap(), broker)
}

#[tokio::test]
async fn passes_listeners_and_sends_errors_back() {
    let (client, broker) = pair();

    let listener = client.bind_tcp(addr("127.0.0.1:0")).await.unwrap();
    let bound = listener.local_addr().unwrap();
    assert_eq!(bound.ip().to_string(), "127.0.0.1");
    assert_ne!(bound.port(), 0);
    let mut conn = TcpStream::connect(bound).unwrap();
    conn.write_all(b"ping").unwrap();
    let (mut accepted, _) = listener.accept().unwrap();
    let mut buf = [0u8; 4];
    accepted.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");

    // The port is taken while the passed listener is open.
    let err = client.bind_tcp(bound).await.unwrap_err().to_string();
    assert_eq!(err, format!("binding tcp {bound}: Address already in use"));

    let err = client
        .bind_tcp(addr("0.0.0.0:8080"))
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "refused tcp 0.0.0.0:8080: 0.0.0.0 is neither in 127.0.0.0/8 nor the listen address"
    );

    let udp = client.bind_udp(addr("127.0.0.1:0")).await.unwrap();
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.send_to(b"dns?", udp.local_addr().unwrap()).unwrap();
    let mut buf = [0u8; 8];
    let (n, from) = udp.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"dns?");
    assert_eq!(from, sender.local_addr().unwrap());

    // Dropping the passed listener releases the host port (the host kept no copy).
    drop(listener);
    drop(accepted);
    drop(conn);
    client.bind_tcp(bound).await.unwrap();

    drop(client);
    broker.await.unwrap().unwrap();
}

#[tokio::test]
async fn concurrent_requests_get_their_own_answers() {
    let (client, _broker) = pair();
    let mut tasks = Vec::new();
    for i in 0..16u32 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            if i % 4 == 3 {
                let err = client.bind_tcp(addr("192.0.2.1:80")).await.unwrap_err();
                Err(err.to_string())
            } else {
                Ok(client.bind_tcp(addr("127.0.0.1:0")).await.unwrap())
            }
        }));
    }
    let mut ports = std::collections::BTreeSet::new();
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.unwrap() {
            Ok(listener) => {
                assert!(i % 4 != 3);
                ports.insert(listener.local_addr().unwrap().port());
            }
            Err(text) => {
                assert_eq!(i % 4, 3);
                assert!(text.starts_with("refused tcp 192.0.2.1:80"), "{text}");
            }
        }
    }
    assert_eq!(ports.len(), 12);
}

#[tokio::test]
async fn requests_fail_once_the_host_side_is_gone() {
    let (host, sandbox) = std::os::unix::net::UnixStream::pair().unwrap();
    let client = PortClient::from_fd(OwnedFd::from(sandbox)).unwrap();
    drop(host);
    let err = client.bind_tcp(addr("127.0.0.1:0")).await.unwrap_err();
    assert!(matches!(err, Error::PortChannel(_)), "{err}");
}

const CHILD: &str = "ports::tests::listener_reaches_into_a_sandbox_netns";

/// The host side starts a sandbox (own network namespace, `lo` down) that asks for a host
/// listener, then connects to it from the host's loopback.
#[test]
fn listener_reaches_into_a_sandbox_netns() {
    if testing::role().as_deref() == Some(CHILD) {
        return sandbox_side();
    }
    if !testing::userns_or_skip() {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (host, sandbox) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut cmd = testing::self_command(CHILD, CHILD);
    sandbox_command_with(&mut cmd, PidNamespace::Inherit);
    inherit_fd(&mut cmd, OwnedFd::from(sandbox), 3);
    cmd.stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    drop(cmd);
    host.set_nonblocking(true).unwrap();
    let broker = {
        let _g = rt.enter();
        rt.spawn(PortBroker::serve(
            UnixStream::from_std(host).unwrap(),
            allow_loopback_and(vec![]),
        ))
    };
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = |prefix: &str| loop {
        let line = lines.next().expect("sandbox ended early").unwrap();
        // libtest's "test NAME ... " may start the line.
        if let Some((_, rest)) = line.split_once(prefix) {
            break rest.to_string();
        }
    };
    let netns = next("NETNS ");
    assert_ne!(
        netns,
        netns_id(),
        "the sandbox should have its own network namespace"
    );
    let port: u16 = next("PORT ").parse().unwrap();
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut text = String::new();
    conn.read_to_string(&mut text).unwrap();
    assert_eq!(
        text,
        format!("hello from the sandbox to {}", conn.local_addr().unwrap())
    );
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    assert!(child.wait().unwrap().success(), "{rest:?}");
    rt.block_on(broker).unwrap().unwrap();
}

/// The network namespace of this process, as `ls -l /proc/self/ns/net` shows it.
fn netns_id() -> String {
    std::fs::read_link("/proc/self/ns/net")
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Inside the sandbox: a listener from the host, in a network namespace of its own.
fn sandbox_side() {
    use std::os::fd::FromRawFd;
    println!("NETNS {}", netns_id());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt.block_on(async {
        // SAFETY: descriptor 3 was set up by `inherit_fd` for this process and nothing else
        // owns it.
        #[allow(unsafe_code)]
        let fd = unsafe { OwnedFd::from_raw_fd(3) };
        let client = PortClient::from_fd(fd).unwrap();
        client.bind_tcp(addr("127.0.0.1:0")).await.unwrap()
    });
    println!("PORT {}", listener.local_addr().unwrap().port());
    let (mut conn, peer) = listener.accept().unwrap();
    write!(conn, "hello from the sandbox to {peer}").unwrap();
}
