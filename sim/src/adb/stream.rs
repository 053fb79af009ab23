//! One ADB stream (an opened service) with adb's flow control: at most one unacknowledged
//! device->host WRTE. The service may queue a few more WRTEs ahead; the reader thread sends
//! the next one as soon as the host's OKAY arrives, so a round trip wakes no other thread.
//! Host WRTEs are acknowledged at once while only a few wait for the service, later only as
//! the service takes them, so a slow service holds the host back instead of growing a queue.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::connection::{ConnShared, Outgoing};
use super::message::{A_CLSE, A_OKAY, A_WRTE};

/// How many WRTEs a stream keeps queued in each direction beyond the one in flight.
const AHEAD: usize = 4;

#[derive(Debug, Default)]
struct State {
    inbox: VecDeque<Vec<u8>>,
    /// Host WRTEs received but not yet acknowledged (the inbox was full).
    owed_acks: usize,
    outbox: VecDeque<Outgoing>,
    awaiting_ack: bool,
    host_closed: bool,
    we_closed: bool,
}

/// A stream as the connection and its service thread share it.
#[derive(Debug)]
pub struct Stream {
    pub local: u32,
    pub remote: u32,
    conn: Arc<ConnShared>,
    state: Mutex<State>,
    cv: Condvar,
}

impl Stream {
    pub fn new(local: u32, remote: u32, conn: Arc<ConnShared>) -> Stream {
        Stream {
            local,
            remote,
            conn,
            state: Mutex::new(State::default()),
            cv: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The largest WRTE payload the host accepts.
    pub fn max_payload(&self) -> usize {
        self.conn.max_payload()
    }

    /// The host wrote `data` (called by the connection's reader).
    pub fn deliver(&self, data: Vec<u8>) {
        let mut st = self.lock();
        if st.host_closed || st.we_closed {
            return;
        }
        st.inbox.push_back(data);
        let ack_now = st.inbox.len() <= AHEAD;
        if !ack_now {
            st.owed_acks += 1;
        }
        drop(st);
        self.cv.notify_all();
        if ack_now {
            self.conn.send(A_OKAY, self.local, self.remote, Vec::new());
        }
    }

    /// The host acknowledged our last WRTE: send the next queued one, if any.
    pub fn acked(&self) {
        let mut st = self.lock();
        let next = st.outbox.pop_front();
        st.awaiting_ack = next.is_some();
        // Sending under the lock keeps WRTEs in order with `send` and `close`.
        if let Some(out) = next {
            self.conn.send_built(out);
        }
        drop(st);
        self.cv.notify_all();
    }

    /// The host closed the stream, or the connection is gone.
    pub fn host_closed(&self) {
        self.lock().host_closed = true;
        self.cv.notify_all();
    }

    pub fn is_host_closed(&self) -> bool {
        self.lock().host_closed
    }

    /// Whether host data is already waiting (lets services batch replies to pipelined requests).
    pub fn has_input(&self) -> bool {
        !self.lock().inbox.is_empty()
    }

    /// The next chunk the host wrote, acknowledging it; `None` once either side closed.
    pub fn recv(&self) -> Option<Vec<u8>> {
        let mut st = self.lock();
        loop {
            if let Some(chunk) = st.inbox.pop_front() {
                let owed = st.owed_acks > 0;
                if owed {
                    st.owed_acks -= 1;
                }
                drop(st);
                if owed {
                    self.conn.send(A_OKAY, self.local, self.remote, Vec::new());
                }
                return Some(chunk);
            }
            if st.host_closed || st.we_closed {
                return None;
            }
            st = self
                .cv
                .wait(st)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// Sends one WRTE (at most `max_payload` bytes): at once when none is in flight, else
    /// queued (waiting while the queue is full).
    ///
    /// # Errors
    /// `BrokenPipe` when the host closed the stream.
    pub fn send(&self, data: Vec<u8>) -> io::Result<()> {
        debug_assert!(data.len() <= self.max_payload());
        let out = Outgoing::new(A_WRTE, self.local, self.remote, data);
        let mut st = self.lock();
        while st.outbox.len() >= AHEAD && !st.host_closed {
            st = self.wait(st);
        }
        if st.host_closed || st.we_closed {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        if st.awaiting_ack {
            st.outbox.push_back(out);
        } else {
            st.awaiting_ack = true;
            self.conn.send_built(out);
        }
        Ok(())
    }

    /// Waits until every queued WRTE has been sent (the last may still await its OKAY).
    pub fn drain(&self) {
        let mut st = self.lock();
        while !st.outbox.is_empty() && !st.host_closed {
            st = self.wait(st);
        }
    }

    fn wait<'a>(&self, st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.cv
            .wait(st)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Ends the stream from our side: CLSE even when an OKAY is still outstanding.
    pub fn close(&self) {
        self.drain();
        let mut st = self.lock();
        if st.we_closed {
            return;
        }
        st.we_closed = true;
        let tell_host = !st.host_closed;
        drop(st);
        self.cv.notify_all();
        if tell_host {
            self.conn.send(A_CLSE, self.local, self.remote, Vec::new());
        }
        self.conn.forget(self.local);
    }
}

/// Reads the host's bytes of a stream as one byte stream (packets may straddle WRTEs).
#[derive(Debug)]
pub struct StreamReader {
    stream: Arc<Stream>,
    chunk: Vec<u8>,
    pos: usize,
}

impl StreamReader {
    pub fn new(stream: Arc<Stream>) -> StreamReader {
        StreamReader {
            stream,
            chunk: Vec::new(),
            pos: 0,
        }
    }

    /// Whether more host bytes are at hand without waiting.
    pub fn has_buffered(&self) -> bool {
        self.pos < self.chunk.len() || self.stream.has_input()
    }
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.chunk.len() {
            match self.stream.recv() {
                Some(chunk) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Writes a service's output as WRTEs filled up to the negotiated maximum payload; `flush`
/// sends what is buffered. The buffer always has its full length (`used` marks the data),
/// so file data can be read straight into it without zeroing, and sent buffers come back
/// through the connection's pool.
#[derive(Debug)]
pub struct StreamWriter {
    stream: Arc<Stream>,
    buf: Vec<u8>,
    used: usize,
}

impl StreamWriter {
    pub fn new(stream: Arc<Stream>) -> StreamWriter {
        let buf = stream.conn.take_buffer();
        StreamWriter {
            stream,
            buf,
            used: 0,
        }
    }

    fn send_buffered(&mut self) -> io::Result<()> {
        if self.used == 0 {
            return Ok(());
        }
        let mut full = std::mem::replace(&mut self.buf, self.stream.conn.take_buffer());
        full.truncate(self.used);
        self.used = 0;
        self.stream.send(full)
    }

    /// Appends a sync `DATA` packet read straight from `file` (at most `max_chunk` bytes);
    /// returns how many file bytes it holds and whether the file ended.
    ///
    /// # Errors
    /// The file's read error, or `BrokenPipe` when the host closed the stream.
    pub fn append_data_from(
        &mut self,
        file: &mut impl Read,
        max_chunk: usize,
    ) -> io::Result<(usize, bool)> {
        // Room for a header and a useful amount of data, else start the next WRTE.
        if self.buf.len() - self.used < 8 + 4096 {
            self.send_buffered()?;
        }
        let room = (self.buf.len() - self.used - 8).min(max_chunk);
        let body = self.used + 8;
        let mut got = 0;
        while got < room {
            match file.read(&mut self.buf[body + got..body + room]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if got > 0 {
            self.buf[self.used..self.used + 4].copy_from_slice(b"DATA");
            self.buf[self.used + 4..body].copy_from_slice(&(got as u32).to_le_bytes());
            self.used = body + got;
        }
        Ok((got, got < room))
    }
}

impl Write for StreamWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.used >= self.buf.len() {
            self.send_buffered()?;
        }
        let n = data.len().min(self.buf.len() - self.used);
        self.buf[self.used..self.used + n].copy_from_slice(&data[..n]);
        self.used += n;
        if self.used >= self.buf.len() {
            self.send_buffered()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffered()
    }
}
