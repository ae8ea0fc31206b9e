//! The built-in programs, dispatched by name.

mod agnhost;
mod echo;
mod kubia;
mod pause;
mod web;

use crate::{Error, RunContext};

/// A program's result: its exit code, or the error that ended it (exit code 1).
pub(crate) type Outcome = Result<u8, Error>;

/// Runs the built-in program `name`.
pub(crate) async fn dispatch(name: &str, args: &[String], ctx: &RunContext) -> Outcome {
    match name {
        "kubia" => kubia::run(kubia::Variant::Hit, ctx).await,
        "kubia-v1" => kubia::run(kubia::Variant::Version(1), ctx).await,
        "kubia-v2" => kubia::run(kubia::Variant::Version(2), ctx).await,
        "kubia-v3" => kubia::run(kubia::Variant::Version(3), ctx).await,
        "kubia-unhealthy" => kubia::run(kubia::Variant::Unhealthy, ctx).await,
        "kubia-pet" => kubia::run_pet(ctx).await,
        "takytaky-hostname" => web::takytaky_hostname(ctx).await,
        "go-myweb" => web::go_myweb(ctx).await,
        "echo-server" => echo::run(ctx).await,
        "network-multitool" => web::network_multitool(args, ctx).await,
        "nginx" => web::nginx(args, ctx).await,
        "httpd" => web::httpd(args, ctx).await,
        "pause" => pause::run(args, ctx).await,
        "agnhost" => agnhost::run(args, ctx).await,
        _ => Err(Error::Usage(format!(
            "unknown built-in image program \"{name}\"; the built-in programs are: {}",
            crate::PROGRAMS.join(", ")
        ))),
    }
}

/// Replaces this process with `args` (what an image's entrypoint script does with a cmd that
/// is not its own server).
pub(crate) fn exec(args: &[String]) -> Outcome {
    use std::os::unix::process::CommandExt;
    let Some((program, rest)) = args.split_first() else {
        return Err(Error::Usage("nothing to execute".to_string()));
    };
    let source = std::process::Command::new(program).args(rest).exec();
    Err(Error::Io {
        context: format!("cannot execute \"{program}\""),
        source,
    })
}
