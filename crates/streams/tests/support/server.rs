//! A small hyper 1 server that serves exec and port-forward through the crate's API, as the
//! node agent will.

#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use portico_streams::{upgrade_exec, upgrade_portforward, PodTarget, Session};
use tokio::net::{TcpListener, TcpStream};

/// What the server runs for each exec session.
pub type ExecHandler =
    Arc<dyn Fn(Session) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Starts the server; port-forward dials `forward_to` whatever port is asked.
pub async fn start(exec: ExecHandler, forward_to: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let exec = exec.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let exec = exec.clone();
                    async move {
                        let response = if req.uri().path().ends_with("/portforward") {
                            let target = PodTarget {
                                pod: "web".into(),
                                uid: "0b5e1d2c-uid".into(),
                            };
                            upgrade_portforward(req, target, move |_port| {
                                TcpStream::connect(forward_to)
                            })
                        } else {
                            upgrade_exec(req, move |session| exec(session))
                        };
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    addr
}

/// A TCP echo server that echoes until the client half-closes, then closes.
pub async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let (mut r, mut w) = stream.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// An address where nothing listens (connections are refused).
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}
