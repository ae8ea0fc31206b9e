//! The notes' web images, started the way a pod starts them (argv from the catalog) and
//! asked over real HTTP on 127.0.0.1.

#[path = "support/harness.rs"]
mod harness;

use harness::{bound, exit_code, get, request, start};
use portico_images::{Catalog, Protocol, RunContext, Signal};
use std::path::Path;

/// The built-in program and its arguments for `image`, as `portico __image` would get them.
fn program_of(image: &str) -> (&'static str, Vec<String>) {
    let resolved = Catalog::builtin()
        .resolve(image, &[], &[], Path::new("/portico"))
        .unwrap();
    assert_eq!(&resolved.argv[..2], ["/portico", "__image"], "{image}");
    let name = portico_images::PROGRAMS
        .iter()
        .find(|p| **p == resolved.argv[2])
        .unwrap_or_else(|| panic!("{} is not a built-in program", resolved.argv[2]));
    (name, resolved.argv[3..].to_vec())
}

fn start_image(image: &str, ctx: &RunContext) -> tokio::task::JoinHandle<u8> {
    let (program, args) = program_of(image);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    start(program, &args, ctx)
}

#[tokio::test]
async fn kubia_says_which_pod_was_hit_and_logs_the_client() {
    let ctx = RunContext::loopback().with_hostname("kubia-7b5d9");
    let handle = start_image("luksa/kubia", &ctx);
    let addr = bound(&ctx, Protocol::Tcp, 8080).await;
    let reply = get(addr, "/").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "You've hit kubia-7b5d9\n");
    assert_eq!(
        ctx.logs(),
        vec![
            "Kubia server starting...".to_string(),
            "Received request from ::ffff:127.0.0.1".to_string()
        ]
    );
    ctx.signal(Signal::Terminate);
    assert_eq!(exit_code(handle).await, 0, "SIGTERM ends kubia with 0");
}

#[tokio::test]
async fn kubia_unhealthy_fails_after_the_fifth_request() {
    let ctx = RunContext::loopback().with_hostname("kubia-liveness");
    let _handle = start_image("luksa/kubia-unhealthy", &ctx);
    let addr = bound(&ctx, Protocol::Tcp, 8080).await;
    for _ in 0..5 {
        let reply = get(addr, "/").await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (200, "You've hit kubia-liveness\n")
        );
    }
    let reply = get(addr, "/").await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.body, "I'm not well. Please restart me!");
}

#[tokio::test]
async fn kubia_tags_answer_like_the_books_versions() {
    let ctx = RunContext::loopback().with_hostname("kubia-v2-abc");
    let _handle = start_image("docker.io/luksa/kubia:v2", &ctx);
    let addr = bound(&ctx, Protocol::Tcp, 8080).await;
    assert_eq!(
        get(addr, "/").await.body,
        "This is v2 running in pod kubia-v2-abc\n"
    );

    let ctx = RunContext::loopback().with_hostname("kubia-v3-abc");
    let _handle = start_image("luksa/kubia:v3", &ctx);
    let addr = bound(&ctx, Protocol::Tcp, 8080).await;
    for _ in 0..4 {
        assert_eq!(
            get(addr, "/").await.body,
            "This is v3 running in pod kubia-v3-abc\n"
        );
    }
    let reply = get(addr, "/").await;
    assert_eq!(reply.status, 500);
    assert_eq!(
        reply.body,
        "Some internal error has occurred! This is pod kubia-v3-abc\n"
    );
}

#[tokio::test]
async fn kubia_pet_keeps_posted_data() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = RunContext::loopback()
        .with_hostname("kubia-0")
        .with_data_dir(dir.path());
    let _handle = start_image("luksa/kubia-pet", &ctx);
    let addr = bound(&ctx, Protocol::Tcp, 8080).await;
    assert_eq!(
        get(addr, "/").await.body,
        "You've hit kubia-0\nData stored on this pod: No data posted yet\n"
    );
    let reply = request(
        addr,
        "POST",
        "/",
        &[],
        b"Hey there! This greeting was submitted to kubia-0.",
    )
    .await;
    assert_eq!(reply.body, "Data stored on pod kubia-0\n");
    assert_eq!(
        get(addr, "/").await.body,
        "You've hit kubia-0\nData stored on this pod: Hey there! This greeting was submitted to kubia-0.\n"
    );
    assert!(ctx
        .logs()
        .contains(&"New data has been received and stored.".to_string()));
}

#[tokio::test]
async fn takytaky_hostname_greets_with_the_pod_name() {
    let ctx = RunContext::loopback().with_hostname("hostname-server-7c85cc96dc-hrjt4");
    let _handle = start_image("takytaky/hostname", &ctx);
    let addr = bound(&ctx, Protocol::Tcp, 80).await;
    let reply = get(addr, "/").await;
    assert_eq!(reply.status, 200);
    // `curl -sf http://SVC | grep Hello` in the notes.
    let hello: Vec<&str> = reply.body.lines().filter(|l| l.contains("Hello")).collect();
    assert_eq!(
        hello,
        vec!["        <p>Hello,  hostname-server-7c85cc96dc-hrjt4</p> </blockquote>"]
    );
    assert!(reply
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    let log = &ctx.logs()[0];
    assert!(log.starts_with("127.0.0.1 - - ["), "{log}");
    assert!(log.contains("\"GET / HTTP/1.1\" 200 "), "{log}");
    assert!(log.contains("\"curl/8.5.0\""), "{log}");
}

#[tokio::test]
async fn go_myweb_says_hello_world_and_the_pod() {
    let ctx = RunContext::loopback().with_hostname("myapp-rs-rqkkq");
    let _handle = start_image("ghcr.io/c1t1d0s7/go-myweb", &ctx);
    let addr = bound(&ctx, Protocol::Tcp, 8080).await;
    let reply = get(addr, "/").await;
    assert_eq!(reply.body, "Hello World!\nmyapp-rs-rqkkq\n");
}

#[tokio::test]
async fn nginx_and_httpd_serve_their_default_pages() {
    let ctx = RunContext::loopback();
    let _handle = start_image("nginx:1.27", &ctx);
    let addr = bound(&ctx, Protocol::Tcp, 80).await;
    let reply = get(addr, "/").await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.body.contains("<h1>Welcome to nginx!</h1>"),
        "{}",
        reply.body
    );
    assert_eq!(reply.header("server"), Some("nginx/1.27.3"));
    let missing = get(addr, "/nope").await;
    assert_eq!(missing.status, 404);
    assert!(missing
        .body
        .contains("<center><h1>404 Not Found</h1></center>"));

    let ctx = RunContext::loopback();
    let _handle = start_image("httpd", &ctx);
    let addr = bound(&ctx, Protocol::Tcp, 80).await;
    assert_eq!(
        get(addr, "/").await.body,
        "<html><body><h1>It works!</h1></body></html>\n"
    );
}

#[tokio::test]
async fn network_multitool_names_the_pod() {
    let ctx = RunContext::loopback()
        .with_hostname("multitool-abc")
        .with_env(vec![("HTTP_PORT".to_string(), "8888".to_string())]);
    let _handle = start_image("praqma/network-multitool", &ctx);
    let addr = bound(&ctx, Protocol::Tcp, 8888).await;
    let body = get(addr, "/").await.body;
    assert!(
        body.starts_with("Praqma Network MultiTool (with NGINX) - multitool-abc - "),
        "{body}"
    );
}

#[tokio::test]
async fn pause_waits_for_a_signal_and_exits_zero() {
    let ctx = RunContext::loopback();
    let handle = start_image("registry.k8s.io/pause:3.10", &ctx);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!handle.is_finished(), "pause must keep running");
    ctx.signal(Signal::Terminate);
    assert_eq!(exit_code(handle).await, 0);
    assert_eq!(
        ctx.logs(),
        vec!["Shutting down, got signal: Terminated".to_string()]
    );
}

#[tokio::test]
async fn an_unknown_program_fails_with_the_list_of_programs() {
    let ctx = RunContext::loopback();
    let handle = start("no-such-program", &[], &ctx);
    assert_eq!(exit_code(handle).await, 1);
    let logs = ctx.logs();
    assert!(
        logs[0].contains("unknown built-in image program \"no-such-program\""),
        "{logs:?}"
    );
    assert!(logs[0].contains("kubia"), "{logs:?}");
}

#[tokio::test]
async fn echo_server_echoes_requests_and_websocket_messages() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let ctx = RunContext::loopback().with_hostname("echo-abc");
    let handle = start_image("jmalloc/echo-server", &ctx);
    let addr = bound(&ctx, Protocol::Tcp, 8080).await;
    let reply = get(addr, "/some/path?x=1").await;
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .body
            .starts_with("Request served by echo-abc\n\nGET /some/path?x=1 HTTP/1.1\n"),
        "{}",
        reply.body
    );

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    let hello = ws.next().await.unwrap().unwrap();
    assert_eq!(hello, Message::text("Request served by echo-abc"));
    ws.send(Message::text("ping over websocket")).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::text("ping over websocket")
    );
    ws.close(None).await.unwrap();
    ctx.signal(Signal::Terminate);
    assert_eq!(exit_code(handle).await, 0);
}
