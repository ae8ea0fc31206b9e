//! Test harness: starts a built-in program on 127.0.0.1 and talks plain HTTP/1.1 and UDP to it.
#![allow(dead_code)]

use portico_images::{run_program, Protocol, RunContext};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// How long any single step may take before the test fails.
pub const STEP: Duration = Duration::from_secs(10);

/// Starts `program args...` in `ctx` as a task returning its exit code.
pub fn start(program: &'static str, args: &[&str], ctx: &RunContext) -> JoinHandle<u8> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let ctx = ctx.clone();
    tokio::spawn(async move { run_program(program, &args, ctx).await })
}

/// The address the program got for the port it asked for.
pub async fn bound(ctx: &RunContext, protocol: Protocol, port: u16) -> SocketAddr {
    tokio::time::timeout(STEP, ctx.bound(protocol, port))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "nothing listens for {protocol:?} port {port}; logs: {:?}",
                ctx.logs()
            )
        })
}

/// Waits for the program's exit code.
pub async fn exit_code(handle: JoinHandle<u8>) -> u8 {
    tokio::time::timeout(STEP, handle)
        .await
        .expect("the program did not exit")
        .expect("the program panicked")
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `GET path` with `Connection: close`.
pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, &[], b"").await
}

/// One request over a fresh connection, read to the end.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    tokio::time::timeout(STEP, async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: curl/8.5.0\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        parse(&raw)
    })
    .await
    .expect("no HTTP answer in time")
}

fn parse(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let Some((size, rest)) = body.split_once("\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
}

/// Sends one datagram and returns the answer.
pub async fn udp(addr: SocketAddr, message: &str) -> (String, SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = socket.local_addr().unwrap();
    socket.send_to(message.as_bytes(), addr).await.unwrap();
    let mut buf = [0u8; 2048];
    let (n, _) = tokio::time::timeout(STEP, socket.recv_from(&mut buf))
        .await
        .expect("no UDP answer in time")
        .unwrap();
    (String::from_utf8_lossy(&buf[..n]).into_owned(), local)
}

/// A loopback port with nothing listening on it.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
