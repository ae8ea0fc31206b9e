//! Command-line flags the way agnhost's cobra/pflag reads them: `--name=value`,
//! `--name value` (not for booleans), `--flag` for a true boolean; no positional arguments.

use crate::Error;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Int,
    Bool,
    Text,
}

/// Declared flags and, after [`FlagSet::parse`], their values.
#[derive(Debug, Clone)]
pub(crate) struct FlagSet {
    command: String,
    kinds: BTreeMap<String, Kind>,
    values: BTreeMap<String, String>,
}

impl FlagSet {
    /// Flags of the subcommand `command`.
    pub(crate) fn new(command: &str) -> FlagSet {
        FlagSet {
            command: command.to_string(),
            kinds: BTreeMap::new(),
            values: BTreeMap::new(),
        }
    }

    fn declare(mut self, name: &str, kind: Kind, default: String) -> FlagSet {
        self.kinds.insert(name.to_string(), kind);
        self.values.insert(name.to_string(), default);
        self
    }

    /// Declares an integer flag.
    pub(crate) fn int(self, name: &str, default: i64) -> FlagSet {
        self.declare(name, Kind::Int, default.to_string())
    }

    /// Declares a boolean flag.
    pub(crate) fn boolean(self, name: &str, default: bool) -> FlagSet {
        self.declare(name, Kind::Bool, default.to_string())
    }

    /// Declares a text flag.
    pub(crate) fn text(self, name: &str, default: &str) -> FlagSet {
        self.declare(name, Kind::Text, default.to_string())
    }

    fn usage(&self, message: String) -> Error {
        Error::Usage(format!(
            "Error: {message}\nRun 'agnhost {} --help' for usage.",
            self.command
        ))
    }

    /// Reads `args` into the declared flags.
    pub(crate) fn parse(mut self, args: &[String]) -> Result<FlagSet, Error> {
        let mut i = 0;
        while i < args.len() {
            let arg = &args[i];
            i += 1;
            let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
                return Err(self.usage(format!(
                    "accepts at most 0 arg(s), received {}",
                    args.len() - i + 1
                )));
            };
            let (name, inline) = match body.split_once('=') {
                Some((name, value)) => (name.to_string(), Some(value.to_string())),
                None => (body.to_string(), None),
            };
            let Some(kind) = self.kinds.get(&name).copied() else {
                return Err(self.usage(format!("unknown flag: --{name}")));
            };
            let value = match (kind, inline) {
                (_, Some(value)) => value,
                (Kind::Bool, None) => "true".to_string(),
                (_, None) if i < args.len() => {
                    i += 1;
                    args[i - 1].clone()
                }
                (_, None) => return Err(self.usage(format!("flag needs an argument: --{name}"))),
            };
            let valid = match kind {
                Kind::Int => value.parse::<i64>().is_ok(),
                Kind::Bool => matches!(
                    value.as_str(),
                    "1" | "t"
                        | "T"
                        | "true"
                        | "TRUE"
                        | "True"
                        | "0"
                        | "f"
                        | "F"
                        | "false"
                        | "FALSE"
                        | "False"
                ),
                Kind::Text => true,
            };
            if !valid {
                let parser = if kind == Kind::Int {
                    "strconv.ParseInt"
                } else {
                    "strconv.ParseBool"
                };
                return Err(self.usage(format!(
                    "invalid argument \"{value}\" for \"--{name}\" flag: {parser}: parsing \"{value}\": invalid syntax"
                )));
            }
            self.values.insert(name, value);
        }
        Ok(self)
    }

    /// An integer flag's value.
    pub(crate) fn get_int(&self, name: &str) -> i64 {
        self.values
            .get(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// A boolean flag's value.
    pub(crate) fn get_bool(&self, name: &str) -> bool {
        matches!(
            self.values.get(name).map(String::as_str),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True")
        )
    }

    /// A text flag's value.
    pub(crate) fn get_text(&self, name: &str) -> String {
        self.values.get(name).cloned().unwrap_or_default()
    }

    /// A port flag: an integer in 1..=65535, or `None` for -1 ("disabled").
    pub(crate) fn get_port(&self, name: &str) -> Result<Option<u16>, Error> {
        match self.get_int(name) {
            -1 => Ok(None),
            p if (0..=65535).contains(&p) => Ok(Some(p as u16)),
            p => Err(self.usage(format!("invalid port {p} for --{name}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reads_pflag_forms() {
        let set = FlagSet::new("serve-hostname")
            .int("port", 9376)
            .boolean("udp", false)
            .boolean("http", true)
            .text("name", "x")
            .parse(&args(&[
                "--port",
                "12345",
                "--udp",
                "--http=false",
                "-name=y",
            ]))
            .unwrap();
        assert_eq!(set.get_int("port"), 12345);
        assert!(set.get_bool("udp"));
        assert!(!set.get_bool("http"));
        assert_eq!(set.get_text("name"), "y");
    }

    #[test]
    fn rejects_what_cobra_rejects() {
        let set = || FlagSet::new("netexec").int("http-port", 8080);
        let err = set().parse(&args(&["--nope"])).unwrap_err().to_string();
        assert!(err.starts_with("Error: unknown flag: --nope"), "{err}");
        let err = set()
            .parse(&args(&["--http-port=abc"]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("invalid argument \"abc\" for \"--http-port\" flag"),
            "{err}"
        );
        let err = set().parse(&args(&["extra"])).unwrap_err().to_string();
        assert!(
            err.contains("accepts at most 0 arg(s), received 1"),
            "{err}"
        );
        assert_eq!(set().parse(&[]).unwrap().get_int("http-port"), 8080);
    }
}
