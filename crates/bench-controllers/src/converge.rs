//! Waiting for the controllers to converge while the cluster is being filled: the watches
//! record when each Service first lists all its pods as ready; this module only reads those
//! in-memory books (no API polling), prints progress every few seconds, and gives up with
//! the state of the laggards after a deadline.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cpu;
use crate::populate::{Populated, Progress};
use crate::watch::{lock, Shared};
use crate::Error;
use portico_bench::stats::Summary;

/// How the controllers caught up with one kind of object.
#[derive(Debug, Clone, Copy)]
pub struct Caught {
    /// When the last Service first listed all its pods ready.
    pub done: Instant,
    /// Per Service: from its last pod's Ready acknowledgement to its first complete listing.
    pub lag: Summary,
    /// Watch events seen while converging (writes of the controller).
    pub events: usize,
}

/// The figures of the convergence phase.
#[derive(Debug, Clone)]
pub struct Convergence {
    /// What the client did.
    pub populated: Populated,
    /// EndpointSlices.
    pub slices: Caught,
    /// Endpoints.
    pub endpoints: Caught,
    /// CPU use over the whole phase (server, benchmark, other processes).
    pub cpu: String,
}

/// The state of the books, for progress lines and reports.
fn counts(slices: &Shared, endpoints: &Shared) -> (usize, usize) {
    (lock(slices).complete_now(), lock(endpoints).complete_now())
}

/// Runs `populate` to completion and waits until every Service is complete in both books,
/// at most `deadline` after the start.
pub async fn converge(
    populate: tokio::task::JoinHandle<Result<Populated, Error>>,
    progress: Arc<Progress>,
    (slices, endpoints): (Shared, Shared),
    server_pid: Option<u32>,
    deadline: Duration,
) -> Result<Convergence, Error> {
    let n = lock(&slices).len();
    let start = Instant::now();
    let first = cpu::Sample::take(server_pid);
    let mut last = first.clone();
    let mut populate = Some(populate);
    let mut populated = None;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let mut next_report = start + Duration::from_secs(5);
    loop {
        if let Some(handle) = populate.as_mut() {
            tokio::select! {
                done = handle => {
                    populated = Some(done??);
                    populate = None;
                    eprintln!("  {:>6.1}s  all requests acknowledged", start.elapsed().as_secs_f64());
                }
                _ = tick.tick() => {}
            }
        } else {
            tick.tick().await;
        }
        let (s, e) = counts(&slices, &endpoints);
        if let Some(p) = &populated {
            if s == n && e == n {
                return Ok(Convergence {
                    slices: caught(&slices, p),
                    endpoints: caught(&endpoints, p),
                    populated: p.clone(),
                    cpu: first.describe(&cpu::Sample::take(server_pid)),
                });
            }
        }
        let now = Instant::now();
        if now >= next_report {
            next_report += Duration::from_secs(5);
            let sample = cpu::Sample::take(server_pid);
            let done = progress.done.load(Ordering::Relaxed);
            eprintln!(
                "  {:>6.1}s  services {} pods {} ready {} | complete: slices {s} endpoints {e} | backlog: slices {} endpoints {} | {}",
                start.elapsed().as_secs_f64(),
                progress.services.load(Ordering::Relaxed),
                progress.pods.load(Ordering::Relaxed),
                progress.ready.load(Ordering::Relaxed),
                done.saturating_sub(s),
                done.saturating_sub(e),
                last.describe(&sample),
            );
            last = sample;
        }
        if now.duration_since(start) > deadline {
            return Err(Error::NotConverged(laggards(&slices, &endpoints, deadline)));
        }
    }
}

/// The convergence of one book, against the client's acknowledgements.
fn caught(book: &Shared, populated: &Populated) -> Caught {
    let book = lock(book);
    let mut done = populated.started;
    let mut lags = Vec::with_capacity(book.len());
    for (svc, ack) in populated.last_ack.iter().enumerate() {
        if let Some(at) = book.first_complete(svc) {
            done = done.max(at);
            lags.push(at.saturating_duration_since(*ack));
        }
    }
    Caught {
        done,
        lag: Summary::of(lags),
        events: book.events,
    }
}

/// Describes up to ten Services that are not complete in each book.
fn laggards(slices: &Shared, endpoints: &Shared, deadline: Duration) -> String {
    let mut out = format!("not converged within {} s", deadline.as_secs());
    for (what, book) in [("EndpointSlices", slices), ("Endpoints", endpoints)] {
        let book = lock(book);
        let missing: Vec<usize> = (0..book.len())
            .filter(|&i| book.first_complete(i).is_none())
            .collect();
        out.push_str(&format!(
            "\n  {what}: {} of {} Services never complete",
            missing.len(),
            book.len()
        ));
        for &i in missing.iter().take(10) {
            out.push_str(&format!(
                "\n    {}: {}",
                crate::objects::service_name(i),
                book.describe(i)
            ));
        }
    }
    out
}
