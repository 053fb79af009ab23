//! `phonevault backup` (stub until its work lands).

use crate::cli::{BackupArgs, GlobalArgs};
use crate::cmd::Exit;

pub fn run(args: &BackupArgs, global: &GlobalArgs) -> phonevault::Result<Exit> {
    let _ = (args, global);
    unimplemented!("phonevault backup")
}
