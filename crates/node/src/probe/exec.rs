//! `exec` probes: run the command in the container; exit code 0 is a success, any other exit
//! is a failure whose output becomes the event text, and running past the timeout is a
//! failure too (`command "..." timed out`).

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, ExecAction};

use super::{Exec, Outcome, ProbeError};
use crate::env::expand_with_map;

/// How much of a command's output is kept, like the kubelet's 10 KiB.
const MAX_OUTPUT: usize = 10 * 1024;

/// Runs an `exec` probe through `exec`.
pub(crate) async fn check(
    action: &ExecAction,
    container: &Container,
    exec: &dyn Exec,
    timeout: Duration,
) -> Outcome {
    let argv = command(action, container);
    if argv.is_empty() {
        return Outcome::Unknown(ProbeError::EmptyCommand.to_string());
    }
    let timed_out = || Outcome::Failure(format!("command {:?} timed out", argv.join(" ")));
    match tokio::time::timeout(timeout, exec.exec(argv.clone(), timeout)).await {
        Err(_) => timed_out(),
        Ok(Err(err)) if err.kind() == std::io::ErrorKind::TimedOut => timed_out(),
        Ok(Err(err)) => Outcome::Unknown(err.to_string()),
        Ok(Ok((0, _))) => Outcome::Success,
        Ok(Ok((_, output))) => {
            let kept = &output[..output.len().min(MAX_OUTPUT)];
            Outcome::Failure(String::from_utf8_lossy(kept).into_owned())
        }
    }
}

/// The probe's command with `$(VAR)` references to the container's literal `env` values
/// expanded (the kubelet does not give exec probes `valueFrom` values or service variables).
fn command(action: &ExecAction, container: &Container) -> Vec<String> {
    let literals: HashMap<&str, &str> = container
        .env
        .iter()
        .flatten()
        .map(|var| (var.name.as_str(), var.value.as_deref().unwrap_or("")))
        .collect();
    action
        .command
        .iter()
        .flatten()
        .map(|arg| expand_with_map(arg, &literals))
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use futures::future::BoxFuture;
    use k8s_openapi::api::core::v1::EnvVar;
    use std::sync::Mutex;

    /// Commands run, with when.
    pub(crate) type Calls = Mutex<Vec<(Vec<String>, std::time::Instant)>>;

    /// An `Exec` that answers from a script and remembers what it ran.
    #[derive(Default)]
    pub(crate) struct Scripted {
        /// Answers by command name (`argv[0]`); the last one repeats.
        pub answers: Mutex<HashMap<String, Vec<Answer>>>,
        /// Every command run, in order.
        pub calls: Calls,
    }

    /// One scripted answer.
    #[derive(Clone)]
    pub(crate) enum Answer {
        Exit(i32, &'static str),
        Hang,
        Error(std::io::ErrorKind),
    }

    impl Scripted {
        pub(crate) fn with(command: &str, answers: Vec<Answer>) -> Self {
            let scripted = Scripted::default();
            scripted.set(command, answers);
            scripted
        }

        pub(crate) fn set(&self, command: &str, answers: Vec<Answer>) {
            self.answers
                .lock()
                .unwrap()
                .insert(command.to_string(), answers);
        }

        pub(crate) fn calls_of(&self, command: &str) -> Vec<std::time::Instant> {
            self.calls
                .lock()
                .unwrap()
                .iter()
                .filter(|(argv, _)| argv[0] == command)
                .map(|(_, at)| *at)
                .collect()
        }
    }

    impl Exec for Scripted {
        fn exec(
            &self,
            argv: Vec<String>,
            _timeout: Duration,
        ) -> BoxFuture<'static, std::io::Result<(i32, Vec<u8>)>> {
            let answer = {
                let mut answers = self.answers.lock().unwrap();
                let queue = answers.entry(argv[0].clone()).or_default();
                match queue.len() {
                    0 => Answer::Error(std::io::ErrorKind::NotFound),
                    1 => queue[0].clone(),
                    _ => queue.remove(0),
                }
            };
            self.calls
                .lock()
                .unwrap()
                .push((argv, std::time::Instant::now()));
            Box::pin(async move {
                match answer {
                    Answer::Exit(code, output) => Ok((code, output.as_bytes().to_vec())),
                    Answer::Hang => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        Ok((0, Vec::new()))
                    }
                    Answer::Error(kind) => Err(std::io::Error::new(kind, "runner broke")),
                }
            })
        }
    }

    fn action(argv: &[&str]) -> ExecAction {
        ExecAction {
            command: Some(argv.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[tokio::test]
    async fn exit_codes_decide() {
        let runner = Scripted::with(
            "cat",
            vec![
                Answer::Exit(0, "ok\n"),
                Answer::Exit(
                    1,
                    "cat: can't open '/tmp/healthy': No such file or directory\n",
                ),
            ],
        );
        let c = Container::default();
        let second = Duration::from_secs(1);
        let probe = action(&["cat", "/tmp/healthy"]);
        assert_eq!(check(&probe, &c, &runner, second).await, Outcome::Success);
        assert_eq!(
            check(&probe, &c, &runner, second).await,
            Outcome::Failure("cat: can't open '/tmp/healthy': No such file or directory\n".into())
        );
    }

    #[tokio::test]
    async fn timeouts_and_runner_errors() {
        let runner = Scripted::with("sleep", vec![Answer::Hang]);
        runner.set("broken", vec![Answer::Error(std::io::ErrorKind::Other)]);
        runner.set("slow", vec![Answer::Error(std::io::ErrorKind::TimedOut)]);
        let c = Container::default();
        let short = Duration::from_millis(50);
        assert_eq!(
            check(&action(&["sleep", "10"]), &c, &runner, short).await,
            Outcome::Failure("command \"sleep 10\" timed out".into())
        );
        assert_eq!(
            check(&action(&["slow"]), &c, &runner, short).await,
            Outcome::Failure("command \"slow\" timed out".into())
        );
        assert_eq!(
            check(&action(&["broken"]), &c, &runner, short).await,
            Outcome::Unknown("runner broke".into())
        );
        assert_eq!(
            check(&action(&[]), &c, &runner, short).await,
            Outcome::Unknown("exec probe has no command".into())
        );
    }

    #[tokio::test]
    async fn command_expands_literal_env_only() {
        let runner = Scripted::with("test", vec![Answer::Exit(0, "")]);
        let c = Container {
            env: Some(vec![
                EnvVar {
                    name: "FILE".into(),
                    value: Some("/tmp/ready".into()),
                    value_from: None,
                },
                EnvVar {
                    name: "FROM_REF".into(),
                    value: None,
                    value_from: Some(Default::default()),
                },
            ]),
            ..Default::default()
        };
        let probe = action(&[
            "test",
            "-f",
            "$(FILE)",
            "$(FROM_REF)",
            "$(UNSET)",
            "$$(FILE)",
        ]);
        assert_eq!(
            check(&probe, &c, &runner, Duration::from_secs(1)).await,
            Outcome::Success
        );
        let calls = runner.calls.lock().unwrap();
        assert_eq!(
            calls[0].0,
            ["test", "-f", "/tmp/ready", "", "$(UNSET)", "$(FILE)"]
        );
    }

    #[tokio::test]
    async fn output_is_cut_at_ten_kib() {
        let long: &'static str = Box::leak("x".repeat(20 * 1024).into_boxed_str());
        let runner = Scripted::with("noisy", vec![Answer::Exit(2, long)]);
        match check(
            &action(&["noisy"]),
            &Container::default(),
            &runner,
            Duration::from_secs(1),
        )
        .await
        {
            Outcome::Failure(text) => assert_eq!(text.len(), 10 * 1024),
            other => panic!("unexpected {other:?}"),
        }
    }
}
