//! One attached handset described for people and scripts: what `devices` shows and
//! `devices --json` prints.

use serde::{Deserialize, Serialize};

use super::{AdbServer, DeviceInfo, DeviceState};

/// One handset as `devices` shows it (fields in `docs/json.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceSummary {
    /// The adb serial: what chooses this handset.
    pub serial: String,
    pub state: DeviceState,
    /// `ro.serialno`, when the phone could be asked.
    pub hardware_serial: Option<String>,
    pub model: Option<String>,
    pub manufacturer: Option<String>,
    pub android_version: Option<String>,
    pub sdk: Option<u32>,
    pub storage_total: Option<u64>,
    pub storage_free: Option<u64>,
    /// What to do about this handset, or why its details are missing.
    pub note: Option<String>,
}

/// Describes one handset the server lists: for a usable one, its identity and storage
/// (asked from the phone); for the others, what to do about them.
pub fn describe_device(server: &AdbServer, info: &DeviceInfo) -> DeviceSummary {
    let mut row = DeviceSummary {
        serial: info.serial.clone(),
        state: info.state,
        hardware_serial: None,
        model: info.model.as_ref().map(|m| m.replace('_', " ")),
        manufacturer: None,
        android_version: None,
        sdk: None,
        storage_total: None,
        storage_free: None,
        note: None,
    };
    let note = match info.state {
        DeviceState::Device => None,
        DeviceState::Unauthorized => Some("unlock the phone and accept the USB debugging prompt"),
        DeviceState::Offline => {
            Some("unplug and replug the cable, or restart adb with `adb kill-server`")
        }
        DeviceState::Other => {
            Some("not usable: check USB permissions (udev rules) and boot the phone normally")
        }
    };
    if let Some(note) = note {
        row.note = Some(note.to_owned());
        return row;
    }
    match server.open(Some(&info.serial)) {
        Ok(handset) => {
            let id = handset.identity();
            row.hardware_serial = Some(id.serial.clone());
            row.model = Some(id.model.clone());
            row.manufacturer = Some(id.manufacturer.clone());
            row.android_version = Some(id.android_version.clone());
            row.sdk = Some(id.sdk);
            match handset.storage() {
                Ok(space) => {
                    row.storage_total = Some(space.total);
                    row.storage_free = Some(space.free);
                }
                Err(e) => row.note = Some(format!("storage unknown: {e}")),
            }
        }
        Err(e) => row.note = Some(e.to_string()),
    }
    row
}
