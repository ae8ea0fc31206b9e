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

fn state_row(nodes: u32, state: &str, m: &Memory, idle: &Memory, pods: usize) -> Vec<String> {
    let t = |x: &Totals| format!("{} / {} / {}", x.count, mib(x.pss_kib), mib(x.rss_kib));
    vec![
        nodes.to_string(),
        state.into(),
        t(&m.portico),
        t(&m.containers),
        per_pod(m.portico.pss_kib, idle.portico.pss_kib, pods),
        per_pod(m.portico.rss_kib, idle.portico.rss_kib, pods),
        per_pod(m.containers.pss_kib, idle.containers.pss_kib, pods),
    ]
}

/// Section 4: memory with no pods and with the pods of each run, and per process kind.
pub fn memory(clusters: &[ClusterResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### 4. Memory: every process of the cluster, after the pods are Ready and idle\n"
    );
    let mut rows = Vec::new();
    for c in clusters {
        rows.push(state_row(c.nodes, "0 pods", &c.idle, &c.idle, 0));
        for r in &c.runs {
            let state = format!("{} {} pods", r.ready, r.image.name());
            rows.push(state_row(c.nodes, &state, &r.memory, &c.idle, r.ready));
        }
    }
    table(
        &mut out,
        &[
            "nodes",
            "state",
            "Portico procs / PSS MiB / RSS MiB",
            "container procs / PSS MiB / RSS MiB",
            "Portico Δ PSS per pod KiB",
            "Portico Δ RSS per pod KiB",
            "container PSS per pod KiB",
        ],
        &rows,
    );
    let _ = writeln!(
        out,
        "\nPortico's processes: everything below `portico up` running the portico binary except \
         `__image` (host side, `__sandbox`, `__init`, `__cluster` = API server + controllers, `node` agents, \
         one `__pod-sandbox` per pod). Containers: `portico __image NAME` (built-in images). PSS divides \
         pages shared between processes (the one binary) among them, so PSS sums are the real total; RSS \
         sums count shared pages once per process.\n"
    );
    for c in clusters {
        let pause = c.runs.iter().find(|r| r.image == Image::Pause);
        let Some(r) = pause.or(c.runs.first()) else {
            continue;
        };
        let _ = writeln!(
            out,
            "Per process kind, {} node(s): 0 pods vs {} {} pods (PSS)\n",
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
                let a = c.idle.by_kind.get(k).copied().unwrap_or_default();
                let b = r.memory.by_kind.get(k).copied().unwrap_or_default();
                vec![
                    kind_name(k),
                    a.count.to_string(),
                    mib(a.pss_kib),
                    b.count.to_string(),
                    mib(b.pss_kib),
                    per_pod(b.pss_kib, a.pss_kib, r.ready),
                ]
            })
            .collect();
        table(
            &mut out,
            &[
                "process",
                "procs (0 pods)",
                "PSS MiB",
                "procs (pods)",
                "PSS MiB",
                "Δ per pod KiB",
            ],
            &rows,
        );
        let _ = writeln!(out);
    }
    out
}
