//! The host side of ADB: requests to the adb server's smart socket, and the sync, shell and
//! exec services on a handset's transport.
//!
//! Why not `adb_client` for everything: see the README's dependency notes. In short, its sync
//! path is v1 only (sizes wrap at 4 GiB, mtimes lost on push) and its shell path drops exit
//! codes, so the file and command paths are written here; and its server lifecycle prints to the
//! terminal and hides failures, so starting the server is done here too (`server.rs`).

pub mod describe;
pub mod device;
pub mod server;
pub mod shell;
pub mod sync;

pub use describe::{describe_device, DeviceSummary};
pub use device::{
    choose_device, connect, parse_identity, parse_storage, state_word, AdbServer, ConnectOptions,
    DeviceInfo, DeviceState, ExecStream, Handset, Identity, PullEvent, PullOptions, PushFile,
    PushOutcome, PushReport, RemoteEntry, RemoteStat, ShellOutput, StorageSpace, DEFAULT_TIMEOUT,
};
pub use server::{find_adb, parse_devices_l, DEFAULT_PORT, HOW_TO_INSTALL_ADB};
