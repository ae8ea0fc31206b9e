//! Readiness, liveness and startup probes: one check, and the worker that times them.
