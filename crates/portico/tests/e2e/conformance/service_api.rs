//! Ported from upstream; see the module list in `conformance.rs`.
