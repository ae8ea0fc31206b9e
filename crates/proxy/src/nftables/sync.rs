//! Sending transactions: [`Datapath::apply`] for [`Nftables`]. The first apply (and the
//! rewrite after a failure) replaces the table with one `nft -f -` script; every later
//! transaction goes over netlink ([`super::netlink`]) as one batch.
//!
//! A transaction too large to send (`Message too long`, or `No buffer space available`:
//! without `CAP_NET_ADMIN` in the initial namespace a socket cannot be enlarged past
//! `net.core.wmem_max`, so a rootless sandbox takes batches of a limited size) is split:
//! the changed service ports are halved and the first half applied on its own, until each
//! transaction fits. Every intermediate step is a consistent table for a subset of the
//! changes, so service ports switch over whole, never half-programmed.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::Instant;

use tokio::io::AsyncWriteExt;

use super::netlink::{self, Batch, Failure};
use super::ops::{Line, Op};
use super::render::{self, Update};
use super::ruleset::{Ruleset, ServiceRules};
use super::{Committed, NetlinkTiming, Nftables};
use crate::model::{Protocol, ProxyState, ServiceKey};
use crate::{Datapath, Error};

impl Datapath for Nftables {
    async fn apply(&mut self, state: &ProxyState) -> Result<(), Error> {
        // Everything that differs from what is committed (everything, the first time).
        let mut changed: BTreeSet<ServiceKey> = state.services.keys().cloned().collect();
        if let Some(c) = &self.committed {
            changed.retain(|k| {
                let desired = state
                    .services
                    .get(k)
                    .and_then(|sp| ServiceRules::build(k, sp, &self.config));
                c.rules.services.get(k) != desired.as_ref()
                    || c.udp.get(k)
                        != state
                            .services
                            .get(k)
                            .filter(|_| k.protocol == Protocol::Udp)
            });
            changed.extend(
                c.rules
                    .services
                    .keys()
                    .filter(|k| !state.services.contains_key(*k))
                    .cloned(),
            );
        }
        self.apply_changes(state, &changed).await
    }

    async fn apply_changes(
        &mut self,
        state: &ProxyState,
        changed: &BTreeSet<ServiceKey>,
    ) -> Result<(), Error> {
        self.last_transaction.clear();
        self.last_timing = NetlinkTiming::default();
        let updates: Vec<Update> = changed
            .iter()
            .map(|k| {
                let rules = state
                    .services
                    .get(k)
                    .and_then(|sp| ServiceRules::build(k, sp, &self.config));
                (k.clone(), rules)
            })
            .collect();
        // Batches to send, last first; a batch refused as too large is halved.
        let mut batches = vec![updates];
        while let Some(batch) = batches.pop() {
            match self.step(&batch).await {
                Ok(()) => {}
                Err(StepError::TooLarge(e)) if batch.len() >= 2 => {
                    tracing::debug!(changes = batch.len(), error = %e, "transaction too large, splitting");
                    let mut first = batch;
                    let second = first.split_off(first.len() / 2);
                    batches.push(second);
                    batches.push(first);
                }
                Err(StepError::TooLarge(e) | StepError::Refused(e) | StepError::Failed(e)) => {
                    return Err(e)
                }
            }
        }
        // Flows already translated to an endpoint that is gone would keep going there.
        let mut before = ProxyState::default();
        let mut after = ProxyState::default();
        if let Some(c) = self.committed.as_mut() {
            for k in changed.iter().filter(|k| k.protocol == Protocol::Udp) {
                if let Some(sp) = c.udp.remove(k) {
                    before.services.insert(k.clone(), sp);
                }
                if let Some(sp) = state.services.get(k) {
                    after.services.insert(k.clone(), sp.clone());
                    c.udp.insert(k.clone(), sp.clone());
                }
            }
        }
        let flushes = super::conntrack::plan(&before, &after);
        if !flushes.is_empty() {
            super::conntrack::flush("conntrack", &flushes).await;
        }
        Ok(())
    }

    fn rules_renderer(&self) -> Option<crate::rules::Renderer> {
        let config = self.config.clone();
        Some(std::sync::Arc::new(move |state: &ProxyState| {
            super::render_full(state, &config)
        }))
    }
}

/// Why a step failed, which decides what happens next.
enum StepError {
    /// Too large to send; the kernel is unchanged (the changes can be split).
    TooLarge(Error),
    /// The kernel refused the transaction and is unchanged.
    Refused(Error),
    /// Anything else: the next apply rewrites the table.
    Failed(Error),
}

impl Nftables {
    /// Applies `batch` in one transaction: replacing the table with just these service
    /// ports if nothing is committed, else changing only their objects. On a refusal as
    /// too large the committed objects are kept; on other failures they are forgotten, so
    /// that the next apply rewrites the table.
    ///
    /// A first load too large for one nft script (a rootless sandbox's socket cannot grow)
    /// loads the table without service ports by script and sends these over netlink:
    /// splitting a netlink batch costs nothing, where every smaller nft script re-reads
    /// every chain of the table before it runs.
    async fn step(&mut self, batch: &[Update]) -> Result<(), StepError> {
        if self.committed.is_none() {
            match self.load(batch).await {
                Err(StepError::TooLarge(e)) if !batch.is_empty() => {
                    tracing::debug!(error = %e, "first load too large for one script; sending the service ports over netlink");
                    self.load(&[]).await?;
                }
                loaded => return loaded,
            }
        }
        let Some(mut old) = self.committed.take() else {
            return Err(StepError::Failed(Error::Nftables(
                "no committed table to change".into(),
            )));
        };
        let tx = render::changes(&old.rules, batch, &self.pending_delete, true, &self.config);
        match self.send(&tx.ops, &tx.text).await {
            Ok(()) => {
                self.pending_delete.clear();
                old.rules.update(batch.iter().cloned());
                self.committed = Some(old);
                Ok(())
            }
            Err(StepError::TooLarge(e)) => {
                self.committed = Some(old);
                Err(StepError::TooLarge(e))
            }
            Err(StepError::Refused(first)) if !tx.stale_chains.is_empty() => {
                // Kernels before 6.2 release a chain's references from deleted map
                // elements a moment after the transaction (`EBUSY`): keep the chains for
                // next time.
                tracing::info!(error = %first, "retrying the transaction without deleting chains");
                let tx =
                    render::changes(&old.rules, batch, &self.pending_delete, false, &self.config);
                self.send(&tx.ops, &tx.text).await.map_err(|e| match e {
                    StepError::TooLarge(e) | StepError::Refused(e) | StepError::Failed(e) => {
                        StepError::Failed(e)
                    }
                })?;
                self.pending_delete = tx.stale_chains.into_iter().collect();
                old.rules.update(batch.iter().cloned());
                self.committed = Some(old);
                Ok(())
            }
            Err(StepError::Refused(e) | StepError::Failed(e)) => Err(StepError::Failed(e)),
        }
    }

    /// Replaces the table with one holding just the service ports of `batch`, by script.
    async fn load(&mut self, batch: &[Update]) -> Result<(), StepError> {
        let mut rules = Ruleset::default();
        rules.update(batch.iter().cloned());
        let script = self.replace_script(&rules);
        self.run(script).await.map_err(|e| {
            if too_long(&e) {
                StepError::TooLarge(e)
            } else {
                StepError::Failed(e)
            }
        })?;
        self.committed = Some(Committed {
            rules,
            udp: BTreeMap::new(),
        });
        self.pending_delete.clear();
        Ok(())
    }

    /// Sends `ops` as one netlink batch and appends `text` (their script) to
    /// [`Nftables::last_transaction`] if it worked.
    async fn send(&mut self, ops: &[Op], text: &str) -> Result<(), StepError> {
        if ops.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let mut batch = Batch::encode(&self.config.table, ops);
        let encode = started.elapsed();
        let mut socket = match self.socket.take() {
            Some(s) => s,
            None => netlink::Socket::open().map_err(|source| {
                StepError::Failed(Error::Io {
                    what: "opening a NETLINK_NETFILTER socket".into(),
                    source,
                })
            })?,
        };
        let (socket, result, batch) = tokio::task::spawn_blocking(move || {
            let result = socket.send(&mut batch);
            (socket, result, batch)
        })
        .await
        .map_err(|e| StepError::Failed(Error::Nftables(format!("netlink task failed: {e}"))))?;
        tracing::debug!(
            messages = ops.len(),
            bytes = batch.bytes().len(),
            encode_ms = encode.as_secs_f64() * 1e3,
            total_ms = started.elapsed().as_secs_f64() * 1e3,
            ok = result.is_ok(),
            "nftables netlink transaction"
        );
        let table = &self.config.table;
        match result {
            Ok(sent) => {
                self.socket = Some(socket);
                let t = &mut self.last_timing;
                t.batches += 1;
                t.messages += ops.len();
                t.bytes += batch.bytes().len();
                t.encode += encode;
                t.kernel += sent.kernel;
                self.last_transaction.push_str(text);
                Ok(())
            }
            Err(Failure::TooLarge(e)) => Err(StepError::TooLarge(Error::Nftables(format!(
                "netlink: a transaction of {} messages ({} bytes) is too large to send: {e}",
                ops.len(),
                batch.bytes().len()
            )))),
            Err(Failure::Refused { op, error, message }) => {
                let what = match op.and_then(|i| ops.get(i)) {
                    Some(op) => format!("`{}`", Line { op, table }),
                    None => format!("a transaction of {} messages", ops.len()),
                };
                let detail = message.map(|m| format!(" ({m})")).unwrap_or_default();
                Err(StepError::Refused(Error::Nftables(format!(
                    "nftables refused {what}: {error}{detail}"
                ))))
            }
            Err(Failure::Io(what, e)) => Err(StepError::Failed(Error::Nftables(format!(
                "netlink: {what} the nf_tables socket failed: {e}"
            )))),
        }
    }

    /// Runs one `nft -f -` script and appends it to [`Nftables::last_transaction`] if it
    /// worked.
    async fn run(&mut self, script: String) -> Result<(), Error> {
        let started = Instant::now();
        let result = run_nft(&self.config.nft, &script).await;
        tracing::debug!(
            lines = script.lines().count(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            ok = result.is_ok(),
            "nftables transaction"
        );
        if result.is_ok() {
            self.last_transaction.push_str(&script);
        }
        result
    }
}

/// Whether nft failed because the batch did not fit its netlink buffer.
fn too_long(e: &Error) -> bool {
    matches!(e, Error::Nftables(m) if m.contains("Message too long"))
}

/// Feeds `script` to `nft -f -` and waits for it; nft's messages become the error.
pub(super) async fn run_nft(nft: &std::path::Path, script: &str) -> Result<(), Error> {
    let io = |what: &str| {
        let what = format!("{what} {}", nft.display());
        move |source| Error::Io { what, source }
    };
    let mut child = tokio::process::Command::new(nft)
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(io("starting"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .await
            .map_err(io("writing to"))?;
    }
    let out = child.wait_with_output().await.map_err(io("waiting for"))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(Error::Nftables(format!(
        "nft -f - failed ({}): {}",
        out.status,
        stderr.trim()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_message_too_long_splits() {
        assert!(too_long(&Error::Nftables(
            "nft -f - failed (exit status: 1): netlink: Error: Could not process rule: Message too long".into()
        )));
        assert!(!too_long(&Error::Nftables("syntax error".into())));
    }
}
