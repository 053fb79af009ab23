//! Reaching the adb server and choosing a handset: `AdbServer` (port, devices, waiting for
//! a phone, opening one) and the rules for picking the handset a command means.

use std::io;
use std::time::{Duration, Instant};

use super::probe::{parse_identity, IDENTITY_COMMAND};
use super::{
    is_timeout, AdbServer, DeviceInfo, DeviceState, Features, Handset, Identity, PullOptions,
};
use crate::adb::server;
use crate::cancel::Cancel;
use crate::{Error, Result};

impl AdbServer {
    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.endpoint.port
    }

    /// This server with `cancel` attached: its requests (and handsets opened through it)
    /// stop with [`Error::Cancelled`] when the token is tripped, even while blocked.
    #[must_use]
    pub fn with_cancel(&self, cancel: &Cancel) -> AdbServer {
        let mut server = self.clone();
        server.endpoint.cancel = cancel.clone();
        server
    }

    /// Every handset the server knows, in any state.
    ///
    /// # Errors
    /// When the server cannot be reached.
    pub fn devices(&self) -> Result<Vec<DeviceInfo>> {
        self.endpoint.devices()
    }

    /// Waits until at least one handset that is not offline is attached, following
    /// `host:track-devices`, and returns them all. `limit` bounds the wait (`None`: wait
    /// as long as it takes, for a person plugging a phone in).
    ///
    /// # Errors
    /// `Timeout` when `limit` passes first; `AdbServer` when the server goes away;
    /// `Cancelled` when the server's token is tripped (see [`AdbServer::with_cancel`]).
    pub fn wait_for_device(&self, limit: Option<Duration>) -> Result<Vec<DeviceInfo>> {
        let mut stream = self.endpoint.host_request("host:track-devices")?;
        let started = Instant::now();
        loop {
            self.endpoint.cancel.check()?;
            let remaining = match limit {
                Some(limit) => {
                    let left = limit.saturating_sub(started.elapsed());
                    if left.is_zero() {
                        return Err(wait_timeout(limit));
                    }
                    Some(left)
                }
                None => None,
            };
            stream
                .set_read_timeout(remaining)
                .map_err(|e| self.server_error(&e))?;
            match server::read_tracked(&mut stream) {
                // A phone being plugged in shows as offline for a moment: wait for it to
                // settle as a usable or an unauthorized handset.
                Ok(list) if list.iter().any(|d| d.state != DeviceState::Offline) => {
                    return self.devices();
                }
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {
                    return Err(wait_timeout(limit.unwrap_or_default()));
                }
                Err(e) => return Err(self.server_error(&e)),
            }
        }
    }

    fn server_error(&self, err: &io::Error) -> Error {
        self.endpoint.server_error(err)
    }

    /// Opens a handset: the given serial, else the only one attached.
    ///
    /// # Errors
    /// `NoDevice`, `DeviceNotFound`, `MultipleDevices`, `Unauthorized`, `Offline`,
    /// `NotReady`; transport errors while asking its identity.
    pub fn open(&self, serial: Option<&str>) -> Result<Handset> {
        let devices = self.devices()?;
        let info = choose_device(&devices, serial)?;
        match info.state {
            DeviceState::Device => {}
            DeviceState::Unauthorized => {
                return Err(Error::Unauthorized {
                    serial: info.serial.clone(),
                })
            }
            DeviceState::Offline => {
                return Err(Error::Offline {
                    serial: info.serial.clone(),
                })
            }
            DeviceState::Other => {
                return Err(Error::NotReady {
                    serial: info.serial.clone(),
                })
            }
        }
        let features = Features::from_list(&self.endpoint.features(&info.serial)?);
        let mut handset = Handset {
            endpoint: self.endpoint.clone(),
            adb_serial: info.serial.clone(),
            identity: Identity {
                serial: info.serial.clone(),
                model: String::new(),
                manufacturer: String::new(),
                android_version: String::new(),
                sdk: 0,
            },
            features,
            pull_options: PullOptions::default(),
        };
        let out = handset.shell(IDENTITY_COMMAND)?;
        handset.identity = parse_identity(
            &String::from_utf8_lossy(&out.stdout),
            &info.serial,
            info.model.as_deref(),
        );
        Ok(handset)
    }
}

fn wait_timeout(limit: Duration) -> Error {
    Error::Timeout {
        serial: "(any)".into(),
        operation: "waiting for a handset to be plugged in".into(),
        path: None,
        seconds: limit.as_secs(),
    }
}

/// Picks the handset to use: the serial asked for, else the only one.
///
/// # Errors
/// `DeviceNotFound`, `NoDevice`, `MultipleDevices`.
pub fn choose_device<'a>(
    devices: &'a [DeviceInfo],
    serial: Option<&str>,
) -> Result<&'a DeviceInfo> {
    let listed = || {
        devices
            .iter()
            .map(|d| format!("{} ({})", d.serial, state_word(d.state)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match serial {
        Some(serial) => {
            devices
                .iter()
                .find(|d| d.serial == serial)
                .ok_or_else(|| Error::DeviceNotFound {
                    serial: serial.to_string(),
                    attached: if devices.is_empty() {
                        "none".into()
                    } else {
                        listed()
                    },
                })
        }
        None => match devices {
            [] => Err(Error::NoDevice),
            [only] => Ok(only),
            _ => Err(Error::MultipleDevices { serials: listed() }),
        },
    }
}

/// The word adb uses for a state.
pub fn state_word(state: DeviceState) -> &'static str {
    match state {
        DeviceState::Device => "device",
        DeviceState::Unauthorized => "unauthorized",
        DeviceState::Offline => "offline",
        DeviceState::Other => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(serial: &str, state: DeviceState) -> DeviceInfo {
        DeviceInfo {
            serial: serial.into(),
            state,
            model: None,
            product: None,
            device: None,
            transport_id: None,
        }
    }

    #[test]
    fn choosing_a_handset() {
        let one = [info("A", DeviceState::Device)];
        assert_eq!(choose_device(&one, None).unwrap().serial, "A");
        assert!(matches!(choose_device(&[], None), Err(Error::NoDevice)));
        let two = [
            info("A", DeviceState::Device),
            info("B", DeviceState::Unauthorized),
        ];
        match choose_device(&two, None) {
            Err(Error::MultipleDevices { serials }) => {
                assert_eq!(serials, "A (device), B (unauthorized)");
            }
            other => panic!("expected MultipleDevices, got {other:?}"),
        }
        assert_eq!(choose_device(&two, Some("B")).unwrap().serial, "B");
        assert!(matches!(
            choose_device(&two, Some("C")),
            Err(Error::DeviceNotFound { .. })
        ));
    }
}
