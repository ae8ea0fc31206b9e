//! Startup: `portico up` from the spawn to its ready line (API up and every node Ready),
//! against the direct baseline `portico server` (API server and controllers only), run
//! alternately, each in a fresh directory, and stopped with SIGTERM after each run.

use std::path::Path;
use std::time::Duration;

use crate::cluster::{self, Launch};
use crate::Error;

/// The timings of one command over all runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timings {
    /// Spawn → ready line, per run.
    pub ready: Vec<Duration>,
    /// SIGTERM → exit, per run.
    pub stop: Vec<Duration>,
}

/// The startup phase's results.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Startup {
    /// Nodes of the `portico up` clusters.
    pub nodes: u32,
    /// `portico up`.
    pub up: Timings,
    /// `portico server`.
    pub server: Timings,
}

/// Where each run happens.
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    /// The portico binary.
    pub portico: &'a Path,
    /// The work directory (a fresh subdirectory per run).
    pub work: &'a Path,
    /// Runs of each command.
    pub runs: usize,
    /// Nodes of the `portico up` clusters.
    pub nodes: u32,
    /// First three octets of the host addresses; run `i` listens on `PREFIX.(i % 200 + 1)`,
    /// so no address and port pair is reused right away.
    pub address_prefix: &'a str,
    /// The API port of `portico up`.
    pub port: u16,
    /// How long to wait for a ready line.
    pub timeout: Duration,
}

/// Runs both commands `plan.runs` times, alternating which goes first.
pub async fn run(plan: &Plan<'_>) -> Result<Startup, Error> {
    let mut out = Startup {
        nodes: plan.nodes,
        ..Startup::default()
    };
    for i in 0..plan.runs {
        let up = Launch::Up {
            nodes: plan.nodes,
            home: plan.work.join(format!("startup-up-{i}")),
            address: format!("{}.{}", plan.address_prefix, i % 200 + 1),
            port: plan.port,
        };
        let server = Launch::Server {
            dir: plan.work.join(format!("startup-server-{i}")),
        };
        let order = if i % 2 == 0 {
            [up, server]
        } else {
            [server, up]
        };
        for launch in order {
            let is_up = matches!(launch, Launch::Up { .. });
            let dir = launch.dir().to_path_buf();
            let running = cluster::start(plan.portico, launch, plan.timeout).await?;
            let ready = running.ready_after;
            let stop = running.stop(Duration::from_secs(60)).await?;
            let t = if is_up { &mut out.up } else { &mut out.server };
            t.ready.push(ready);
            t.stop.push(stop);
            let _ = std::fs::remove_dir_all(&dir);
        }
        eprintln!(
            "startup run {}/{}: up {:.3} s, server {:.3} s",
            i + 1,
            plan.runs,
            out.up.ready.last().map_or(0.0, Duration::as_secs_f64),
            out.server.ready.last().map_or(0.0, Duration::as_secs_f64),
        );
    }
    Ok(out)
}
