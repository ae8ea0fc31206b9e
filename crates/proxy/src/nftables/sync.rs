//! Sending transactions: [`Datapath::apply`] for [`Nftables`], one `nft -f -` per
//! transaction.
//!
//! A transaction that the kernel refuses as too large (`Message too long`: without
//! `CAP_NET_ADMIN` in the initial namespace, nft cannot enlarge its netlink socket buffer,
//! so a rootless sandbox takes batches of a few hundred objects only) is split: the
//! changed service ports are halved and the first half applied on its own, until each
//! transaction fits. Every intermediate step is a consistent table for a subset of the
//! changes, so service ports switch over whole, never half-programmed.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::Instant;

use tokio::io::AsyncWriteExt;

use super::render::{self, Update};
use super::ruleset::{Ruleset, ServiceRules};
use super::{Committed, Nftables};
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
                Err(e) if too_long(&e) && batch.len() >= 2 => {
                    tracing::debug!(changes = batch.len(), "transaction too large, splitting");
                    let mut first = batch;
                    let second = first.split_off(first.len() / 2);
                    batches.push(second);
                    batches.push(first);
                }
                Err(e) => return Err(e),
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

impl Nftables {
    /// Applies `batch` in one transaction: replacing the table with just these service
    /// ports if nothing is committed, else changing only their objects. On a refusal as
    /// too large the committed objects are kept; on other failures they are forgotten, so
    /// that the next apply rewrites the table.
    async fn step(&mut self, batch: &[Update]) -> Result<(), Error> {
        let Some(mut old) = self.committed.take() else {
            let mut rules = Ruleset::default();
            rules.update(batch.iter().cloned());
            let script = self.replace_script(&rules);
            self.run(script).await?;
            self.committed = Some(Committed {
                rules,
                udp: BTreeMap::new(),
            });
            self.pending_delete.clear();
            return Ok(());
        };
        let tx = render::changes(&old.rules, batch, &self.pending_delete, true, &self.config);
        if tx.text.is_empty() {
            old.rules.update(batch.iter().cloned());
            self.committed = Some(old);
            return Ok(());
        }
        match self.run(tx.text).await {
            Ok(()) => {
                self.pending_delete.clear();
                old.rules.update(batch.iter().cloned());
                self.committed = Some(old);
                Ok(())
            }
            Err(e) if too_long(&e) => {
                self.committed = Some(old);
                Err(e)
            }
            Err(first) if !tx.stale_chains.is_empty() => {
                // Kernels before 6.2 release a chain's references from deleted map
                // elements a moment after the transaction: keep the chains for next time.
                tracing::info!(error = %first, "retrying the transaction without deleting chains");
                let tx =
                    render::changes(&old.rules, batch, &self.pending_delete, false, &self.config);
                self.run(tx.text).await?;
                self.pending_delete = tx.stale_chains.into_iter().collect();
                old.rules.update(batch.iter().cloned());
                self.committed = Some(old);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Runs one transaction and appends it to [`Nftables::last_transaction`] if it worked.
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
