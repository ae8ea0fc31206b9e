//! Helpers for the seed-driven end-to-end modules: fixture paths, reading `kubectl get` tables
//! by column name (cells may be empty, e.g. an Ingress without ADDRESS), and `describe` fields.

#![allow(dead_code)]

use crate::harness::{Cluster, Run};

/// Absolute path of a file under `tests/fixtures/seeds/`.
pub fn seed(name: &str) -> String {
    format!("{}/tests/fixtures/seeds/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Absolute path of a file under `tests/fixtures/`.
pub fn fixture_path(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// `kubectl apply -f <file>` (client-side).
pub fn apply_file(c: &Cluster, path: &str) -> Run {
    c.kubectl(&["apply", "-f", path])
}

/// `kubectl apply --server-side -f <file>`.
pub fn apply_ss(c: &Cluster, path: &str) -> Run {
    c.kubectl(&["apply", "--server-side", "-f", path])
}

/// Asserts the command failed and returns stderr (plus stdout) for message checks.
#[track_caller]
pub fn fails(r: Run) -> String {
    assert!(
        !r.ok,
        "expected failure, got success:\n{}{}",
        r.stdout, r.stderr
    );
    format!("{}{}", r.stderr, r.stdout)
}

/// Asserts `text` contains `needle`, showing the whole text otherwise.
#[track_caller]
pub fn assert_has(text: &str, needle: &str) {
    assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
}

/// One `kubectl get` table (header + rows) read by column positions, as kubectl's tabwriter
/// aligns them, so that empty cells stay in place.
pub struct Table {
    /// Column names in order.
    pub columns: Vec<String>,
    /// Rows, one cell per column (trimmed; empty string for an empty cell).
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// Parses the first table in `out` (up to the first blank line).
    #[track_caller]
    pub fn parse(out: &str) -> Table {
        let mut lines = out.lines().skip_while(|l| l.trim().is_empty());
        let head: Vec<char> = lines
            .next()
            .unwrap_or_else(|| panic!("no table in {out:?}"))
            .chars()
            .collect();
        let mut starts = Vec::new();
        let mut columns = Vec::new();
        let mut i = 0;
        while i < head.len() {
            if head[i] != ' ' {
                let s = i;
                // Column names may contain single spaces ("NODE SELECTOR"); kubectl pads with 3.
                while i < head.len()
                    && !(head[i] == ' ' && head.get(i + 1).is_none_or(|c| *c == ' '))
                {
                    i += 1;
                }
                starts.push(s);
                columns.push(head[s..i].iter().collect::<String>());
            } else {
                i += 1;
            }
        }
        let rows = lines
            .take_while(|l| !l.trim().is_empty())
            .map(|l| {
                let ch: Vec<char> = l.chars().collect();
                (0..starts.len())
                    .map(|k| {
                        let a = starts[k].min(ch.len());
                        let b = starts.get(k + 1).copied().unwrap_or(ch.len()).min(ch.len());
                        ch[a..b].iter().collect::<String>().trim().to_string()
                    })
                    .collect()
            })
            .collect();
        Table { columns, rows }
    }

    /// The row whose first cell is `name`.
    #[track_caller]
    pub fn row(&self, name: &str) -> &Vec<String> {
        self.rows
            .iter()
            .find(|r| r.first().map(String::as_str) == Some(name))
            .unwrap_or_else(|| panic!("no row {name:?} in {:?}", self.rows))
    }

    /// Whether a row named `name` exists.
    pub fn has(&self, name: &str) -> bool {
        self.rows
            .iter()
            .any(|r| r.first().map(String::as_str) == Some(name))
    }

    /// The cell of row `name` in column `column`.
    #[track_caller]
    pub fn cell(&self, name: &str, column: &str) -> String {
        let k = self
            .columns
            .iter()
            .position(|c| c == column)
            .unwrap_or_else(|| panic!("no column {column:?} in {:?}", self.columns));
        self.row(name)[k].clone()
    }
}

/// Splits multi-type `kubectl get` output (`get all`, `get svc,deploy`) into its tables.
pub fn tables(out: &str) -> Vec<Table> {
    out.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(Table::parse)
        .collect()
}

/// The value of a `Field:   value` line of `kubectl describe` output (first match, trimmed).
#[track_caller]
pub fn describe_field(out: &str, field: &str) -> String {
    let prefix = format!("{field}:");
    out.lines()
        .find_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("no {field:?} line in:\n{out}"))
}

/// Whether `ip` (dotted quad) lies in the service network 10.96.0.0/12.
pub fn in_service_cidr(ip: &str) -> bool {
    let o: Vec<u32> = ip.split('.').filter_map(|p| p.parse().ok()).collect();
    o.len() == 4 && o[0] == 10 && (96..112).contains(&o[1])
}

/// A NodePort-style `PORT(S)` cell `80:31234/TCP`: returns the node port.
#[track_caller]
pub fn node_port_of(cell: &str, port: u16) -> u16 {
    let rest = cell
        .split(',')
        .find_map(|p| p.strip_prefix(&format!("{port}:")))
        .unwrap_or_else(|| panic!("no {port}:N in {cell:?}"));
    rest.trim_end_matches("/TCP")
        .parse()
        .unwrap_or_else(|_| panic!("bad port cell {cell:?}"))
}

/// The book's kubia Deployment (`luksa/kubia` on 8080, label `app=kubia`) with `replicas`,
/// as the Service tests start it.
pub fn kubia_deployment(replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: kubia}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: kubia}}}}
  template:
    metadata: {{labels: {{app: kubia}}}}
    spec:
      containers:
      - name: kubia
        image: luksa/kubia
        ports: [{{containerPort: 8080}}]
"
    )
}

/// `kubectl exec POD -- CMD...`.
pub fn exec(c: &Cluster, pod: &str, cmd: &[&str]) -> Run {
    let mut args = vec!["exec", pod, "--"];
    args.extend_from_slice(cmd);
    c.kubectl(&args)
}
