//! The image catalog: built-in entries plus the user's `images.yaml`, and resolution of a
//! container's image, command and args into the argv Portico runs.

mod builtin;
mod userfile;

use crate::reference::ImageRef;
use crate::Error;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Placeholder for the portico executable in built-in entrypoints; [`Catalog::resolve`]
/// replaces every argv element equal to it with the `self_exe` path it is given.
pub const SELF_EXE: &str = "<portico>";

/// What an image provides: a Docker image's `ENTRYPOINT`, `CMD`, `ENV` and `WORKDIR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Program and leading arguments; replaced by a container's `command`.
    pub entrypoint: Vec<String>,
    /// Default arguments; replaced by a container's `args`, dropped by its `command`.
    pub cmd: Vec<String>,
    /// The image's environment (the container's own `env` goes on top).
    pub env: Vec<(String, String)>,
    /// The image's working directory.
    pub working_dir: Option<String>,
    /// Programs the real image holds under these paths (`/agnhost`), each standing for an argv
    /// prefix of ours: a container `command` naming one runs the built-in program instead.
    pub programs: Vec<(String, Vec<String>)>,
}

/// The argv, environment and working directory that a container of some image runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Program and arguments; the program is an absolute path or a name to look up in `PATH`.
    pub argv: Vec<String>,
    /// The image's environment, before the container's `env` is applied.
    pub env: Vec<(String, String)>,
    /// The image's working directory, if it sets one (a container's `workingDir` wins).
    pub working_dir: Option<String>,
}

/// The image catalog.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Keyed by normalised name, or `name:tag` for tag-specific entries.
    entries: BTreeMap<String, Entry>,
    /// The user file named in [`Error::UnknownImage`].
    images_yaml: PathBuf,
}

impl Catalog {
    /// The built-in images only.
    pub fn builtin() -> Catalog {
        let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("~"), PathBuf::from);
        Catalog {
            entries: builtin::entries(),
            images_yaml: home.join(".portico").join("images.yaml"),
        }
    }

    /// The built-in images plus the user's entries from `images_yaml` when that file exists.
    /// User entries override built-in ones.
    pub fn load(images_yaml: Option<&Path>) -> Result<Catalog, Error> {
        let mut catalog = Catalog::builtin();
        let Some(path) = images_yaml else {
            return Ok(catalog);
        };
        catalog.images_yaml = path.to_path_buf();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(catalog),
            Err(e) => {
                return Err(Error::BadFile {
                    path: path.to_path_buf(),
                    line: 0,
                    message: format!("cannot read the file: {e}"),
                })
            }
        };
        for (key, entry) in userfile::parse(path, &text)? {
            if !key.contains(':') {
                let prefix = format!("{key}:");
                catalog.entries.retain(|k, _| !k.starts_with(&prefix));
            }
            tracing::debug!(image = %key, file = %path.display(), "user image entry");
            catalog.entries.insert(key, entry);
        }
        Ok(catalog)
    }

    /// Every name the catalog answers for, sorted (tag-specific entries as `name:tag`).
    pub fn names(&self) -> Vec<String> {
        self.entries.keys().cloned().collect()
    }

    /// Resolves a container's `image`, `command` and `args` (empty slices mean "not set") into
    /// the argv to run, following Kubernetes' rules for entrypoint and cmd. `self_exe` is the
    /// portico executable that runs built-in programs (`portico __image NAME ...`).
    pub fn resolve(
        &self,
        image: &str,
        command: &[String],
        args: &[String],
        self_exe: &Path,
    ) -> Result<Resolved, Error> {
        let reference = ImageRef::parse(image)?;
        let entry = reference
            .tagged_key()
            .and_then(|key| self.entries.get(&key))
            .or_else(|| self.entries.get(&reference.name));
        let mut resolved = match entry {
            None if command.is_empty() => {
                return Err(Error::UnknownImage {
                    image: image.trim().to_string(),
                    name: reference.name.clone(),
                    images_yaml: self.images_yaml.clone(),
                })
            }
            None => Resolved {
                argv: command.iter().chain(args).cloned().collect(),
                env: Vec::new(),
                working_dir: None,
            },
            Some(entry) => Resolved {
                argv: argv_for(entry, command, args),
                env: entry.env.clone(),
                working_dir: entry.working_dir.clone(),
            },
        };
        let self_exe = self_exe.to_string_lossy();
        for arg in &mut resolved.argv {
            if arg == SELF_EXE {
                *arg = self_exe.to_string();
            }
        }
        if resolved
            .argv
            .first()
            .is_none_or(|program| program.is_empty())
        {
            return Err(Error::EmptyCommand {
                image: image.trim().to_string(),
            });
        }
        Ok(resolved)
    }
}

/// Kubernetes' rule: `command` replaces the entrypoint and drops the cmd, `args` replace the cmd.
fn argv_for(entry: &Entry, command: &[String], args: &[String]) -> Vec<String> {
    if let Some((program, rest)) = command.split_first() {
        let mut argv = match entry.programs.iter().find(|(path, _)| path == program) {
            Some((_, prefix)) => prefix.clone(),
            None => vec![program.clone()],
        };
        argv.extend(rest.iter().cloned());
        argv.extend(args.iter().cloned());
        return argv;
    }
    let tail = if args.is_empty() { &entry.cmd } else { args };
    entry.entrypoint.iter().chain(tail).cloned().collect()
}

#[cfg(test)]
mod tests;
