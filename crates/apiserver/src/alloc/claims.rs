//! Allocations claimed in the store, so that several API servers sharing one store never
//! hand out the same ClusterIP or NodePort.
//!
//! Each freshly allocated value gets a key (`/registry/ranges/serviceips/<ip>`,
//! `/registry/ranges/servicenodeports/<port>`) created only if absent, naming the Service
//! that holds it. A claim whose Service no longer holds the value, and that is older than a
//! minute (so an in-flight create elsewhere is not robbed), is taken over. The local
//! allocator stays the fast path; claims only catch what another server gave out.

use std::net::Ipv4Addr;

use portico_api::Cause;
use portico_store::StoreError;
use serde_json::{json, Value};

use super::{cluster_ips, node_ports, Allocator, Changes};
use crate::objects::decode_stored;
use crate::State;

/// How old a claim must be before a claim whose Service does not hold the value is stale.
const STALE_AFTER_SECS: i64 = 60;

fn ip_key(ip: &Ipv4Addr) -> String {
    format!("/registry/ranges/serviceips/{ip}")
}

fn port_key(port: u16) -> String {
    format!("/registry/ranges/servicenodeports/{port}")
}

fn now_secs() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// What a claim attempt found.
enum Claim {
    /// Ours now.
    Held,
    /// Another Service holds it.
    Taken,
}

async fn holds(state: &State, owner: &str, key: &str) -> Result<bool, StoreError> {
    let Some(kv) = state.store.get(owner).await? else {
        return Ok(false);
    };
    let Ok(svc) = decode_stored(&kv) else {
        return Ok(false);
    };
    Ok(match key.rsplit_once('/') {
        Some((prefix, value)) if prefix.ends_with("serviceips") => {
            cluster_ips(&svc).iter().any(|ip| ip == value)
        }
        Some((_, value)) => node_ports(&svc).iter().any(|p| p.to_string() == value),
        None => false,
    })
}

async fn claim(state: &State, key: &str, owner: &str) -> Result<Claim, StoreError> {
    let value =
        serde_json::to_vec(&json!({"service": owner, "time": now_secs()})).unwrap_or_default();
    for _ in 0..4 {
        match state.store.create(key, value.clone()).await {
            Ok(_) => return Ok(Claim::Held),
            Err(StoreError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
        let Some(kv) = state.store.get(key).await? else {
            continue;
        };
        let current: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
        let holder = current["service"].as_str().unwrap_or("");
        if holder == owner {
            return Ok(Claim::Held);
        }
        let age = now_secs() - current["time"].as_i64().unwrap_or(0);
        if holds(state, holder, key).await? || age < STALE_AFTER_SECS {
            return Ok(Claim::Taken);
        }
        match state
            .store
            .update(key, value.clone(), kv.mod_revision)
            .await
        {
            Ok(_) => return Ok(Claim::Held),
            Err(StoreError::Conflict { .. }) | Err(StoreError::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(Claim::Taken)
}

/// Allocates for `svc` (see [`Allocator::allocate_service`]) and claims every fresh value for
/// the Service stored at `owner`; values another server holds are marked used and the
/// allocation is retried. Nothing is claimed on a dry run.
pub async fn allocate(
    state: &State,
    alloc: &mut Allocator,
    svc: &mut Value,
    old: Option<&Value>,
    owner: &str,
    dry_run: bool,
) -> Result<Changes, Vec<Cause>> {
    for _ in 0..16 {
        let mut candidate = svc.clone();
        let changes = alloc.allocate_service(&mut candidate, old)?;
        if dry_run {
            *svc = candidate;
            return Ok(changes);
        }
        let (ips, ports) = Allocator::fresh(&changes);
        let keys: Vec<String> = ips
            .iter()
            .map(ip_key)
            .chain(ports.iter().map(|p| port_key(*p)))
            .collect();
        let mut held = Vec::new();
        let mut taken = Vec::new();
        for key in keys {
            match claim(state, &key, owner).await {
                Ok(Claim::Held) => held.push(key),
                Ok(Claim::Taken) => taken.push(key),
                Err(e) => {
                    for k in &held {
                        let _ = state.store.delete(k, None).await;
                    }
                    alloc.rollback(changes);
                    return Err(vec![Cause {
                        reason: "InternalError".into(),
                        message: format!("Internal error: claiming an allocation failed: {e}"),
                        field: "spec".into(),
                    }]);
                }
            }
        }
        if taken.is_empty() {
            *svc = candidate;
            return Ok(changes);
        }
        for k in &held {
            let _ = state.store.delete(k, None).await;
        }
        alloc.rollback(changes);
        for k in taken {
            match k.rsplit_once('/') {
                Some((prefix, v)) if prefix.ends_with("serviceips") => {
                    if let Ok(ip) = v.parse() {
                        alloc.mark_ip(ip);
                    }
                }
                Some((_, v)) => {
                    if let Ok(p) = v.parse() {
                        alloc.mark_port(p);
                    }
                }
                None => {}
            }
        }
    }
    Err(vec![Cause {
        reason: "FieldValueInvalid".into(),
        message: "Invalid value: \"\": failed to allocate: too many allocations held by other API servers".into(),
        field: "spec".into(),
    }])
}

/// Drops the claims of values the Service at `owner` gave up.
pub async fn release(state: &State, owner: &str, ips: &[Ipv4Addr], ports: &[u16]) {
    let keys = ips
        .iter()
        .map(ip_key)
        .chain(ports.iter().map(|p| port_key(*p)));
    for key in keys {
        if let Ok(Some(kv)) = state.store.get(&key).await {
            let current: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
            if current["service"].as_str() == Some(owner) {
                let _ = state.store.delete(&key, Some(kv.mod_revision)).await;
            }
        }
    }
}

/// Drops every claim of a deleted Service.
pub async fn release_service(state: &State, owner: &str, svc: &Value) {
    let ips: Vec<Ipv4Addr> = cluster_ips(svc)
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    release(state, owner, &ips, &node_ports(svc)).await;
}
