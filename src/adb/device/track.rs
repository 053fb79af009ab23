//! `AdbServer::track_devices`: the server's `host:track-devices` stream, which sends the whole
//! device list once at the start and again each time a handset comes, goes or changes state.
//! A watcher blocks on it instead of asking `host:devices` in a loop.

use std::net::{Shutdown, TcpStream};

use crate::cancel::CancellableStream;

use super::{AdbServer, DeviceInfo};
use crate::adb::server;
use crate::{Error, Result};

/// An open `host:track-devices` stream.
#[derive(Debug)]
pub struct DeviceTracker {
    stream: CancellableStream,
    addr: String,
}

/// Ends a [`DeviceTracker::next_list`] blocked on another thread.
#[derive(Debug)]
pub struct TrackerStopper(TcpStream);

impl AdbServer {
    /// Opens the device-event stream. Reads on it have no timeout: a quiet stream means
    /// nothing changed, and a server that goes away closes it.
    ///
    /// # Errors
    /// `AdbServer` when the server cannot be reached; `ServerRefused`.
    pub fn track_devices(&self) -> Result<DeviceTracker> {
        let stream = self.endpoint.host_request("host:track-devices")?;
        let addr = self.endpoint.addr_text();
        stream
            .set_read_timeout(None)
            .map_err(|e| tracker_error(&addr, &e))?;
        Ok(DeviceTracker { stream, addr })
    }
}

impl DeviceTracker {
    /// Blocks until the server sends the next full device list.
    ///
    /// # Errors
    /// `AdbServer` when the server closed the stream (it stopped or restarted) or it was
    /// stopped with [`TrackerStopper::stop`].
    pub fn next_list(&mut self) -> Result<Vec<DeviceInfo>> {
        server::read_tracked(&mut self.stream).map_err(|e| tracker_error(&self.addr, &e))
    }

    /// A handle another thread can use to end a blocked `next_list`.
    ///
    /// # Errors
    /// `AdbServer` when the socket cannot be shared.
    pub fn stopper(&self) -> Result<TrackerStopper> {
        self.stream
            .try_clone()
            .map(TrackerStopper)
            .map_err(|e| tracker_error(&self.addr, &e))
    }
}

impl TrackerStopper {
    /// Closes the stream; the blocked `next_list` returns an error.
    pub fn stop(&self) {
        let _ = self.0.shutdown(Shutdown::Both);
    }
}

fn tracker_error(addr: &str, err: &std::io::Error) -> Error {
    let detail = if err.kind() == std::io::ErrorKind::UnexpectedEof {
        "the device-event stream closed".to_string()
    } else {
        err.to_string()
    };
    Error::AdbServer {
        addr: addr.to_string(),
        detail,
    }
}
