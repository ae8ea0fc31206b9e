//! The exec session the test server runs: report the first terminal size, write to stderr,
//! echo stdin to stdout, finish with exit code 3; then tell the test how `finish` went.

#![allow(dead_code)]

use std::sync::Arc;

use portico_streams::{Outcome, Session};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::server::ExecHandler;

/// The echo handler; each finished session sends `finish`'s result as text.
pub fn echo(results: mpsc::UnboundedSender<String>) -> ExecHandler {
    Arc::new(move |mut session: Session| {
        let results = results.clone();
        Box::pin(async move {
            let mut stdout = session.stdout.take();
            if let (Some(mut resize), Some(out)) = (session.resize.take(), stdout.as_mut()) {
                if let Some(size) = resize.recv().await {
                    let _ = out
                        .write_all(format!("size {}x{}\n", size.width, size.height).as_bytes())
                        .await;
                }
            }
            if let Some(mut stderr) = session.stderr.take() {
                let _ = stderr.write_all(b"to stderr\n").await;
            }
            if let (Some(mut stdin), Some(out)) = (session.stdin.take(), stdout.as_mut()) {
                let _ = tokio::io::copy(&mut stdin, out).await;
            }
            drop(stdout);
            let result = session.finish(Outcome::ExitCode(3)).await;
            let _ = results.send(format!("{result:?}"));
        })
    })
}
