//! A pod's own root: a tmpfs whose every top-level directory is an overlay of the host's
//! (writes land in the pod's layer), with `/proc`, `/sys` and `/dev` bound from the sandbox,
//! made the root of the pod's mount namespace with `pivot_root`. Mount points and files a pod
//! asks for anywhere (`/data`, `/app`, `/usr/share/html`) are then created in the pod's
//! layer, never on the host.

use std::fs;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use super::apply::overlay_onto;
use crate::Error;

/// Top-level directories bound (recursively) from the sandbox instead of overlaid.
const BOUND: &[&str] = &["proc", "sys", "dev"];
/// Top-level directories left empty here (a fresh tmpfs goes on them later).
const EMPTY: &[&str] = &["tmp", "run"];

/// Where bind sources wait inside the new root until they are mounted in place.
pub(crate) const STAGING: &str = "/.portico-binds";

/// Builds the pod's root under `layer_dir/root` and pivots into it. Returns the directories
/// private to the pod (every overlaid top-level directory, and `/` itself for new entries).
///
/// `sources` (opened before, as `O_PATH` descriptors; `true` for directories) are mounted at
/// `STAGING/<i>` in the new root first: a mount can only be bound from the namespace's own
/// tree, and the old root is detached by the time the caller binds them in place.
pub(crate) fn enter_private_root(
    layer_dir: &Path,
    sources: &[(std::fs::File, bool)],
) -> Result<Vec<PathBuf>, Error> {
    let root = layer_dir.join("root");
    fs::create_dir_all(&root).map_err(|e| Error::file("creating", &root, e))?;
    mount(
        Some("tmpfs"),
        &root,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0755"),
    )
    .map_err(|e| {
        Error::sys(
            format!("mounting the pod's root tmpfs on {}", root.display()),
            e,
        )
    })?;
    let entries = fs::read_dir("/").map_err(|e| Error::file("listing", "/", e))?;
    let mut private = vec![PathBuf::from("/")];
    for (i, entry) in entries.flatten().enumerate() {
        let name = entry.file_name();
        let Some(name_str) = name.to_str() else {
            continue;
        };
        let host = Path::new("/").join(&name);
        let target = root.join(&name);
        let Ok(meta) = fs::symlink_metadata(&host) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            if let Ok(to) = fs::read_link(&host) {
                let _ = std::os::unix::fs::symlink(to, &target);
            }
            continue;
        }
        if !meta.is_dir() {
            continue;
        }
        fs::create_dir_all(&target).map_err(|e| Error::file("creating", &target, e))?;
        if BOUND.contains(&name_str) {
            mount(
                Some(&host),
                &target,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| Error::sys(format!("binding {} into the pod", host.display()), e))?;
            continue;
        }
        if EMPTY.contains(&name_str) {
            continue;
        }
        // A directory the sandbox cannot read (e.g. `lost+found`) stays an empty directory.
        match overlay_onto(layer_dir, 1000 + i, &host, &target) {
            Ok(()) => private.push(host),
            Err(e) => tracing::debug!(dir = %host.display(), error = %e, "left empty in the pod"),
        }
    }
    let staging = root.join(STAGING.trim_start_matches('/'));
    for (i, (file, is_dir)) in sources.iter().enumerate() {
        fs::create_dir_all(&staging).map_err(|e| Error::file("creating", &staging, e))?;
        let at = staging.join(i.to_string());
        if *is_dir {
            fs::create_dir_all(&at).map_err(|e| Error::file("creating", &at, e))?;
        } else {
            fs::File::create(&at).map_err(|e| Error::file("creating", &at, e))?;
        }
        let via = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(file));
        mount(
            Some(via.as_str()),
            &at,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| Error::sys(format!("staging bind source {i} in the pod's root"), e))?;
    }
    let old = root.join(".oldroot");
    fs::create_dir_all(&old).map_err(|e| Error::file("creating", &old, e))?;
    nix::unistd::pivot_root(&root, &old)
        .map_err(|e| Error::sys("pivoting into the pod's root", e))?;
    nix::unistd::chdir("/").map_err(|e| Error::sys("entering the pod's root", e))?;
    umount2("/.oldroot", MntFlags::MNT_DETACH)
        .map_err(|e| Error::sys("detaching the sandbox's root from the pod", e))?;
    let _ = fs::remove_dir("/.oldroot");
    Ok(private)
}

/// Removes the staged bind sources once they are mounted in place.
pub(crate) fn clear_staging(count: usize) {
    for i in 0..count {
        let _ = umount2(
            &Path::new(STAGING).join(i.to_string()),
            MntFlags::MNT_DETACH,
        );
    }
    let _ = fs::remove_dir_all(STAGING);
}
