//! phonevault: back up an Android phone's Gallery and `WhatsApp` media over ADB, and restore it.
//!
//! The library never prints and never reads standard input: long work reports through a
//! [`progress::Progress`] sink handed in by the caller, and every failure is an
//! [`error::Error`] that says which handset, which path and what the phone said.

pub mod adb;
pub mod archive;
pub mod backup;
pub mod cancel;
pub mod catalog;
pub mod config;
pub mod error;
pub mod escape;
pub mod helper;
pub mod history;
pub mod identity;
pub mod json;
pub mod phone_shell;
pub mod preview;
pub mod progress;
pub mod restore;
pub mod watch;

pub use cancel::Cancel;
pub use error::{Error, Result};
