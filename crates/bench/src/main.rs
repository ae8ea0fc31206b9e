//! `portico-bench`: Portico's API server on SQLite and on etcd, side by side with the raw
//! stores underneath (rusqlite inserts of the same JSON bytes, etcd-client puts at the same
//! concurrency). The servers and etcd are started by `bench/apiserver.sh`; this program only
//! talks to them. API requests go through kube-rs (HTTP/1.1 over rustls).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;

mod error;
mod portico;
mod raw_etcd;
mod raw_sqlite;
mod report;

pub use error::Error;
use report::{ApiFigures, EtcdFigures, SqliteFigures};

/// Benchmark Portico's API server against the raw stores.
#[derive(Parser, Debug)]
#[command(name = "portico-bench")]
struct Args {
    /// Services to create (and then list).
    #[arg(long, env = "N", default_value_t = 10_000)]
    n: usize,
    /// Concurrent clients for creates and raw etcd puts.
    #[arg(long, env = "CONCURRENCY", default_value_t = 16)]
    concurrency: usize,
    /// Concurrent watchers for the delivery measurement.
    #[arg(long, env = "WATCHERS", default_value_t = 100)]
    watchers: usize,
    /// Services created (one at a time) while the watchers watch; default n/50, at least 20.
    #[arg(long, env = "WATCH_EVENTS")]
    watch_events: Option<usize>,
    /// Kubeconfig of a Portico server on the SQLite store.
    #[arg(long)]
    sqlite_kubeconfig: PathBuf,
    /// Kubeconfig of a Portico server on etcd.
    #[arg(long)]
    etcd_kubeconfig: PathBuf,
    /// A separate, empty etcd for the raw put baseline.
    #[arg(long)]
    raw_etcd: String,
    /// A directory for the raw SQLite databases.
    #[arg(long)]
    scratch_dir: PathBuf,
    /// Rows per transaction in the batched raw SQLite run (Portico's group commit is 256).
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// SQLite `synchronous` for the raw runs (Portico's default is NORMAL).
    #[arg(long, default_value = "NORMAL")]
    synchronous: String,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("portico-bench: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portico-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Creates, lists and watches on one Portico server.
async fn api(label: &str, kubeconfig: &std::path::Path, args: &Args) -> Result<ApiFigures, Error> {
    let client = portico::client(kubeconfig).await?;
    eprintln!(
        "[{label}] creating {} Services with {} clients",
        args.n, args.concurrency
    );
    let t = Instant::now();
    let creates = portico::create(&client, args.n, args.concurrency).await?;
    eprintln!("[{label}] listing ({:.1} s)", t.elapsed().as_secs_f64());
    let t = Instant::now();
    // A failed list is a finding to report, not a reason to stop the run.
    let listing = portico::list(&client, 3).await.map_err(|e| e.to_string());
    if let Err(e) = &listing {
        eprintln!("[{label}] list failed: {e}");
    }
    let paged = portico::list_paged(&client, 500)
        .await
        .map_err(|e| e.to_string());
    if let Err(e) = &paged {
        eprintln!("[{label}] paged list failed: {e}");
    }
    let control_n = (args.n / 4).max(1);
    eprintln!(
        "[{label}] control: {control_n} ConfigMaps with {} clients",
        args.concurrency
    );
    let control = portico::create_configmaps(&client, control_n, args.concurrency).await?;
    let events = args.watch_events.unwrap_or((args.n / 50).max(20));
    eprintln!(
        "[{label}] {events} creates to {} watchers ({:.1} s)",
        args.watchers,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let delivery = portico::watch(&client, args.watchers, events).await?;
    eprintln!("[{label}] done ({:.1} s)", t.elapsed().as_secs_f64());
    Ok(ApiFigures {
        creates,
        n: args.n,
        listing,
        paged,
        control,
        control_n,
        delivery,
    })
}

async fn run(args: Args) -> Result<(), Error> {
    let on_sqlite = api("portico/sqlite", &args.sqlite_kubeconfig, &args).await?;
    let on_etcd = api("portico/etcd", &args.etcd_kubeconfig, &args).await?;

    let rows = on_sqlite.creates.payloads.clone();
    let avg = rows.iter().map(|(_, v)| v.len()).sum::<usize>() / rows.len().max(1);
    eprintln!("[raw] {} payloads of {avg} bytes on average", rows.len());
    let (dir, sync, batch) = (
        args.scratch_dir.clone(),
        args.synchronous.clone(),
        args.batch,
    );
    let raw_rows = rows.clone();
    let sqlite = tokio::task::spawn_blocking(move || -> Result<SqliteFigures, Error> {
        eprintln!("[raw sqlite] one transaction per insert");
        let one = raw_sqlite::one_per_transaction(&dir, &sync, &raw_rows)?;
        eprintln!("[raw sqlite] {batch} inserts per transaction");
        let (batched, conn) = raw_sqlite::batched(&dir, &sync, &raw_rows, batch)?;
        let select = raw_sqlite::select_all(&conn)?;
        Ok(SqliteFigures {
            one,
            batched,
            batch,
            select,
            synchronous: sync,
        })
    })
    .await??;
    eprintln!("[raw etcd] puts with {} clients", args.concurrency);
    let t = Instant::now();
    let puts = raw_etcd::put(&args.raw_etcd, Arc::new(rows), args.concurrency).await?;
    let range = raw_etcd::range(&args.raw_etcd).await?;
    let etcd = EtcdFigures { puts, range };
    eprintln!("[raw etcd] done ({:.1} s)", t.elapsed().as_secs_f64());

    println!(
        "portico-bench: N={} services, {} create clients (kube-rs, HTTP/1.1 + rustls), {} watchers, {avg}-byte objects",
        args.n, args.concurrency, args.watchers
    );
    println!();
    print!("{}", report::sqlite(&on_sqlite, &sqlite));
    println!();
    print!("{}", report::etcd(&on_etcd, &etcd, args.concurrency));
    Ok(())
}
