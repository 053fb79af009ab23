//! The host side of ADB: requests to the adb server's smart socket, and the sync, shell and
//! exec services on a handset's transport.
//!
//! Why not `adb_client` for everything: see the README's dependency notes. In short, its sync
//! path is v1 only (sizes wrap at 4 GiB, mtimes lost on push) and its shell path drops exit
//! codes, so the file and command paths are written here; `adb_client` keeps the server
//! lifecycle.

pub mod device;

pub use device::{
    connect, AdbServer, ConnectOptions, DeviceInfo, DeviceState, ExecStream, Handset, Identity,
    PullEvent, RemoteEntry, RemoteStat, ShellOutput, StorageSpace,
};
