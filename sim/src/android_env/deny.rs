//! `--fault deny=GLOB`: device paths that answer EACCES.
//!
//! Two halves: `is_denied` checks the globs for the simulator's own file operations (so paths
//! created later are denied too), and for the shell the matches found at startup are covered
//! with a mode-000 folder or file while root loses the capabilities that bypass permission
//! bits.

use std::fs;
use std::path::Path;

use anyhow::Context;
use caps::{CapSet, Capability};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use nix::mount::{mount, MsFlags};

/// Other names of `/sdcard` on a handset; globs and paths are compared in `/sdcard` form.
const ALIASES: &[&str] = &["/storage/emulated/0", "/storage/self/primary"];

#[derive(Debug)]
pub struct DenyList {
    set: GlobSet,
    count: usize,
}

impl DenyList {
    pub fn new(globs: &[String]) -> anyhow::Result<DenyList> {
        let mut builder = GlobSetBuilder::new();
        for glob in globs {
            let normal = canonical(glob);
            // `*` stays within one path component; `**` crosses them.
            let compiled = GlobBuilder::new(&normal)
                .literal_separator(true)
                .build()
                .with_context(|| format!("bad deny glob {glob:?}"))?;
            builder.add(compiled);
        }
        Ok(DenyList {
            set: builder.build().context("compiling the deny globs")?,
            count: globs.len(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether the path or one of the folders above it matches a glob.
    pub fn is_denied(&self, device_path: &str) -> bool {
        if self.is_empty() {
            return false;
        }
        let path = canonical(device_path);
        let mut end = path.len();
        loop {
            let prefix = &path[..end];
            if !prefix.is_empty() && self.set.is_match(prefix) {
                return true;
            }
            match prefix.rfind('/') {
                Some(0) | None => return false,
                Some(i) => end = i,
            }
        }
    }

    /// Covers every match under the storage (mounted at `storage`, seen as `/sdcard`) with the
    /// mode-000 `dir` or `file` found in `blank`.
    pub fn cover_matches(&self, storage: &Path, blank: &Path) -> anyhow::Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        self.cover_below(storage, "/sdcard", blank)
    }

    fn cover_below(&self, dir: &Path, device_dir: &str, blank: &Path) -> anyhow::Result<()> {
        let entries =
            fs::read_dir(dir).with_context(|| format!("listing {device_dir} for deny faults"))?;
        for entry in entries {
            let entry = entry?;
            let device = format!("{device_dir}/{}", entry.file_name().to_string_lossy());
            let kind = entry.file_type()?;
            if kind.is_symlink() {
                continue;
            }
            if self.set.is_match(&device) {
                let cover = blank.join(if kind.is_dir() { "dir" } else { "file" });
                mount(
                    Some(&cover),
                    &entry.path(),
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                )
                .with_context(|| format!("covering the denied path {device}"))?;
            } else if kind.is_dir() {
                self.cover_below(&entry.path(), &device, blank)?;
            }
        }
        Ok(())
    }
}

/// Lexically normalised path (no `.`, `..`, doubled or trailing `/`), with `/sdcard` for its
/// aliases.
fn canonical(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let joined = format!("/{}", parts.join("/"));
    for alias in ALIASES {
        if let Some(rest) = joined.strip_prefix(alias) {
            if rest.is_empty() || rest.starts_with('/') {
                return format!("/sdcard{rest}");
            }
        }
    }
    joined
}

/// Makes root obey permission bits, for this process and every command it starts.
pub fn drop_dac_capabilities() -> anyhow::Result<()> {
    let caps = [
        Capability::CAP_DAC_OVERRIDE,
        Capability::CAP_DAC_READ_SEARCH,
        Capability::CAP_FOWNER,
    ];
    // The bounding set first: dropping from it needs CAP_SETPCAP in the effective set.
    for set in [
        CapSet::Bounding,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ] {
        for cap in caps {
            caps::drop(None, set, cap)
                .with_context(|| format!("dropping {cap} from the {set:?} capability set"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(globs: &[&str]) -> DenyList {
        DenyList::new(&globs.iter().map(|g| (*g).to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn folders_deny_what_is_below() {
        let deny = list(&["/sdcard/DCIM/Secret*"]);
        assert!(deny.is_denied("/sdcard/DCIM/Secret"));
        assert!(deny.is_denied("/sdcard/DCIM/Secret/x.jpg"));
        assert!(deny.is_denied("/storage/emulated/0/DCIM/Secrets/a/b.jpg"));
        assert!(deny.is_denied("/sdcard/DCIM/./Camera/../Secret/x.jpg"));
        assert!(!deny.is_denied("/sdcard/DCIM/Camera/x.jpg"));
        assert!(!deny.is_denied("/sdcard/DCIM"));
    }

    #[test]
    fn double_star_crosses_folders() {
        let deny = list(&["/storage/emulated/0/**/*.dng"]);
        assert!(deny.is_denied("/sdcard/DCIM/Camera/raw.dng"));
        assert!(!deny.is_denied("/sdcard/DCIM/Camera/raw.jpg"));
        assert!(!list(&[]).is_denied("/sdcard/x"));
    }
}
