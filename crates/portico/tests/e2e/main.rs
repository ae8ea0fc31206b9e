//! End-to-end tests: the real `portico` binary driven by the real `kubectl` (and, where a
//! test says so, other real clients). One test binary, one module per area.

mod harness;

mod api_basics;
mod kube_client;
mod durability;

mod support;

mod allocation;
mod create_cmds;
mod deletion;
mod edit_patch;
mod expose;
mod invalid;
mod seeds_apply;
mod tables;
mod watch;
mod newer_kubectl;
mod bad_input;
