//! Placeholder until the StatefulSet controller lands.
use super::{queue::ObjectKey, Ctx, SyncResult};
/// Syncs one StatefulSet.
pub async fn sync(_ctx: &Ctx, _key: ObjectKey) -> SyncResult { Ok(None) }
