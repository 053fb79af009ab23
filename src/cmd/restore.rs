//! `phonevault restore` (stub until its work lands).

use crate::cli::{GlobalArgs, RestoreArgs};
use crate::cmd::Exit;

pub fn run(args: &RestoreArgs, global: &GlobalArgs) -> phonevault::Result<Exit> {
    let _ = (args, global);
    unimplemented!("phonevault restore")
}
