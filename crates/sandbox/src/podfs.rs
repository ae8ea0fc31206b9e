//! A pod's private view of the filesystem, set up by the pod's sandbox process inside its
//! own mount namespace (see [`crate::spawn::new_pod_sandbox_command`]).
//!
//! The host's directories stay readable, but writable places are the pod's own: each
//! directory in [`PodMounts::overlay`] gets an overlayfs whose lower layer is the host
//! directory and whose upper layer lives in the pod's [`PodMounts::layer_dir`]; each one in
//! [`PodMounts::tmpfs`] gets a fresh, empty tmpfs. A file one pod writes (`touch /var/ready`)
//! is seen by that pod alone, and the host is never changed. The layer directory must be on
//! a filesystem that can be an overlayfs upper layer (not overlayfs itself): use the
//! sandbox's run tmpfs (see [`crate::userns::InitMounts::run_dir`]).

mod apply;
mod root;

use std::path::PathBuf;

pub use apply::setup_pod_mounts;

/// Directories overlaid by default: what programs expect to be able to write.
pub const DEFAULT_OVERLAY: &[&str] = &[
    "/etc",
    "/var",
    "/root",
    "/home",
    "/opt",
    "/srv",
    "/usr/local",
];

/// Directories that get a fresh tmpfs by default. `/run` is one so that
/// `/var/run/secrets/...` (Debian's `/var/run` is a symlink to `/run`) can be mounted on.
pub const DEFAULT_TMPFS: &[&str] = &["/tmp", "/run", "/dev/shm"];

/// What [`setup_pod_mounts`] does, in order: overlays, tmpfs mounts, bind mounts, files.
#[derive(Clone, Debug)]
pub struct PodMounts {
    /// A directory for this pod's writable layers (created if missing; one per pod).
    pub layer_dir: PathBuf,
    /// Directories to overlay with a writable per-pod layer. Missing directories and
    /// symlinks are skipped.
    pub overlay: Vec<PathBuf>,
    /// Directories to cover with a fresh tmpfs (created only if their parent is private to
    /// the pod; missing ones elsewhere are skipped).
    pub tmpfs: Vec<PathBuf>,
    /// Bind mounts: (host path, path in the pod, read-only). The host path is resolved
    /// before anything is mounted, so it may lie under an overlaid directory. The mount
    /// point is created (as a directory or an empty file, like the source) when missing.
    pub binds: Vec<(PathBuf, PathBuf, bool)>,
    /// Files to write in the pod (path in the pod, content), e.g. `/etc/resolv.conf`,
    /// `/etc/hosts`, `/etc/hostname`. A symlink at that path is replaced by the file.
    pub files: Vec<(PathBuf, Vec<u8>)>,
    /// Give the pod a root of its own (see `root.rs`): every top-level directory overlaid and
    /// `pivot_root` into it, so mount points and files can go anywhere; `overlay` is then
    /// unused. Without it only the `overlay` directories are private.
    pub private_root: bool,
}

impl PodMounts {
    /// The default overlays and tmpfs mounts, no binds or files.
    pub fn new(layer_dir: impl Into<PathBuf>) -> PodMounts {
        PodMounts {
            layer_dir: layer_dir.into(),
            overlay: DEFAULT_OVERLAY.iter().map(PathBuf::from).collect(),
            tmpfs: DEFAULT_TMPFS.iter().map(PathBuf::from).collect(),
            binds: Vec::new(),
            files: Vec::new(),
            private_root: true,
        }
    }

    /// Adds a file to write in the pod.
    pub fn file(mut self, path: impl Into<PathBuf>, content: impl Into<Vec<u8>>) -> PodMounts {
        self.files.push((path.into(), content.into()));
        self
    }

    /// Adds a bind mount of host path `host` at `in_pod`.
    pub fn bind(
        mut self,
        host: impl Into<PathBuf>,
        in_pod: impl Into<PathBuf>,
        readonly: bool,
    ) -> PodMounts {
        self.binds.push((host.into(), in_pod.into(), readonly));
        self
    }
}

#[cfg(test)]
mod tests;
