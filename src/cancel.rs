//! Cancellation: one token per job, tripped from anywhere (a Ctrl-C handler, a button in the
//! desktop client), seen by every long library call.
//!
//! Checking a flag between steps is not enough on its own: a thread may be blocked for the
//! whole socket timeout in a read from a frozen phone, or for minutes writing one large file.
//! So sockets opened while a token is attached are registered with it, and tripping the token
//! shuts them down (`shutdown(Both)`), which wakes every read and write on them at once. The
//! code that was blocked then sees the token tripped and reports [`Error::Cancelled`] rather
//! than a handset that went away.
//!
//! Where a token goes:
//! - a [`Handset`](crate::adb::Handset) or [`AdbServer`](crate::adb::AdbServer) carries one
//!   (`with_cancel`): every call on the phone, and so `catalog::scan` (no folder-by-folder
//!   fallback after a cancel), previews read through `HandsetSource`, and
//!   `AdbServer::wait_for_device`;
//! - `BackupOptions::cancel` and `RestoreOptions::cancel`: the jobs attach it to the handset
//!   and check it between phases (listing, backup folder, planning, copying);
//! - `ArchiveReader::set_cancel` (verify, extract) and `BackupFolder::open_locked`.
//!
//! A cancelled job keeps what arrived whole: a backup finishes its archive with the items
//! that arrived whole (`BackupReport::stopped` is `Cancelled`); a restore leaves nothing
//! half-written under a real name and removes its temporary folders.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::{Error, Result};

/// A cancellation token. Clones share one state: cancelling any clone cancels them all.
#[derive(Clone, Default)]
pub struct Cancel {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    cancelled: AtomicBool,
    next_id: AtomicU64,
    /// Duplicates of the registered sockets' handles, to shut them down from another thread.
    sockets: Mutex<HashMap<u64, TcpStream>>,
}

impl std::fmt::Debug for Cancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cancel")
            .field("cancelled", &self.is_cancelled())
            .field("sockets", &self.registered())
            .finish()
    }
}

impl Cancel {
    /// A token that nothing has cancelled yet.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Trips the token: every clone reports cancelled from now on, and every socket
    /// registered with it is shut down, waking threads blocked on it. Calling it again does
    /// nothing more.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::SeqCst);
        let sockets = self.sockets();
        for socket in sockets.values() {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }

    /// Whether the token was tripped.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    /// `Err(Cancelled)` once the token was tripped: the check at phase boundaries and inside
    /// loops.
    ///
    /// # Errors
    /// [`Error::Cancelled`] when the token was tripped.
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }

    /// `Cancelled` in place of `err` once the token was tripped: an error that follows a
    /// cancellation (a socket it shut down, a read cut short) is its consequence.
    pub fn or_error(&self, err: Error) -> Error {
        if self.is_cancelled() {
            Error::Cancelled
        } else {
            err
        }
    }

    /// Registers `stream` so that cancelling shuts it down; the registration ends when the
    /// returned socket is dropped. A token already tripped shuts the socket down at once
    /// (the caller's next read or write fails, and its error mapping sees the token).
    ///
    /// # Errors
    /// When the socket's handle cannot be duplicated (out of file descriptors).
    pub fn register(&self, stream: TcpStream) -> io::Result<CancellableStream> {
        let handle = stream.try_clone()?;
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut sockets = self.sockets();
            // Checked under the lock `cancel` takes, so a socket registered while `cancel`
            // runs is either shut down there or here.
            if self.is_cancelled() {
                let _ = handle.shutdown(Shutdown::Both);
            }
            sockets.insert(id, handle);
        }
        Ok(CancellableStream {
            stream,
            registration: Some((self.clone(), id)),
        })
    }

    /// How many sockets are registered now (for tests: registrations must not pile up).
    pub fn registered(&self) -> usize {
        self.sockets().len()
    }

    /// The registry; a panic elsewhere while it was held leaves it usable (it is only a map).
    fn sockets(&self) -> MutexGuard<'_, HashMap<u64, TcpStream>> {
        self.inner
            .sockets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn deregister(&self, id: u64) {
        self.sockets().remove(&id);
    }
}

/// A socket registered with a [`Cancel`] token: reads and writes like the `TcpStream` it
/// holds (and derefs to it), and leaves the token's registry when dropped.
#[derive(Debug)]
pub struct CancellableStream {
    stream: TcpStream,
    registration: Option<(Cancel, u64)>,
}

impl CancellableStream {
    /// A socket that no token can shut down (requests that must not be cut short).
    pub fn unregistered(stream: TcpStream) -> CancellableStream {
        CancellableStream {
            stream,
            registration: None,
        }
    }
}

impl Drop for CancellableStream {
    fn drop(&mut self) {
        if let Some((cancel, id)) = self.registration.take() {
            cancel.deregister(id);
        }
    }
}

impl Deref for CancellableStream {
    type Target = TcpStream;

    fn deref(&self) -> &TcpStream {
        &self.stream
    }
}

impl DerefMut for CancellableStream {
    fn deref_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }
}

impl Read for CancellableStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }
}

impl Write for CancellableStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::time::{Duration, Instant};

    /// A connected pair whose far end never writes: a read on the near end blocks.
    fn silent_pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let near = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (far, _) = listener.accept().unwrap();
        (near, far)
    }

    #[test]
    fn check_reports_cancelled_once_tripped() {
        let token = Cancel::new();
        let clone = token.clone();
        assert!(token.check().is_ok());
        clone.cancel();
        assert!(token.is_cancelled());
        assert!(matches!(token.check(), Err(Error::Cancelled)));
        // Idempotent.
        token.cancel();
        assert!(clone.is_cancelled());
    }

    #[test]
    fn a_blocked_socket_read_wakes_on_cancel() {
        let token = Cancel::new();
        let (near, _far) = silent_pair();
        // A long timeout: only the cancel can end this read in time.
        near.set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut stream = token.register(near).unwrap();
        let canceller = token.clone();
        let started = Instant::now();
        let trip = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            canceller.cancel();
        });
        let mut buf = [0u8; 16];
        let got = stream.read(&mut buf);
        let waited = started.elapsed();
        trip.join().unwrap();
        // shutdown(Both) ends a blocked read with end of file (or an error on some systems).
        assert!(matches!(got, Ok(0) | Err(_)), "{got:?}");
        assert!(waited < Duration::from_secs(5), "woke after {waited:?}");
        assert!(
            waited >= Duration::from_millis(150),
            "woke after {waited:?}"
        );
        println!("blocked read woke {waited:?} after it started (cancel at 200 ms)");
    }

    #[test]
    fn registrations_end_when_the_socket_is_dropped() {
        let token = Cancel::new();
        let mut keep = Vec::new();
        for _ in 0..3 {
            let (near, far) = silent_pair();
            keep.push((token.register(near).unwrap(), far));
        }
        assert_eq!(token.registered(), 3);
        keep.pop();
        assert_eq!(token.registered(), 2);
        keep.clear();
        assert_eq!(token.registered(), 0);
    }

    #[test]
    fn a_socket_registered_after_cancel_is_shut_down_at_once() {
        let token = Cancel::new();
        token.cancel();
        let (near, _far) = silent_pair();
        near.set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut stream = token.register(near).unwrap();
        let started = Instant::now();
        let got = stream.read(&mut [0u8; 4]);
        assert!(matches!(got, Ok(0) | Err(_)), "{got:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
