//! End-to-end tests: the real `portico` binary driven by the real `kubectl` (and, where a
//! test says so, other real clients). One test binary, one module per area.

mod harness;
mod sandbox;

mod api_basics;
mod durability;
mod kube_client;

mod support;

mod allocation;
mod bad_input;
mod conformance;
mod create_cmds;
mod ctl_endpoints;
mod ctl_lb;
mod ctl_scheduler;
mod ctl_workloads;
mod deletion;
mod dns_more;
mod dns_upstream;
mod edit_patch;
mod expose;
mod ingress;
mod invalid;
mod legacy_ingress;
mod newer_kubectl;
mod pods;
mod pods_interactive;
mod proxy_more;
mod seeds_apply;
mod services;
mod tables;
mod watch;
