//! Section 4 of the report: memory of the cluster's processes, idle and with pods.

use std::fmt::Write;

use super::{table, ClusterResult};
use crate::deploy::Image;
use crate::procs::{Kind, Memory, Totals};

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// `(after - before) / pods` in KiB, signed.
fn per_pod(after: u64, before: u64, pods: usize) -> String {
    if pods == 0 {
        return "–".into();
    }
    format!("{:.0}", (after as f64 - before as f64) / pods as f64)
}

fn kind_name(k: &Kind) -> String {
    match k {
        Kind::Portico(role) => format!("portico {role}"),
        Kind::Container(image) => format!("container {image}"),
    }
}

fn totals_row(nodes: u32, state: &str, m: &Memory) -> Vec<String> {
    let mut row = vec![nodes.to_string(), state.to_string()];
    for t in [&m.portico, &m.containers] {
        row.extend([
            t.count.to_string(),
            mib(t.pss_kib),
            mib(t.uss_kib),
            mib(t.rss_kib),
        ]);
    }
    row
}

fn per_pod_row(nodes: u32, state: &str, m: &Memory, idle: &Memory, pods: usize) -> Vec<String> {
    let (p, i, c) = (&m.portico, &idle.portico, &m.containers);
    let all = |t: &Memory| t.portico.pss_kib + t.containers.pss_kib;
    vec![
        nodes.to_string(),
        state.to_string(),
        per_pod(p.pss_kib, i.pss_kib, pods),
        per_pod(p.uss_kib, i.uss_kib, pods),
        per_pod(p.rss_kib, i.rss_kib, pods),
        per_pod(c.pss_kib, idle.containers.pss_kib, pods),
        per_pod(c.uss_kib, idle.containers.uss_kib, pods),
        per_pod(all(m), all(idle), pods),
    ]
}

/// Section 4: memory with no pods and with the pods of each run, per pod, and per
/// process kind.
pub fn memory(clusters: &[ClusterResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### 4. Memory of the cluster's processes, with no pods and with the pods Ready and idle\n"
    );
    let mut totals = Vec::new();
    let mut deltas = Vec::new();
    for c in clusters {
        totals.push(totals_row(c.nodes, "no benchmark pods", &c.idle));
        for r in &c.runs {
            let state = format!("{} {} pods", r.ready, r.image.name());
            totals.push(totals_row(c.nodes, &state, &r.memory));
            deltas.push(per_pod_row(c.nodes, &state, &r.memory, &c.idle, r.ready));
        }
    }
    table(
        &mut out,
        &[
            "nodes",
            "state",
            "Portico procs",
            "PSS MiB",
            "USS MiB",
            "RSS MiB",
            "container procs",
            "PSS MiB",
            "USS MiB",
            "RSS MiB",
        ],
        &totals,
    );
    let _ = writeln!(out, "\nPer pod, KiB: (with the pods − without) / pods\n");
    table(
        &mut out,
        &[
            "nodes",
            "state",
            "Portico Δ PSS",
            "Portico Δ USS",
            "Portico Δ RSS",
            "container PSS",
            "container USS",
            "all Δ PSS",
        ],
        &deltas,
    );
    let _ = writeln!(
        out,
        "\nPortico's processes: every process below `portico up` that is not a container (host side, `__sandbox`, `__init`, `__cluster` = API server + controllers, `node` agents, \
         one `__pod-sandbox` per pod, the system pods' included). Containers: the node agents' other \
         children (`portico __image NAME` for built-in images, `portico dns` for the cluster DNS pods; \
         the same binary). PSS divides shared pages (the one binary) among the processes sharing them, so PSS sums \
         are the real total and \"all Δ PSS\" is the memory one more pod costs; USS counts only private \
         pages (what the processes would free on exit); RSS counts shared pages once per process, so its \
         sums overstate.\n"
    );
    for c in clusters {
        let pause = c.runs.iter().find(|r| r.image == Image::Pause);
        let Some(r) = pause.or(c.runs.first()) else {
            continue;
        };
        let _ = writeln!(
            out,
            "Per process kind, {} node(s): no benchmark pods vs {} {} pods\n",
            c.nodes,
            r.ready,
            r.image.name()
        );
        let mut kinds: Vec<&Kind> = c
            .idle
            .by_kind
            .keys()
            .chain(r.memory.by_kind.keys())
            .collect();
        kinds.sort();
        kinds.dedup();
        let rows: Vec<Vec<String>> = kinds
            .into_iter()
            .map(|k| {
                let a: Totals = c.idle.by_kind.get(k).copied().unwrap_or_default();
                let b: Totals = r.memory.by_kind.get(k).copied().unwrap_or_default();
                vec![
                    kind_name(k),
                    a.count.to_string(),
                    mib(a.pss_kib),
                    b.count.to_string(),
                    mib(b.pss_kib),
                    mib(b.uss_kib),
                    per_pod(b.pss_kib, a.pss_kib, r.ready),
                    per_pod(b.uss_kib, a.uss_kib, r.ready),
                ]
            })
            .collect();
        table(
            &mut out,
            &[
                "process",
                "procs (none)",
                "PSS MiB",
                "procs (pods)",
                "PSS MiB",
                "USS MiB",
                "Δ PSS per pod KiB",
                "Δ USS per pod KiB",
            ],
            &rows,
        );
        let _ = writeln!(out);
    }
    out
}
