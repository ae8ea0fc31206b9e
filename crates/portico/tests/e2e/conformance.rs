//! Kubernetes' own sig-network conformance tests (v1.32), ported one to one: the 41 entries of
//! `test/conformance/testdata/conformance.yaml` whose file is under `test/e2e/network/` or
//! `test/e2e/common/network/`. One module per upstream Go file; each test is named after its
//! conformance codename in snake case, cites the Go file it ports, and runs inside
//! [`framework::case`] with the exact codename, which records pass/fail and seconds for the
//! report (`tests/conformance.sh`). Objects, assertions and timeouts are the upstream test's.

pub mod framework;

mod dns;
mod endpointslice;
mod endpointslice_mirroring;
mod hostport;
mod ingress;
mod ingressclass;
mod networking;
mod proxy;
mod service_api;
mod service_latency;
mod service_traffic;
