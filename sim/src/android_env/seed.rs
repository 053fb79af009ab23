//! Seeding a capacity-limited storage with a copy of the storage folder.

use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::symlink;
use std::os::unix::fs::MetadataExt;
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
            copy_file(&source, &target, &meta)
                .with_context(|| format!("copying {}", source.display()))?;
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

/// Copies one file, keeping its holes: the generator's sparse file over 4 GiB would not fit
/// a small storage otherwise.
fn copy_file(source: &Path, target: &Path, meta: &fs::Metadata) -> io::Result<()> {
    if meta.blocks() * 512 >= meta.len() {
        fs::copy(source, target)?;
        return Ok(());
    }
    let mut input = fs::File::open(source)?;
    let mut output = fs::File::create(target)?;
    let mut buf = vec![0u8; 1 << 16];
    let mut pos: i64 = 0;
    loop {
        let start = match nix::unistd::lseek(&input, pos, nix::unistd::Whence::SeekData) {
            Ok(start) => start,
            // ENXIO: no data after `pos`.
            Err(nix::errno::Errno::ENXIO) => break,
            Err(e) => return Err(e.into()),
        };
        let end = nix::unistd::lseek(&input, start, nix::unistd::Whence::SeekHole)?;
        input.seek(SeekFrom::Start(start as u64))?;
        output.seek(SeekFrom::Start(start as u64))?;
        let mut left = (end - start) as u64;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let got = input.read(&mut buf[..want])?;
            if got == 0 {
                break;
            }
            output.write_all(&buf[..got])?;
            left -= got as u64;
        }
        pos = end;
    }
    output.set_len(meta.len())
}
