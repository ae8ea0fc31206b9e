//! Parsing of the user's `images.yaml` (format in the crate documentation).

use super::Entry;
use crate::reference::ImageRef;
use crate::Error;
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::path::Path;

/// One entry as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UserEntry {
    #[serde(default)]
    command: Vec<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, Scalar>,
    #[serde(default)]
    working_dir: Option<String>,
}

/// An environment value: YAML lets `PORT: 8080` be a number, Kubernetes' env would not.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    fn into_string(self) -> String {
        match self {
            Scalar::Text(s) => s,
            Scalar::Integer(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

/// Parses the file's text into catalog entries keyed by normalised name (or `name:tag`).
pub(crate) fn parse(path: &Path, text: &str) -> Result<Vec<(String, Entry)>, Error> {
    let bad = |line: u64, message: String| Error::BadFile {
        path: path.to_path_buf(),
        line,
        message,
    };
    let only_comments = text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "---");
    if only_comments {
        return Ok(Vec::new());
    }
    let file: BTreeMap<String, Spanned<UserEntry>> = serde_saphyr::from_str(text).map_err(|e| {
        let line = e.location().map_or(0, |l| l.line());
        let message = e.without_snippet().to_string();
        bad(
            line,
            format!(
                "{} (the file maps image names to {{command: [...], args: [...], env: {{NAME: value}}, workingDir: DIR}})",
                without_position(first_line(&message))
            ),
        )
    })?;
    let mut entries = Vec::with_capacity(file.len());
    for (name, spanned) in file {
        let line = spanned.referenced.line();
        let reference = ImageRef::parse(&name).map_err(|e| bad(line, e.to_string()))?;
        let key = reference.tagged_key().unwrap_or(reference.name);
        let user = spanned.value;
        if user.command.is_empty() && user.args.is_empty() {
            return Err(bad(
                line,
                format!(
                    "image \"{name}\" needs a command (its entrypoint) or args (its default cmd)"
                ),
            ));
        }
        if user.command.first().is_some_and(|c| c.is_empty())
            || (user.command.is_empty() && user.args.first().is_some_and(|a| a.is_empty()))
        {
            return Err(bad(
                line,
                format!("image \"{name}\" names an empty program"),
            ));
        }
        entries.push((
            key,
            Entry {
                entrypoint: user.command,
                cmd: user.args,
                env: user
                    .env
                    .into_iter()
                    .map(|(k, v)| (k, v.into_string()))
                    .collect(),
                working_dir: user.working_dir,
                programs: Vec::new(),
            },
        ));
    }
    Ok(entries)
}

/// A parser message without its trailing ` at line N, column M` (the line is reported apart).
fn without_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i) if message[i..].contains("column") => &message[..i],
        _ => message,
    }
}

/// The first line of a possibly multi-line parser message.
fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or(message).trim()
}
