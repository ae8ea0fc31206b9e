//! CPU use of a process, per thread name, from `/proc/<pid>/task/*/stat`: enough to tell
//! whether the API server's async workers (`tokio-runtime-w`, which also run the in-process
//! controllers) or its SQLite writer thread (`sqlite-store-wr`) are the busy part.

use std::collections::BTreeMap;
use std::time::Instant;

/// Clock ticks per second of `/proc` CPU times (USER_HZ, 100 on every Linux port).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU ticks used so far by each thread name of a process.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// When it was taken.
    pub at: Instant,
    /// Thread name → user + system ticks, summed over threads of that name.
    pub ticks: BTreeMap<String, u64>,
}

/// Parses one `/proc/.../stat` line into (thread name, user + system ticks).
pub fn parse_stat(line: &str) -> Option<(String, u64)> {
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    let name = line.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = line.get(close + 1..)?.split_whitespace().collect();
    // After the name: state is field 3 of the line, utime 14 and stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

/// The CPU ticks of every thread of process `pid`; `None` if it cannot be read.
pub fn snapshot(pid: u32) -> Option<Snapshot> {
    let mut ticks = BTreeMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let Ok(line) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some((name, t)) = parse_stat(&line) {
            *ticks.entry(name).or_insert(0) += t;
        }
    }
    Some(Snapshot {
        at: Instant::now(),
        ticks,
    })
}

/// CPU cores used between two snapshots: (total, per thread name, busiest first).
/// Threads that exited in between are not counted.
pub fn usage(from: &Snapshot, to: &Snapshot) -> (f64, Vec<(String, f64)>) {
    let secs = to.at.saturating_duration_since(from.at).as_secs_f64();
    if secs == 0.0 {
        return (0.0, Vec::new());
    }
    let mut per: Vec<(String, f64)> = to
        .ticks
        .iter()
        .map(|(name, t)| {
            let before = from.ticks.get(name).copied().unwrap_or(0);
            let used = t.saturating_sub(before) as f64 / TICKS_PER_SECOND / secs;
            (name.clone(), used)
        })
        .filter(|(_, c)| *c > 0.0)
        .collect();
    per.sort_by(|a, b| b.1.total_cmp(&a.1));
    (per.iter().map(|(_, c)| c).sum(), per)
}

/// `usage` as text: `1.62 cores (tokio-runtime-w 1.40, sqlite-store-wr 0.22)`.
pub fn describe(from: &Snapshot, to: &Snapshot) -> String {
    let (total, per) = usage(from, to);
    let parts: Vec<String> = per
        .iter()
        .take(3)
        .map(|(name, c)| format!("{name} {c:.2}"))
        .collect();
    format!("{total:.2} cores ({})", parts.join(", "))
}

/// Busy ticks of the whole machine so far, all CPUs together (the `cpu` line of
/// `/proc/stat`: user, nice, system, irq, softirq, steal).
pub fn machine_busy() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_machine(stat.lines().next()?)
}

/// Parses the `cpu` line of `/proc/stat` into busy ticks.
fn parse_machine(line: &str) -> Option<u64> {
    let fields: Vec<u64> = line
        .strip_prefix("cpu ")?
        .split_whitespace()
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal ...
    let at = |i: usize| fields.get(i).copied().unwrap_or(0);
    Some(at(0) + at(1) + at(2) + at(5) + at(6) + at(7))
}

/// One sample of the CPU use of the server, the benchmark itself and the whole machine.
#[derive(Debug, Clone)]
pub struct Sample {
    at: Instant,
    server: Option<Snapshot>,
    bench: Option<Snapshot>,
    machine: Option<u64>,
}

impl Sample {
    /// Samples now; the server only when its pid is known.
    pub fn take(server_pid: Option<u32>) -> Sample {
        Sample {
            at: Instant::now(),
            server: server_pid.and_then(snapshot),
            bench: snapshot(std::process::id()),
            machine: machine_busy(),
        }
    }

    /// The CPU use between `self` and `later`: the server per thread name, the benchmark,
    /// and every other process of the machine (which disturb the figures when busy).
    pub fn describe(&self, later: &Sample) -> String {
        let secs = later.at.saturating_duration_since(self.at).as_secs_f64();
        let mut parts = Vec::new();
        let mut known = 0.0;
        if let (Some(a), Some(b)) = (&self.server, &later.server) {
            known += usage(a, b).0;
            parts.push(format!("server {}", describe(a, b)));
        }
        if let (Some(a), Some(b)) = (&self.bench, &later.bench) {
            let used = usage(a, b).0;
            known += used;
            parts.push(format!("benchmark {used:.2}"));
        }
        if let (Some(a), Some(b)) = (self.machine, later.machine) {
            if secs > 0.0 {
                let machine = b.saturating_sub(a) as f64 / TICKS_PER_SECOND / secs;
                let cores = std::thread::available_parallelism()
                    .map(|c| c.get())
                    .unwrap_or(0);
                parts.push(format!(
                    "other processes {:.2} (machine busy {machine:.2} of {cores})",
                    (machine - known).max(0.0)
                ));
            }
        }
        parts.join(", ")
    }
}

/// The peak resident memory of process `pid` in MiB (`VmHWM`).
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stat_lines_with_spaces_in_the_name_parse() {
        let line = "4242 (tokio-runtime-w) S 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0 1 0";
        assert_eq!(parse_stat(line), Some(("tokio-runtime-w".into(), 175)));
        let odd = "7 (a (b) c) R 1 2 3 4 5 6 7 8 9 10 3 4 0 0";
        assert_eq!(parse_stat(odd), Some(("a (b) c".into(), 7)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn usage_is_ticks_over_elapsed_time() {
        let t0 = Instant::now();
        let a = Snapshot {
            at: t0,
            ticks: [("w".to_string(), 100), ("db".to_string(), 10)].into(),
        };
        let b = Snapshot {
            at: t0 + Duration::from_secs(2),
            ticks: [
                ("w".to_string(), 300),
                ("db".to_string(), 60),
                ("new".to_string(), 0),
            ]
            .into(),
        };
        let (total, per) = usage(&a, &b);
        assert!((total - 1.25).abs() < 1e-9);
        assert_eq!(per[0].0, "w");
        assert!((per[0].1 - 1.0).abs() < 1e-9);
        assert_eq!(describe(&a, &b), "1.25 cores (w 1.00, db 0.25)");
        assert!(snapshot(std::process::id()).is_some());
    }

    #[test]
    fn machine_busy_counts_everything_but_idle_and_iowait() {
        let line = "cpu  861728 5 133003 163533 3325 7 2824 8001 0 0";
        assert_eq!(
            parse_machine(line),
            Some(861728 + 5 + 133003 + 7 + 2824 + 8001)
        );
        assert_eq!(parse_machine("cpu0 1 2 3"), None);
        let a = Sample::take(Some(std::process::id()));
        let b = Sample::take(Some(std::process::id()));
        let text = a.describe(&b);
        assert!(text.starts_with("server "), "{text}");
        assert!(text.contains("benchmark "), "{text}");
    }
}
