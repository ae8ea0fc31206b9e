//! The service proxy of one node (what kube-proxy does).
//!
//! [`model`] turns Services, EndpointSlices and the node's identity into the desired
//! [`model::ProxyState`]: pure, no I/O. A [`Datapath`] makes the node's network match a state:
//! [`userspace`] accepts connections on service addresses and relays them to endpoints;
//! [`nftables`] programs kernel DNAT in one table, incrementally. [`run`] feeds a datapath
//! from kube-rs watchers, rebuilding and passing on only the services that changed; [`rules`] shows what a datapath holds.

pub mod metrics;
pub mod model;
pub mod nftables;
pub mod rules;
pub mod run;
pub mod userspace;

pub use model::{Endpoint, Protocol, ProxyState, ServiceKey, ServicePort};

/// Everything that can go wrong in the proxy.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed.
    #[error("API request failed: {0}")]
    Api(#[from] kube::Error),
    /// Binding, relaying or running a program failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The failure.
        source: std::io::Error,
    },
    /// Programming nftables failed.
    #[error("nftables: {0}")]
    Nftables(String),
    /// Anything else, with a message meant for the user.
    #[error("{0}")]
    Other(String),
}

/// Makes the node's network match a desired state. Implemented by the userspace proxy and
/// by nftables; the same conformance tests run on both.
#[allow(async_fn_in_trait)]
pub trait Datapath: Send {
    /// Brings the datapath to `state`. Called after every change (coalesced); must only touch
    /// what differs from the previous state it applied.
    async fn apply(&mut self, state: &ProxyState) -> Result<(), Error>;

    /// Brings the datapath to `state` when only the service ports in `changed` differ from
    /// the state of the previous successful `apply` or `apply_changes` (a key in `changed`
    /// may be new, gone or modified). The run loop calls this after every change, and
    /// [`Datapath::apply`] first and after a failure; a datapath that keeps what it applied
    /// does work in proportion to `changed`, not to `state`. By default, `apply(state)`.
    async fn apply_changes(
        &mut self,
        state: &ProxyState,
        changed: &std::collections::BTreeSet<ServiceKey>,
    ) -> Result<(), Error> {
        let _ = changed;
        self.apply(state).await
    }

    /// How to show an applied state as this datapath's rules (`GET /rules` on the metrics
    /// server); `None` if the datapath has nothing to show.
    fn rules_renderer(&self) -> Option<rules::Renderer> {
        None
    }
}
