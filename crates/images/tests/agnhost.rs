//! agnhost's subcommands over real HTTP, TCP and UDP on 127.0.0.1.

#[path = "support/harness.rs"]
mod harness;

use harness::{bound, closed_port, exit_code, get, request, start, udp};
use portico_images::{Protocol, RunContext, Signal};
use std::time::Duration;

async fn netexec(
    ctx: &RunContext,
    args: &[&str],
) -> (tokio::task::JoinHandle<u8>, std::net::SocketAddr) {
    let mut all = vec!["netexec"];
    all.extend_from_slice(args);
    let handle = start("agnhost", &all, ctx);
    let addr = bound(ctx, Protocol::Tcp, 8080).await;
    (handle, addr)
}

#[tokio::test]
async fn netexec_basic_endpoints() {
    let ctx = RunContext::loopback().with_hostname("netserver-0");
    let (_handle, addr) = netexec(&ctx, &[]).await;
    bound(&ctx, Protocol::Udp, 8081).await;

    assert_eq!(get(addr, "/hostname").await.body, "netserver-0");
    assert_eq!(get(addr, "/hostName").await.body, "netserver-0");
    let client_ip = get(addr, "/clientip").await.body;
    assert!(client_ip.starts_with("127.0.0.1:"), "{client_ip}");
    assert_eq!(
        get(addr, "/echo?msg=hello%20world").await.body,
        "hello world"
    );
    let not_found = get(addr, "/echo?msg=gone&code=404").await;
    assert_eq!((not_found.status, not_found.body.as_str()), (404, "gone"));
    let healthz = get(addr, "/healthz").await;
    assert_eq!((healthz.status, healthz.body.as_str()), (200, ""));
    let now = get(addr, "/anything/else").await.body;
    assert!(
        now.starts_with("NOW: ") && now.ends_with(" +0000 UTC"),
        "{now}"
    );
    let header = request(addr, "GET", "/header?key=X-Test", &[("X-Test", "v1")], b"").await;
    assert_eq!(header.body, "v1");

    let redirect = get(addr, "/redirect?location=/echo%3Fmsg%3Dfoobar&code=307").await;
    assert_eq!(redirect.status, 307);
    assert_eq!(redirect.header("location"), Some("/echo?msg=foobar"));

    assert!(ctx
        .logs()
        .iter()
        .any(|l| l.ends_with(" Started HTTP server on port 8080")));
    assert!(ctx
        .logs()
        .iter()
        .any(|l| l.ends_with(" GET /echo?msg=hello world&code=")));
}

#[tokio::test]
async fn netexec_shell_reports_output_and_exit_status() {
    let ctx = RunContext::loopback();
    let (_handle, addr) = netexec(&ctx, &[]).await;
    assert_eq!(
        get(addr, "/shell?cmd=echo%20hi%3B%20echo%20err%201%3E%262")
            .await
            .body,
        r#"{"output":"hi\nerr\n"}"#
    );
    assert_eq!(
        get(addr, "/shell?shellCommand=exit+3").await.body,
        r#"{"error":"exit status 3"}"#
    );
    assert_eq!(
        get(addr, "/shell?cmd=echo+%27%3Cb%3E%27%3B+false")
            .await
            .body,
        r#"{"error":"exit status 1","output":"\u003cb\u003e\n"}"#
    );
}

#[tokio::test]
async fn netexec_udp_commands() {
    let ctx = RunContext::loopback().with_hostname("netserver-1");
    let (_handle, _addr) = netexec(&ctx, &[]).await;
    let udp_addr = bound(&ctx, Protocol::Udp, 8081).await;
    assert_eq!(udp(udp_addr, "hostname").await.0, "netserver-1");
    assert_eq!(udp(udp_addr, "echo Hello").await.0, "hello");
    let (answer, local) = udp(udp_addr, "clientip").await;
    assert_eq!(answer, local.to_string());
}

#[tokio::test]
async fn netexec_dial_reaches_other_endpoints() {
    let target_ctx = RunContext::loopback().with_hostname("target-pod");
    let (_target, target_http) = netexec(&target_ctx, &[]).await;
    let target_udp = bound(&target_ctx, Protocol::Udp, 8081).await;

    let ctx = RunContext::loopback().with_hostname("prober");
    let (_handle, addr) = netexec(&ctx, &[]).await;

    let http = get(
        addr,
        &format!(
            "/dial?request=hostname&protocol=http&host=127.0.0.1&port={}&tries=2",
            target_http.port()
        ),
    )
    .await;
    assert_eq!(
        (http.status, http.body.as_str()),
        (200, r#"{"responses":["target-pod","target-pod"]}"#)
    );

    let udp = get(
        addr,
        &format!(
            "/dial?request=hostname&protocol=udp&host=localhost&port={}&tries=1",
            target_udp.port()
        ),
    )
    .await;
    assert_eq!(udp.body, r#"{"responses":["target-pod"]}"#);

    let port = closed_port();
    let refused = get(
        addr,
        &format!("/dial?request=hostname&host=127.0.0.1&port={port}"),
    )
    .await;
    assert_eq!(refused.status, 200);
    assert_eq!(
        refused.body,
        format!(
            r#"{{"errors":["Get \"http://127.0.0.1:{port}/hostname\": dial tcp 127.0.0.1:{port}: connect: connection refused"]}}"#
        )
    );

    let bad = get(addr, "/dial?host=127.0.0.1&port=1").await;
    assert_eq!(
        (bad.status, bad.body.as_str()),
        (400, "request parameter not specified. <nil>\n")
    );
    let bad = get(addr, "/dial?request=x&host=127.0.0.1&port=1&protocol=icmp").await;
    assert_eq!(
        (bad.status, bad.body.as_str()),
        (400, "unsupported protocol. icmp\n")
    );
}

#[tokio::test]
async fn netexec_exit_ends_the_program_with_the_code() {
    let ctx = RunContext::loopback();
    let (handle, addr) = netexec(&ctx, &[]).await;
    let client = tokio::spawn(async move { get(addr, "/exit?code=3").await });
    assert_eq!(exit_code(handle).await, 3);
    client.abort();

    let ctx = RunContext::loopback();
    let (handle, addr) = netexec(&ctx, &[]).await;
    let reply = get(addr, "/exit?code=4&timeout=2s").await;
    assert_eq!(reply.status, 200);
    assert_eq!(exit_code(handle).await, 4);
    assert!(ctx.logs().iter().any(|l| l.ends_with(
        "Will begin shutdown in 0s, allowing 2s for connections to close, then will exit with 4"
    )));
}

#[tokio::test]
async fn netexec_without_udp_is_not_ready_and_flags_are_checked() {
    let ctx = RunContext::loopback();
    let _handle = start(
        "agnhost",
        &["netexec", "--udp-port=-1", "--http-port", "9090"],
        &ctx,
    );
    let addr = bound(&ctx, Protocol::Tcp, 9090).await;
    assert_eq!(get(addr, "/healthz").await.status, 412);

    let ctx = RunContext::loopback();
    let handle = start("agnhost", &["netexec", "--bogus"], &ctx);
    assert_eq!(exit_code(handle).await, 1);
    assert!(
        ctx.logs()[0].contains("Error: unknown flag: --bogus"),
        "{:?}",
        ctx.logs()
    );
}

#[tokio::test]
async fn serve_hostname_over_http_tcp_and_udp() {
    let ctx = RunContext::loopback().with_hostname("serve-hostname-1");
    let handle = start("agnhost", &["serve-hostname"], &ctx);
    let addr = bound(&ctx, Protocol::Tcp, 9376).await;
    assert_eq!(get(addr, "/whatever").await.body, "serve-hostname-1");
    ctx.signal(Signal::Terminate);
    assert_eq!(exit_code(handle).await, 0);
    assert!(ctx
        .logs()
        .iter()
        .any(|l| l.ends_with(" Shutting down after receiving signal: terminated.")));

    let ctx = RunContext::loopback().with_hostname("raw-1");
    let _handle = start(
        "agnhost",
        &[
            "serve-hostname",
            "--tcp",
            "--udp",
            "--http=false",
            "--port=12345",
        ],
        &ctx,
    );
    let tcp = bound(&ctx, Protocol::Tcp, 12345).await;
    let mut stream = tokio::net::TcpStream::connect(tcp).await.unwrap();
    let mut text = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut text)
        .await
        .unwrap();
    assert_eq!(text, "raw-1");
    let udp_addr = bound(&ctx, Protocol::Udp, 12345).await;
    assert_eq!(udp(udp_addr, "x").await.0, "raw-1");

    let ctx = RunContext::loopback();
    let handle = start("agnhost", &["serve-hostname", "--udp"], &ctx);
    assert_eq!(
        exit_code(handle).await,
        1,
        "--udp with the default --http=true is refused"
    );
    assert!(ctx.logs()[0].ends_with("Can't server TCP/UDP mode and HTTP mode at the same time"));
}

#[tokio::test]
async fn agnhost_pause_keeps_agnhost_exit_codes() {
    let ctx = RunContext::loopback();
    let handle = start("agnhost", &[], &ctx);
    tokio::time::sleep(Duration::from_millis(50)).await;
    ctx.signal(Signal::Terminate);
    assert_eq!(exit_code(handle).await, 2);
    assert_eq!(ctx.logs(), vec!["Paused".to_string()]);

    let ctx = RunContext::loopback();
    let handle = start("agnhost", &["pause"], &ctx);
    tokio::time::sleep(Duration::from_millis(50)).await;
    ctx.signal(Signal::Interrupt);
    assert_eq!(exit_code(handle).await, 1);
}

#[tokio::test]
async fn porter_serves_environment_values() {
    let env = vec![
        ("SERVE_PORT_9001".to_string(), "foo".to_string()),
        ("SERVE_UDP_PORT_9002".to_string(), "bar".to_string()),
        (
            "SERVE_PORT_9003".to_string(),
            r#"<a href="/rewriteme">test</a>"#.to_string(),
        ),
    ];
    let ctx = RunContext::loopback().with_env(env.clone());
    let _handle = start("agnhost", &["porter"], &ctx);
    let addr = bound(&ctx, Protocol::Tcp, 9001).await;
    let reply = get(addr, "/any").await;
    assert_eq!(reply.body, "foo");
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    let addr = bound(&ctx, Protocol::Tcp, 9003).await;
    let reply = get(addr, "/").await;
    assert_eq!(
        reply.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let udp_addr = bound(&ctx, Protocol::Udp, 9002).await;
    assert_eq!(udp(udp_addr, "ping").await.0, "bar");

    let ctx = RunContext::loopback().with_env(env);
    let _handle = start("agnhost", &["porter", "--json-response"], &ctx);
    let addr = bound(&ctx, Protocol::Tcp, 9001).await;
    let reply = request(addr, "POST", "/", &[], b"").await;
    assert_eq!(reply.body, r#"{"Method":"POST","Body":"foo"}"#);
    assert_eq!(reply.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn liveness_is_healthy_at_first() {
    let ctx = RunContext::loopback();
    let _handle = start("agnhost", &["liveness"], &ctx);
    let addr = bound(&ctx, Protocol::Tcp, 8080).await;
    let reply = get(addr, "/healthz").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok"));
    let started = get(addr, "/started").await.body;
    assert!(started.ends_with('s'), "{started}");
}

#[tokio::test]
async fn test_webserver_serves_files_and_listings() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("hello.txt"), "hello from a file\n").unwrap();
    std::fs::create_dir(root.path().join("sub")).unwrap();
    std::fs::write(root.path().join("sub").join("a.html"), "<p>a</p>").unwrap();
    let ctx = RunContext::loopback().with_fs_root(root.path());
    let _handle = start("agnhost", &["test-webserver"], &ctx);
    let addr = bound(&ctx, Protocol::Tcp, 80).await;

    let file = get(addr, "/hello.txt").await;
    assert_eq!(
        (file.status, file.body.as_str()),
        (200, "hello from a file\n")
    );
    assert_eq!(file.header("access-control-allow-origin"), Some("*"));
    let dir = get(addr, "/sub").await;
    assert_eq!((dir.status, dir.header("location")), (301, Some("sub/")));
    let listing = get(addr, "/sub/").await;
    assert!(
        listing.body.contains("<a href=\"a.html\">a.html</a>"),
        "{}",
        listing.body
    );
    assert_eq!(get(addr, "/../../etc/nope").await.status, 404);
}

#[tokio::test]
async fn entrypoint_tester_and_unknown_subcommands() {
    let ctx = RunContext::loopback();
    let handle = start("agnhost", &["entrypoint-tester", "a", "b"], &ctx);
    assert_eq!(exit_code(handle).await, 0);
    assert_eq!(
        ctx.logs(),
        vec!["[/agnhost entrypoint-tester a b]".to_string()]
    );

    let ctx = RunContext::loopback();
    let handle = start("agnhost", &["nope"], &ctx);
    assert_eq!(exit_code(handle).await, 1);
    assert!(ctx.logs()[0].contains("Error: unknown command \"nope\" for \"agnhost\""));
}
