//! What kubectl asked for in the exec/attach query string.

use crate::Error;

/// The streams a client wants, from the query of an exec or attach request.
///
/// kubectl sends `stdin`, `stdout`, `stderr` and `tty` as `true` (the API server rewrites them
/// to `1` when it builds the kubelet URL itself); both spellings are accepted, as are the other
/// forms Go's `strconv.ParseBool` takes. With `tty`, stderr is merged into stdout, so `stderr`
/// is forced off, as the kubelet does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamOptions {
    /// The client sends stdin.
    pub stdin: bool,
    /// The client wants stdout.
    pub stdout: bool,
    /// The client wants stderr (never together with `tty`).
    pub stderr: bool,
    /// The client's terminal is a TTY: resize events follow, stderr is merged into stdout.
    pub tty: bool,
    /// The `command` parameters, one per argv element (empty for attach).
    pub command: Vec<String>,
    /// The `container` parameter, if any.
    pub container: Option<String>,
}

impl StreamOptions {
    /// Parses a query string such as
    /// `command=sh&command=-c&command=echo%20hi&container=web&stdin=true&stdout=true&tty=true`.
    pub fn from_query(query: &str) -> Self {
        let mut opts = StreamOptions::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value);
            match percent_decode(key).as_str() {
                "stdin" => opts.stdin = parse_bool(&value),
                "stdout" => opts.stdout = parse_bool(&value),
                "stderr" => opts.stderr = parse_bool(&value),
                "tty" => opts.tty = parse_bool(&value),
                "command" => opts.command.push(value),
                "container" => opts.container = Some(value),
                _ => {}
            }
        }
        if opts.tty {
            opts.stderr = false;
        }
        opts
    }

    /// Fails as the kubelet does when no stream at all is requested.
    pub fn validate(&self) -> Result<(), Error> {
        if !self.stdin && !self.stdout && !self.stderr {
            return Err(Error::bad_request(
                "you must specify at least 1 of stdin, stdout, stderr",
            ));
        }
        Ok(())
    }
}

/// Go's `strconv.ParseBool` true values; anything else is false.
fn parse_bool(value: &str) -> bool {
    matches!(value, "1" | "t" | "T" | "true" | "TRUE" | "True")
}

/// Decodes `%XX` escapes and `+` (a space in form encoding, as Go's `url.Values` writes it).
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubectl_exec_query() {
        let opts = StreamOptions::from_query(
            "command=sh&command=-c&command=echo+hi%3B+exit%203&container=web&stderr=true&stdout=true",
        );
        assert_eq!(
            opts,
            StreamOptions {
                stdin: false,
                stdout: true,
                stderr: true,
                tty: false,
                command: vec!["sh".into(), "-c".into(), "echo hi; exit 3".into()],
                container: Some("web".into()),
            }
        );
        assert!(opts.validate().is_ok());
    }

    #[test]
    fn tty_drops_stderr_and_one_means_true() {
        let opts = StreamOptions::from_query("stdin=1&stdout=1&stderr=1&tty=1");
        assert!(opts.stdin && opts.stdout && opts.tty);
        assert!(!opts.stderr);
    }

    #[test]
    fn no_stream_is_rejected_with_the_kubelet_message() {
        let opts = StreamOptions::from_query("command=ls&stdout=false");
        let err = opts.validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "you must specify at least 1 of stdin, stdout, stderr"
        );
        assert_eq!(err.http_status(), http::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn percent_decoding_keeps_bad_escapes() {
        assert_eq!(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
        assert_eq!(percent_decode("%41"), "A");
    }
}
