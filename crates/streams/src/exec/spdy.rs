//! exec/attach over SPDY/3.1: wait for the client's streams, then hand them out.
//!
//! The client opens `error` first, then `stdin`, `stdout`, `stderr` (or `resize` with a TTY),
//! and waits for a SYN_REPLY to each. stdin EOF arrives as a DATA FIN. At the end the server
//! FINs stdout and stderr, writes the status on `error`, FINs it and sends GOAWAY.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::mpsc;

use super::ws::LINGER;
use super::STREAM_CREATION_TIMEOUT;
use crate::pipe::Target;
use crate::session::{take_sizes, Finisher};
use crate::spdy::conn::{self, Config, Incoming};
use crate::{Error, InputStream, Protocol, Session, StreamOptions, TerminalSize};

pub(super) async fn start<IO>(
    io: IO,
    protocol: Protocol,
    opts: &StreamOptions,
) -> Result<Session, Error>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut handle = conn::spawn(
        io,
        Config {
            reset_is_error: false,
            linger: LINGER,
        },
    );
    let resize_wanted = opts.tty && protocol.spdy_has_resize();
    let expected = 1
        + usize::from(opts.stdin)
        + usize::from(opts.stdout)
        + usize::from(opts.stderr)
        + usize::from(resize_wanted);

    let mut error: Option<Incoming> = None;
    let mut stdin: Option<Incoming> = None;
    let mut stdout: Option<Incoming> = None;
    let mut stderr: Option<Incoming> = None;
    let mut resize: Option<Incoming> = None;
    let mut received = 0;
    let deadline = tokio::time::Instant::now() + STREAM_CREATION_TIMEOUT;
    while received < expected {
        let stream = match tokio::time::timeout_at(deadline, handle.incoming.recv()).await {
            Ok(Some(stream)) => stream,
            Ok(None) => return Err(Error::Closed),
            Err(_) => return Err(Error::StreamTimeout),
        };
        // The kubelet replies to every stream, and counts the ones it knows.
        stream.reply();
        let slot = match stream.headers.get("streamtype") {
            Some("error") => &mut error,
            Some("stdin") => &mut stdin,
            Some("stdout") => &mut stdout,
            Some("stderr") => &mut stderr,
            Some("resize") => &mut resize,
            other => {
                tracing::warn!(stream_type = ?other, "unexpected exec stream type");
                continue;
            }
        };
        if slot.is_none() {
            received += 1;
        }
        *slot = Some(stream);
    }
    let Some(error) = error else {
        return Err(Error::bad_request(
            "the client did not open an error stream",
        ));
    };

    let resize_rx = resize.filter(|_| resize_wanted).map(|stream| {
        stream.output.detach();
        let (tx, rx) = mpsc::channel(8);
        tokio::spawn(read_sizes(stream.input, tx));
        rx
    });
    let finisher = Finisher::new(
        handle.outlet,
        Target::Stream(error.id),
        protocol,
        opts.command.clone(),
    );
    // The server never writes on error (except through the finisher), stdin or resize: dropping
    // those writers must not FIN the streams early.
    error.output.detach();
    let stdin = stdin.filter(|_| opts.stdin).map(|s| {
        s.output.detach();
        s.input
    });
    Ok(Session::new(
        stdin,
        stdout.filter(|_| opts.stdout).map(|s| s.output),
        stderr.filter(|_| opts.stderr).map(|s| s.output),
        resize_rx,
        finisher,
    ))
}

/// Decodes the resize stream's JSON objects until it ends or the caller stops listening.
async fn read_sizes(mut input: InputStream, tx: mpsc::Sender<TerminalSize>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = match input.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let Some(sizes) = take_sizes(&mut buf) else {
            return;
        };
        for size in sizes {
            if tx.send(size).await.is_err() {
                return;
            }
        }
    }
}
