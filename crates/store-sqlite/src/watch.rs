//! Watches: catch up from the log, then follow the writer's live events.
//!
//! The order of steps is what makes a watch exact. The watcher subscribes to live events
//! *before* reading history, so an event committed after the history snapshot is always in
//! the subscription; the history read records the revision it is caught up to, and live
//! events at or below it are skipped, so events committed before the snapshot but published
//! after the subscription are not delivered twice. A watcher that falls behind the live
//! buffer (a slow reader) never blocks the writer: it is told it lagged, and re-reads the
//! log from the last revision it delivered.

use std::sync::Arc;

use futures::StreamExt;
use portico_store::{Event, Revision, StoreError, WatchStream};
use tokio::sync::{broadcast, mpsc};

use crate::read::{self, Reader};

/// History events read per transaction while catching up.
const HISTORY_PAGE: usize = 512;

/// Events buffered between a watch task and its consumer.
const CHANNEL: usize = 128;

/// Starts a watch task and returns the stream it feeds.
pub(crate) fn start(
    reader: Arc<Reader>,
    live: broadcast::Receiver<Arc<Event>>,
    prefix: String,
    after: Revision,
) -> WatchStream {
    let (tx, rx) = mpsc::channel(CHANNEL);
    tokio::spawn(run(reader, live, prefix, after, tx));
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
    .boxed()
}

type Sink = mpsc::Sender<Result<Event, StoreError>>;

/// Why a watch task stops early.
enum Stop {
    /// The consumer dropped the stream.
    Gone,
    /// An error was delivered to the consumer.
    Failed,
}

async fn run(
    reader: Arc<Reader>,
    mut live: broadcast::Receiver<Arc<Event>>,
    prefix: String,
    after: Revision,
    tx: Sink,
) {
    let mut last = after.max(0);
    if catch_up(&reader, &prefix, &mut last, &tx).await.is_err() {
        return;
    }
    loop {
        let event = tokio::select! {
            received = live.recv() => received,
            () = tx.closed() => return,
        };
        match event {
            Ok(event) => {
                let rev = event.kv.mod_revision;
                if rev <= last {
                    continue;
                }
                last = rev;
                if event.kv.key.starts_with(&prefix)
                    && tx.send(Ok(Event::clone(&event))).await.is_err()
                {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::debug!(missed, last, prefix, "slow watcher re-reads the log");
                if catch_up(&reader, &prefix, &mut last, &tx).await.is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Closed) => {
                let _ = tx
                    .send(Err(StoreError::Backend(
                        "sqlite store closed; watch ended".to_string(),
                    )))
                    .await;
                return;
            }
        }
    }
}

/// Delivers every event after `last` from the log, advancing `last` to the revision the
/// log was read up to.
async fn catch_up(
    reader: &Arc<Reader>,
    prefix: &str,
    last: &mut Revision,
    tx: &Sink,
) -> Result<(), Stop> {
    loop {
        let (p, after) = (prefix.to_string(), *last);
        let page = reader
            .read(move |t| read::history(t, &p, after, HISTORY_PAGE))
            .await;
        let page = match page {
            Ok(page) => page,
            Err(err) => {
                let _ = tx.send(Err(err)).await;
                return Err(Stop::Failed);
            }
        };
        for event in page.events {
            if tx.send(Ok(event)).await.is_err() {
                return Err(Stop::Gone);
            }
        }
        *last = page.caught_up_to;
        if page.done {
            return Ok(());
        }
    }
}
