//! HTTP probe tests against real servers on 127.0.0.1.

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::ContainerPort;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::net::TcpListener;

use super::*;

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const SECOND: Duration = Duration::from_secs(1);

/// What the test server answers for a request target; `None` never answers.
type Handler = Arc<dyn Fn(&str, u16) -> Option<String> + Send + Sync>;

struct Server {
    port: u16,
    /// Request heads received, in order.
    requests: Arc<Mutex<Vec<String>>>,
}

async fn serve(handler: Handler) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte).await {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let target = head.split(' ').nth(1).unwrap_or("").to_string();
                seen.lock().unwrap().push(head);
                match handler(&target, port) {
                    Some(response) => {
                        let _ = stream.write_all(response.as_bytes()).await;
                        let _ = stream.shutdown().await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(3600)).await,
                }
            });
        }
    });
    Server { port, requests }
}

fn status(code: u16) -> String {
    format!("HTTP/1.1 {code} Whatever\r\nContent-Length: 2\r\n\r\nok")
}

fn redirect(code: u16, location: &str) -> String {
    format!("HTTP/1.1 {code} Moved\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n")
}

fn action(port: u16, path: &str) -> HTTPGetAction {
    HTTPGetAction {
        port: IntOrString::Int(i32::from(port)),
        path: Some(path.into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn ok_status_and_the_kubelet_request() {
    let server = serve(Arc::new(|_, _| Some(status(200)))).await;
    let mut probe = action(server.port, "/healthz?full=1");
    probe.http_headers = Some(vec![HTTPHeader {
        name: "x-custom".into(),
        value: "yes".into(),
    }]);
    let outcome = check(&probe, LOCAL, &Container::default(), SECOND).await;
    assert_eq!(outcome, Outcome::Success);
    let requests = server.requests.lock().unwrap();
    let head = &requests[0];
    let lines: Vec<&str> = head.split("\r\n").collect();
    assert_eq!(lines[0], "GET /healthz?full=1 HTTP/1.1");
    assert!(
        lines.contains(&format!("Host: 127.0.0.1:{}", server.port).as_str()),
        "{head}"
    );
    assert!(lines.contains(&"User-Agent: kube-probe/1.32"), "{head}");
    assert!(lines.contains(&"Accept: */*"), "{head}");
    assert!(lines.contains(&"X-Custom: yes"), "{head}");
    assert!(lines.contains(&"Connection: close"), "{head}");
}

#[tokio::test]
async fn statuses_from_200_to_399_pass() {
    for (code, passes) in [
        (200, true),
        (204, true),
        (304, true),
        (399, true),
        (400, false),
        (404, false),
        (500, false),
        (503, false),
    ] {
        let server = serve(Arc::new(move |_, _| Some(status(code)))).await;
        let outcome = check(
            &action(server.port, "/"),
            LOCAL,
            &Container::default(),
            SECOND,
        )
        .await;
        if passes {
            assert_eq!(outcome, Outcome::Success, "{code}");
        } else {
            assert_eq!(
                outcome,
                Outcome::Failure(format!("HTTP probe failed with statuscode: {code}")),
                "{code}"
            );
        }
    }
}

#[tokio::test]
async fn probe_headers_replace_defaults() {
    let server = serve(Arc::new(|_, _| Some(status(200)))).await;
    let mut probe = action(server.port, "health");
    probe.http_headers = Some(vec![
        HTTPHeader {
            name: "user-agent".into(),
            value: "mine/2".into(),
        },
        HTTPHeader {
            name: "Accept".into(),
            value: String::new(),
        },
        HTTPHeader {
            name: "Host".into(),
            value: "kubia.example".into(),
        },
    ]);
    assert_eq!(
        check(&probe, LOCAL, &Container::default(), SECOND).await,
        Outcome::Success
    );
    let requests = server.requests.lock().unwrap();
    let lines: Vec<&str> = requests[0].split("\r\n").collect();
    assert_eq!(
        lines[0], "GET /health HTTP/1.1",
        "a path without / gets one"
    );
    assert!(lines.contains(&"Host: kubia.example"));
    assert!(lines.contains(&"User-Agent: mine/2"));
    assert!(!lines.iter().any(|l| l.starts_with("Accept:")), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("kube-probe")));
}

#[tokio::test]
async fn named_ports_come_from_the_container() {
    let server = serve(Arc::new(|_, _| Some(status(200)))).await;
    let container = Container {
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: i32::from(server.port),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let mut probe = action(0, "/");
    probe.port = IntOrString::String("http".into());
    assert_eq!(
        check(&probe, LOCAL, &container, SECOND).await,
        Outcome::Success
    );
    probe.port = IntOrString::String("metrics".into());
    assert_eq!(
        check(&probe, LOCAL, &container, SECOND).await,
        Outcome::Unknown("strconv.Atoi: parsing \"metrics\": invalid syntax".into())
    );
}

#[tokio::test]
async fn follows_redirects_on_the_same_host() {
    let server = serve(Arc::new(|target, port| {
        Some(match target {
            "/old" => redirect(302, "/new"),
            "/new" => redirect(301, &format!("http://127.0.0.1:{port}/final")),
            "/final" => status(500),
            _ => status(404),
        })
    }))
    .await;
    let outcome = check(
        &action(server.port, "/old"),
        LOCAL,
        &Container::default(),
        SECOND,
    )
    .await;
    assert_eq!(
        outcome,
        Outcome::Failure("HTTP probe failed with statuscode: 500".into())
    );
    let requests = server.requests.lock().unwrap();
    let targets: Vec<&str> = requests
        .iter()
        .map(|r| r.split(' ').nth(1).unwrap())
        .collect();
    assert_eq!(targets, ["/old", "/new", "/final"]);
}

#[tokio::test]
async fn redirects_off_the_host_are_not_followed_and_pass() {
    let server = serve(Arc::new(|_, _| {
        Some(redirect(302, "http://elsewhere.invalid/login"))
    }))
    .await;
    let outcome = check(
        &action(server.port, "/"),
        LOCAL,
        &Container::default(),
        SECOND,
    )
    .await;
    assert_eq!(outcome, Outcome::Success);
    assert_eq!(server.requests.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn redirect_loops_stop_after_ten_requests() {
    let server = serve(Arc::new(|_, _| Some(redirect(307, "/loop")))).await;
    let outcome = check(
        &action(server.port, "/loop"),
        LOCAL,
        &Container::default(),
        SECOND,
    )
    .await;
    assert_eq!(
        outcome,
        Outcome::Failure(format!(
            "Get \"http://127.0.0.1:{}/loop\": stopped after 10 redirects",
            server.port
        ))
    );
    assert_eq!(server.requests.lock().unwrap().len(), 10);
}

#[tokio::test]
async fn refused_connections_read_like_go() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let outcome = check(&action(port, "/"), LOCAL, &Container::default(), SECOND).await;
    assert_eq!(
        outcome,
        Outcome::Failure(format!(
            "Get \"http://127.0.0.1:{port}/\": dial tcp 127.0.0.1:{port}: connect: connection refused"
        ))
    );
    let mut no_path = action(port, "");
    no_path.path = None;
    let outcome = check(&no_path, LOCAL, &Container::default(), SECOND).await;
    assert_eq!(
        outcome,
        Outcome::Failure(format!(
            "Get \"http://127.0.0.1:{port}\": dial tcp 127.0.0.1:{port}: connect: connection refused"
        ))
    );
}

#[tokio::test]
async fn silent_servers_time_out() {
    let server = serve(Arc::new(|_, _| None)).await;
    let started = std::time::Instant::now();
    let outcome = check(
        &action(server.port, "/"),
        LOCAL,
        &Container::default(),
        Duration::from_millis(200),
    )
    .await;
    assert_eq!(
        outcome,
        Outcome::Failure(format!(
            "Get \"http://127.0.0.1:{}/\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
            server.port
        ))
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn large_bodies_are_not_waited_for() {
    let body = "x".repeat(1 << 20);
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let server = serve(Arc::new(move |_, _| Some(response.clone()))).await;
    let outcome = check(
        &action(server.port, "/"),
        LOCAL,
        &Container::default(),
        SECOND,
    )
    .await;
    assert_eq!(outcome, Outcome::Success);
}

#[tokio::test]
async fn informational_responses_are_skipped_and_garbage_fails() {
    let server = serve(Arc::new(|target, _| {
        Some(match target {
            "/continue" => format!("HTTP/1.1 100 Continue\r\n\r\n{}", status(503)),
            _ => "garbage\r\n\r\n".to_string(),
        })
    }))
    .await;
    let outcome = check(
        &action(server.port, "/continue"),
        LOCAL,
        &Container::default(),
        SECOND,
    )
    .await;
    assert_eq!(
        outcome,
        Outcome::Failure("HTTP probe failed with statuscode: 503".into())
    );
    let outcome = check(
        &action(server.port, "/garbage"),
        LOCAL,
        &Container::default(),
        SECOND,
    )
    .await;
    assert_eq!(
        outcome,
        Outcome::Failure(format!(
            "Get \"http://127.0.0.1:{}/garbage\": net/http: HTTP/1.x transport connection broken: malformed HTTP response \"garbage\"",
            server.port
        ))
    );
}

#[tokio::test]
async fn closed_without_answer_is_eof() {
    let server = serve(Arc::new(|_, _| Some(String::new()))).await;
    let outcome = check(
        &action(server.port, "/"),
        LOCAL,
        &Container::default(),
        SECOND,
    )
    .await;
    assert_eq!(
        outcome,
        Outcome::Failure(format!("Get \"http://127.0.0.1:{}/\": EOF", server.port))
    );
}

#[tokio::test]
async fn https_is_reported_unsupported() {
    let mut probe = action(8443, "/");
    probe.scheme = Some("HTTPS".into());
    assert_eq!(
        check(&probe, LOCAL, &Container::default(), SECOND).await,
        Outcome::Unknown("HTTPS probes are not supported".into())
    );
}

#[test]
fn header_names_are_canonical() {
    assert_eq!(canonical_name("x-custom-header"), "X-Custom-Header");
    assert_eq!(canonical_name("USER-AGENT"), "User-Agent");
    assert_eq!(canonical_name("bad name"), "bad name");
}
