//! Watches: an etcd watch from `after + 1`, with previous key-values, as a stream of the
//! store's events.

use std::collections::VecDeque;

use etcd_client::{EventType, WatchOptions, WatchResponse};
use futures::StreamExt;
use portico_store::{Event, EventKind, Revision, StoreError, WatchStream};

use crate::convert::Namespace;
use crate::error::backend;
use crate::EtcdStore;

/// Starts an etcd watch on the keys under `prefix` with revisions after `after`.
pub(crate) async fn start(
    store: &EtcdStore,
    prefix: &str,
    after: Revision,
) -> Result<WatchStream, StoreError> {
    let (start, end) = store.ns.range(prefix);
    let options = WatchOptions::new()
        .with_range(end)
        .with_start_revision(after.max(0) + 1)
        .with_prev_key();
    let stream = store
        .watcher
        .clone()
        .watch(start, Some(options))
        .await
        .map_err(backend)?;
    let state = State {
        // The etcd stream holds the request side too: dropping it would end the watch.
        stream: Some(stream),
        pending: VecDeque::new(),
        ns: store.ns.clone(),
        after,
    };
    Ok(futures::stream::unfold(state, next).boxed())
}

struct State {
    stream: Option<etcd_client::WatchStream>,
    pending: VecDeque<Event>,
    ns: Namespace,
    after: Revision,
}

/// The next item of the watch: a pending event, or the next response's events, or an
/// error after which the stream ends.
async fn next(mut state: State) -> Option<(Result<Event, StoreError>, State)> {
    loop {
        if let Some(event) = state.pending.pop_front() {
            return Some((Ok(event), state));
        }
        let stream = state.stream.as_mut()?;
        let failure = match stream.message().await {
            Ok(Some(resp)) => match convert(&state.ns, state.after, &resp) {
                Ok(events) => {
                    state.pending.extend(events);
                    continue;
                }
                Err(err) => err,
            },
            Ok(None) => StoreError::Backend("etcd closed the watch".to_string()),
            Err(err) => backend(err),
        };
        state.stream = None;
        return Some((Err(failure), state));
    }
}

/// The events of one watch response, or why the watch ended.
fn convert(
    ns: &Namespace,
    after: Revision,
    resp: &WatchResponse,
) -> Result<Vec<Event>, StoreError> {
    if resp.compact_revision() > 0 {
        return Err(StoreError::Compacted {
            requested: after,
            compacted: resp.compact_revision(),
        });
    }
    if resp.canceled() {
        return Err(StoreError::Backend(format!(
            "etcd canceled the watch: {}",
            resp.cancel_reason()
        )));
    }
    resp.events()
        .iter()
        .map(|event| {
            let kv = event
                .kv()
                .ok_or_else(|| StoreError::Backend("etcd watch event without a key".into()))?;
            let prev = event.prev_kv().map(|p| ns.kv(p)).transpose()?;
            Ok(match event.event_type() {
                EventType::Put => Event {
                    kind: EventKind::Put,
                    kv: ns.kv(kv)?,
                    prev,
                },
                EventType::Delete => {
                    // etcd's delete event carries only the key and the deletion revision;
                    // the last value comes from the previous key-value.
                    let mut gone = match &prev {
                        Some(prev) => prev.clone(),
                        None => ns.kv(kv)?,
                    };
                    gone.mod_revision = kv.mod_revision();
                    Event {
                        kind: EventKind::Delete,
                        kv: gone,
                        prev,
                    }
                }
            })
        })
        .collect()
}
