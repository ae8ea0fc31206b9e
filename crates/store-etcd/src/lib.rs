//! Portico's store on etcd: the distributed backend for several API servers.
//!
//! [`EtcdStore`] maps [`portico_store::Store`] onto etcd's v3 API one to one, as the
//! Kubernetes API server does: a key's `resourceVersion` is its etcd `mod_revision`, and
//! the store's revision is etcd's.
//!
//! * create: a transaction `create_revision(key) == 0 → put`;
//! * update: `version(key) > 0 && mod_revision(key) == expected → put` (else a get tells
//!   `NotFound` from `Conflict`);
//! * delete: the same guard, deleting with the previous key-value;
//! * list: a range read at a revision, with `limit`, starting after `start_after`;
//! * watch: an etcd watch from `after + 1` with previous key-values;
//! * compaction errors become [`StoreError::Compacted`].
//!
//! Keys are used as given (they start with `/registry/`), optionally under a namespace
//! prefix that lets several clusters (or tests) share one etcd.
//!
//! With feature `test-util`, [`testing::EtcdProcess`] starts a throwaway etcd.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{
    Client, CompactionOptions, Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions,
    PutOptions, Txn, TxnOp, TxnOpResponse, TxnResponse,
};
use portico_store::{KeyValue, ListResult, Revision, Store, StoreError, WatchStream};

mod convert;
mod error;
#[cfg(feature = "test-util")]
pub mod testing;
mod watch;

pub use error::Error;

use convert::{revision, Namespace};
use error::{backend, classify, compacted, Failure};

/// The largest gRPC message accepted from etcd (lists come back as one message).
const MAX_MESSAGE: usize = 1 << 30;

/// How long connecting to etcd may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Store`] on an etcd cluster (see the crate docs).
pub struct EtcdStore {
    client: Client,
    /// KV and watch clients without tonic's 4 MiB response limit: a list of thousands of
    /// objects is one range response.
    kv: etcd_client::KvClient,
    watcher: etcd_client::WatchClient,
    ns: Namespace,
    /// The newest compaction point this store has done or seen (etcd does not say it in
    /// its "compacted" errors for reads).
    compacted: AtomicI64,
}

impl EtcdStore {
    /// Connects to the etcd cluster at `endpoints` (e.g. `http://127.0.0.1:2379`) and
    /// checks that it answers. `prefix`, if given, is put before every key (a namespace,
    /// e.g. `/cluster-a`); keys are returned without it.
    pub async fn connect(endpoints: &[String], prefix: Option<&str>) -> Result<EtcdStore, Error> {
        if endpoints.is_empty() {
            return Err(Error::NoEndpoints);
        }
        let connect_err = |source| Error::Connect {
            endpoints: endpoints.join(","),
            source,
        };
        let options = ConnectOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(10));
        let client = Client::connect(endpoints, Some(options))
            .await
            .map_err(connect_err)?;
        let store = EtcdStore {
            kv: client
                .kv_client()
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
            watcher: client.watch_client().max_decoding_message_size(MAX_MESSAGE),
            client,
            ns: Namespace::new(prefix.unwrap_or("")),
            compacted: AtomicI64::new(0),
        };
        let revision = store.read_revision().await.map_err(connect_err)?;
        tracing::info!(endpoints = %endpoints.join(","), prefix = store.ns.as_str(), revision, "connected to etcd");
        Ok(store)
    }

    /// The namespace prefix put before every key ("" for none).
    pub fn prefix(&self) -> &str {
        self.ns.as_str()
    }

    /// The underlying etcd client (for leases, elections and the like).
    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn read_revision(&self) -> Result<Revision, etcd_client::Error> {
        let (start, _) = self.ns.range("");
        let resp = self
            .client
            .clone()
            .get(start, Some(GetOptions::new().with_count_only()))
            .await?;
        Ok(revision(resp.header()))
    }

    fn known_compaction(&self) -> Revision {
        self.compacted.load(Ordering::SeqCst)
    }

    fn saw_compaction(&self, revision: Revision) {
        self.compacted.fetch_max(revision, Ordering::SeqCst);
    }

    /// Runs a guarded write: `when` must hold for `then` to run; otherwise the key is read.
    async fn guarded(
        &self,
        key: &[u8],
        when: Vec<Compare>,
        then: TxnOp,
    ) -> Result<TxnResponse, StoreError> {
        let txn = Txn::new()
            .when(when)
            .and_then(vec![then])
            .or_else(vec![TxnOp::get(key.to_vec(), None)]);
        self.kv.clone().txn(txn).await.map_err(backend)
    }

    /// After a guarded write failed: `NotFound`, or `Conflict` with the revision found.
    fn refusal(&self, key: &str, expected: Revision, resp: &TxnResponse) -> StoreError {
        let found = resp.op_responses().into_iter().find_map(|op| match op {
            TxnOpResponse::Get(get) => get.kvs().first().map(|kv| kv.mod_revision()),
            _ => None,
        });
        match found {
            Some(found) => StoreError::Conflict {
                key: key.to_string(),
                expected,
                found,
            },
            None => StoreError::NotFound {
                key: key.to_string(),
            },
        }
    }
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("prefix", &self.ns.as_str())
            .finish_non_exhaustive()
    }
}

/// The key-value a guarded write's first operation returned as its previous value.
fn previous(resp: &TxnResponse) -> Option<etcd_client::KeyValue> {
    resp.op_responses().into_iter().find_map(|op| match op {
        TxnOpResponse::Put(put) => put.prev_key().cloned(),
        TxnOpResponse::Delete(del) => del.prev_kvs().first().cloned(),
        _ => None,
    })
}

fn missing_previous(key: &str) -> StoreError {
    StoreError::Backend(format!("etcd did not return the previous value of {key}"))
}

#[async_trait]
impl Store for EtcdStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        let resp = self
            .kv
            .clone()
            .get(self.ns.key(key), None)
            .await
            .map_err(backend)?;
        resp.kvs().first().map(|kv| self.ns.kv(kv)).transpose()
    }

    async fn list(
        &self,
        prefix: &str,
        revision: Revision,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListResult, StoreError> {
        let (mut start, end) = self.ns.range(prefix);
        if let Some(after) = start_after {
            let mut next = self.ns.key(after);
            next.push(0);
            start = start.max(next);
        }
        let mut options = GetOptions::new().with_range(end);
        if revision > 0 {
            options = options.with_revision(revision);
        }
        if limit > 0 {
            options = options.with_limit(i64::try_from(limit).unwrap_or(i64::MAX));
        }
        let resp = match self.kv.clone().get(start, Some(options)).await {
            Ok(resp) => resp,
            Err(err) => {
                return Err(match classify(err) {
                    Failure::Compacted => compacted(revision, self.known_compaction()),
                    Failure::Future => StoreError::FutureRevision {
                        requested: revision,
                        current: self.current_revision().await?,
                    },
                    Failure::Other(err) => err,
                })
            }
        };
        let items = resp
            .kvs()
            .iter()
            .map(|kv| self.ns.kv(kv))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ListResult {
            items,
            revision: if revision > 0 {
                revision
            } else {
                convert::revision(resp.header())
            },
            more: resp.more(),
        })
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue, StoreError> {
        let full = self.ns.key(key);
        let when = vec![Compare::create_revision(full.clone(), CompareOp::Equal, 0)];
        let put = TxnOp::put(full.clone(), value.clone(), None);
        let resp = self.guarded(&full, when, put).await?;
        if !resp.succeeded() {
            return Err(StoreError::AlreadyExists {
                key: key.to_string(),
            });
        }
        let rev = revision(resp.header());
        Ok(KeyValue {
            key: key.to_string(),
            value,
            create_revision: rev,
            mod_revision: rev,
        })
    }

    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: Revision,
    ) -> Result<KeyValue, StoreError> {
        let full = self.ns.key(key);
        let when = vec![
            Compare::version(full.clone(), CompareOp::Greater, 0),
            Compare::mod_revision(full.clone(), CompareOp::Equal, expected),
        ];
        let put = TxnOp::put(
            full.clone(),
            value.clone(),
            Some(PutOptions::new().with_prev_key()),
        );
        let resp = self.guarded(&full, when, put).await?;
        if !resp.succeeded() {
            return Err(self.refusal(key, expected, &resp));
        }
        let prev = previous(&resp).ok_or_else(|| missing_previous(key))?;
        Ok(KeyValue {
            key: key.to_string(),
            value,
            create_revision: prev.create_revision(),
            mod_revision: revision(resp.header()),
        })
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue, StoreError> {
        let full = self.ns.key(key);
        let mut when = vec![Compare::version(full.clone(), CompareOp::Greater, 0)];
        if let Some(expected) = expected {
            when.push(Compare::mod_revision(
                full.clone(),
                CompareOp::Equal,
                expected,
            ));
        }
        let delete = TxnOp::delete(full.clone(), Some(DeleteOptions::new().with_prev_key()));
        let resp = self.guarded(&full, when, delete).await?;
        if !resp.succeeded() {
            return Err(self.refusal(key, expected.unwrap_or(0), &resp));
        }
        let prev = previous(&resp).ok_or_else(|| missing_previous(key))?;
        self.ns.deleted(&prev, revision(resp.header()))
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        watch::start(self, prefix, after).await
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let result = self
            .client
            .clone()
            .compact(revision, Some(CompactionOptions::new().with_physical()))
            .await;
        match result {
            Ok(_) => {
                self.saw_compaction(revision);
                tracing::debug!(revision, "compacted etcd");
                Ok(())
            }
            Err(err) => match classify(err) {
                // Already compacted at or after this revision: nothing to do.
                Failure::Compacted => Ok(()),
                Failure::Future => Err(StoreError::FutureRevision {
                    requested: revision,
                    current: self.current_revision().await?,
                }),
                Failure::Other(err) => Err(err),
            },
        }
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        self.read_revision().await.map_err(backend)
    }
}
