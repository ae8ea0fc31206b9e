//! Ownership: which objects a controller claims (Kubernetes' `ControllerRefManager`).
//!
//! A controller owns the objects whose controller reference names it; it adopts orphans its
//! selector matches and releases owned objects its selector no longer matches. Adoption and
//! release are merge patches of `ownerReferences` guarded by the resourceVersion, so a
//! concurrent change makes them fail and the sync is retried.

use std::fmt::Debug;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::pods::controller_ref;

/// What to do with one candidate object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Already ours.
    Owned,
    /// An orphan we match: take it.
    Adopt,
    /// Ours but no longer matching: let it go.
    Release,
    /// Someone else's, or not for us.
    Ignore,
}

/// Decides about `obj` for the owner with `owner_uid`; `matches` tells whether the owner's
/// selector matches the object's labels.
pub fn decide(obj: &ObjectMeta, owner_uid: &str, matches: bool, owner_deleting: bool) -> Claim {
    match controller_ref(obj) {
        Some(r) if r.uid == owner_uid => {
            if matches {
                Claim::Owned
            } else if owner_deleting {
                Claim::Ignore
            } else {
                Claim::Release
            }
        }
        Some(_) => Claim::Ignore,
        None if !matches || owner_deleting || obj.deletion_timestamp.is_some() => Claim::Ignore,
        None => Claim::Adopt,
    }
}

async fn patch_refs<K>(
    api: &Api<K>,
    obj: &ObjectMeta,
    refs: Vec<OwnerReference>,
) -> Result<K, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let patch = json!({
        "metadata": {
            "ownerReferences": refs,
            "resourceVersion": obj.resource_version,
            "uid": obj.uid,
        }
    });
    api.patch(
        obj.name.as_deref().unwrap_or_default(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
}

/// Makes `owner` the controller of the orphan `obj`.
pub async fn adopt<K>(
    api: &Api<K>,
    obj: &ObjectMeta,
    owner: &OwnerReference,
) -> Result<K, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let mut refs = obj.owner_references.clone().unwrap_or_default();
    refs.retain(|r| r.uid != owner.uid);
    refs.push(owner.clone());
    patch_refs(api, obj, refs).await
}

/// Removes the owner with `owner_uid` from `obj`'s owner references.
pub async fn release<K>(api: &Api<K>, obj: &ObjectMeta, owner_uid: &str) -> Result<(), kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let mut refs = obj.owner_references.clone().unwrap_or_default();
    refs.retain(|r| r.uid != owner_uid);
    match patch_refs(api, obj, refs).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(owner: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            owner_references: owner.map(|uid| {
                vec![OwnerReference {
                    uid: uid.into(),
                    controller: Some(true),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        }
    }

    #[test]
    fn claims_follow_the_controller_reference_and_the_selector() {
        assert_eq!(decide(&meta(Some("me")), "me", true, false), Claim::Owned);
        assert_eq!(
            decide(&meta(Some("me")), "me", false, false),
            Claim::Release
        );
        assert_eq!(decide(&meta(Some("me")), "me", false, true), Claim::Ignore);
        assert_eq!(
            decide(&meta(Some("other")), "me", true, false),
            Claim::Ignore
        );
        assert_eq!(decide(&meta(None), "me", true, false), Claim::Adopt);
        assert_eq!(decide(&meta(None), "me", false, false), Claim::Ignore);
        assert_eq!(decide(&meta(None), "me", true, true), Claim::Ignore);
    }
}
