//! Placeholder until the Deployment controller lands.
use super::{queue::ObjectKey, Ctx, SyncResult};
/// Syncs one Deployment.
pub async fn sync(_ctx: &Ctx, _key: ObjectKey) -> SyncResult { Ok(None) }
