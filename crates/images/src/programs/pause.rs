//! `registry.k8s.io/pause`: does nothing until SIGTERM or SIGINT, then exits 0.

use super::Outcome;
use crate::RunContext;

/// Waits for a signal. `-v` prints a version line and exits, like the real `/pause -v`.
pub(crate) async fn run(args: &[String], ctx: &RunContext) -> Outcome {
    if args.iter().any(|a| a == "-v") {
        ctx.log(&format!("pause.c portico-{}", env!("CARGO_PKG_VERSION")));
        return Ok(0);
    }
    let signal = ctx.signalled().await;
    ctx.log_error(&format!(
        "Shutting down, got signal: {}",
        signal.description()
    ));
    Ok(0)
}
