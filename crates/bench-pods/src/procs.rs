//! The processes of one cluster, read from `/proc`: every descendant of the `portico up`
//! (or `portico server`) process the benchmark started. Processes inside the cluster's PID
//! namespace are visible from the host's `/proc` with host pids and host parent pids, so
//! the tree is followed by parent pid.
//!
//! Each process is classed by its command line and its place in the tree (see
//! [`classify`]): containers are the node agents' children other than `__pod-sandbox`
//! (a built-in image such as `portico __image pause`, or an image that is a portico
//! subcommand such as the cluster DNS `portico dns`) and everything below them; every
//! other portico process (the host side of `up`, `__sandbox`, `__init`, `__cluster`,
//! `node`, `__pod-sandbox`, `server`) is Portico's own.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// What a process of the cluster is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Portico's own machinery; the role is its subcommand (`__cluster`, `node`, ...).
    Portico(String),
    /// A container process; the name is the built-in image or the program.
    Container(String),
}

/// One process of the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Proc {
    /// Host pid.
    pub pid: u32,
    /// What it is.
    pub kind: Kind,
    /// Resident set size, KiB (`VmRSS`).
    pub rss_kib: u64,
    /// Proportional set size, KiB (`Pss` of `smaps_rollup`): shared pages divided among
    /// the processes sharing them, so sums are not inflated by the shared binary.
    pub pss_kib: u64,
    /// Unique set size, KiB (`Private_Clean` + `Private_Dirty` of `smaps_rollup`): what
    /// exiting the process would free.
    pub uss_kib: u64,
    /// CPU clock ticks used by it and its reaped children (utime + stime + cutime + cstime).
    pub ticks: u64,
}

/// From a `/proc/PID/stat` line: (parent pid, own + reaped children's CPU ticks).
pub fn parse_stat(line: &str) -> Option<(u32, u64)> {
    // The command name is in parentheses and may itself contain spaces or parentheses.
    let fields: Vec<&str> = line
        .get(line.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    // After the name: [0] state, [1] ppid, ..., [11] utime, [12] stime, [13] cutime, [14] cstime.
    let ppid = fields.get(1)?.parse().ok()?;
    let mut ticks = 0u64;
    for i in 11..=14 {
        ticks += fields.get(i)?.parse::<i64>().ok()?.max(0) as u64;
    }
    Some((ppid, ticks))
}

/// The value in KiB of the `key:` line of `/proc/PID/status` or `smaps_rollup`.
pub fn parse_kib(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        let mut words = rest.split_whitespace();
        let value = words.next()?.parse().ok()?;
        (words.next() == Some("kB")).then_some(value)
    })
}

/// What a command line says about a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The program's file name.
    pub program: String,
    /// Whether the program is the portico binary.
    pub portico: bool,
    /// The first argument (portico's subcommand).
    pub sub: Option<String>,
    /// The second argument (the image of `__image NAME`).
    pub arg: Option<String>,
}

/// Reads a command line (the NUL-separated `/proc/PID/cmdline`) given the portico binary's
/// file name; `None` for an empty command line (a zombie or a kernel thread).
pub fn parse_cmdline(cmdline: &[u8], portico_name: &str) -> Option<Command> {
    let mut argv = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned());
    let first = argv.next()?;
    let program = Path::new(&first)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Some(Command {
        portico: program == portico_name,
        program,
        sub: argv.next(),
        arg: argv.next(),
    })
}

/// Classes a process by its command and its parent's kind. A node agent's children are
/// containers, except its `__pod-sandbox` processes; so is everything below a container
/// (a built-in image run as `portico __image NAME`, another portico subcommand run as an
/// image such as `portico dns`, or any other program). Every other portico process is
/// Portico's own.
pub fn classify(cmd: &Command, parent: Option<&Kind>) -> Kind {
    let sub = cmd.sub.as_deref();
    let container = || {
        Kind::Container(match (cmd.portico, sub) {
            (true, Some("__image")) => cmd.arg.clone().unwrap_or_else(|| "?".into()),
            (true, Some(s)) => s.to_string(),
            _ => cmd.program.clone(),
        })
    };
    match parent {
        Some(Kind::Container(_)) => container(),
        Some(Kind::Portico(role)) if role == "node" && sub != Some("__pod-sandbox") => container(),
        _ if !cmd.portico || sub == Some("__image") => container(),
        _ => Kind::Portico(sub.map_or_else(|| cmd.program.clone(), str::to_string)),
    }
}

/// `root` and every process below it, given each process's parent; parents come before
/// their children.
pub fn descendants(root: u32, parents: &HashMap<u32, u32>) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (pid, ppid) in parents {
        children.entry(*ppid).or_default().push(*pid);
    }
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        if parents.contains_key(&pid) || pid == root {
            out.push(pid);
        }
        if let Some(kids) = children.get(&pid) {
            stack.extend(kids.iter().copied());
        }
    }
    out
}

/// Every live process below (and including) `root`, with its memory and CPU ticks.
/// Processes that exit while being read are left out.
pub fn scan(root: u32, portico_name: &str) -> Vec<Proc> {
    let mut parents = HashMap::new();
    let mut ticks = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some((ppid, t)) = parse_stat(&stat) {
            parents.insert(pid, ppid);
            ticks.insert(pid, t);
        }
    }
    let mut out = Vec::new();
    let mut kinds: HashMap<u32, Kind> = HashMap::new();
    for pid in descendants(root, &parents) {
        let base = format!("/proc/{pid}");
        let Ok(cmdline) = std::fs::read(format!("{base}/cmdline")) else {
            continue;
        };
        let Some(cmd) = parse_cmdline(&cmdline, portico_name) else {
            continue;
        };
        let parent = parents.get(&pid).and_then(|pp| kinds.get(pp));
        let kind = classify(&cmd, if pid == root { None } else { parent });
        kinds.insert(pid, kind.clone());
        let status = std::fs::read_to_string(format!("{base}/status")).unwrap_or_default();
        let rollup = std::fs::read_to_string(format!("{base}/smaps_rollup")).unwrap_or_default();
        let (Some(rss_kib), Some(pss_kib), Some(clean), Some(dirty)) = (
            parse_kib(&status, "VmRSS"),
            parse_kib(&rollup, "Pss"),
            parse_kib(&rollup, "Private_Clean"),
            parse_kib(&rollup, "Private_Dirty"),
        ) else {
            continue;
        };
        out.push(Proc {
            pid,
            kind,
            rss_kib,
            pss_kib,
            uss_kib: clean + dirty,
            ticks: ticks.get(&pid).copied().unwrap_or(0),
        });
    }
    out
}

/// Totals of a group of processes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    /// How many processes.
    pub count: usize,
    /// Summed RSS, KiB.
    pub rss_kib: u64,
    /// Summed PSS, KiB.
    pub pss_kib: u64,
    /// Summed USS, KiB.
    pub uss_kib: u64,
}

impl Totals {
    fn add(&mut self, p: &Proc) {
        self.count += 1;
        self.rss_kib += p.rss_kib;
        self.pss_kib += p.pss_kib;
        self.uss_kib += p.uss_kib;
    }
}

/// The memory of a cluster at one moment, split into Portico's processes and containers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Memory {
    /// All of Portico's own processes.
    pub portico: Totals,
    /// All container processes.
    pub containers: Totals,
    /// Per kind (Portico roles and container images).
    pub by_kind: BTreeMap<Kind, Totals>,
}

impl Memory {
    /// Sums `procs`.
    pub fn of(procs: &[Proc]) -> Memory {
        let mut m = Memory::default();
        for p in procs {
            match p.kind {
                Kind::Portico(_) => m.portico.add(p),
                Kind::Container(_) => m.containers.add(p),
            }
            m.by_kind.entry(p.kind.clone()).or_default().add(p);
        }
        m
    }
}

/// CPU clock ticks per second in `/proc` (USER_HZ, 100 on every Linux port).
pub const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds used by the processes in `procs` (and the children they reaped).
pub fn cpu_seconds(procs: &[Proc]) -> f64 {
    procs.iter().map(|p| p.ticks).sum::<u64>() as f64 / TICKS_PER_SECOND
}

/// Busy CPU ticks of the whole machine so far, all CPUs together: user, nice, system, irq,
/// softirq and steal of the `cpu` line of `/proc/stat`.
pub fn parse_machine_busy(stat: &str) -> Option<u64> {
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let at = |i: usize| fields.get(i).copied().unwrap_or(0);
    Some(at(0) + at(1) + at(2) + at(5) + at(6) + at(7))
}

/// CPU seconds the whole machine and this process have used so far.
pub fn machine_and_self_seconds() -> (f64, f64) {
    let machine = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| parse_machine_busy(&s))
        .unwrap_or(0);
    let me = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| parse_stat(&s))
        .map_or(0, |(_, t)| t);
    (
        machine as f64 / TICKS_PER_SECOND,
        me as f64 / TICKS_PER_SECOND,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_gives_the_parent_and_all_cpu_ticks() {
        let line = "4242 (portico) S 77 4242 1 0 -1 4194560 1 2 3 4 150 25 7 3 20 0 1 0";
        assert_eq!(parse_stat(line), Some((77, 185)));
        let odd = "9 (a) b (c)) R 1 9 9 0 -1 0 0 0 0 0 1 2 3 4 20 0";
        assert_eq!(parse_stat(odd), Some((1, 10)));
        assert_eq!(parse_stat("9 (x) R 1"), None);
    }

    #[test]
    fn kib_lines_of_status_and_smaps_rollup_parse() {
        let status = "Name:\tportico\nVmHWM:\t  20000 kB\nVmRSS:\t   10644 kB\nThreads:\t3\n";
        assert_eq!(parse_kib(status, "VmRSS"), Some(10644));
        assert_eq!(parse_kib(status, "VmHWM"), Some(20000));
        assert_eq!(parse_kib(status, "Threads"), None);
        let rollup = "55d0-7ffd ---p 00000000 00:00 0  [rollup]\nRss:  5120 kB\nPss:  2312 kB\nPss_Anon: 1000 kB\nPrivate_Clean: 12 kB\n";
        assert_eq!(parse_kib(rollup, "Pss"), Some(2312));
        assert_eq!(parse_kib(rollup, "Pss_Anon"), Some(1000));
        assert_eq!(parse_kib(rollup, "Private_Clean"), Some(12));
        assert_eq!(parse_kib(rollup, "Swap"), None);
    }

    #[test]
    fn processes_are_classed_by_command_and_place_in_the_tree() {
        let kind = |line: &str, parent: Option<Kind>| {
            let cmd = parse_cmdline(&line.replace(' ', "\0").into_bytes(), "portico").unwrap();
            classify(&cmd, parent.as_ref())
        };
        let node = || Some(Kind::Portico("node".into()));
        assert_eq!(
            kind("/w/target/release/portico __image pause", node()),
            Kind::Container("pause".into())
        );
        assert_eq!(
            kind("/w/portico __pod-sandbox /h/pods/x/sandbox.json", node()),
            Kind::Portico("__pod-sandbox".into())
        );
        // An image that is a portico subcommand (the cluster DNS) is still a container.
        assert_eq!(
            kind("/w/portico dns --upstream 172.18.0.1:53", node()),
            Kind::Container("dns".into())
        );
        assert_eq!(
            kind("/bin/sh -c sleep", Some(Kind::Container("dns".into()))),
            Kind::Container("sh".into())
        );
        assert_eq!(
            kind(
                "./portico node --name n1",
                Some(Kind::Portico("__cluster".into()))
            ),
            Kind::Portico("node".into())
        );
        assert_eq!(
            kind("./portico up --nodes 1", None),
            Kind::Portico("up".into())
        );
        assert_eq!(kind("./portico", None), Kind::Portico("portico".into()));
        assert_eq!(kind("/bin/sleep 5", None), Kind::Container("sleep".into()));
        assert_eq!(parse_cmdline(b"", "portico"), None);
        assert_eq!(parse_cmdline(b"\0\0", "portico"), None);
    }

    #[test]
    fn descendants_follow_parent_pids_and_leave_others_out() {
        let parents: HashMap<u32, u32> =
            [(10, 1), (11, 10), (12, 11), (13, 11), (20, 1), (21, 20)].into();
        let mut all = descendants(10, &parents);
        // Parents come before their children.
        let at = |pid| all.iter().position(|p| *p == pid).unwrap();
        assert!(at(10) < at(11) && at(11) < at(12) && at(11) < at(13));
        all.sort_unstable();
        assert_eq!(all, vec![10, 11, 12, 13]);
        assert_eq!(descendants(12, &parents), vec![12]);
        assert_eq!(descendants(99, &parents), vec![99]);
    }

    #[test]
    fn memory_is_split_between_portico_and_containers() {
        let p = |pid, kind, kib| Proc {
            pid,
            kind,
            rss_kib: kib * 2,
            pss_kib: kib,
            uss_kib: kib / 2,
            ticks: 100,
        };
        let procs = vec![
            p(1, Kind::Portico("__cluster".into()), 40_000),
            p(2, Kind::Portico("__pod-sandbox".into()), 300),
            p(3, Kind::Portico("__pod-sandbox".into()), 200),
            p(4, Kind::Container("pause".into()), 100),
        ];
        let m = Memory::of(&procs);
        assert_eq!(
            m.portico,
            Totals {
                count: 3,
                rss_kib: 81_000,
                pss_kib: 40_500,
                uss_kib: 20_250,
            }
        );
        assert_eq!(m.containers.count, 1);
        assert_eq!(
            m.by_kind[&Kind::Portico("__pod-sandbox".into())].pss_kib,
            500
        );
        assert_eq!(cpu_seconds(&procs), 4.0);
    }

    #[test]
    fn machine_busy_counts_everything_but_idle_and_iowait() {
        let stat = "cpu  861728 5 133003 163533 3325 7 2824 8001 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
        assert_eq!(
            parse_machine_busy(stat),
            Some(861728 + 5 + 133003 + 7 + 2824 + 8001)
        );
        assert_eq!(parse_machine_busy("cpu0 1 2 3\n"), None);
        let (machine, me) = machine_and_self_seconds();
        assert!(machine > 0.0 && machine >= me);
    }

    #[test]
    fn scanning_finds_this_test_process() {
        let me = std::process::id();
        let procs = scan(me, "no-such-binary");
        let mine = procs.iter().find(|p| p.pid == me).unwrap();
        assert!(mine.rss_kib > 0 && mine.pss_kib > 0 && mine.uss_kib > 0);
        assert!(mine.uss_kib <= mine.pss_kib && mine.pss_kib <= mine.rss_kib);
        assert!(matches!(mine.kind, Kind::Container(_)));
    }
}
