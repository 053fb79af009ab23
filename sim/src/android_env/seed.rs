//! Seeding a capacity-limited storage with a copy of the storage folder.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use anyhow::Context;

/// Copies the content of `from` into the existing folder `to`: folders, regular files and
/// symlinks, with modes and modification times.
pub fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    for entry in fs::read_dir(from).with_context(|| format!("listing {}", from.display()))? {
        let entry = entry?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        let meta = fs::symlink_metadata(&source)?;
        if meta.is_symlink() {
            symlink(fs::read_link(&source)?, &target)?;
            continue;
        }
        if meta.is_dir() {
            fs::create_dir(&target).with_context(|| format!("creating {}", target.display()))?;
            copy_tree(&source, &target)?;
        } else if meta.is_file() {
            fs::copy(&source, &target).with_context(|| format!("copying {}", source.display()))?;
        } else {
            // Sockets, fifos and devices do not occur on a phone's storage.
            continue;
        }
        let times = fs::FileTimes::new()
            .set_accessed(meta.accessed()?)
            .set_modified(meta.modified()?);
        fs::File::open(&target)?.set_times(times)?;
        fs::set_permissions(&target, meta.permissions())?;
    }
    Ok(())
}
