//! How a finished exec or attach is reported: the `metav1.Status` on the error channel.
//!
//! Protocols v4 and v5 carry the Status as JSON (field order as Go's encoder writes it);
//! older ones carry only the message of a failure as plain text, and nothing on success.

use serde::Serialize;

/// How the command (or attached process) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Exit code 0.
    Success,
    /// A non-zero exit code (0 is reported as success).
    ExitCode(i32),
    /// Any other failure, e.g. `"error executing command in container: ..."`. Reported as an
    /// `InternalError` Status whose message is `Internal error occurred: <text>`.
    Failure(String),
}

#[derive(Serialize)]
struct Status<'a> {
    metadata: Empty,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Details<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u16>,
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct Details<'a> {
    causes: Vec<Cause<'a>>,
}

#[derive(Serialize)]
struct Cause<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    message: &'a str,
}

impl Outcome {
    /// The Status message, as `apierrors.StatusError.Error()` returns it (empty on success).
    ///
    /// For an exit code it is the CRI runtimes' wording, with Go's `%v` rendering of argv:
    /// `command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3`.
    pub fn message(&self, command: &[String]) -> String {
        match self.normalized() {
            Outcome::Success => String::new(),
            Outcome::ExitCode(code) => format!(
                "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
                command.join(" ")
            ),
            Outcome::Failure(text) => format!("Internal error occurred: {text}"),
        }
    }

    /// The `metav1.Status` JSON that v4/v5 clients decode.
    pub fn status_json(&self, command: &[String]) -> String {
        let message = self.message(command);
        let code_text;
        let status = match self.normalized() {
            Outcome::Success => Status {
                metadata: Empty {},
                status: "Success",
                message: None,
                reason: None,
                details: None,
                code: None,
            },
            Outcome::ExitCode(code) => {
                code_text = code.to_string();
                Status {
                    metadata: Empty {},
                    status: "Failure",
                    message: Some(message),
                    reason: Some("NonZeroExitCode"),
                    details: Some(Details {
                        causes: vec![Cause {
                            reason: Some("ExitCode"),
                            message: &code_text,
                        }],
                    }),
                    code: None,
                }
            }
            Outcome::Failure(text) => Status {
                metadata: Empty {},
                status: "Failure",
                message: Some(message),
                reason: Some("InternalError"),
                details: Some(Details {
                    causes: vec![Cause {
                        reason: None,
                        message: text,
                    }],
                }),
                code: Some(500),
            },
        };
        // Serializing these plain structs cannot fail.
        serde_json::to_string(&status).unwrap_or_default()
    }

    /// What goes on the error channel for `protocol`: JSON for v4/v5, else the failure text.
    pub(crate) fn payload(&self, json: bool, command: &[String]) -> Vec<u8> {
        if json {
            self.status_json(command).into_bytes()
        } else {
            self.message(command).into_bytes()
        }
    }

    fn normalized(&self) -> &Outcome {
        match self {
            Outcome::ExitCode(0) => &Outcome::Success,
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn success_is_the_bare_status() {
        assert_eq!(
            Outcome::Success.status_json(&[]),
            r#"{"metadata":{},"status":"Success"}"#
        );
        assert_eq!(
            Outcome::ExitCode(0).status_json(&[]),
            r#"{"metadata":{},"status":"Success"}"#
        );
        assert!(Outcome::Success.payload(false, &[]).is_empty());
    }

    #[test]
    fn exit_code_matches_the_kubelet() {
        let command = argv(&["sh", "-c", "exit 3"]);
        assert_eq!(
            Outcome::ExitCode(3).status_json(&command),
            r#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#
        );
        assert_eq!(
            String::from_utf8(Outcome::ExitCode(3).payload(false, &command)).unwrap(),
            "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3"
        );
    }

    #[test]
    fn failure_is_an_internal_error() {
        assert_eq!(
            Outcome::Failure("error executing command in container: no such file".into())
                .status_json(&[]),
            r#"{"metadata":{},"status":"Failure","message":"Internal error occurred: error executing command in container: no such file","reason":"InternalError","details":{"causes":[{"message":"error executing command in container: no such file"}]},"code":500}"#
        );
    }

    #[test]
    fn json_text_is_escaped() {
        let json = Outcome::Failure("quote \" and\nnewline".into()).status_json(&[]);
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            value["details"]["causes"][0]["message"],
            "quote \" and\nnewline"
        );
    }
}
