//! The printed report: Markdown tables of startup, Deployment, pod start latency and
//! memory figures, with ratios.

mod memory;

use std::fmt::Write;
use std::time::Duration;

use crate::deploy::DeployRun;
use crate::procs::Memory;
use crate::startup::Startup;
pub use memory::memory;
use portico_bench::stats::Summary;

/// The figures of one `portico up` cluster used for Deployment runs.
#[derive(Debug, Clone)]
pub struct ClusterResult {
    /// Nodes.
    pub nodes: u32,
    /// Spawn → ready line.
    pub ready_after: Duration,
    /// Memory with no pods, after the settle pause.
    pub idle: Memory,
    /// Its Deployment runs.
    pub runs: Vec<DeployRun>,
}

/// The pod startup SLO of Kubernetes (sig-scalability `slos.md`): p99 ≤ 5 s.
pub const SLO_P99: Duration = Duration::from_secs(5);

/// (min, median, max) of `v`; the median of an even count is the mean of the middle two.
pub fn spread(v: &[Duration]) -> Option<(Duration, Duration, Duration)> {
    let mut s = v.to_vec();
    s.sort_unstable();
    let (first, last) = (*s.first()?, *s.last()?);
    let mid = s.len() / 2;
    let median = if s.len().is_multiple_of(2) {
        (s[mid - 1] + s[mid]) / 2
    } else {
        s[mid]
    };
    Some((first, median, last))
}

/// Seconds with 3 decimals.
pub fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// Milliseconds with a precision that suits the magnitude.
pub fn millis(d: Duration) -> String {
    let v = d.as_secs_f64() * 1000.0;
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// `a / b` as `1.23×`, or `–` when `b` is zero.
pub fn ratio(a: f64, b: f64) -> String {
    if b == 0.0 {
        "–".into()
    } else {
        format!("{:.2}×", a / b)
    }
}

/// A Markdown table.
pub fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let align: Vec<&str> = (0..header.len())
        .map(|i| if i == 0 { "---" } else { "---:" })
        .collect();
    let _ = writeln!(out, "| {} |", align.join(" | "));
    for r in rows {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
}

/// Section 1: startup of `portico up` against `portico server`.
pub fn startup(s: &Startup) -> String {
    let mut out = String::new();
    let runs = s.up.ready.len().min(s.server.ready.len());
    let _ = writeln!(
        out,
        "### 1. Startup: spawn → ready line ({runs} runs each, alternating, fresh directory each, stopped with SIGTERM after each)\n"
    );
    let (Some(up), Some(server)) = (spread(&s.up.ready), spread(&s.server.ready)) else {
        let _ = writeln!(out, "(no runs)\n");
        return out;
    };
    let row = |what: String, (lo, med, hi): (Duration, Duration, Duration), stop: &[Duration]| {
        vec![
            what,
            secs(lo),
            secs(med),
            secs(hi),
            spread(stop).map_or("–".into(), |(_, m, _)| secs(m)),
        ]
    };
    let rows = vec![
        row(
            format!(
                "`portico up --nodes {}` (sandbox, API server, controllers, nodes Ready)",
                s.nodes
            ),
            up,
            &s.up.stop,
        ),
        row(
            "`portico server` (API server + controllers only: direct baseline)".into(),
            server,
            &s.server.stop,
        ),
        vec![
            "ratio up / server".into(),
            ratio(up.0.as_secs_f64(), server.0.as_secs_f64()),
            ratio(up.1.as_secs_f64(), server.1.as_secs_f64()),
            ratio(up.2.as_secs_f64(), server.2.as_secs_f64()),
            "".into(),
        ],
    ];
    table(
        &mut out,
        &["command", "min s", "median s", "max s", "stop median s"],
        &rows,
    );
    let _ = writeln!(
        out,
        "\nPeers, **cited, not measured** (no Docker on this machine): kind and k3s cannot run here, and \
         perf-anchors.md cites no published startup figure for either; its bar for Portico is \
         `portico up` ready in < 1 s (section 6.4 (f)). Measured median vs that bar: {}.\n",
        ratio(up.1.as_secs_f64(), 1.0)
    );
    out
}

/// Section 2: Deployments of R replicas to all Ready.
pub fn deployments(clusters: &[ClusterResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### 2. Deployment: create → all pods Ready (client clock, pod watch)\n"
    );
    // The first cluster's time to all Ready for the same image: the ratio's baseline.
    let first = clusters.first();
    let base = |image| {
        first
            .and_then(|c| c.runs.iter().find(|r| r.image == image))
            .and_then(|r| r.all_ready)
    };
    let vs = format!("vs {} node(s)", first.map_or(0, |c| c.nodes));
    let mut rows = Vec::new();
    for c in clusters {
        for r in &c.runs {
            let per_node: Vec<String> = r.per_node.values().map(usize::to_string).collect();
            rows.push(vec![
                c.nodes.to_string(),
                r.image.describe().into(),
                format!("{}/{}", r.ready, r.replicas),
                r.all_created.map_or("–".into(), secs),
                r.all_ready.map_or("not all Ready".into(), secs),
                match (r.all_ready, base(r.image)) {
                    (Some(a), Some(b)) => ratio(a.as_secs_f64(), b.as_secs_f64()),
                    _ => "–".into(),
                },
                r.all_ready.map_or("–".into(), |d| {
                    format!("{:.0}", r.replicas as f64 / d.as_secs_f64().max(1e-9))
                }),
                format!("{:.2}", r.cpu_seconds),
                format!("{:.2}", r.other_cpu_seconds),
                per_node.join(" + "),
                r.teardown.map_or("not all gone".into(), secs),
            ]);
        }
    }
    table(
        &mut out,
        &[
            "nodes",
            "pods",
            "Ready",
            "→ all created s",
            "→ all Ready s",
            &vs,
            "pods/s",
            "cluster CPU-s",
            "other CPU-s",
            "pods per node",
            "delete → all gone s",
        ],
        &rows,
    );
    for c in clusters {
        for r in &c.runs {
            if let Some(problem) = &r.problem {
                let _ = writeln!(
                    out,
                    "\n**Not all Ready** ({} node(s), {}): {problem}",
                    c.nodes,
                    r.image.name()
                );
            }
        }
    }
    let ready: Vec<String> = clusters
        .iter()
        .map(|c| format!("{} node(s) {} s", c.nodes, secs(c.ready_after)))
        .collect();
    let _ = writeln!(
        out,
        "\nThe clusters (`portico up`, spawn → ready line): {}.",
        ready.join(", ")
    );
    let _ = writeln!(
        out,
        "\"cluster CPU-s\": CPU seconds of every process of the cluster (Portico's and the containers) from the create to all Ready; \
         \"other CPU-s\": CPU seconds of the rest of the machine meanwhile (not the cluster, not the driver), work that disturbed the run.\n"
    );
    out
}

fn latency_row(nodes: u32, r: &DeployRun, what: &str, s: &Summary) -> Vec<String> {
    vec![
        nodes.to_string(),
        r.image.name().into(),
        what.into(),
        s.count.to_string(),
        millis(s.p50),
        millis(s.p90),
        millis(s.p99),
        millis(s.max),
        ratio(s.p99.as_secs_f64(), SLO_P99.as_secs_f64()),
    ]
}

/// Section 3: per-pod start latency, three definitions.
pub fn latencies(clusters: &[ClusterResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### 3. Pod start latency per pod, ms\n");
    let mut rows = Vec::new();
    for c in clusters {
        for r in &c.runs {
            let l = &r.latencies;
            rows.push(latency_row(
                c.nodes,
                r,
                "watch ADDED → Ready=True seen (client clock)",
                &l.client,
            ));
            rows.push(latency_row(
                c.nodes,
                r,
                "creationTimestamp → all containers running seen (SLI)",
                &l.sli,
            ));
            rows.push(latency_row(
                c.nodes,
                r,
                "creationTimestamp → Ready lastTransitionTime",
                &l.server,
            ));
        }
    }
    table(
        &mut out,
        &[
            "nodes",
            "image",
            "from → to",
            "n",
            "p50",
            "p90",
            "p99",
            "max",
            "p99 / SLO 5 s",
        ],
        &rows,
    );
    let _ = writeln!(
        out,
        "\nThe first row is the client's view. The second is Kubernetes' pod startup SLI \
         (creation timestamp → all containers reported started and observed via watch; SLO p99 ≤ 5 s, \
         sig-scalability `slos.md`); the creation timestamp has 1 s resolution, so it reads up to 1 s high. \
         The third uses only server timestamps, both of 1 s resolution, so it is coarse (±1 s).\n"
    );
    out
}

#[cfg(test)]
mod tests;
