//! Runs a built-in image program as `portico __image NAME ARGS...` will:
//! `cargo run -p portico-images --example image -- NAME [ARGS...]`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((name, rest)) = args.split_first() else {
        eprintln!(
            "usage: image NAME [ARGS...]; NAME is one of: {}",
            portico_images::PROGRAMS.join(", ")
        );
        return ExitCode::from(2);
    };
    portico_images::run_builtin(name, rest)
}
