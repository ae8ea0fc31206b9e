//! The latency phase: `k` distinct random pods are turned not Ready and then Ready again
//! through their status subresource, and for each transition the time from the patch's
//! acknowledgement to the watch event of the EndpointSlice, and of the Endpoints, that shows
//! the new state is measured. Flips run one at a time by default, or at a fixed rate.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::objects::{self, NAMESPACE};
use crate::watch::{lock, Shared};
use crate::Error;
use portico_bench::stats::Summary;

/// Latency of one kind of object for one direction of transition.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// From the acknowledged patch to the event (events before the ack count as zero).
    pub latency: Summary,
    /// Events that arrived before the client had the patch's acknowledgement.
    pub before_ack: usize,
    /// Transitions never seen within the timeout, described.
    pub missing: Vec<String>,
}

/// The figures of the latency phase.
#[derive(Debug, Clone, Default)]
pub struct Flips {
    /// Pods flipped.
    pub pods: usize,
    /// Status patch latency.
    pub patches: Summary,
    /// EndpointSlices: [to not ready, to ready, both].
    pub slices: [Seen; 3],
    /// Endpoints: [to not ready, to ready, both].
    pub endpoints: [Seen; 3],
    /// Wall time of the phase.
    pub elapsed: Duration,
}

/// One observation: the event time relative to the ack, or why it is missing.
type Outcome = Result<(Duration, bool), String>;

/// One transition's raw results.
struct Transition {
    to_ready: bool,
    patch: Duration,
    slice: Outcome,
    endpoints: Outcome,
}

/// Patches pod `j` of Service `i` to `to_ready` and waits for both books to show it.
async fn transition(
    pods: &Api<Pod>,
    books: &(Shared, Shared),
    (i, j, p): (usize, usize, usize),
    to_ready: bool,
    timeout: Duration,
) -> Result<Transition, Error> {
    let ip = objects::pod_ip(i, j, p);
    let name = objects::pod_name(i, j);
    let slice_rx = lock(&books.0).probe(i, ip, to_ready);
    let endpoints_rx = lock(&books.1).probe(i, ip, to_ready);
    let patch = objects::pod_status_patch(ip, to_ready);
    let sent = Instant::now();
    pods.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::request(format!(
            "PATCH namespaces/{NAMESPACE}/pods/{name}/status {patch}"
        )))?;
    let ack = Instant::now();
    let mut outcomes = Vec::new();
    for (what, rx, book) in [
        ("EndpointSlice", slice_rx, &books.0),
        ("Endpoints", endpoints_rx, &books.1),
    ] {
        let outcome = match tokio::time::timeout_at((ack + timeout).into(), rx).await {
            Ok(Ok(at)) => Ok((at.saturating_duration_since(ack), at < ack)),
            _ => {
                let mut book = lock(book);
                book.disarm(i, ip);
                Err(format!(
                    "{what} of {} never showed {name} ({ip}) {} within {} s after the patch was acknowledged; it lists {}",
                    objects::service_name(i),
                    if to_ready { "ready" } else { "not ready" },
                    timeout.as_secs(),
                    book.describe(i),
                ))
            }
        };
        outcomes.push(outcome);
    }
    let endpoints = outcomes.pop().unwrap_or_else(|| Err("no outcome".into()));
    let slice = outcomes.pop().unwrap_or_else(|| Err("no outcome".into()));
    Ok(Transition {
        to_ready,
        patch: ack - sent,
        slice,
        endpoints,
    })
}

/// Flips pod `(i, j)` not Ready and back.
async fn flip(
    pods: Api<Pod>,
    books: (Shared, Shared),
    at: (usize, usize, usize),
    timeout: Duration,
) -> Result<[Transition; 2], Error> {
    let down = transition(&pods, &books, at, false, timeout).await?;
    let up = transition(&pods, &books, at, true, timeout).await?;
    Ok([down, up])
}

/// Summarises outcomes into [to not ready, to ready, both].
fn summarise(all: &[Transition], pick: fn(&Transition) -> &Outcome) -> [Seen; 3] {
    let one = |filter: &dyn Fn(&Transition) -> bool| {
        let (mut lat, mut before, mut missing) = (Vec::new(), 0, Vec::new());
        for t in all.iter().filter(|t| filter(t)) {
            match pick(t) {
                Ok((d, early)) => {
                    lat.push(*d);
                    before += usize::from(*early);
                }
                Err(why) => missing.push(why.clone()),
            }
        }
        Seen {
            latency: Summary::of(lat),
            before_ack: before,
            missing,
        }
    };
    [one(&|t| !t.to_ready), one(&|t| t.to_ready), one(&|_| true)]
}

/// Flips `k` distinct random pods (of `n` Services × `p`), one at a time when `rate` is 0,
/// else starting `rate` flips per second.
pub async fn run(
    client: &kube::Client,
    books: (Shared, Shared),
    (n, p, k): (usize, usize, usize),
    rate: f64,
    seed: u64,
    timeout: Duration,
) -> Result<Flips, Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let total = n * p;
    let k = k.min(total);
    let mut rng = StdRng::seed_from_u64(seed);
    let chosen = rand::seq::index::sample(&mut rng, total, k).into_vec();
    let start = Instant::now();
    let mut all = Vec::with_capacity(2 * k);
    if rate <= 0.0 {
        for idx in chosen {
            all.extend(flip(pods.clone(), books.clone(), (idx / p, idx % p, p), timeout).await?);
        }
    } else {
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
        let mut tasks = Vec::with_capacity(k);
        for idx in chosen {
            tick.tick().await;
            let (pods, books) = (pods.clone(), books.clone());
            tasks.push(tokio::spawn(flip(
                pods,
                books,
                (idx / p, idx % p, p),
                timeout,
            )));
        }
        for t in tasks {
            all.extend(t.await??);
        }
    }
    let elapsed = start.elapsed();
    Ok(Flips {
        pods: k,
        patches: Summary::of(all.iter().map(|t| t.patch).collect()),
        slices: summarise(&all, |t| &t.slice),
        endpoints: summarise(&all, |t| &t.endpoints),
        elapsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(to_ready: bool, slice: Outcome) -> Transition {
        Transition {
            to_ready,
            patch: Duration::from_millis(1),
            slice,
            endpoints: Err("x".into()),
        }
    }

    #[test]
    fn outcomes_are_split_by_direction_and_missing_ones_kept() {
        let ms = Duration::from_millis;
        let all = vec![
            t(false, Ok((ms(4), false))),
            t(true, Ok((ms(0), true))),
            t(false, Err("EndpointSlice of svc-00001 never showed".into())),
            t(true, Ok((ms(8), false))),
        ];
        let [down, up, both] = summarise(&all, |t| &t.slice);
        assert_eq!(
            (down.latency.count, down.latency.max, down.missing.len()),
            (1, ms(4), 1)
        );
        assert_eq!(
            (up.latency.count, up.before_ack, up.latency.max),
            (2, 1, ms(8))
        );
        assert_eq!(
            (both.latency.count, both.before_ack, both.missing.len()),
            (3, 1, 1)
        );
        let [_, _, eps] = summarise(&all, |t| &t.endpoints);
        assert_eq!((eps.latency.count, eps.missing.len()), (0, 4));
    }
}
