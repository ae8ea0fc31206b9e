//! The physical limit on etcd: puts of the same JSON bytes with etcd-client at the same
//! concurrency as the API clients, and one range read of them all.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{Client, GetOptions};

use crate::Error;
use portico_bench::stats::Summary;

const PREFIX: &str = "/raw-bench/services/default/";

/// The result of the raw put run.
#[derive(Debug, Clone, Copy)]
pub struct Puts {
    /// Latency per put.
    pub latency: Summary,
    /// Wall time for all puts.
    pub elapsed: Duration,
}

/// Puts every payload, `concurrency` requests in flight on one shared client channel.
pub async fn put(
    url: &str,
    rows: Arc<Vec<(String, Vec<u8>)>>,
    concurrency: usize,
) -> Result<Puts, Error> {
    let client = Client::connect([url], None).await?;
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (mut kv, next, rows) = (client.kv_client(), Arc::clone(&next), Arc::clone(&rows));
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((name, value)) = rows.get(i) else {
                    return Ok::<_, Error>(out);
                };
                let t = Instant::now();
                kv.put(format!("{PREFIX}{name}"), value.clone(), None)
                    .await?;
                out.push(t.elapsed());
            }
        }));
    }
    let mut latencies = Vec::with_capacity(rows.len());
    for t in tasks {
        latencies.extend(t.await??);
    }
    Ok(Puts {
        latency: Summary::of(latencies),
        elapsed: start.elapsed(),
    })
}

/// Reads every key under the prefix in one range request: (keys, value bytes, time).
pub async fn range(url: &str) -> Result<(usize, usize, Duration), Error> {
    let client = Client::connect([url], None).await?;
    let mut kv = client.kv_client().max_decoding_message_size(1 << 30);
    let t = Instant::now();
    let resp = kv
        .get(PREFIX, Some(GetOptions::new().with_prefix()))
        .await?;
    let took = t.elapsed();
    let bytes = resp.kvs().iter().map(|kv| kv.value().len()).sum();
    Ok((resp.kvs().len(), bytes, took))
}
