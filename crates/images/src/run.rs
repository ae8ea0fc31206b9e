//! Running built-in programs: [`run_builtin`] for `portico __image`, [`run_program`] for tests.

mod context;

pub use context::{Protocol, RunContext, Signal};

use crate::programs;
use std::process::ExitCode;

/// The built-in programs, as named after `portico __image`.
pub const PROGRAMS: &[&str] = &[
    "agnhost",
    "echo-server",
    "go-myweb",
    "httpd",
    "kubia",
    "kubia-pet",
    "kubia-unhealthy",
    "kubia-v1",
    "kubia-v2",
    "kubia-v3",
    "network-multitool",
    "nginx",
    "pause",
    "takytaky-hostname",
];

/// Runs the built-in program `name` in the foreground on its own tokio runtime until it ends
/// or SIGTERM/SIGINT arrives (then it exits 0, except where the real image does otherwise:
/// agnhost's `pause` exits 2 on SIGTERM and 1 on SIGINT). Binds 0.0.0.0, calls itself by the
/// host name (a pod's name), logs to stdout and errors to stderr.
pub fn run_builtin(name: &str, args: &[String]) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{name}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async {
        let ctx = RunContext::host();
        if let Err(e) = forward_signals(&ctx) {
            eprintln!("{name}: cannot handle signals: {e}");
            return 1;
        }
        run_program(name, args, ctx).await
    });
    // Connections still open must not keep the process alive.
    runtime.shutdown_background();
    ExitCode::from(code)
}

/// Delivers SIGTERM and SIGINT to the context.
fn forward_signals(ctx: &RunContext) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let ctx = ctx.clone();
    tokio::spawn(async move {
        loop {
            let sig = tokio::select! {
                _ = term.recv() => Signal::Terminate,
                _ = int.recv() => Signal::Interrupt,
            };
            ctx.signal(sig);
        }
    });
    Ok(())
}

/// Runs the built-in program `name` with `args` in `ctx` and returns its exit code. A signal
/// sent through [`RunContext::signal`] ends it the way SIGTERM/SIGINT end [`run_builtin`].
pub async fn run_program(name: &str, args: &[String], ctx: RunContext) -> u8 {
    let handles_signals = name == "pause"
        || (name == "agnhost"
            && matches!(
                args.first().map(String::as_str),
                None | Some("pause" | "serve-hostname")
            ));
    let program = programs::dispatch(name, args, &ctx);
    let result = if handles_signals {
        program.await
    } else {
        tokio::select! {
            result = program => result,
            _ = ctx.signalled() => Ok(0),
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            ctx.log_error(&format!("{name}: {e}"));
            1
        }
    }
}
