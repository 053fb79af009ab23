//! phonevault-sim: a simulated Android handset for phonevault's tests and benchmarks.
//!
//! It speaks the device side of the ADB protocol over TCP, so the real `adb` server connects
//! to it as to a phone (`adb connect 127.0.0.1:PORT`), and it runs shell commands with
//! Android's own userland (mksh and toybox) in a private mount namespace where the handset's
//! storage folder is `/sdcard`.

pub mod adb;
pub mod android_env;
pub mod faults;
pub mod lifelog;
pub mod link;
pub mod populate;
pub mod profile;
pub mod serve;
pub mod stats;
