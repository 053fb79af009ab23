//! Copying files off a handset: `pull` for one file, and the `pull_many` pipeline (RECV
//! requests sent ahead on one or more sync streams, events delivered in order).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;

use super::{Handset, PullOptions};
use crate::adb::sync::{self, Frame, MAX_DATA, MAX_PATH};
use crate::cancel::CancellableStream;
use crate::escape::phone_path_bytes;
use crate::{Error, Result};

/// What `Handset::pull_many` reports, in order, file after file: `Start`, `Data`..., `Done`;
/// or `Failed` alone when the phone refuses the file; or `Start`, `Data`..., `Failed` when it
/// fails part way (discard what arrived).
#[derive(Debug)]
pub enum PullEvent<'a> {
    Start {
        index: usize,
    },
    Data {
        index: usize,
        bytes: &'a [u8],
    },
    Done {
        index: usize,
    },
    /// The phone refused this file (unreadable, gone); the others continue.
    Failed {
        index: usize,
        message: String,
    },
}

/// What one sync stream reports while `pull_many` runs.
enum Msg {
    Start(usize),
    Data(usize, Vec<u8>),
    Done(usize),
    Failed(usize, String),
    Err(Error),
}

impl Handset {
    /// Copies one file from the phone into `to`; returns the bytes copied.
    ///
    /// # Errors
    /// `Remote` when the phone refuses the file; `DeviceGone`/`Timeout` naming the file;
    /// `Io` when `to` fails.
    pub fn pull(&self, path: &str, to: &mut dyn Write) -> Result<u64> {
        self.check_path(path)?;
        let mut stream = self.sync_stream(Some(path))?;
        stream
            .write_all(&sync::encode_request(b"RECV", &phone_path_bytes(path)))
            .map_err(|e| self.io_error("pull", Some(path), e))?;
        let mut buf = vec![0u8; MAX_DATA];
        let got = sync::read_file(&mut stream, &mut buf, &mut |bytes| to.write_all(bytes));
        match got {
            Ok(Ok(total)) => {
                Self::quit(&mut stream);
                Ok(total)
            }
            Ok(Err(message)) => Err(self.remote(path, message)),
            Err(sync::RecvError::Io(e)) => Err(self.io_error("pull", Some(path), e)),
            Err(sync::RecvError::Sink(e)) => Err(Error::io("writing the copy of", path, e)),
        }
    }

    /// Copies many files with requests pipelined on the sync stream; events arrive in order.
    /// An error returned by `sink` stops the transfer and is returned. Uses the handset's
    /// [`PullOptions`] (see [`Handset::set_pull_options`]).
    ///
    /// # Errors
    /// Transport errors naming the file in flight; errors from `sink`.
    pub fn pull_many(
        &self,
        paths: &[String],
        sink: &mut dyn FnMut(PullEvent<'_>) -> Result<()>,
    ) -> Result<()> {
        self.pull_many_with(paths, self.pull_options, sink)
    }

    /// `pull_many` with explicit pipelining (for benchmarks and tuning).
    ///
    /// Memory stays bounded whatever the file sizes: one stream delivers straight to `sink`;
    /// with several, each stream may run at most a few 64 KiB chunks ahead of the file being
    /// delivered, then waits.
    ///
    /// # Errors
    /// Transport errors naming the file in flight; errors from `sink`.
    pub fn pull_many_with(
        &self,
        paths: &[String],
        options: PullOptions,
        sink: &mut dyn FnMut(PullEvent<'_>) -> Result<()>,
    ) -> Result<()> {
        let window = options.window.max(1);
        let streams = options.streams.max(1).min(paths.len().max(1));
        if streams == 1 {
            let indices: Vec<usize> = (0..paths.len()).collect();
            let mut forward = |msg: Msg| -> Result<()> { deliver(msg, sink) };
            return self.pull_stream(paths, &indices, window, &mut forward, None);
        }
        let sockets = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            let mut receivers: Vec<Receiver<Msg>> = Vec::with_capacity(streams);
            for s in 0..streams {
                // Eight chunks of 64 KiB per stream at most wait for the sink.
                let (tx, rx): (SyncSender<Msg>, Receiver<Msg>) = sync_channel(8);
                receivers.push(rx);
                let indices: Vec<usize> = (s..paths.len()).step_by(streams).collect();
                let sockets = &sockets;
                scope.spawn(move || {
                    let mut send = |msg: Msg| -> Result<()> {
                        // The receiver is gone only when the caller stopped: end quietly.
                        tx.send(msg).map_err(|_| Error::TransferAbandoned {
                            side: "receiving side",
                        })
                    };
                    if let Err(err) =
                        self.pull_stream(paths, &indices, window, &mut send, Some(sockets))
                    {
                        let _ = tx.send(Msg::Err(err));
                    }
                });
            }
            let result = (|| {
                for index in 0..paths.len() {
                    let rx = &receivers[index % streams];
                    loop {
                        let msg = rx.recv().map_err(|_| {
                            self.endpoint.cancel.or_error(Error::DeviceGone {
                                serial: self.adb_serial.clone(),
                                path: Some(paths[index].clone()),
                                detail: "a transfer thread stopped".into(),
                            })
                        })?;
                        let last = matches!(msg, Msg::Done(_) | Msg::Failed(..));
                        deliver(msg, sink)?;
                        if last {
                            break;
                        }
                    }
                }
                Ok(())
            })();
            if result.is_err() {
                // Wake streams blocked on the phone so the threads end now, not at a timeout.
                for socket in sockets.lock().expect("not poisoned").iter() {
                    let _ = TcpStream::shutdown(socket, Shutdown::Both);
                }
            }
            drop(receivers);
            result
        })
    }

    /// Pulls `indices` (in order) on one sync stream with up to `window` RECVs in flight.
    fn pull_stream(
        &self,
        paths: &[String],
        indices: &[usize],
        window: usize,
        emit: &mut dyn FnMut(Msg) -> Result<()>,
        sockets: Option<&Mutex<Vec<TcpStream>>>,
    ) -> Result<()> {
        let too_long = |i: usize| phone_path_bytes(&paths[i]).len() > MAX_PATH;
        let mut stream: Option<CancellableStream> = None;
        let mut sent = 0; // positions in `indices` whose request went out
        let mut buf = vec![0u8; MAX_DATA];
        for (pos, &index) in indices.iter().enumerate() {
            let path = paths[index].as_str();
            if too_long(index) {
                emit(Msg::Failed(
                    index,
                    format!("the path is longer than the {MAX_PATH} bytes adb can carry"),
                ))?;
                sent = sent.max(pos + 1);
                continue;
            }
            if stream.is_none() {
                let s = self.sync_stream(Some(path))?;
                if let Some(sockets) = sockets {
                    if let Ok(clone) = s.try_clone() {
                        sockets.lock().expect("not poisoned").push(clone);
                    }
                }
                stream = Some(s);
                sent = pos;
            }
            let conn = stream.as_mut().expect("opened above");
            // Top the window up once half of it has drained, in one write: requests are tiny
            // (they fit in the socket buffers while the phone still sends earlier files), and
            // one write per file would cost a message through adb per file.
            let mut batch = Vec::new();
            let in_flight = sent.saturating_sub(pos);
            while in_flight <= window / 2 && sent < indices.len() && sent < pos + window {
                let ahead = indices[sent];
                if !too_long(ahead) {
                    batch.extend(sync::encode_request(
                        b"RECV",
                        &phone_path_bytes(&paths[ahead]),
                    ));
                }
                sent += 1;
            }
            if !batch.is_empty() {
                conn.write_all(&batch)
                    .map_err(|e| self.io_error("pull", Some(path), e))?;
            }
            let map = |e| self.io_error("pull", Some(path), e);
            let mut started = false;
            loop {
                match sync::read_frame(conn).map_err(map)? {
                    Frame::Data(len) => {
                        conn.read_exact(&mut buf[..len]).map_err(map)?;
                        if !started {
                            emit(Msg::Start(index))?;
                            started = true;
                        }
                        emit(Msg::Data(index, buf[..len].to_vec()))?;
                    }
                    Frame::Done => {
                        if !started {
                            emit(Msg::Start(index))?;
                        }
                        emit(Msg::Done(index))?;
                        break;
                    }
                    Frame::Fail(message) => {
                        emit(Msg::Failed(index, message))?;
                        // adbd ends the sync session after a failed RECV, dropping the
                        // requests queued behind it: start a new session for the rest.
                        stream = None;
                        break;
                    }
                    Frame::Okay => {
                        return Err(self.io_error(
                            "pull",
                            Some(path),
                            io::Error::new(io::ErrorKind::InvalidData, "OKAY in a RECV reply"),
                        ))
                    }
                }
            }
        }
        if let Some(conn) = stream.as_mut() {
            Self::quit(conn);
        }
        Ok(())
    }
}

/// Hands one stream message to the caller's sink.
fn deliver(msg: Msg, sink: &mut dyn FnMut(PullEvent<'_>) -> Result<()>) -> Result<()> {
    match msg {
        Msg::Start(index) => sink(PullEvent::Start { index }),
        Msg::Data(index, bytes) => sink(PullEvent::Data {
            index,
            bytes: &bytes,
        }),
        Msg::Done(index) => sink(PullEvent::Done { index }),
        Msg::Failed(index, message) => sink(PullEvent::Failed { index, message }),
        Msg::Err(err) => Err(err),
    }
}
