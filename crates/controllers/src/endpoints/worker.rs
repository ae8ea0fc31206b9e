//! Worker pool draining a [`WorkQueue`]: each key is synced by one worker at a time; a failed
//! sync is retried with exponential backoff, up to [`MAX_RETRIES`] times, as
//! kube-controller-manager does.

use std::future::Future;

use tokio_util::sync::CancellationToken;

use super::queue::WorkQueue;

/// Retries of one key before it is dropped (until its next change).
pub const MAX_RETRIES: u32 = 15;

/// Runs `workers` workers calling `sync` for queued keys until `shutdown`.
pub async fn run<F, Fut, E>(
    queue: WorkQueue,
    workers: usize,
    name: &'static str,
    shutdown: CancellationToken,
    sync: F,
) where
    F: Fn(String) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
    E: std::fmt::Display,
{
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers.max(1) {
        let queue = queue.clone();
        let sync = sync.clone();
        set.spawn(async move {
            while let Some(key) = queue.get().await {
                match sync(key.clone()).await {
                    Ok(()) => queue.forget(&key),
                    Err(e) if queue.failures(&key) < MAX_RETRIES => {
                        tracing::debug!(controller = name, key, error = %e, "sync failed; retrying");
                        queue.add_rate_limited(&key);
                    }
                    Err(e) => {
                        tracing::warn!(controller = name, key, error = %e, "sync failed too often; dropping");
                        queue.forget(&key);
                    }
                }
                queue.done(&key);
            }
        });
    }
    shutdown.cancelled().await;
    queue.shut_down();
    while set.join_next().await.is_some() {}
}
