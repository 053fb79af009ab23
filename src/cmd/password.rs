//! Where an archive password comes from: `--password-file`, else `PHONEVAULT_PASSWORD`,
//! else a prompt on the terminal without echo. Never from an argument, which other users
//! of the computer could read in the process list.

use std::io::IsTerminal;
use std::path::Path;

use phonevault::archive::{ArchiveReader, Password};
use phonevault::Error;

use crate::cli::PasswordArgs;
use crate::cmd::interrupt;

/// The environment variable holding a password.
pub const PASSWORD_ENV: &str = "PHONEVAULT_PASSWORD";

/// The password given without asking: the first line of `--password-file`, else
/// `PHONEVAULT_PASSWORD`.
pub fn given(args: &PasswordArgs) -> phonevault::Result<Option<Password>> {
    if let Some(file) = &args.password_file {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Error::io("cannot read the password file", file, e))?;
        let line = text.lines().next().unwrap_or("");
        return Password::new(line).map(Some);
    }
    match std::env::var(PASSWORD_ENV) {
        Ok(text) if !text.is_empty() => Password::new(text).map(Some),
        _ => Ok(None),
    }
}

/// A password for a new archive: given, else typed twice at a prompt.
pub fn for_new_archive(args: &PasswordArgs) -> phonevault::Result<Password> {
    if let Some(password) = given(args)? {
        return Ok(password);
    }
    let first = prompt("Password for the new archive: ")?;
    let second = prompt("Type it again: ")?;
    if first != second {
        return Err(Error::PasswordMismatch);
    }
    Ok(first)
}

/// Opens an archive: with the given password, else (when it turns out to be encrypted)
/// with one typed at a prompt. The reader stops `verify` and `extract` on Ctrl-C.
pub fn open_archive(path: &Path, args: &PasswordArgs) -> phonevault::Result<ArchiveReader> {
    let given = given(args)?;
    let mut reader = match ArchiveReader::open(path, given.as_ref()) {
        Err(Error::PasswordNeeded) if given.is_none() => {
            let typed = prompt(&format!(
                "Password for {}: ",
                phonevault::escape::for_terminal(&path.display().to_string())
            ))?;
            ArchiveReader::open(path, Some(&typed))
        }
        other => other,
    }?;
    reader.set_cancel(interrupt());
    Ok(reader)
}

/// Asks on the terminal. Only when standard input is one: a script (or a test) with its
/// input redirected gets `PasswordNeeded` instead of hanging on `/dev/tty`.
fn prompt(text: &str) -> phonevault::Result<Password> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::PasswordNeeded);
    }
    let typed = rpassword::prompt_password(text).map_err(|_| Error::PasswordNeeded)?;
    // Ctrl-C at the prompt trips the token but cannot end the read: honour it after.
    interrupt().check()?;
    Password::new(typed)
}
