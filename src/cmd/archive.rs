//! `phonevault archive` (stub until its work lands).

use crate::cli::{ArchiveArgs, ExtractArgs, GlobalArgs, ShowArgs};
use crate::cmd::Exit;

pub fn verify(args: &ArchiveArgs, global: &GlobalArgs) -> phonevault::Result<Exit> {
    let _ = (args, global);
    unimplemented!("phonevault archive")
}

pub fn show(args: &ShowArgs, global: &GlobalArgs) -> phonevault::Result<Exit> {
    let _ = (args, global);
    unimplemented!("phonevault archive")
}

pub fn extract(args: &ExtractArgs, global: &GlobalArgs) -> phonevault::Result<Exit> {
    let _ = (args, global);
    unimplemented!("phonevault archive")
}
