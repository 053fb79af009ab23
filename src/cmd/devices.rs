//! `phonevault devices` (stub until its work lands).

use crate::cli::{DevicesArgs, GlobalArgs};
use crate::cmd::Exit;

pub fn run(args: &DevicesArgs, global: &GlobalArgs) -> phonevault::Result<Exit> {
    let _ = (args, global);
    unimplemented!("phonevault devices")
}
