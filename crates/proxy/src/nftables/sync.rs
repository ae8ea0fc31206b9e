//! Sending transactions: [`Datapath::apply`] for [`Nftables`], one `nft -f -` per
//! transaction.
//!
//! A transaction that the kernel refuses as too large (`Message too long`: without
//! `CAP_NET_ADMIN` in the initial namespace, nft cannot enlarge its netlink socket buffer,
//! so a rootless sandbox takes batches of a few hundred objects only) is split: the
//! changed service ports are halved and the first half applied on its own, until each
//! transaction fits. Every intermediate step is a consistent table for a subset of the
//! changes, so service ports switch over whole, never half-programmed.

use std::process::Stdio;
use std::time::Instant;

use tokio::io::AsyncWriteExt;

use super::render;
use super::ruleset::Ruleset;
use super::{Committed, Nftables};
use crate::model::{ProxyState, ServiceKey};
use crate::{Datapath, Error};

impl Datapath for Nftables {
    async fn apply(&mut self, state: &ProxyState) -> Result<(), Error> {
        self.last_transaction.clear();
        let before = self.committed.as_ref().map(|c| c.state.clone());
        let mut goals = vec![state.clone()];
        while let Some(goal) = goals.last() {
            match self.step(goal).await {
                Ok(()) => {
                    goals.pop();
                }
                Err(e) if too_long(&e) => {
                    let base = self
                        .committed
                        .as_ref()
                        .map(|c| c.state.clone())
                        .unwrap_or_default();
                    let keys = changed(&base, goal);
                    if keys.len() < 2 {
                        return Err(e);
                    }
                    tracing::debug!(changes = keys.len(), "transaction too large, splitting");
                    let half = with_changes(base, goal, &keys[..keys.len() / 2]);
                    goals.push(half);
                }
                Err(e) => return Err(e),
            }
        }
        // Flows already translated to an endpoint that is gone would keep going there.
        let flushes = super::conntrack::plan(&before.unwrap_or_default(), state);
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
    /// Brings the kernel from the committed state to `goal` in one transaction (the whole
    /// table if nothing is committed). On a refusal as too large the committed state is
    /// kept; on other failures it is forgotten, so the next step rewrites the table.
    async fn step(&mut self, goal: &ProxyState) -> Result<(), Error> {
        let desired = Ruleset::build(goal, &self.config);
        let done = |rules| Committed {
            state: goal.clone(),
            rules,
        };
        let Some(old) = self.committed.take() else {
            let script = self.replace_script(&desired);
            self.run(script).await?;
            self.committed = Some(done(desired));
            self.pending_delete.clear();
            return Ok(());
        };
        let tx = render::diff(
            &old.rules,
            &desired,
            &self.pending_delete,
            true,
            &self.config,
        );
        if tx.text.is_empty() {
            self.committed = Some(done(desired));
            return Ok(());
        }
        match self.run(tx.text).await {
            Ok(()) => {
                self.pending_delete.clear();
                self.committed = Some(done(desired));
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
                let tx = render::diff(
                    &old.rules,
                    &desired,
                    &self.pending_delete,
                    false,
                    &self.config,
                );
                self.run(tx.text).await?;
                self.pending_delete = tx.stale_chains.into_iter().collect();
                self.committed = Some(done(desired));
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

/// Service ports that differ between `a` and `b`, in key order.
fn changed(a: &ProxyState, b: &ProxyState) -> Vec<ServiceKey> {
    let mut keys: Vec<ServiceKey> = b
        .services
        .iter()
        .filter(|(k, sp)| a.services.get(*k) != Some(*sp))
        .map(|(k, _)| k.clone())
        .collect();
    keys.extend(
        a.services
            .keys()
            .filter(|k| !b.services.contains_key(*k))
            .cloned(),
    );
    keys.sort();
    keys
}

/// `base` with the service ports `keys` taken from `goal` (or removed if `goal` lacks them).
fn with_changes(mut base: ProxyState, goal: &ProxyState, keys: &[ServiceKey]) -> ProxyState {
    for k in keys {
        match goal.services.get(k) {
            Some(sp) => {
                base.services.insert(k.clone(), sp.clone());
            }
            None => {
                base.services.remove(k);
            }
        }
    }
    base
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
    use crate::model::{Protocol, ServicePort};

    fn sp(port: u16) -> ServicePort {
        ServicePort {
            cluster_ips: vec!["10.96.0.1".parse().unwrap()],
            port,
            node_port: None,
            external_ips: vec![],
            load_balancer_ips: vec![],
            affinity: None,
            external_local: false,
            internal_local: false,
            health_check_node_port: None,
            endpoints: vec![],
        }
    }

    fn key(name: &str) -> ServiceKey {
        ServiceKey {
            namespace: "ns".into(),
            name: name.into(),
            port_name: String::new(),
            protocol: Protocol::Tcp,
        }
    }

    #[test]
    fn splitting_moves_whole_service_ports() {
        let mut a = ProxyState::default();
        a.services.insert(key("gone"), sp(1));
        a.services.insert(key("same"), sp(2));
        a.services.insert(key("edit"), sp(3));
        let mut b = ProxyState::default();
        b.services.insert(key("same"), sp(2));
        b.services.insert(key("edit"), sp(4));
        b.services.insert(key("new"), sp(5));
        let keys = changed(&a, &b);
        assert_eq!(keys, vec![key("edit"), key("gone"), key("new")]);
        let half = with_changes(a.clone(), &b, &keys[..2]);
        assert_eq!(half.services.len(), 2);
        assert_eq!(half.services[&key("edit")].port, 4);
        assert!(!half.services.contains_key(&key("gone")));
        assert!(!half.services.contains_key(&key("new")));
        assert_eq!(with_changes(half, &b, &keys[2..]), b);
    }

    #[test]
    fn only_message_too_long_splits() {
        assert!(too_long(&Error::Nftables(
            "nft -f - failed (exit status: 1): netlink: Error: Could not process rule: Message too long".into()
        )));
        assert!(!too_long(&Error::Nftables("syntax error".into())));
    }
}
