//! The device side of the ADB protocol: messages, connections and the services a handset
//! answers (`shell`, `exec`, `sync`).

pub mod connection;
pub mod message;
pub mod shell;
pub mod stream;
pub mod sync;
