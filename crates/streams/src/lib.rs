//! The kubelet side of kubectl's streaming protocols, for Portico's node agent.
//!
//! kubectl (1.32) reaches a pod's processes and ports through upgraded HTTP/1.1 connections
//! that the API server proxies to the node byte for byte:
//!
//! * **exec / attach** try a WebSocket first (subprotocol `v5.channel.k8s.io`: binary messages
//!   whose first byte is a channel) and fall back to SPDY/3.1 (`POST`, `Upgrade: SPDY/3.1`,
//!   one SPDY stream per channel). [`negotiate_exec`] picks the protocol, [`exec_session`]
//!   turns the upgraded connection into a [`Session`]: stdin as an `AsyncRead`, stdout and
//!   stderr as `AsyncWrite`s, terminal resizes, and [`Session::finish`] to report the
//!   [`Outcome`] as the `metav1.Status` kubectl expects and close the connection.
//! * **port-forward** speaks SPDY/3.1 either directly or tunnelled inside WebSocket binary
//!   messages (subprotocol `SPDY/3.1+portforward.k8s.io`). [`portforward_session`] answers each
//!   (error, data) stream pair by dialling the pod's port through a caller-supplied function.
//!
//! [`upgrade_exec`] and [`upgrade_portforward`] wrap all of it for a hyper 1 server: they
//! negotiate, return the `101 Switching Protocols` (or the error answer) and run the session on
//! the upgraded connection in a task of their own.
//!
//! Internals: [`spdy`] holds the hand-written SPDY/3.1 framer (pure, with the zlib header
//! compression) and the connection multiplexer; `ws` the WebSocket channel framing; `pipe`
//! the stream halves shared by both transports.

mod error;
mod exec;
mod negotiate;
mod options;
mod pipe;
mod portforward;
mod session;
pub mod spdy;
mod status;
mod tunnel;
mod upgrade;
mod ws;

pub use error::Error;
pub use exec::exec_session;
pub use negotiate::{negotiate_exec, negotiate_portforward, Negotiated, Protocol};
pub use options::StreamOptions;
pub use pipe::{InputStream, OutputStream};
pub use portforward::{portforward_session, PodTarget};
pub use session::{Session, TerminalSize};
pub use status::Outcome;
pub use upgrade::{upgrade_exec, upgrade_portforward};
