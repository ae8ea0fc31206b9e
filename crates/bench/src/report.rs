//! The side-by-side table: Portico on each backend next to the raw store underneath it,
//! with portico/raw ratios.

use std::fmt::Write;
use std::time::Duration;

use crate::portico::{Creates, Delivery, Listing, Paged};
use crate::raw_etcd::Puts;
use crate::raw_sqlite::Inserts;
use portico_bench::stats::{ms, rate};

/// One backend's API server figures.
#[derive(Debug, Clone)]
pub struct ApiFigures {
    /// Creates.
    pub creates: Creates,
    /// Objects created.
    pub n: usize,
    /// The list of everything, or why it failed.
    pub listing: Result<Listing, String>,
    /// The same list in pages of 500, or why it failed.
    pub paged: Result<Paged, String>,
    /// The control: ConfigMap creates (no allocation).
    pub control: Creates,
    /// ConfigMaps created.
    pub control_n: usize,
    /// Watch delivery.
    pub delivery: Delivery,
}

/// A raw read of everything: (rows, bytes, time).
pub type RawRead = (usize, usize, Duration);

/// The raw SQLite figures.
#[derive(Debug, Clone)]
pub struct SqliteFigures {
    /// One transaction per insert.
    pub one: Inserts,
    /// Batched inserts.
    pub batched: Inserts,
    /// Rows per batch.
    pub batch: usize,
    /// Reading all rows back.
    pub select: RawRead,
    /// The synchronous setting used.
    pub synchronous: String,
}

/// The raw etcd figures.
#[derive(Debug, Clone, Copy)]
pub struct EtcdFigures {
    /// Puts.
    pub puts: Puts,
    /// The range read.
    pub range: RawRead,
}

fn ratio(portico: f64, raw: f64) -> String {
    if raw == 0.0 {
        return "-".into();
    }
    format!("{:.2}", portico / raw)
}

fn f(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn table(out: &mut String, rows: &[Vec<String>]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(String::len)
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c == 0 {
                let _ = write!(line, "{cell:<w$}", w = widths[c]);
            } else {
                let _ = write!(line, "  {cell:>w$}", w = widths[c]);
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

fn s(v: &str) -> String {
    v.to_string()
}

fn control_rows(api: &ApiFigures) -> Vec<Vec<String>> {
    let c = &api.control;
    vec![
        vec![
            format!(
                "control: create {} ConfigMaps (no allocation), obj/s",
                api.control_n
            ),
            f(rate(api.control_n, c.elapsed)),
        ],
        vec![
            s("control: ConfigMap create p50 / p99 (ms)"),
            format!("{} / {}", f(ms(c.latency.p50)), f(ms(c.latency.p99))),
        ],
    ]
}

fn watch_rows(api: &ApiFigures) -> Vec<Vec<String>> {
    let d = &api.delivery;
    let n = d.latency.count;
    vec![
        vec![
            format!(
                "watch: {} watchers x {} creates, ack -> seen p50 (ms)",
                d.watchers,
                n / d.watchers.max(1)
            ),
            f(ms(d.latency.p50)),
        ],
        vec![s("watch: ack -> seen p99 (ms)"), f(ms(d.latency.p99))],
        vec![
            s("watch: seen before the ack arrived (counted as 0)"),
            format!("{} of {n}", d.before_ack),
        ],
        vec![
            s("watch: request sent -> seen p50 (ms)"),
            f(ms(d.from_send.p50)),
        ],
        vec![
            s("watch: request sent -> seen p99 (ms)"),
            f(ms(d.from_send.p99)),
        ],
    ]
}

/// The SQLite section.
pub fn sqlite(api: &ApiFigures, raw: &SqliteFigures) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "SQLite backend (WAL, synchronous={})", raw.synchronous);
    let n = api.n;
    let p_rate = rate(n, api.creates.elapsed);
    let one_rate = rate(n, raw.one.elapsed);
    let b_rate = rate(n, raw.batched.elapsed);
    let mut rows = vec![
        vec![
            s("metric"),
            s("portico"),
            s("raw 1 tx/insert"),
            s("portico/raw"),
            format!("raw {}/tx", raw.batch),
            s("portico/raw"),
        ],
        vec![
            format!("create {n}: throughput (obj/s)"),
            f(p_rate),
            f(one_rate),
            ratio(p_rate, one_rate),
            f(b_rate),
            ratio(p_rate, b_rate),
        ],
        vec![
            s("create latency p50 (ms)"),
            f(ms(api.creates.latency.p50)),
            f(ms(raw.one.latency.p50)),
            ratio(ms(api.creates.latency.p50), ms(raw.one.latency.p50)),
            format!("{} /tx", f(ms(raw.batched.latency.p50))),
            s("-"),
        ],
        vec![
            s("create latency p99 (ms)"),
            f(ms(api.creates.latency.p99)),
            f(ms(raw.one.latency.p99)),
            ratio(ms(api.creates.latency.p99), ms(raw.one.latency.p99)),
            format!("{} /tx", f(ms(raw.batched.latency.p99))),
            s("-"),
        ],
    ];
    rows.extend(list_rows(api, raw.select, "SELECT"));
    rows.extend(control_rows(api));
    rows.extend(watch_rows(api));
    table(&mut out, &rows);
    failure(&mut out, api);
    out
}

fn list_rows(api: &ApiFigures, raw: RawRead, how: &str) -> Vec<Vec<String>> {
    let raw_time = raw.2;
    let mut rows = match &api.paged {
        Ok(p) => vec![vec![
            format!(
                "list {} items in {} pages of 500, decoded (ms)",
                p.items, p.pages
            ),
            f(ms(p.elapsed)),
            f(ms(raw_time)),
            ratio(ms(p.elapsed), ms(raw_time)),
        ]],
        Err(_) => vec![vec![s("list in pages of 500: FAILED (error below)")]],
    };
    rows.extend(list_rows_unpaged(&api.listing, raw, how));
    rows
}

fn list_rows_unpaged(l: &Result<Listing, String>, raw: RawRead, how: &str) -> Vec<Vec<String>> {
    let (raw_rows, raw_bytes, raw_time) = raw;
    let l = match l {
        Ok(l) => l,
        Err(_) => {
            return vec![vec![
                s("list: FAILED (error below)"),
                s("-"),
                format!("{} ({how} {raw_rows}, {raw_bytes} B)", f(ms(raw_time))),
                s("-"),
            ]]
        }
    };
    vec![
        vec![
            format!("list {} items: HTTP time (ms)", l.items),
            f(ms(l.raw)),
            format!("{} ({how} {raw_rows})", f(ms(raw_time))),
            ratio(ms(l.raw), ms(raw_time)),
        ],
        vec![
            s("list: time incl. kube-rs decoding (ms)"),
            f(ms(l.typed)),
            f(ms(raw_time)),
            ratio(ms(l.typed), ms(raw_time)),
        ],
        vec![
            s("list: bytes"),
            l.bytes.to_string(),
            raw_bytes.to_string(),
            ratio(l.bytes as f64, raw_bytes as f64),
        ],
    ]
}

/// The etcd section.
pub fn etcd(api: &ApiFigures, raw: &EtcdFigures, concurrency: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "etcd backend ({concurrency} concurrent clients on both sides)"
    );
    let n = api.n;
    let p_rate = rate(n, api.creates.elapsed);
    let r_rate = rate(n, raw.puts.elapsed);
    let mut rows = vec![
        vec![
            s("metric"),
            s("portico"),
            s("raw etcd put"),
            s("portico/raw"),
        ],
        vec![
            format!("create {n}: throughput (obj/s)"),
            f(p_rate),
            f(r_rate),
            ratio(p_rate, r_rate),
        ],
        vec![
            s("create latency p50 (ms)"),
            f(ms(api.creates.latency.p50)),
            f(ms(raw.puts.latency.p50)),
            ratio(ms(api.creates.latency.p50), ms(raw.puts.latency.p50)),
        ],
        vec![
            s("create latency p99 (ms)"),
            f(ms(api.creates.latency.p99)),
            f(ms(raw.puts.latency.p99)),
            ratio(ms(api.creates.latency.p99), ms(raw.puts.latency.p99)),
        ],
    ];
    rows.extend(list_rows(api, raw.range, "range"));
    rows.extend(control_rows(api));
    rows.extend(watch_rows(api));
    table(&mut out, &rows);
    failure(&mut out, api);
    out
}

fn failure(out: &mut String, api: &ApiFigures) {
    if let Err(e) = &api.listing {
        let _ = writeln!(out, "list error: {e}");
    }
    if let Err(e) = &api.paged {
        let _ = writeln!(out, "paged list error: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_and_tables_line_up() {
        assert_eq!(ratio(50.0, 100.0), "0.50");
        assert_eq!(ratio(1.0, 0.0), "-");
        let mut out = String::new();
        table(
            &mut out,
            &[vec![s("a"), s("1")], vec![s("long name"), s("1000")]],
        );
        assert_eq!(out, "a             1\nlong name  1000\n");
    }
}
