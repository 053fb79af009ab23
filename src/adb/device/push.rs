//! `Handset::push_many`: many files up one sync stream without waiting for each answer.
//!
//! Why: `push` waits for the phone's `OKAY` after every file, one round trip each; `adb push`
//! keeps many files in flight. Here a writer sends `SEND`/`DATA`/`DONE` back to back while a
//! reader thread collects the answers in order.

use std::io::{self, BufWriter, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc;

use super::Handset;
use crate::adb::sync::{self, Frame, MAX_DATA, MAX_PATH};
use crate::Error;

/// One file for [`Handset::push_many`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushFile<'a> {
    /// Where it goes on the phone (parents are created).
    pub path: &'a str,
    /// Permission bits.
    pub mode: u32,
    /// Seconds since the Unix epoch (sent as 32-bit unsigned, like `push`).
    pub mtime: i64,
}

/// How one file of a [`Handset::push_many`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// The phone wrote it and answered `OKAY`.
    Written,
    /// The phone refused it (no space, permission); its message.
    Refused(String),
    /// The source could not give all its bytes. The sync protocol cannot abort one upload,
    /// so the file was closed on the phone with what was sent: the caller must remove it
    /// (push to a temporary name).
    SourceFailed(String),
    /// Not sent: the transfer stopped before it (see [`PushReport::stopped`]).
    NotSent,
}

/// What [`Handset::push_many`] did.
#[derive(Debug)]
pub struct PushReport {
    /// One per file, in order.
    pub outcomes: Vec<PushOutcome>,
    /// The transport error that stopped the transfer (cable pulled, phone frozen), if any.
    pub stopped: Option<Error>,
}

/// Splits whatever the source writes into `DATA` frames of at most `MAX_DATA` bytes.
struct Framer<'a> {
    out: &'a mut BufWriter<TcpStream>,
    chunk: Vec<u8>,
    /// The first write error towards the phone: the session is broken.
    broken: Option<io::Error>,
}

impl Framer<'_> {
    fn emit(&mut self) -> io::Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let head = sync::encode_word(b"DATA", self.chunk.len() as u32);
        let result = self
            .out
            .write_all(&head)
            .and_then(|()| self.out.write_all(&self.chunk));
        self.chunk.clear();
        result.map_err(|e| self.fail(e))
    }

    fn fail(&mut self, e: io::Error) -> io::Error {
        let copy = io::Error::new(e.kind(), e.to_string());
        self.broken.get_or_insert(e);
        copy
    }
}

impl Write for Framer<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(e) = &self.broken {
            return Err(io::Error::new(e.kind(), e.to_string()));
        }
        let take = buf.len().min(MAX_DATA - self.chunk.len());
        self.chunk.extend_from_slice(&buf[..take]);
        if self.chunk.len() == MAX_DATA {
            self.emit()?;
        }
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What the answer reader learnt.
enum Answer {
    Okay(usize),
    Fail(usize, String),
    Broken(usize, io::Error),
}

impl Handset {
    /// Writes many files, streaming each one's bytes from `source(index, sink)`, with the
    /// uploads pipelined on one sync stream (answers are read by a second thread). When the
    /// phone refuses a file it ends the session; the files after it are sent again on a new
    /// one. `source` returns `Err(message)` when it cannot give a file's bytes: that file
    /// ends as [`PushOutcome::SourceFailed`] and the others go on.
    ///
    /// A transport error (cable pulled, phone frozen) stops the transfer: it is returned in
    /// the report, with the files not confirmed as `NotSent` (or `SourceFailed`).
    pub fn push_many(
        &self,
        files: &[PushFile<'_>],
        source: &mut dyn FnMut(usize, &mut dyn Write) -> std::result::Result<(), String>,
    ) -> PushReport {
        let mut report = PushReport {
            outcomes: vec![PushOutcome::NotSent; files.len()],
            stopped: None,
        };
        let mut next = 0;
        while next < files.len() && report.stopped.is_none() {
            let Some(first) = (next..files.len()).find(|&i| {
                if files[i].path.len() > MAX_PATH {
                    report.outcomes[i] = PushOutcome::Refused(format!(
                        "the path is longer than the {MAX_PATH} bytes adb can carry"
                    ));
                    false
                } else {
                    true
                }
            }) else {
                break;
            };
            next = self.push_session(files, first, source, &mut report);
        }
        report
    }

    /// One sync session from `files[first]` on; returns where the next session starts
    /// (after a refused file), or `files.len()`.
    fn push_session(
        &self,
        files: &[PushFile<'_>],
        first: usize,
        source: &mut dyn FnMut(usize, &mut dyn Write) -> std::result::Result<(), String>,
        report: &mut PushReport,
    ) -> usize {
        let stream = match self.sync_stream(Some(files[first].path)) {
            Ok(s) => s,
            Err(err) => {
                report.stopped = Some(err);
                return files.len();
            }
        };
        let (reader, writer) = match (stream.try_clone(), stream.try_clone()) {
            (Ok(r), Ok(w)) => (r, w),
            (Err(e), _) | (_, Err(e)) => {
                report.stopped = Some(self.io_error("push", Some(files[first].path), e));
                return files.len();
            }
        };
        let mut out = BufWriter::with_capacity(MAX_DATA + 64, writer);
        let mut source_failed: Vec<(usize, String)> = Vec::new();
        let mut write_error: Option<(usize, io::Error)> = None;
        let (tx, rx) = mpsc::channel::<usize>();
        let answers = std::thread::scope(|scope| {
            let collector = scope.spawn(move || read_answers(reader, &rx));
            for (index, file) in files.iter().enumerate().skip(first) {
                if file.path.len() > MAX_PATH {
                    break;
                }
                // Cancelling shuts the socket down, which fails the next write anyway; this
                // check also keeps `source` from being asked for another file.
                if self.cancel_token().is_cancelled() {
                    write_error = Some((index, io::Error::other(Error::Cancelled)));
                    break;
                }
                let mtime = u32::try_from(file.mtime.max(0)).unwrap_or(u32::MAX);
                let request =
                    sync::encode_request(b"SEND", &sync::send_argument(file.path, file.mode));
                if let Err(e) = out.write_all(&request) {
                    write_error = Some((index, e));
                    break;
                }
                let mut framer = Framer {
                    out: &mut out,
                    chunk: Vec::with_capacity(MAX_DATA),
                    broken: None,
                };
                let given = source(index, &mut framer);
                let _ = framer.emit();
                if let Some(e) = framer.broken.take() {
                    write_error = Some((index, e));
                    break;
                }
                if let Err(message) = given {
                    source_failed.push((index, message));
                }
                let done = out
                    .write_all(&sync::encode_word(b"DONE", mtime))
                    .and_then(|()| out.flush());
                if let Err(e) = done {
                    write_error = Some((index, e));
                    break;
                }
                // The reader is gone only when the phone refused a file or the link broke.
                if tx.send(index).is_err() {
                    break;
                }
            }
            drop(tx);
            collector.join().expect("the push answer reader panicked")
        });
        let mut resume = files.len();
        let mut broken: Option<(usize, io::Error)> = None;
        for answer in answers {
            match answer {
                Answer::Okay(i) => report.outcomes[i] = PushOutcome::Written,
                Answer::Fail(i, message) => {
                    report.outcomes[i] = PushOutcome::Refused(message);
                    resume = i + 1;
                }
                Answer::Broken(i, e) => broken = Some((i, e)),
            }
        }
        for (i, message) in source_failed {
            report.outcomes[i] = PushOutcome::SourceFailed(message);
        }
        if resume == files.len() {
            // No refusal: a broken link on either side stops everything.
            if let Some((i, e)) = broken.or(write_error) {
                report.stopped = Some(self.io_error("push", Some(files[i].path), e));
            } else {
                let mut stream = stream;
                Self::quit(&mut stream);
            }
        }
        let _ = stream_shutdown(&out);
        resume
    }
}

fn stream_shutdown(out: &BufWriter<TcpStream>) -> io::Result<()> {
    out.get_ref().shutdown(Shutdown::Both)
}

/// Reads one answer per file sent, in order, until the sender hangs up, the phone refuses
/// a file (it ends the session then) or the link breaks.
fn read_answers(mut stream: TcpStream, sent: &mpsc::Receiver<usize>) -> Vec<Answer> {
    let mut answers = Vec::new();
    for index in sent {
        match sync::read_frame(&mut stream) {
            Ok(Frame::Okay) => answers.push(Answer::Okay(index)),
            Ok(Frame::Fail(message)) => {
                answers.push(Answer::Fail(index, message));
                // Wake the writer if it is blocked on a session the phone has ended.
                let _ = stream.shutdown(Shutdown::Both);
                break;
            }
            Ok(other) => {
                answers.push(Answer::Broken(
                    index,
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("unexpected answer to SEND: {other:?}"),
                    ),
                ));
                let _ = stream.shutdown(Shutdown::Both);
                break;
            }
            Err(e) => {
                answers.push(Answer::Broken(index, e));
                let _ = stream.shutdown(Shutdown::Both);
                break;
            }
        }
    }
    answers
}
