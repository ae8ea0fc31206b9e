//! Portico's image catalog and built-in images.
//!
//! Portico never pulls container images: a pod's containers are host processes. A container's
//! `image` names an entry of an image [`Catalog`]:
//!
//! * **built-in images**, whose programs are written in Rust and live inside the `portico`
//!   binary (`portico __image NAME [ARGS...]` runs one through [`run_builtin`]): `luksa/kubia`,
//!   `takytaky/hostname`, `registry.k8s.io/e2e-test-images/agnhost`, `registry.k8s.io/pause`,
//!   `nginx`, ...;
//! * **host-tool images** such as `busybox`, `alpine` or `tutum/dnsutils`, whose programs are the
//!   host's own (`sh`, `dig`, `curl`, `sleep`);
//! * **user images**, mapped to host commands in `HOME/images.yaml`.
//!
//! # Resolution
//!
//! Every entry has an entrypoint and a default cmd, like a Docker image's `ENTRYPOINT` and `CMD`.
//! [`Catalog::resolve`] applies the Kubernetes rules: a container's `command` replaces the
//! entrypoint and drops the image's cmd, its `args` replace the cmd, and with neither the argv is
//! entrypoint + cmd. Image references are normalised the way Docker does: `docker.io/`,
//! `index.docker.io/` and `library/` (for single-name images) are dropped, and a tag (`:v2`) or
//! digest (`@sha256:...`) is ignored unless an entry for that exact tag exists
//! (`luksa/kubia:v2` answers like the book's v2). An image outside the catalog still runs when
//! the container gives a `command` (it is taken as a host program); without one resolution fails
//! with [`Error::UnknownImage`], whose text tells how to map the image.
//!
//! # `images.yaml`
//!
//! A YAML map from image name to an entry; user entries override built-in ones (a user entry for
//! a name without tag also hides the built-in tag-specific entries of that name):
//!
//! ```yaml
//! # ~/.portico/images.yaml
//! mycompany/web:                 # any reference form: docker.io/mycompany/web:1.2 matches too
//!   command: ["/usr/bin/python3", "-m", "http.server"]   # the image's ENTRYPOINT
//!   args: ["8080"]                                        # the image's CMD (default arguments)
//!   env:                                                  # environment of the image
//!     PYTHONUNBUFFERED: "1"
//!   workingDir: /srv/www                                  # the image's WORKDIR
//! redis:7:                       # a tag-specific entry answers only for that tag
//!   command: ["/usr/bin/redis-server"]
//! ```
//!
//! Every field is optional, but an entry needs a `command` or `args`. Unknown fields and other
//! mistakes are reported as [`Error::BadFile`] with the file name and line.
//!
//! # Built-in programs
//!
//! The entrypoint of a built-in entry is `[SELF_EXE, "__image", "<program>"]`; [`SELF_EXE`] is a
//! marker that [`Catalog::resolve`] replaces with the path of the portico executable it is given.
//! [`run_builtin`] runs a program in the foreground with its own tokio runtime and exits 0 on
//! SIGTERM or SIGINT (agnhost's `pause` keeps agnhost's codes). [`run_program`] is the same
//! program as a future, with a [`RunContext`] that decides where it binds, what it calls itself
//! and where its log lines go, so tests can run every server on `127.0.0.1:0`.

mod catalog;
mod golike;
mod http;
mod programs;
mod reference;
mod run;

pub use catalog::{Catalog, Resolved, SELF_EXE};
pub use reference::ImageRef;
pub use run::{run_builtin, run_program, Protocol, RunContext, Signal, PROGRAMS};

use std::path::PathBuf;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The image is not in the catalog and the container gave no `command` to run instead.
    #[error(
        "image \"{image}\" is not in Portico's image catalog; give the container a command, or map the image to a host command in {}, e.g.:\n  {name}:\n    command: [\"/usr/bin/python3\", \"-m\", \"http.server\", \"8080\"]",
        images_yaml.display()
    )]
    UnknownImage {
        /// The image as the container named it.
        image: String,
        /// Its normalised name (without registry defaults and tag), the key to map it under.
        name: String,
        /// The user file that could map it.
        images_yaml: PathBuf,
    },
    /// `images.yaml` could not be read or is malformed.
    #[error("{}:{line}: {message}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem (0 when unknown).
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// Resolution produced no program to run.
    #[error("image \"{image}\" has no command to run: its entry has neither an entrypoint nor a cmd and the container gives neither command nor args")]
    EmptyCommand {
        /// The image as the container named it.
        image: String,
    },
    /// An image reference that cannot be parsed (empty, or with an empty name).
    #[error("invalid image reference \"{image}\": {reason}")]
    InvalidReference {
        /// The reference as given.
        image: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A built-in program was started with arguments it does not accept.
    #[error("{0}")]
    Usage(String),
    /// A built-in program could not bind its socket.
    #[error("cannot listen on {addr} ({protocol}): {source}")]
    Bind {
        /// The address.
        addr: String,
        /// `tcp` or `udp`.
        protocol: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// Any other I/O failure of a built-in program.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
}
