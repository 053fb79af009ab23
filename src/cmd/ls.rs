//! `phonevault ls` (stub until its work lands).

use crate::cli::{GlobalArgs, LsArgs};
use crate::cmd::Exit;

pub fn run(args: &LsArgs, global: &GlobalArgs) -> phonevault::Result<Exit> {
    let _ = (args, global);
    unimplemented!("phonevault ls")
}
