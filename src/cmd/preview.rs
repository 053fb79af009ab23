//! `phonevault preview` (stub until its work lands).

use crate::cli::{GlobalArgs, PreviewArgs};
use crate::cmd::Exit;

pub fn run(args: &PreviewArgs, global: &GlobalArgs) -> phonevault::Result<Exit> {
    let _ = (args, global);
    unimplemented!("phonevault preview")
}
