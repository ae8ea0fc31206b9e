//! Container logs in the CRI file format, and reading them back for `kubectl logs`.
//!
//! Each run of a container writes one file, one line per output line:
//! `<RFC 3339 time> <stdout|stderr> <F|P> <text>` (`P` marks a line split because it was too
//! long), as container runtimes do. `kubectl logs` options map onto [`LogOptions`]: `-f`
//! follows the file until the run ends, `--previous` reads the run before, `--tail`,
//! `--since`, `--since-time`, `--timestamps` and `--limit-bytes` filter what is sent.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{broadcast, watch};

/// Longest line kept whole; longer output is split into `P` records.
const MAX_LINE: usize = 16 * 1024;

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output (also a TTY's output).
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Copies one output stream of a container into its log file and to live listeners
/// (`kubectl attach`), until the stream ends.
pub async fn pump(
    mut from: impl AsyncRead + Unpin,
    stream: Stream,
    file: std::sync::Arc<tokio::sync::Mutex<tokio::fs::File>>,
    live: broadcast::Sender<(Stream, Bytes)>,
) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 8192];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let _ = live.send((stream, Bytes::copy_from_slice(&buf[..n])));
        pending.extend_from_slice(&buf[..n]);
        let mut out = Vec::new();
        while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=pos).collect();
            record(&mut out, stream, 'F', &line[..line.len() - 1]);
        }
        while pending.len() >= MAX_LINE {
            let part: Vec<u8> = pending.drain(..MAX_LINE).collect();
            record(&mut out, stream, 'P', &part);
        }
        if !out.is_empty() {
            let mut f = file.lock().await;
            // tokio's File hands writes to a background thread: flush so that readers
            // (`kubectl logs`) see each line as soon as it is written.
            let _ = f.write_all(&out).await;
            let _ = f.flush().await;
        }
    }
    if !pending.is_empty() {
        let mut out = Vec::new();
        record(&mut out, stream, 'F', &pending);
        let mut f = file.lock().await;
        let _ = f.write_all(&out).await;
        let _ = f.flush().await;
    }
}

fn record(out: &mut Vec<u8>, stream: Stream, tag: char, text: &[u8]) {
    let ts = jiff::Timestamp::now().to_string();
    out.extend_from_slice(format!("{ts} {} {tag} ", stream.as_str()).as_bytes());
    out.extend_from_slice(text);
    out.push(b'\n');
}

/// What `kubectl logs` asked for.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Keep sending new lines until the container's run ends.
    pub follow: bool,
    /// Prefix each line with its RFC 3339 time.
    pub timestamps: bool,
    /// Only the last N lines.
    pub tail_lines: Option<usize>,
    /// Only lines newer than this.
    pub since: Option<jiff::Timestamp>,
    /// Stop after this many bytes.
    pub limit_bytes: Option<usize>,
}

impl LogOptions {
    /// Reads the options from a query string (`follow=true&tailLines=10&...`).
    pub fn from_query(query: &str) -> Result<LogOptions, String> {
        let mut o = LogOptions::default();
        for (k, v) in form_pairs(query) {
            let truthy = matches!(v.as_str(), "true" | "1" | "");
            match k.as_str() {
                "follow" => o.follow = truthy,
                "timestamps" => o.timestamps = truthy,
                "tailLines" => {
                    let n: i64 = v.parse().map_err(|_| format!("invalid tailLines {v:?}"))?;
                    o.tail_lines = (n >= 0).then_some(n as usize);
                }
                "sinceSeconds" => {
                    let n: i64 = v
                        .parse()
                        .map_err(|_| format!("invalid sinceSeconds {v:?}"))?;
                    o.since = jiff::Timestamp::now()
                        .checked_sub(jiff::SignedDuration::from_secs(n))
                        .ok();
                }
                "sinceTime" => {
                    o.since = Some(v.parse().map_err(|_| format!("invalid sinceTime {v:?}"))?)
                }
                "limitBytes" => {
                    o.limit_bytes =
                        Some(v.parse().map_err(|_| format!("invalid limitBytes {v:?}"))?)
                }
                _ => {}
            }
        }
        Ok(o)
    }
}

/// Decoded `key=value` pairs of a query string.
pub fn form_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One parsed log record.
struct Record<'a> {
    time: &'a str,
    partial: bool,
    text: &'a str,
}

fn parse(line: &str) -> Option<Record<'_>> {
    let mut parts = line.splitn(4, ' ');
    let time = parts.next()?;
    let _stream = parts.next()?;
    let tag = parts.next()?;
    let text = parts.next().unwrap_or("");
    Some(Record {
        time,
        partial: tag == "P",
        text,
    })
}

fn render(r: &Record<'_>, o: &LogOptions, out: &mut Vec<u8>) -> bool {
    if let Some(since) = o.since {
        if r.time.parse::<jiff::Timestamp>().is_ok_and(|t| t < since) {
            return false;
        }
    }
    if o.timestamps {
        out.extend_from_slice(r.time.as_bytes());
        out.push(b' ');
    }
    out.extend_from_slice(r.text.as_bytes());
    if !r.partial {
        out.push(b'\n');
    }
    true
}

/// Sends the log of one container run to `tx` as `kubectl logs` shows it; with `follow`,
/// keeps sending until `done` turns true and the file is read to its end.
pub async fn stream(
    path: PathBuf,
    options: LogOptions,
    mut done: Option<watch::Receiver<bool>>,
    tx: tokio::sync::mpsc::Sender<Bytes>,
) {
    let mut sent = 0usize;
    let limit = options.limit_bytes.unwrap_or(usize::MAX);
    let Ok(file) = tokio::fs::File::open(&path).await else {
        return;
    };
    let mut reader = tokio::io::BufReader::new(file);
    // The first pass honours --tail.
    let mut first = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => first.push(line.trim_end_matches('\n').to_string()),
        }
    }
    let skip = options
        .tail_lines
        .map_or(0, |n| first.len().saturating_sub(n));
    let mut out = Vec::new();
    for l in &first[skip..] {
        if let Some(r) = parse(l) {
            render(&r, &options, &mut out);
        }
    }
    if !send_limited(&tx, out, &mut sent, limit).await || !options.follow {
        return;
    }
    loop {
        line.clear();
        match reader.read_line(&mut line).await {
            Ok(n) if n > 0 && line.ends_with('\n') => {
                let mut out = Vec::new();
                if let Some(r) = parse(line.trim_end_matches('\n')) {
                    render(&r, &options, &mut out);
                }
                if !send_limited(&tx, out, &mut sent, limit).await {
                    return;
                }
                continue;
            }
            Ok(n) if n > 0 => {
                // A record still being written: wait for its end.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let mut rest = String::new();
                let _ = reader.read_line(&mut rest).await;
                line.push_str(&rest);
                let mut out = Vec::new();
                if let Some(r) = parse(line.trim_end_matches('\n')) {
                    render(&r, &options, &mut out);
                }
                if !send_limited(&tx, out, &mut sent, limit).await {
                    return;
                }
                continue;
            }
            _ => {}
        }
        let finished = done.as_ref().is_none_or(|d| *d.borrow());
        if finished {
            return;
        }
        if tx.is_closed() {
            return;
        }
        if let Some(d) = done.as_mut() {
            let _ = tokio::time::timeout(Duration::from_millis(200), d.changed()).await;
        }
    }
}

async fn send_limited(
    tx: &tokio::sync::mpsc::Sender<Bytes>,
    mut out: Vec<u8>,
    sent: &mut usize,
    limit: usize,
) -> bool {
    if out.is_empty() {
        return true;
    }
    let room = limit.saturating_sub(*sent);
    if out.len() > room {
        out.truncate(room);
    }
    *sent += out.len();
    let more = *sent < limit;
    tx.send(Bytes::from(out)).await.is_ok() && more
}

/// The log file of run `restart` of `container` in a pod directory.
pub fn path(pod_dir: &Path, container: &str, restart: i32) -> PathBuf {
    pod_dir.join(container).join(format!("{restart}.log"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pump_writes_cri_records_and_stream_renders_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0.log");
        let file = tokio::fs::File::create(&p).await.unwrap();
        let file = std::sync::Arc::new(tokio::sync::Mutex::new(file));
        let (live, mut rx_live) = broadcast::channel(16);
        pump(&b"one\ntwo\nthree"[..], Stream::Stdout, file, live).await;
        assert_eq!(&rx_live.recv().await.unwrap().1[..], b"one\ntwo\nthree");
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].ends_with(" stdout F one"), "{}", lines[0]);

        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let o = LogOptions::from_query("tailLines=2").unwrap();
        stream(p.clone(), o, None, tx).await;
        let mut all = Vec::new();
        while let Some(b) = rx.recv().await {
            all.extend_from_slice(&b);
        }
        assert_eq!(String::from_utf8(all).unwrap(), "two\nthree\n");

        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let o = LogOptions::from_query("timestamps=true&limitBytes=5").unwrap();
        stream(p, o, None, tx).await;
        let got = rx.recv().await.unwrap();
        assert_eq!(got.len(), 5);
    }

    #[test]
    fn query_is_decoded() {
        let pairs = form_pairs("command=sh&command=-c&command=echo%20hi+there");
        assert_eq!(pairs[2].1, "echo hi there");
        assert!(LogOptions::from_query("tailLines=x").is_err());
    }
}
