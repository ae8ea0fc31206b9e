//! An exec or attach session as the node agent sees it.

use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use crate::pipe::{Outbound, Outlet, Target};
use crate::{Error, InputStream, Outcome, OutputStream, Protocol};

/// A terminal size sent by a client with a TTY (on start and on every `SIGWINCH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct TerminalSize {
    /// Columns.
    #[serde(rename = "Width")]
    pub width: u16,
    /// Rows.
    #[serde(rename = "Height")]
    pub height: u16,
}

/// The client's streams of an exec or attach, and the means to end it.
///
/// Take the streams you need out of the `Option`s, run the process, then call
/// [`finish`](Session::finish) with its [`Outcome`] once its output has been written: the
/// outcome goes to the client as the Status it expects, followed by the close frame (WebSocket)
/// or FINs and GOAWAY (SPDY). Dropping the session without finishing reports an internal error,
/// so the client never hangs. If the client goes away first, `stdin` reaches EOF and writes fail
/// with `BrokenPipe`.
#[derive(Debug)]
pub struct Session {
    /// The client's stdin, if it asked to send one; EOF when the client closes it.
    pub stdin: Option<InputStream>,
    /// Stdout, if requested. Every write is sent at once.
    pub stdout: Option<OutputStream>,
    /// Stderr, if requested; always `None` with a TTY (kubectl merges it into stdout).
    pub stderr: Option<OutputStream>,
    /// Terminal sizes, when the client has a TTY.
    pub resize: Option<mpsc::Receiver<TerminalSize>>,
    finisher: Finisher,
}

impl Session {
    pub(crate) fn new(
        stdin: Option<InputStream>,
        stdout: Option<OutputStream>,
        stderr: Option<OutputStream>,
        resize: Option<mpsc::Receiver<TerminalSize>>,
        finisher: Finisher,
    ) -> Self {
        Self {
            stdin,
            stdout,
            stderr,
            resize,
            finisher,
        }
    }

    /// The negotiated protocol.
    pub fn protocol(&self) -> Protocol {
        self.finisher.protocol
    }

    /// Closes the streams still held here, reports `outcome` and closes the connection.
    /// Returns once all of it has been written to the socket (the connection then waits a
    /// while in the background for the client to close its side).
    pub async fn finish(self, outcome: Outcome) -> Result<(), Error> {
        let Session {
            stdin,
            stdout,
            stderr,
            resize,
            finisher,
        } = self;
        drop((stdin, stdout, stderr, resize));
        finisher.finish(outcome).await
    }

    /// Splits off the finishing half, for callers that move the streams into other tasks.
    /// Streams still in the session are dropped (closed).
    pub fn into_finisher(self) -> Finisher {
        self.finisher
    }
}

/// Reports the outcome of a session and closes its connection (see [`Session::finish`]).
#[derive(Debug)]
pub struct Finisher {
    outlet: Outlet,
    error: Target,
    protocol: Protocol,
    command: Vec<String>,
    finished: bool,
}

impl Finisher {
    pub(crate) fn new(
        outlet: Outlet,
        error: Target,
        protocol: Protocol,
        command: Vec<String>,
    ) -> Self {
        Self {
            outlet,
            error,
            protocol,
            command,
            finished: false,
        }
    }

    fn report(&mut self, outcome: &Outcome) -> Option<oneshot::Receiver<()>> {
        self.finished = true;
        let payload = outcome.payload(self.protocol.status_is_json(), &self.command);
        if !payload.is_empty() {
            self.outlet.send(Outbound::Data {
                target: self.error,
                data: payload.into(),
                permit: None,
            });
        }
        self.outlet.send(Outbound::Close(self.error));
        let (tx, rx) = oneshot::channel();
        self.outlet.send(Outbound::Shutdown(Some(tx))).then_some(rx)
    }

    /// Reports `outcome` and closes the connection; see [`Session::finish`].
    pub async fn finish(mut self, outcome: Outcome) -> Result<(), Error> {
        match self.report(&outcome) {
            Some(done) => done.await.map_err(|_| Error::Closed),
            None => Err(Error::Closed),
        }
    }
}

impl Drop for Finisher {
    fn drop(&mut self) {
        if !self.finished {
            tracing::warn!("exec session dropped without an outcome; reporting an internal error");
            self.report(&Outcome::Failure(
                "the session ended without reporting a result".into(),
            ));
        }
    }
}

/// Takes every complete `TerminalSize` JSON object off the front of `buf` (the client's encoder
/// writes one per line; a chunk may hold several or end in the middle of one). `None` when the
/// bytes are not JSON, which ends resize handling as in the kubelet.
pub(crate) fn take_sizes(buf: &mut Vec<u8>) -> Option<Vec<TerminalSize>> {
    let mut sizes = Vec::new();
    let mut stream = serde_json::Deserializer::from_slice(buf).into_iter::<TerminalSize>();
    let consumed = loop {
        match stream.next() {
            Some(Ok(size)) => sizes.push(size),
            Some(Err(e)) if e.is_eof() => break stream.byte_offset(),
            Some(Err(_)) => return None,
            None => break stream.byte_offset(),
        }
    };
    buf.drain(..consumed);
    Some(sizes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_taken_whole_across_chunks() {
        let mut buf = br#"{"Width":100,"Height":30}
{"Width":80,"#
            .to_vec();
        assert_eq!(
            take_sizes(&mut buf),
            Some(vec![TerminalSize {
                width: 100,
                height: 30
            }])
        );
        buf.extend_from_slice(b"\"Height\":24}\n");
        assert_eq!(
            take_sizes(&mut buf),
            Some(vec![TerminalSize {
                width: 80,
                height: 24
            }])
        );
        assert!(buf.iter().all(u8::is_ascii_whitespace));
        let mut junk = b"not json".to_vec();
        assert_eq!(take_sizes(&mut junk), None);
    }
}
