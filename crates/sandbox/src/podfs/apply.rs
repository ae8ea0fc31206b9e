//! Applying a [`PodMounts`] inside the pod's mount namespace.

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nix::mount::{mount, MsFlags};
use nix::sys::statfs::{statfs, OVERLAYFS_SUPER_MAGIC};
use nix::sys::statvfs::{statvfs, FsFlags};

use super::PodMounts;
use crate::Error;

/// Sets up the pod's mounts described by `spec`. Call it in the pod's sandbox process, which
/// must already be in a mount namespace of its own (see
/// [`crate::spawn::new_pod_sandbox_command`]): it first makes `/` recursively private, so
/// nothing here is seen outside the pod.
///
/// Refuses (with [`Error::Invalid`]) to create or write anything outside the directories
/// that this call made private to the pod, because that would change the host.
pub fn setup_pod_mounts(spec: &PodMounts) -> Result<(), Error> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| Error::sys("making / recursively private in the pod", e))?;

    fs::create_dir_all(&spec.layer_dir).map_err(|e| Error::file("creating", &spec.layer_dir, e))?;
    let fs = statfs(&spec.layer_dir)
        .map_err(|e| Error::sys(format!("inspecting {}", spec.layer_dir.display()), e))?;
    if fs.filesystem_type() == OVERLAYFS_SUPER_MAGIC {
        return Err(Error::Invalid(format!(
            "pod layer directory {} is on overlayfs, which cannot hold an overlay's upper layer; put it on a tmpfs",
            spec.layer_dir.display()
        )));
    }

    // Resolve bind sources before anything covers them.
    let mut sources: Vec<(File, bool)> = Vec::with_capacity(spec.binds.len());
    for (host, _, _) in &spec.binds {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
            .open(host)
            .map_err(|e| Error::file("opening bind source", host, e))?;
        let is_dir = file
            .metadata()
            .map_err(|e| Error::file("inspecting bind source", host, e))?
            .is_dir();
        sources.push((file, is_dir));
    }

    // Reach the layer directory through a descriptor: an overlay mounted below may cover
    // the path it was found by (e.g. a layer dir under ~/.portico while /root is overlaid).
    let layers =
        File::open(&spec.layer_dir).map_err(|e| Error::file("opening", &spec.layer_dir, e))?;
    let layers_path = PathBuf::from(format!("/proc/self/fd/{}", layers.as_raw_fd()));
    let mut private: Vec<PathBuf> = Vec::new();
    if spec.private_root {
        private = super::root::enter_private_root(&layers_path, &sources)?;
        // The sources now live at STAGING/<i> in the pod's own tree.
        for (i, (file, _)) in sources.iter_mut().enumerate() {
            let at = Path::new(super::root::STAGING).join(i.to_string());
            *file = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
                .open(&at)
                .map_err(|e| Error::file("opening staged bind source", &at, e))?;
        }
    } else {
        for (i, dir) in spec.overlay.iter().enumerate() {
            if overlay_dir(&layers_path, i, dir)? {
                private.push(canonical(dir)?);
            }
        }
    }
    for dir in &spec.tmpfs {
        if tmpfs_dir(dir, &private)? {
            private.push(canonical(dir)?);
        }
    }
    for ((file, is_dir), (host, target, readonly)) in sources.iter().zip(&spec.binds) {
        bind(file, *is_dir, host, target, *readonly, &private)?;
    }
    if spec.private_root {
        drop(sources);
        super::root::clear_staging(spec.binds.len());
    }
    for (path, content) in &spec.files {
        write_file(path, content, &private)?;
    }
    Ok(())
}

/// Overlays `dir` with a writable layer under `layer_dir`; false if `dir` is missing or a
/// symlink (nothing to overlay).
fn overlay_dir(layer_dir: &Path, i: usize, dir: &Path) -> Result<bool, Error> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::file("inspecting", dir, e)),
    };
    overlay_onto(layer_dir, i, dir, dir)?;
    Ok(true)
}

/// Mounts an overlay of the directory `dir` (lower) with a writable layer number `i` under
/// `layer_dir` on `target` (`dir` itself, or its place in a new root).
pub(super) fn overlay_onto(
    layer_dir: &Path,
    i: usize,
    dir: &Path,
    target: &Path,
) -> Result<(), Error> {
    let meta = fs::symlink_metadata(dir).map_err(|e| Error::file("inspecting", dir, e))?;
    let text = dir.to_string_lossy();
    let key: String = text
        .trim_start_matches('/')
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let upper = layer_dir.join("upper").join(format!("{i}-{key}"));
    let work = layer_dir.join("work").join(format!("{i}-{key}"));
    for d in [&upper, &work] {
        fs::create_dir_all(d).map_err(|e| Error::file("creating", d, e))?;
    }
    // The overlay's root takes the upper dir's mode: keep the host directory's.
    let mode = meta.permissions().mode() & 0o7777;
    fs::set_permissions(&upper, fs::Permissions::from_mode(mode))
        .map_err(|e| Error::file("setting the mode of", &upper, e))?;
    let paths = [dir, upper.as_path(), work.as_path()];
    for p in paths {
        let s = p.to_string_lossy();
        if s.contains([',', ':', '\\']) || p.to_str().is_none() {
            return Err(Error::Invalid(format!(
                "cannot overlay with path {}: overlayfs options cannot hold ',', ':' or '\\'",
                p.display()
            )));
        }
    }
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        dir.display(),
        upper.display(),
        work.display()
    );
    mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(options.as_str()),
    )
    .map_err(|e| {
        Error::sys(
            format!("mounting an overlay on {} ({options})", target.display()),
            e,
        )
    })?;
    Ok(())
}

/// Mounts a fresh tmpfs on `dir`; false if `dir` is missing and cannot be created privately.
fn tmpfs_dir(dir: &Path, private: &[PathBuf]) -> Result<bool, Error> {
    if !dir.is_dir() {
        if !is_private(dir, private)? {
            return Ok(false);
        }
        fs::create_dir_all(dir).map_err(|e| Error::file("creating", dir, e))?;
    }
    let mode = if dir == Path::new("/run") {
        "mode=0755"
    } else {
        "mode=1777"
    };
    mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(mode),
    )
    .map_err(|e| Error::sys(format!("mounting a tmpfs on {}", dir.display()), e))?;
    Ok(true)
}

/// Bind-mounts the already opened `source` on `target`, creating the mount point inside the
/// pod's private directories if it is missing.
fn bind(
    source: &File,
    is_dir: bool,
    host: &Path,
    target: &Path,
    readonly: bool,
    private: &[PathBuf],
) -> Result<(), Error> {
    if fs::symlink_metadata(target).is_err() {
        if !is_private(target, private)? {
            return Err(Error::Invalid(format!(
                "cannot create mount point {} in the pod: it is not under a directory private to the pod",
                target.display()
            )));
        }
        if is_dir {
            fs::create_dir_all(target).map_err(|e| Error::file("creating", target, e))?;
        } else {
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent).map_err(|e| Error::file("creating", parent, e))?;
            }
            File::create(target).map_err(|e| Error::file("creating", target, e))?;
        }
    }
    let what = || {
        format!(
            "bind-mounting {} on {} in the pod",
            host.display(),
            target.display()
        )
    };
    let via = format!("/proc/self/fd/{}", source.as_raw_fd());
    mount(
        Some(via.as_str()),
        target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| Error::sys(what(), e))?;
    if readonly {
        // A remount in a user namespace must keep the flags the kernel locked on the mount.
        let vfs = statvfs(target).map_err(|e| Error::sys(what(), e))?;
        let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        for (fs_flag, ms_flag) in [
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
            (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
            (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
            (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        ] {
            if vfs.flags().contains(fs_flag) {
                flags |= ms_flag;
            }
        }
        mount(None::<&str>, target, None::<&str>, flags, None::<&str>).map_err(|e| {
            Error::sys(
                format!("making {} read-only in the pod", target.display()),
                e,
            )
        })?;
    }
    Ok(())
}

/// Writes `content` to `path` in the pod, replacing what is there (a symlink included).
fn write_file(path: &Path, content: &[u8], private: &[PathBuf]) -> Result<(), Error> {
    if !is_private(path, private)? {
        return Err(Error::Invalid(format!(
            "cannot write {} in the pod: it is not under a directory private to the pod",
            path.display()
        )));
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| Error::file("creating", parent, e))?;
    }
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            return Err(Error::Invalid(format!(
                "cannot write {} in the pod: it is a directory",
                path.display()
            )))
        }
        // Unlink first: rewriting a host file in place would copy it up with the host's
        // owner, which the sandbox may not be able to map.
        Ok(_) => fs::remove_file(path).map_err(|e| Error::file("replacing", path, e))?,
        Err(_) => {}
    }
    fs::write(path, content).map_err(|e| Error::file("writing", path, e))
}

/// Whether `path` (which may not exist yet) lies under one of the pod's private directories,
/// judged by the canonical form of its nearest existing ancestor.
fn is_private(path: &Path, private: &[PathBuf]) -> Result<bool, Error> {
    if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
        return Err(Error::Invalid(format!(
            "pod path {} must be absolute, without `..`",
            path.display()
        )));
    }
    let mut existing = path;
    let mut rest = Vec::new();
    while fs::symlink_metadata(existing).is_err() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => break,
        }
    }
    let mut full = canonical(existing)?;
    for name in rest.iter().rev() {
        full.push(name);
    }
    Ok(private.iter().any(|root| full.starts_with(root)))
}

fn canonical(path: &Path) -> Result<PathBuf, Error> {
    fs::canonicalize(path).map_err(|e| Error::file("resolving", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_paths_follow_symlinks_of_existing_ancestors() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let var = dir.path().join("var");
        fs::create_dir_all(&run).unwrap();
        fs::create_dir_all(&var).unwrap();
        std::os::unix::fs::symlink(&run, var.join("run")).unwrap();
        let private = vec![fs::canonicalize(&run).unwrap()];
        let secret = var.join("run/secrets/kubernetes.io/serviceaccount");
        assert!(is_private(&secret, &private).unwrap());
        assert!(!is_private(&var.join("lib/x"), &private).unwrap());
        assert!(is_private(Path::new("relative"), &private).is_err());
        assert!(is_private(&run.join("../var/x"), &private).is_err());
    }
}
