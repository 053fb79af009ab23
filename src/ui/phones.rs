//! The live list of phones: a thread asks the adb server for its devices every second and
//! publishes what changed; each phone that becomes usable is opened once (identity, storage).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use phonevault::adb::{self, AdbServer, ConnectOptions, DeviceState, Handset};
use phonevault::backup::default_folder;
use phonevault::Error;
use serde::Serialize;

use super::events::{error_kind, ErrorView};
use super::App;

/// How often the adb server is asked for its devices.
const POLL: Duration = Duration::from_secs(1);
/// How long to wait before trying again to reach (or start) an adb server that failed.
const ADB_RETRY: Duration = Duration::from_secs(3);

/// One phone, as the page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhoneView {
    /// The adb serial; the `{serial}` of every per-phone route.
    pub serial: String,
    pub state: DeviceState,
    pub model: Option<String>,
    pub manufacturer: Option<String>,
    pub android_version: Option<String>,
    pub storage_total: Option<u64>,
    pub storage_free: Option<u64>,
    /// The backup folder the command line would use for this phone.
    pub default_folder: Option<String>,
    /// What the person should do about this phone, when it is not usable.
    pub guidance: Option<String>,
}

/// The whole list, and whether the adb server could be reached at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct PhonesView {
    pub phones: Vec<PhoneView>,
    /// Why no phone can be listed (no adb program, server not reachable), with what to do.
    pub adb_error: Option<ErrorView>,
}

/// Advice for each state a phone can be in, for a person looking at a window.
fn guidance(state: DeviceState) -> Option<&'static str> {
    match state {
        DeviceState::Device => None,
        DeviceState::Unauthorized => Some(
            "Unlock the phone and accept the \"Allow USB debugging?\" prompt on its screen \
             (tick \"Always allow from this computer\").",
        ),
        DeviceState::Offline => Some(
            "The phone is connected but not answering: unplug and replug the cable; if it \
             stays offline, turn USB debugging off and on again on the phone.",
        ),
        DeviceState::Other => Some(
            "The phone is attached in a state that cannot be used: boot it normally; on \
             Linux, check that your user may use USB devices (udev rules).",
        ),
    }
}

/// Advice when adb itself is the problem.
fn adb_guidance(err: &Error) -> ErrorView {
    let mut view = ErrorView::from_error(err);
    if matches!(err, Error::AdbServer { .. }) {
        view.message.push_str(
            ". Another program may hold the adb port, or adb may have crashed: run \
             `adb kill-server` and wait a few seconds.",
        );
    }
    view.kind = error_kind(err);
    view
}

/// Opens a usable phone and describes it; `None` in the handset slot when it cannot be
/// opened (the view then says why).
fn describe_usable(server: &AdbServer, serial: &str) -> (PhoneView, Option<Handset>) {
    let mut view = PhoneView {
        serial: serial.to_owned(),
        state: DeviceState::Device,
        model: None,
        manufacturer: None,
        android_version: None,
        storage_total: None,
        storage_free: None,
        default_folder: None,
        guidance: None,
    };
    match server.open(Some(serial)) {
        Ok(handset) => {
            let id = handset.identity();
            view.model = Some(id.model.clone());
            view.manufacturer = Some(id.manufacturer.clone());
            view.android_version = Some(id.android_version.clone());
            view.default_folder = default_folder(&id.serial)
                .ok()
                .map(|p| p.display().to_string());
            if let Ok(space) = handset.storage() {
                view.storage_total = Some(space.total);
                view.storage_free = Some(space.free);
            }
            (view, Some(handset))
        }
        Err(err) => {
            view.state = match err {
                Error::Unauthorized { .. } => DeviceState::Unauthorized,
                Error::Offline { .. } => DeviceState::Offline,
                _ => DeviceState::Other,
            };
            view.guidance = Some(format!("This phone could not be opened: {err}"));
            (view, None)
        }
    }
}

/// Runs until the app stops: keeps `app.phones` and `app.handsets` up to date.
pub fn watch(app: &Arc<App>, options: &ConnectOptions) {
    let mut server: Option<AdbServer> = None;
    // serial -> (state as listed, what the page shows)
    let mut known: HashMap<String, (DeviceState, PhoneView)> = HashMap::new();
    while !app.is_stopping() {
        let Some(current) = server.as_ref() else {
            match adb::connect(options) {
                Ok(s) => server = Some(s),
                Err(err) => {
                    publish(app, Vec::new(), Some(adb_guidance(&err)));
                    app.sleep_unless_stopping(ADB_RETRY);
                }
            }
            continue;
        };
        let listed = match current.devices() {
            Ok(list) => list,
            Err(err) => {
                server = None;
                known.clear();
                app.handsets_lock().clear();
                publish(app, Vec::new(), Some(adb_guidance(&err)));
                app.sleep_unless_stopping(ADB_RETRY);
                continue;
            }
        };
        known.retain(|serial, _| listed.iter().any(|d| &d.serial == serial));
        app.forget_gone(&listed);
        app.handsets_lock()
            .retain(|serial, _| listed.iter().any(|d| &d.serial == serial));
        for device in &listed {
            let same = known
                .get(&device.serial)
                .is_some_and(|(state, _)| *state == device.state);
            if same {
                continue;
            }
            let view = if device.state == DeviceState::Device {
                let (view, handset) = describe_usable(current, &device.serial);
                match handset {
                    Some(h) => app.handsets_lock().insert(device.serial.clone(), h),
                    None => app.handsets_lock().remove(&device.serial),
                };
                view
            } else {
                app.handsets_lock().remove(&device.serial);
                PhoneView {
                    serial: device.serial.clone(),
                    state: device.state,
                    model: device.model.as_ref().map(|m| m.replace('_', " ")),
                    manufacturer: None,
                    android_version: None,
                    storage_total: None,
                    storage_free: None,
                    default_folder: None,
                    guidance: guidance(device.state).map(str::to_owned),
                }
            };
            known.insert(device.serial.clone(), (device.state, view));
        }
        let mut phones: Vec<PhoneView> = known.values().map(|(_, v)| v.clone()).collect();
        phones.sort_by(|a, b| a.serial.cmp(&b.serial));
        publish(app, phones, None);
        app.sleep_unless_stopping(POLL);
    }
}

fn publish(app: &App, phones: Vec<PhoneView>, adb_error: Option<ErrorView>) {
    let next = PhonesView { phones, adb_error };
    app.phones.send_if_modified(|current| {
        if *current == next {
            false
        } else {
            *current = next;
            true
        }
    });
}
