//! Kubernetes' e2e test image `agnhost`: one binary with subcommands (`netexec`,
//! `serve-hostname`, `pause`, ...), reimplemented with the same flags, endpoints and answers.

mod dns;
mod flags;
mod liveness;
mod netexec;
mod porter;
mod serve_hostname;
mod webserver;

use super::Outcome;
use crate::golike;
use crate::{Error, RunContext};
pub(crate) use flags::FlagSet;

/// The subcommands this agnhost has.
const SUBCOMMANDS: &[&str] = &[
    "dns-server-list",
    "dns-suffix",
    "entrypoint-tester",
    "liveness",
    "netexec",
    "pause",
    "porter",
    "serve-hostname",
    "test-webserver",
];

/// Runs `agnhost ARGS...`.
pub(crate) async fn run(args: &[String], ctx: &RunContext) -> Outcome {
    let Some((sub, rest)) = args.split_first() else {
        return pause(ctx).await;
    };
    match sub.as_str() {
        "netexec" => netexec::run(rest, ctx).await,
        "serve-hostname" => serve_hostname::run(rest, ctx).await,
        "pause" => {
            FlagSet::new("pause").parse(rest)?;
            pause(ctx).await
        }
        "liveness" => liveness::run(rest, ctx).await,
        "porter" => porter::run(rest, ctx).await,
        "test-webserver" => webserver::run(rest, ctx).await,
        "dns-suffix" => dns::run(sub, rest, ctx, "search"),
        "dns-server-list" => dns::run(sub, rest, ctx, "nameserver"),
        "entrypoint-tester" => {
            ctx.log(&format!("[{}]", args_with_program(rest).join(" ")));
            Ok(0)
        }
        other => Err(Error::Usage(format!(
            "Error: unknown command \"{other}\" for \"agnhost\"\nRun 'agnhost --help' for usage.\n(Portico's agnhost has: {})",
            SUBCOMMANDS.join(", ")
        ))),
    }
}

/// `os.Args` as the entrypoint tester prints it: the program, then the arguments.
fn args_with_program(rest: &[String]) -> Vec<String> {
    std::iter::once("/agnhost".to_string())
        .chain(std::iter::once("entrypoint-tester".to_string()))
        .chain(rest.iter().cloned())
        .collect()
}

/// `agnhost pause`: prints `Paused`, exits 2 on SIGTERM and 1 on SIGINT.
async fn pause(ctx: &RunContext) -> Outcome {
    ctx.log("Paused");
    let code = match ctx.signalled().await {
        crate::Signal::Interrupt => 1,
        crate::Signal::Terminate => 2,
    };
    Ok(code)
}

/// Writes a line through Go's standard logger (`2006/01/02 15:04:05 message`, to stderr).
pub(crate) fn go_log(ctx: &RunContext, message: &str) {
    ctx.log_error(&format!("{}{}", golike::log_prefix(), message));
}
