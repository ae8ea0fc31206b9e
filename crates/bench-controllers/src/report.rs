//! The printed report: convergence from empty, the final check, and the readiness-to-endpoint
//! latency table.

use std::fmt::Write;
use std::time::Duration;

use crate::converge::{Caught, Convergence};
use crate::flips::{Flips, Seen};
use crate::populate::Populated;
use crate::verify::Verdict;
use portico_bench::stats::{ms, rate, Summary};

/// Milliseconds with a precision that suits the magnitude.
pub fn f(d: Duration) -> String {
    let v = ms(d);
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn pcts(s: &Summary) -> String {
    format!(
        "p50 {} / p90 {} / p99 {} / max {} ms",
        f(s.p50),
        f(s.p90),
        f(s.p99),
        f(s.max)
    )
}

/// Left-aligned first column, right-aligned others.
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
        let mut line = String::from(" ");
        for (c, cell) in r.iter().enumerate() {
            if c == 0 {
                let _ = write!(line, " {cell:<w$}", w = widths[c]);
            } else {
                let _ = write!(line, "  {cell:>w$}", w = widths[c]);
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

fn caught(out: &mut String, what: &str, c: &Caught, conv: &Convergence) {
    let start = conv.populated.started;
    let _ = writeln!(
        out,
        "  {what}: all Services complete {:.2} s after the first create ({} ms after the last ack); {} watch events",
        c.done.saturating_duration_since(start).as_secs_f64(),
        f(c.done.saturating_duration_since(conv.populated.finished)),
        c.events,
    );
    let _ = writeln!(
        out,
        "    per Service, last pod Ready ack -> complete: {}",
        pcts(&c.lag)
    );
}

/// The client's side of filling the cluster: requests, rate and latencies.
pub fn filled(out: &mut String, p: &Populated) {
    let took = p.finished.saturating_duration_since(p.started);
    let _ = writeln!(
        out,
        "  client: {} requests (Service creates, pod creates, pod status patches) acknowledged in {:.2} s = {:.0} req/s",
        p.requests,
        took.as_secs_f64(),
        rate(p.requests, took)
    );
    for (what, s) in [
        ("Service create", &p.service_creates),
        ("pod create", &p.pod_creates),
        ("status patch", &p.status_patches),
    ] {
        let _ = writeln!(out, "    {what:<14} {}", pcts(s));
    }
}

/// The fill-only section (a server without controllers, as a baseline).
pub fn fill_only(p: &Populated, cpu: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Filling only (no convergence measured)");
    filled(&mut out, p);
    let _ = writeln!(out, "  CPU over the phase: {cpu}");
    out
}

/// The convergence section.
pub fn convergence(c: &Convergence, verdict: &Verdict) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Convergence from empty");
    filled(&mut out, &c.populated);
    caught(&mut out, "EndpointSlices", &c.slices, c);
    caught(&mut out, "Endpoints", &c.endpoints, c);
    let _ = writeln!(out, "  CPU over the phase: {}", c.cpu);
    let _ = writeln!(
        out,
        "  check: {} EndpointSlices and {} Endpoints listed, {} problems",
        verdict.slices,
        verdict.endpoints,
        verdict.problems.len()
    );
    for problem in verdict.problems.iter().take(20) {
        let _ = writeln!(out, "    {problem}");
    }
    out
}

fn row(object: &str, dir: &str, s: &Seen) -> Vec<String> {
    let l = &s.latency;
    vec![
        object.into(),
        dir.into(),
        l.count.to_string(),
        f(l.p50),
        f(l.p90),
        f(l.p99),
        f(l.max),
        s.before_ack.to_string(),
        s.missing.len().to_string(),
    ]
}

/// The latency section.
pub fn flips(fl: &Flips, rate_per_s: f64, cpu: &str) -> String {
    let mut out = String::new();
    let how = if rate_per_s > 0.0 {
        format!("{rate_per_s} flips started per second")
    } else {
        "one at a time".into()
    };
    let _ = writeln!(
        out,
        "Pod readiness -> endpoints: {} pods turned not Ready and back ({how}), {:.1} s",
        fl.pods,
        fl.elapsed.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "  from the acknowledged status patch to the watch event showing the change, ms"
    );
    let mut rows = vec![[
        "object",
        "transition",
        "n",
        "p50",
        "p90",
        "p99",
        "max",
        "before ack",
        "missing",
    ]
    .map(String::from)
    .to_vec()];
    for (object, seen) in [("EndpointSlice", &fl.slices), ("Endpoints", &fl.endpoints)] {
        rows.push(row(object, "-> not ready", &seen[0]));
        rows.push(row(object, "-> ready", &seen[1]));
        rows.push(row(object, "both", &seen[2]));
    }
    table(&mut out, &rows);
    let _ = writeln!(out, "  status patch itself: {}", pcts(&fl.patches));
    let _ = writeln!(out, "  CPU over the phase: {cpu}");
    for seen in [&fl.slices[2], &fl.endpoints[2]] {
        for why in seen.missing.iter().take(10) {
            let _ = writeln!(out, "  MISSING: {why}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_are_printed_with_sensible_precision() {
        assert_eq!(f(Duration::from_micros(1234)), "1.23");
        assert_eq!(f(Duration::from_micros(12345)), "12.3");
        assert_eq!(f(Duration::from_millis(1234)), "1234");
    }

    #[test]
    fn the_latency_table_lists_both_objects_and_missing_updates() {
        let mut fl = Flips {
            pods: 2,
            ..Default::default()
        };
        fl.slices[2].latency = Summary::of(vec![Duration::from_millis(3); 4]);
        fl.endpoints[2].missing = vec!["Endpoints of svc-00001 never showed svc-00001-0".into()];
        let text = flips(&fl, 0.0, "server 1.00 cores (w 1.00)");
        assert!(
            text.contains("2 pods turned not Ready and back (one at a time)"),
            "{text}"
        );
        let slice_line = text
            .lines()
            .find(|l| l.contains("EndpointSlice") && l.contains("both"))
            .unwrap();
        assert!(slice_line.contains("3.00"), "{slice_line}");
        assert!(text.contains("MISSING: Endpoints of svc-00001 never showed svc-00001-0"));
        assert!(text.contains("CPU over the phase: server 1.00 cores"));
    }
}
