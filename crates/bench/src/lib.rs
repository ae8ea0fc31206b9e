//! Pieces the benchmark drivers share (`portico-bench` and `portico-bench-controllers`).

pub mod stats;
