//! `portico __cluster`: everything inside the sandbox. Builds the node network, starts the API
//! server and the controllers, starts one node agent per node in a network namespace of its
//! own, and reports progress to `portico up` on stdout.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use portico_sandbox::netlink::Netlink;
use portico_sandbox::netns::NetNs;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use super::{plan, UpArgs, PORTS_FD};

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Runs the cluster until SIGTERM or SIGINT.
pub fn cluster(args: &UpArgs) -> Result<()> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the async runtime")?;
    let result = runtime.block_on(run(args));
    runtime.shutdown_timeout(Duration::from_secs(2));
    if let Err(e) = &result {
        say(&format!("error {e:#}"));
    }
    result
}

/// The channel to the host side, on descriptor 3.
#[allow(unsafe_code)]
fn ports_channel() -> Result<portico_sandbox::ports::PortClient> {
    // SAFETY: descriptor 3 was placed there by `portico up` for this process and nothing
    // else in this process owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(PORTS_FD) };
    nix::fcntl::fcntl(
        &fd,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )
    .context("the host-port channel is missing")?;
    Ok(portico_sandbox::ports::PortClient::from_fd(fd)?)
}

async fn run(args: &UpArgs) -> Result<()> {
    let home = args.home();
    let run_dir = home.join("run");
    let ports = ports_channel()?;
    say("step building the node network");
    let root = Netlink::current()?;
    root.link_up("lo").await?;
    root.add_bridge(plan::NODE_BRIDGE).await?;
    root.add_addr(
        plan::NODE_BRIDGE,
        IpAddr::V4(plan::GATEWAY),
        plan::NODE_PREFIX,
    )
    .await?;
    root.link_up(plan::NODE_BRIDGE).await?;
    let _ = std::fs::write("/proc/sys/net/ipv4/ip_forward", "1");

    say("step starting the API server");
    let host_api = SocketAddr::new(args.listen_address, args.api_port);
    let api_listener = ports
        .bind_tcp(host_api)
        .await
        .with_context(|| format!("cannot listen on {host_api} on the host"))?;
    let store_path = home.join("state.db");
    let store: Arc<dyn portico_store::Store> = Arc::new(
        portico_store_sqlite::SqliteStore::open(&store_path)
            .with_context(|| format!("opening the store {}", store_path.display()))?,
    );
    let mut config = portico_apiserver::Config::new(home.clone());
    config.listen = SocketAddr::new(IpAddr::V4(plan::GATEWAY), plan::API_PORT);
    config.extra_listeners = vec![Arc::new(api_listener)];
    config.kubeconfig_server = Some(format!("https://{host_api}"));
    let shutdown = CancellationToken::new();
    let api = portico_apiserver::start(config, store, shutdown.clone())
        .await
        .context("starting the API server")?;
    // Components inside the sandbox reach the API server on the node network.
    let text = std::fs::read_to_string(&api.kubeconfig).context("reading the kubeconfig")?;
    let internal = run_dir.join("kubeconfig");
    std::fs::write(
        &internal,
        text.replace(
            &format!("https://{host_api}"),
            &format!("https://{}:{}", plan::GATEWAY, plan::API_PORT),
        ),
    )
    .context("writing the internal kubeconfig")?;
    let kconfig = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&internal)?,
        &Default::default(),
    )
    .await?;
    let client = kube::Client::try_from(kconfig)?;

    say("step starting the controllers");
    {
        let client = client.clone();
        let config = portico_controllers::Config {
            lb_pool: args.lb_pool.clone(),
        };
        let token = shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = portico_controllers::run(client, config, token).await {
                tracing::error!(error = %e, "controllers stopped");
            }
        });
    }

    say(&format!(
        "step starting {} node{}",
        args.nodes,
        if args.nodes == 1 { "" } else { "s" }
    ));
    let exe = std::env::current_exe().context("finding the portico executable")?;
    let mut nodes = Vec::new();
    for i in 1..=args.nodes {
        let name = plan::node_name(i);
        let (cidr, prefix) = plan::pod_cidr(i);
        let mut cmd = std::process::Command::new(&exe);
        cmd.arg("node")
            .arg("--kubeconfig")
            .arg(&internal)
            .arg("--name")
            .arg(&name)
            .arg("--node-ip")
            .arg(plan::node_ip(i).to_string())
            .arg("--pod-cidr")
            .arg(format!("{cidr}/{prefix}"))
            .arg("--data-dir")
            .arg(home.join("nodes").join(&name))
            .arg("--run-dir")
            .arg(run_dir.join("nodes").join(&name))
            .arg("--wait-for-network")
            .arg("--proxy-mode")
            .arg(&args.proxy_mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::null());
        let images = home.join("images.yaml");
        if images.exists() {
            cmd.arg("--images").arg(images);
        }
        portico_sandbox::spawn::new_pod_sandbox_command(&mut cmd);
        let mut child = tokio::process::Command::from(cmd)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting node {name}"))?;
        let pid = child.id().context("the node agent exited at once")?;
        wire_node(&root, i, args.nodes, pid)
            .await
            .with_context(|| format!("wiring node {name}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(b"go\n").await;
        }
        nodes.push(child);
    }
    for i in 1..=args.nodes {
        let (cidr, prefix) = plan::pod_cidr(i);
        root.add_route(cidr, prefix, plan::node_ip(i)).await?;
    }

    say("step starting the cluster DNS");
    super::addons::apply_dns(&client)
        .await
        .context("creating the cluster DNS")?;
    tokio::spawn(super::addons::forward_dns(
        ports.clone(),
        args.upstream_dns,
        shutdown.clone(),
    ));
    say("step starting the ingress controller");
    super::ingress::apply(&client)
        .await
        .context("creating the ingress controller")?;

    say("step waiting for the nodes to be Ready");
    let node_api: Api<Node> = Api::all(client.clone());
    loop {
        let ready = node_api
            .list(&Default::default())
            .await
            .map(|l| {
                l.items
                    .iter()
                    .filter(|n| {
                        n.status
                            .as_ref()
                            .and_then(|s| s.conditions.as_ref())
                            .is_some_and(|cs| {
                                cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                            })
                    })
                    .count()
            })
            .unwrap_or(0);
        if ready >= args.nodes as usize {
            break;
        }
        for n in nodes.iter_mut() {
            if let Ok(Some(status)) = n.try_wait() {
                anyhow::bail!("a node agent exited while starting ({status}); see the log");
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::spawn(super::forward::run(
        client.clone(),
        ports.clone(),
        super::forward::Listen {
            address: args.listen_address,
            ingress: (
                super::ingress::NAMESPACE,
                super::ingress::NAME,
                args.http_port,
                args.https_port,
            ),
        },
        args.nodes,
        shutdown.clone(),
    ));
    say("ready");

    wait_for_signal().await;
    tracing::info!("stopping the cluster");
    for n in &nodes {
        if let Some(pid) = n.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
    for mut n in nodes {
        if tokio::time::timeout(Duration::from_secs(30), n.wait())
            .await
            .is_err()
        {
            let _ = n.kill().await;
        }
    }
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), api.task).await;
    Ok(())
}

/// Plugs node `i` (whose agent is `pid`) into the node network and routes the other nodes'
/// pod CIDRs to them.
async fn wire_node(root: &Netlink, i: u32, count: u32, pid: u32) -> Result<()> {
    let ns = NetNs::from_pid(pid)?;
    let host_end = format!("pn{i}");
    root.add_veth(&host_end, "eth0", &ns).await?;
    root.set_master(&host_end, plan::NODE_BRIDGE).await?;
    root.link_up(&host_end).await?;
    let inside = Netlink::in_netns(&ns)?;
    inside.link_up("lo").await?;
    inside
        .add_addr("eth0", IpAddr::V4(plan::node_ip(i)), plan::NODE_PREFIX)
        .await?;
    inside.link_up("eth0").await?;
    inside.add_default_route(plan::GATEWAY).await?;
    for j in 1..=count {
        if j != i {
            let (cidr, prefix) = plan::pod_cidr(j);
            inside.add_route(cidr, prefix, plan::node_ip(j)).await?;
        }
    }
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
