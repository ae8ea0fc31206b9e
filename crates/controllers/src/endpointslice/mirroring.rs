//! The EndpointSlice mirroring controller's sync: hand-made Endpoints of a Service without
//! selector → mirrored slices; anything else → no mirrored slices.

use super::{mirror, write, Controller};
use crate::endpoints::informer::split_key;
use crate::endpoints::model;
use crate::events;

/// The mirroring controller's name in events.
pub const COMPONENT: &str = "endpoint-slice-mirroring-controller";

impl Controller {
    pub(super) async fn sync_mirror(&self, key: &str) -> Result<(), kube::Error> {
        let ep = self.endpoints.get(key).filter(|e| mirror::should_mirror(e));
        let svc = self.sel.services.get(key);
        let (Some(ep), Some(_)) = (ep, svc.filter(|s| model::selector(s).is_none())) else {
            return self.delete_all(key, mirror::CONTROLLER, |_| true).await;
        };
        let existing = self.slices_of(key, mirror::CONTROLLER);
        let (plan, skipped) = mirror::plan(&ep, &existing);
        let about = events::reference(ep.as_ref());
        if skipped.invalid > 0 {
            let message = format!(
                "Skipped {} invalid IP addresses when mirroring to EndpointSlices",
                skipped.invalid
            );
            self.mirror_recorder
                .warning(&about, "InvalidIPAddress", &message)
                .await;
        }
        if skipped.total > skipped.invalid {
            let message = format!(
                "A max of {} addresses can be mirrored to EndpointSlices per Endpoints subset. {} addresses were skipped",
                mirror::MAX_PER_SUBSET,
                skipped.total
            );
            self.mirror_recorder
                .warning(&about, "TooManyAddressesToMirror", &message)
                .await;
        }
        if plan.is_empty() {
            return Ok(());
        }
        let allow_create = ep.metadata.deletion_timestamp.is_none();
        write::execute(
            &self.client,
            &self.slices,
            split_key(key).0,
            plan,
            &write::Trigger::Keep,
            allow_create,
        )
        .await
    }
}
