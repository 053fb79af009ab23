//! The `phonevault` command: parse, run, print the error chain, exit.

mod cli;
mod cmd;
mod ui;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cmd::run(cli) {
        Ok(exit) => exit.into(),
        Err(err) => {
            let exit = cmd::Exit::for_error(&err);
            cmd::print_error(&err);
            exit.into()
        }
    }
}
